"""dish photos uploaded by the manager, kept in the database

Revision ID: 58554a19aa47
Revises: 9d41c7a2e5b8
Create Date: 2026-11-30 08:50:11

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '58554a19aa47'
down_revision = '9d41c7a2e5b8'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('dish_photo',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('dish_id', sa.Integer(), nullable=False),
    sa.Column('content_type', sa.String(length=20), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('merchant_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['dish_id'], ['dish.id'], name=op.f('fk_dish_photo_dish_id_dish'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchant.id'], name=op.f('fk_dish_photo_merchant_id_merchant'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dish_photo')),
    sa.UniqueConstraint('dish_id', name=op.f('uq_dish_photo_dish_id'))
    )
    with op.batch_alter_table('dish_photo', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dish_photo_merchant_id'), ['merchant_id'], unique=False)



def downgrade():
    with op.batch_alter_table('dish_photo', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dish_photo_merchant_id'))

    op.drop_table('dish_photo')
