"""staff cards: a card number per staff account, unique per merchant (a manager's card approves a refund at the till)

Revision ID: 5a7c2e9d4b13
Revises: b7d4e2a91c35
Create Date: 2026-11-29 12:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5a7c2e9d4b13'
down_revision = 'b7d4e2a91c35'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('staff', schema=None) as batch_op:
        batch_op.add_column(sa.Column('card_no', sa.String(length=20), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_staff_merchant_id_card_no'), ['merchant_id', 'card_no'])


def downgrade():
    with op.batch_alter_table('staff', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_staff_merchant_id_card_no'), type_='unique')
        batch_op.drop_column('card_no')
