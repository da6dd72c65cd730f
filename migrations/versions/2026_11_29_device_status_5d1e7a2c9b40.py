"""device status: the agent's last report on its device row, and the device_status store event

Revision ID: 5d1e7a2c9b40
Revises: c4e7a91d2b10
Create Date: 2026-11-29 05:50:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5d1e7a2c9b40'
down_revision = 'c4e7a91d2b10'
branch_labels = None
depends_on = None

KINDS_BEFORE = 'kind IN (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12)'
KINDS_AFTER = 'kind IN (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13)'


def upgrade():
    with op.batch_alter_table('device', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status', sa.JSON(), nullable=True))
    with op.batch_alter_table('store_event', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_store_event_kind_valid'), type_='check')
        batch_op.create_check_constraint('kind_valid', sa.text(KINDS_AFTER))


def downgrade():
    op.execute('DELETE FROM store_event WHERE kind = 13')
    with op.batch_alter_table('store_event', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_store_event_kind_valid'), type_='check')
        batch_op.create_check_constraint('kind_valid', sa.text(KINDS_BEFORE))
    with op.batch_alter_table('device', schema=None) as batch_op:
        batch_op.drop_column('status')
