"""kitchen stations: the store's own name for each station code (热菜, 凉菜, 吧台 …)

Revision ID: 6b2e9d41c8a3
Revises: af70fb945a0c
Create Date: 2026-11-29 09:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '6b2e9d41c8a3'
down_revision = 'af70fb945a0c'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('kitchen_station',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=20), nullable=False),
    sa.Column('name', sa.String(length=20), nullable=False),
    sa.Column('name_en', sa.String(length=40), nullable=False),
    sa.Column('sort_order', sa.Integer(), nullable=False),
    sa.Column('merchant_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchant.id'], name=op.f('fk_kitchen_station_merchant_id_merchant'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kitchen_station')),
    sa.UniqueConstraint('merchant_id', 'code', name=op.f('uq_kitchen_station_merchant_id_code'))
    )
    with op.batch_alter_table('kitchen_station', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_kitchen_station_merchant_id'), ['merchant_id'], unique=False)


def downgrade():
    with op.batch_alter_table('kitchen_station', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_kitchen_station_merchant_id'))
    op.drop_table('kitchen_station')
