"""store event kind 20: bill_split_changed (a table's bill split, or a share of it paid)

Revision ID: e5b2d7c41f90
Revises: 8ea1cc6d5763
Create Date: 2026-11-29 09:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e5b2d7c41f90'
down_revision = '8ea1cc6d5763'
branch_labels = None
depends_on = None

KINDS_BEFORE = 'kind IN (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 24)'
KINDS_AFTER = 'kind IN (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 20, 24)'


def upgrade():
    with op.batch_alter_table('store_event', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_store_event_kind_valid'), type_='check')
        batch_op.create_check_constraint('kind_valid', sa.text(KINDS_AFTER))


def downgrade():
    op.execute('DELETE FROM store_event WHERE kind = 20')
    with op.batch_alter_table('store_event', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_store_event_kind_valid'), type_='check')
        batch_op.create_check_constraint('kind_valid', sa.text(KINDS_BEFORE))
