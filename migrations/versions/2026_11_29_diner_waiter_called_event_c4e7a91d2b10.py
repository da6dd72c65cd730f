"""store events: waiter_called (a diner asks for the waiter from the table's phone page)

Revision ID: c4e7a91d2b10
Revises: d8d5f74c57a7
Create Date: 2026-11-29 05:40:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'c4e7a91d2b10'
down_revision = 'd8d5f74c57a7'
branch_labels = None
depends_on = None

OLD = 'kind IN (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)'
NEW = 'kind IN (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12)'


def upgrade():
    with op.batch_alter_table('store_event', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_store_event_kind_valid'), type_='check')
        batch_op.create_check_constraint(op.f('ck_store_event_kind_valid'), NEW)


def downgrade():
    op.execute('DELETE FROM store_event WHERE kind = 12')
    with op.batch_alter_table('store_event', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_store_event_kind_valid'), type_='check')
        batch_op.create_check_constraint(op.f('ck_store_event_kind_valid'), OLD)
