"""store event kinds 14-17: menu changed, member changed, table changed, service message

Revision ID: a3f19c6e2d71
Revises: 5d1e7a2c9b40
Create Date: 2026-11-29 09:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a3f19c6e2d71'
down_revision = '5d1e7a2c9b40'
branch_labels = None
depends_on = None

KINDS_BEFORE = 'kind IN (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13)'
KINDS_AFTER = 'kind IN (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17)'


def upgrade():
    with op.batch_alter_table('store_event', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_store_event_kind_valid'), type_='check')
        batch_op.create_check_constraint('kind_valid', sa.text(KINDS_AFTER))


def downgrade():
    op.execute('DELETE FROM store_event WHERE kind IN (14, 15, 16, 17)')
    with op.batch_alter_table('store_event', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_store_event_kind_valid'), type_='check')
        batch_op.create_check_constraint('kind_valid', sa.text(KINDS_BEFORE))
