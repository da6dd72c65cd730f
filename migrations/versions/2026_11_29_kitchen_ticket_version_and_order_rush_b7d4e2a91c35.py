"""kitchen tickets carry their printed version (改单 / 退菜); 催菜 recorded per order; the order_rushed store event (kind 21)

Revision ID: b7d4e2a91c35
Revises: c0d4e8a2f6b1
Create Date: 2026-11-30 09:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b7d4e2a91c35'
down_revision = 'c0d4e8a2f6b1'
branch_labels = None
depends_on = None

KINDS_BEFORE = 'kind IN (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 20, 24)'
KINDS_AFTER = 'kind IN (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 20, 21, 24)'


def upgrade():
    with op.batch_alter_table('kitchen_ticket', schema=None) as batch_op:
        batch_op.add_column(sa.Column('version', sa.Integer(), server_default='1', nullable=False))
    op.create_table('order_rush',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('store_id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('rush_no', sa.Integer(), nullable=False),
    sa.Column('rushed_by', sa.String(length=60), nullable=False),
    sa.Column('is_diner', sa.Boolean(), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=True),
    sa.Column('rushed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('merchant_id', sa.Integer(), nullable=False),
    sa.CheckConstraint('rush_no > 0', name=op.f('ck_order_rush_rush_no_positive')),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchant.id'], name=op.f('fk_order_rush_merchant_id_merchant'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['order_id'], ['customer_order.id'], name=op.f('fk_order_rush_order_id_customer_order'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('fk_order_rush_staff_id_staff'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['store_id'], ['store.id'], name=op.f('fk_order_rush_store_id_store'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_order_rush')),
    sa.UniqueConstraint('order_id', 'rush_no', name=op.f('uq_order_rush_order_id_rush_no'))
    )
    with op.batch_alter_table('order_rush', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_order_rush_merchant_id'), ['merchant_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_order_rush_order_id'), ['order_id'], unique=False)
    with op.batch_alter_table('store_event', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_store_event_kind_valid'), type_='check')
        batch_op.create_check_constraint('kind_valid', sa.text(KINDS_AFTER))


def downgrade():
    op.execute('DELETE FROM store_event WHERE kind = 21')
    with op.batch_alter_table('store_event', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_store_event_kind_valid'), type_='check')
        batch_op.create_check_constraint('kind_valid', sa.text(KINDS_BEFORE))
    with op.batch_alter_table('order_rush', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_order_rush_order_id'))
        batch_op.drop_index(batch_op.f('ix_order_rush_merchant_id'))
    op.drop_table('order_rush')
    with op.batch_alter_table('kitchen_ticket', schema=None) as batch_op:
        batch_op.drop_column('version')
