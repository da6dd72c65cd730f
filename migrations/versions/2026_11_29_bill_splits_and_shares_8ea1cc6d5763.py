"""bill splits and shares: a table's bill split into shares each diner pays

Revision ID: 8ea1cc6d5763
Revises: ae4e7c2bdead
Create Date: 2026-11-29 09:08:09.975233

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '8ea1cc6d5763'
down_revision = 'ae4e7c2bdead'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('bill_split',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.SmallInteger(), nullable=False),
    sa.Column('payable_cents', sa.BigInteger(), nullable=False),
    sa.Column('share_count', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=True),
    sa.Column('coupon_ids', sa.JSON(), nullable=False),
    sa.Column('made_by', sa.String(length=60), nullable=False),
    sa.Column('merchant_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('payable_cents > 0', name=op.f('ck_bill_split_payable_positive')),
    sa.CheckConstraint('share_count >= 2', name=op.f('ck_bill_split_at_least_two_shares')),
    sa.CheckConstraint('status IN (1, 2, 3)', name=op.f('ck_bill_split_status_valid')),
    sa.ForeignKeyConstraint(['member_id'], ['member.id'], name=op.f('fk_bill_split_member_id_member'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchant.id'], name=op.f('fk_bill_split_merchant_id_merchant'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['order_id'], ['customer_order.id'], name=op.f('fk_bill_split_order_id_customer_order'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bill_split'))
    )
    with op.batch_alter_table('bill_split', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bill_split_merchant_id'), ['merchant_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_bill_split_order_id'), ['order_id'], unique=False)
        batch_op.create_index('uq_bill_split_open_order', ['order_id'], unique=True, sqlite_where=sa.text('status = 1'), postgresql_where=sa.text('status = 1'))

    op.create_table('bill_share',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('split_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('amount_cents', sa.BigInteger(), nullable=False),
    sa.Column('paid_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('payment_key', sa.String(length=100), nullable=True),
    sa.Column('tender', sa.SmallInteger(), nullable=True),
    sa.Column('paid_by', sa.String(length=60), nullable=False),
    sa.Column('payer_member_id', sa.Integer(), nullable=True),
    sa.Column('external_ref', sa.String(length=64), nullable=True),
    sa.Column('payer_openid', sa.String(length=64), nullable=True),
    sa.Column('merchant_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('(paid_at IS NULL) = (payment_key IS NULL)', name=op.f('ck_bill_share_paid_has_key')),
    sa.CheckConstraint('amount_cents > 0', name=op.f('ck_bill_share_amount_positive')),
    sa.CheckConstraint('tender IN (1, 2, 3)', name=op.f('ck_bill_share_tender_valid')),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchant.id'], name=op.f('fk_bill_share_merchant_id_merchant'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['payer_member_id'], ['member.id'], name=op.f('fk_bill_share_payer_member_id_member'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['split_id'], ['bill_split.id'], name=op.f('fk_bill_share_split_id_bill_split'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bill_share')),
    sa.UniqueConstraint('merchant_id', 'payment_key', name=op.f('uq_bill_share_merchant_id_payment_key')),
    sa.UniqueConstraint('split_id', 'number', name=op.f('uq_bill_share_split_id_number'))
    )
    with op.batch_alter_table('bill_share', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bill_share_merchant_id'), ['merchant_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_bill_share_split_id'), ['split_id'], unique=False)



def downgrade():
    with op.batch_alter_table('bill_share', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_bill_share_split_id'))
        batch_op.drop_index(batch_op.f('ix_bill_share_merchant_id'))

    op.drop_table('bill_share')
    with op.batch_alter_table('bill_split', schema=None) as batch_op:
        batch_op.drop_index('uq_bill_split_open_order', sqlite_where=sa.text('status = 1'), postgresql_where=sa.text('status = 1'))
        batch_op.drop_index(batch_op.f('ix_bill_split_order_id'))
        batch_op.drop_index(batch_op.f('ix_bill_split_merchant_id'))

    op.drop_table('bill_split')
