"""menu version per merchant: moved by every change of the menu, keys the diner's rendered menu

Revision ID: 8b03a10cf5f8
Revises: e5b2d7c41f90
Create Date: 2026-11-29 09:15:40.654779

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '8b03a10cf5f8'
down_revision = 'e5b2d7c41f90'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('menu_version',
    sa.Column('merchant_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchant.id'], name=op.f('fk_menu_version_merchant_id_merchant'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('merchant_id', name=op.f('pk_menu_version'))
    )


def downgrade():
    op.drop_table('menu_version')
