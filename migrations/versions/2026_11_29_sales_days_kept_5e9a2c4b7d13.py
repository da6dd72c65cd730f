"""sales days: the sales of past days kept per store and local day (by hour, tender and dish) for the dashboard

Revision ID: 5e9a2c4b7d13
Revises: 3d5c8e1f7a20
Create Date: 2026-11-29 12:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5e9a2c4b7d13'
down_revision = '3d5c8e1f7a20'
branch_labels = None
depends_on = None


def _day_table(name, *columns):
    op.create_table(name,
    sa.Column('store_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    *columns,
    sa.Column('merchant_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchant.id'], name=op.f(f'fk_{name}_merchant_id_merchant'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['store_id'], ['store.id'], name=op.f(f'fk_{name}_store_id_store'), ondelete='CASCADE'),
    )
    with op.batch_alter_table(name, schema=None) as batch_op:
        batch_op.create_index(batch_op.f(f'ix_{name}_merchant_id'), ['merchant_id'], unique=False)


def upgrade():
    _day_table('sales_day',
               sa.Column('is_kept', sa.Boolean(), nullable=False),
               sa.PrimaryKeyConstraint('store_id', 'day', name=op.f('pk_sales_day')))
    _day_table('sales_hour',
               sa.Column('hour', sa.Integer(), nullable=False),
               sa.Column('is_member', sa.Boolean(), nullable=False),
               sa.Column('orders', sa.Integer(), nullable=False),
               sa.Column('revenue_cents', sa.BigInteger(), nullable=False),
               sa.Column('refunded_cents', sa.BigInteger(), nullable=False),
               sa.Column('refunded_orders', sa.Integer(), nullable=False),
               sa.PrimaryKeyConstraint('store_id', 'day', 'hour', 'is_member', name=op.f('pk_sales_hour')))
    _day_table('sales_day_tender',
               sa.Column('tender', sa.SmallInteger(), nullable=False),
               sa.Column('cents', sa.BigInteger(), nullable=False),
               sa.CheckConstraint('tender IN (1, 2, 3)', name=op.f('ck_sales_day_tender_tender_valid')),
               sa.PrimaryKeyConstraint('store_id', 'day', 'tender', name=op.f('pk_sales_day_tender')))
    _day_table('sales_day_dish',
               sa.Column('dish_id', sa.Integer(), nullable=False),
               sa.Column('name', sa.String(length=60), nullable=False),
               sa.Column('name_en', sa.String(length=120), nullable=False),
               sa.Column('qty', sa.BigInteger(), nullable=False),
               sa.Column('revenue_cents', sa.BigInteger(), nullable=False),
               sa.PrimaryKeyConstraint('store_id', 'day', 'dish_id', name=op.f('pk_sales_day_dish')))


def downgrade():
    for name in ('sales_day_dish', 'sales_day_tender', 'sales_hour', 'sales_day'):
        with op.batch_alter_table(name, schema=None) as batch_op:
            batch_op.drop_index(batch_op.f(f'ix_{name}_merchant_id'))
        op.drop_table(name)
