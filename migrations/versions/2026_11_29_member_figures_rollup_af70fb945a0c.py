"""member figures: the pyramid window's visits, spend and last visit per member, and the window kept

Revision ID: af70fb945a0c
Revises: a3f19c6e2d71
Create Date: 2026-11-29 09:33:26.407878

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'af70fb945a0c'
down_revision = 'a3f19c6e2d71'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('member_figures_window',
    sa.Column('merchant_id', sa.Integer(), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('months', sa.Integer(), nullable=False),
    sa.Column('built_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('quantiles', sa.JSON(), nullable=True),
    sa.CheckConstraint('months >= 1', name=op.f('ck_member_figures_window_months_positive')),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchant.id'], name=op.f('fk_member_figures_window_merchant_id_merchant'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('merchant_id', name=op.f('pk_member_figures_window'))
    )
    op.create_table('member_figures',
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('visits', sa.Integer(), nullable=False),
    sa.Column('spend_cents', sa.BigInteger(), nullable=False),
    sa.Column('last_visit_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('merchant_id', sa.Integer(), nullable=False),
    sa.CheckConstraint('visits >= 0', name=op.f('ck_member_figures_visits_not_negative')),
    sa.ForeignKeyConstraint(['member_id'], ['member.id'], name=op.f('fk_member_figures_member_id_member'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchant.id'], name=op.f('fk_member_figures_merchant_id_merchant'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('member_id', name=op.f('pk_member_figures'))
    )
    with op.batch_alter_table('member_figures', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_member_figures_merchant_id'), ['merchant_id'], unique=False)



def downgrade():
    with op.batch_alter_table('member_figures', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_member_figures_merchant_id'))

    op.drop_table('member_figures')
    op.drop_table('member_figures_window')
