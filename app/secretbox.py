"""Secrets at rest: a merchant's WeChat app secret, callback token, AES key and Pay API key are
stored encrypted (Fernet: AES-128-CBC + HMAC-SHA256) with keys from the environment.

`SECRETS_ENCRYPTION_KEYS` holds one or more Fernet keys separated by commas. The first encrypts;
every one of them decrypts, so a key is rotated by putting a new one in front, running
`flask secrets rotate` (re-encrypts every stored secret with the new key) and then dropping the
old one. Production refuses to start without the setting (config.settings.ProductionConfig);
development and the tests derive a key from SECRET_KEY so `make run` needs no step by hand.

Columns use `EncryptedString`: the model attribute holds the plain value, the database row only
the Fernet token. An empty string stays empty (it means "not set", which the API shows anyway).
"""

from __future__ import annotations

import base64
import hashlib

import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import Flask, current_app

EXTENSION = "tableloop_secretbox"


class SecretKeyError(RuntimeError):
    """The configured keys cannot read a stored secret (a key was dropped before rotating)."""


def derived_key(secret_key: str) -> str:
    """A Fernet key derived from SECRET_KEY, for development and tests only."""
    digest = hashlib.sha256(b"tableloop secrets encryption\x00" + secret_key.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()


def parse_keys(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def check_keys(keys: list[str]) -> None:
    """Each key must be a Fernet key (32 bytes, url-safe base64): refuse to start otherwise."""
    for number, key in enumerate(keys, 1):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            raise RuntimeError(
                f"SECRETS_ENCRYPTION_KEYS: key {number} is not a Fernet key (make one with "
                "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')."
            ) from None


class SecretBox:
    def __init__(self, keys: list[str]) -> None:
        check_keys(keys)
        self._fernet = MultiFernet([Fernet(key) for key in keys])

    def encrypt(self, value: str) -> str:
        return self._fernet.encrypt(value.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise SecretKeyError(
                "A stored secret cannot be decrypted with SECRETS_ENCRYPTION_KEYS: the key it was "
                "written with is missing (see docs/deploy.md, rotating the key)."
            ) from None

    def rotate(self, token: str) -> str:
        """The same secret encrypted with the first key."""
        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken:
            raise SecretKeyError("A stored secret cannot be decrypted with SECRETS_ENCRYPTION_KEYS.") from None


def init_app(app: Flask) -> None:
    keys = parse_keys(app.config.get("SECRETS_ENCRYPTION_KEYS"))
    if not keys and app.config.get("SECRET_KEY") and not app.config.get("SECRETS_REQUIRE_KEY"):
        keys = [derived_key(app.config["SECRET_KEY"])]
    if not keys:
        raise RuntimeError(
            "SECRETS_ENCRYPTION_KEYS must be set: merchants' WeChat secrets are encrypted with it "
            "(python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')."
        )
    app.extensions[EXTENSION] = SecretBox(keys)


def box() -> SecretBox:
    return current_app.extensions[EXTENSION]


def stored_length(plain_length: int) -> int:
    """Characters of the Fernet token of an ASCII secret of `plain_length` characters."""
    raw = 1 + 8 + 16 + 16 * (plain_length // 16 + 1) + 32  # version, time, IV, padded text, HMAC
    return 4 * -(-raw // 3)


class EncryptedString(sa.types.TypeDecorator):
    """A secret of at most `length` ASCII characters, stored as its Fernet token."""

    impl = sa.String
    cache_ok = True

    def __init__(self, length: int) -> None:
        self.plain_length = length
        super().__init__(stored_length(length))

    def process_bind_param(self, value, dialect):
        if value is None or value == "":
            return value
        return box().encrypt(value)

    def process_result_value(self, value, dialect):
        if value is None or value == "":
            return value
        return box().decrypt(value)


def encrypted_columns(metadata: sa.MetaData) -> list[tuple[sa.Table, list[sa.Column]]]:
    """Every table with encrypted columns, and those columns."""
    found = []
    for table in metadata.sorted_tables:
        columns = [column for column in table.columns if isinstance(column.type, EncryptedString)]
        if columns:
            found.append((table, columns))
    return found


def rotate_all(connection: sa.Connection, metadata: sa.MetaData, secret_box: SecretBox) -> int:
    """Re-encrypt every stored secret with the first key; the number of values rewritten."""
    rewritten = 0
    for table, columns in encrypted_columns(metadata):
        names = [column.name for column in columns]
        raw = sa.table(table.name, sa.column("id"), *(sa.column(name, sa.String) for name in names))
        rows = connection.execute(sa.select(raw.c.id, *(raw.c[name] for name in names))).all()
        for row in rows:
            changes = {name: secret_box.rotate(value) for name, value in zip(names, row[1:], strict=True) if value}
            if changes:
                connection.execute(raw.update().where(raw.c.id == row.id).values(**changes))
                rewritten += len(changes)
    return rewritten
