"""waiter calls acknowledged by staff, and the waiter_acked store event (kind 24)

Revision ID: 8c5f1a7e3d92
Revises: 6b2e9d41c8a3
Create Date: 2026-11-29 09:35:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '8c5f1a7e3d92'
down_revision = '6b2e9d41c8a3'
branch_labels = None
depends_on = None

KINDS_BEFORE = 'kind IN (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17)'
KINDS_AFTER = 'kind IN (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 24)'


def upgrade():
    op.create_table('waiter_call_ack',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('store_id', sa.Integer(), nullable=False),
    sa.Column('call_seq', sa.BigInteger(), nullable=False),
    sa.Column('table_code', sa.String(length=10), nullable=False),
    sa.Column('acked_by_id', sa.Integer(), nullable=True),
    sa.Column('acked_by', sa.String(length=60), nullable=False),
    sa.Column('acked_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('merchant_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['acked_by_id'], ['staff.id'], name=op.f('fk_waiter_call_ack_acked_by_id_staff'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchant.id'], name=op.f('fk_waiter_call_ack_merchant_id_merchant'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['store_id'], ['store.id'], name=op.f('fk_waiter_call_ack_store_id_store'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_waiter_call_ack')),
    sa.UniqueConstraint('store_id', 'call_seq', name=op.f('uq_waiter_call_ack_store_id_call_seq'))
    )
    with op.batch_alter_table('waiter_call_ack', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_waiter_call_ack_merchant_id'), ['merchant_id'], unique=False)
    with op.batch_alter_table('store_event', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_store_event_kind_valid'), type_='check')
        batch_op.create_check_constraint('kind_valid', sa.text(KINDS_AFTER))


def downgrade():
    op.execute('DELETE FROM store_event WHERE kind = 24')
    with op.batch_alter_table('store_event', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_store_event_kind_valid'), type_='check')
        batch_op.create_check_constraint('kind_valid', sa.text(KINDS_BEFORE))
    with op.batch_alter_table('waiter_call_ack', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_waiter_call_ack_merchant_id'))
    op.drop_table('waiter_call_ack')
