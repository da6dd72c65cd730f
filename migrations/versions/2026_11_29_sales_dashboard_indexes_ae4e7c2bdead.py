"""sales dashboard indexes: sales by merchant and paid moment, members by merchant and joining

Revision ID: ae4e7c2bdead
Revises: 8a40f014c05e
Create Date: 2026-11-29 09:06:24.262319

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'ae4e7c2bdead'
down_revision = '8a40f014c05e'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('customer_order', schema=None) as batch_op:
        batch_op.create_index('ix_customer_order_merchant_paid', ['merchant_id', 'paid_at'], unique=False)

    with op.batch_alter_table('member', schema=None) as batch_op:
        batch_op.create_index('ix_member_merchant_created', ['merchant_id', 'created_at'], unique=False)


def downgrade():
    with op.batch_alter_table('member', schema=None) as batch_op:
        batch_op.drop_index('ix_member_merchant_created')

    with op.batch_alter_table('customer_order', schema=None) as batch_op:
        batch_op.drop_index('ix_customer_order_merchant_paid')
