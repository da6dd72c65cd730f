"""kept pyramid: a stamp on the members' rollup window moved by every rollup write, and the rollup by last visit

Revision ID: 3d5c8e1f7a20
Revises: 5a7c2e9d4b13
Create Date: 2026-11-29 12:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '3d5c8e1f7a20'
down_revision = '5a7c2e9d4b13'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('member_figures_window', schema=None) as batch_op:
        batch_op.add_column(sa.Column('stamp', sa.BigInteger(), server_default=sa.text('0'), nullable=False))
    with op.batch_alter_table('member_figures', schema=None) as batch_op:
        batch_op.create_index('ix_member_figures_merchant_last_visit', ['merchant_id', 'last_visit_at'], unique=False)


def downgrade():
    with op.batch_alter_table('member_figures', schema=None) as batch_op:
        batch_op.drop_index('ix_member_figures_merchant_last_visit')
    with op.batch_alter_table('member_figures_window', schema=None) as batch_op:
        batch_op.drop_column('stamp')
