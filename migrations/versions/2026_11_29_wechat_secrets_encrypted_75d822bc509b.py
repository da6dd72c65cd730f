"""wechat secrets encrypted at rest

The app secret, callback token, AES key and Pay API key of each merchant's WeChat account are
stored as Fernet tokens (app/secretbox.py): the columns widen to hold them and the plain values
already stored are encrypted with the first key of SECRETS_ENCRYPTION_KEYS (derived from
SECRET_KEY outside production). The downgrade decrypts them back.

Revision ID: 75d822bc509b
Revises: 5dd5aa61ed7d
Create Date: 2026-11-29 05:40:00

"""
import sqlalchemy as sa
from alembic import op
from flask import current_app

# revision identifiers, used by Alembic.
revision = '75d822bc509b'
down_revision = '5dd5aa61ed7d'
branch_labels = None
depends_on = None

# column -> (plain length, stored length of its Fernet token)
SECRETS = {
    'app_secret': (64, 184),
    'token': (64, 184),
    'encoding_aes_key': (43, 140),
    'api_key': (32, 140),
}


def _box():
    # The key ring the app built from its configuration, so rows are encrypted as the app reads them.
    return current_app.extensions['tableloop_secretbox']


def _rewrite(convert) -> None:
    table = sa.table('wechat_settings', sa.column('id', sa.Integer),
                     *(sa.column(name, sa.String) for name in SECRETS))
    conn = op.get_bind()
    for row in conn.execute(sa.select(table)).mappings().all():
        changes = {name: convert(row[name]) for name in SECRETS if row[name]}
        if changes:
            conn.execute(table.update().where(table.c.id == row['id']).values(**changes))


def upgrade():
    with op.batch_alter_table('wechat_settings', schema=None) as batch_op:
        for name, (plain, stored) in SECRETS.items():
            batch_op.alter_column(name, existing_type=sa.String(length=plain), type_=sa.String(length=stored),
                                  existing_nullable=name == 'encoding_aes_key')
    _rewrite(_box().encrypt)


def downgrade():
    _rewrite(_box().decrypt)
    with op.batch_alter_table('wechat_settings', schema=None) as batch_op:
        for name, (plain, stored) in SECRETS.items():
            batch_op.alter_column(name, existing_type=sa.String(length=stored), type_=sa.String(length=plain),
                                  existing_nullable=name == 'encoding_aes_key')
