"""member.profile_changed_at: when the phone, name or member number last changed, so that the
stores' agents take the change with their next refresh of changed members

Revision ID: c0d4e8a2f6b1
Revises: 8b03a10cf5f8
Create Date: 2026-11-29 12:40:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'c0d4e8a2f6b1'
down_revision = '8b03a10cf5f8'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('member') as batch_op:
        batch_op.add_column(sa.Column('profile_changed_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('member') as batch_op:
        batch_op.drop_column('profile_changed_at')
