"""Command line: `flask --app app tenants create …`, `flask --app app demo load`."""

from __future__ import annotations

import json
import sys

import click
from flask import current_app
from flask.cli import AppGroup

from app.db import db
from app.errors import APIError

tenants_cli = AppGroup("tenants", help="Merchants (tenants) of this installation.")
demo_cli = AppGroup("demo", help="The demo restaurant of the embedded default.")


@tenants_cli.command("create")
@click.option("--merchant", "merchant_name", required=True, help="Merchant (business) name.")
@click.option("--owner", "owner_username", required=True, help="Username of the owner account.")
@click.option("--password", required=True, help="Password of the owner account (at least 8 characters).")
@click.option("--store", "store_name", default=None, help="Name of the first store (default: merchant name).")
def create_tenant_command(merchant_name: str, owner_username: str, password: str, store_name: str | None):
    """Create a merchant, its first store and its owner; print them as one JSON line."""
    from app.onboarding import create_tenant

    if len(password) < 8:
        click.echo("error: the password needs at least 8 characters", err=True)
        sys.exit(1)
    try:
        merchant, store, owner = create_tenant(merchant_name=merchant_name, owner_username=owner_username,
                                               password=password, store_name=store_name)
        db.session.commit()
    except APIError as error:
        db.session.rollback()
        click.echo(f"error: {error.description}", err=True)
        sys.exit(1)
    click.echo(json.dumps({"merchant_id": merchant.id, "store_id": store.id, "owner_id": owner.id}))


@demo_cli.command("load")
@click.option("--members", "member_count", type=click.IntRange(0, 100_000), default=None,
              help="How many demo members with their bills (default 2,000).")
def load_demo_command(member_count: int | None):
    """Load the demo restaurant once (does nothing when it is already there)."""
    from app.demo.seed import load_demo

    created = load_demo() if member_count is None else load_demo(member_count=member_count)
    click.echo("demo data loaded" if created else "demo data already present")


@demo_cli.command("urls")
@click.option("--base", default=None, help="Base URL of the server.")
def demo_urls_command(base: str | None):
    """Print where every part of the running system is, with the demo logins."""
    from app.demo.seed import describe

    click.echo(describe(base or current_app.config["PUBLIC_BASE_URL"]))


secrets_cli = AppGroup("secrets", help="Merchants' secrets stored encrypted (SECRETS_ENCRYPTION_KEYS).")


@secrets_cli.command("rotate")
def rotate_secrets_command():
    """Re-encrypt every stored secret with the first key of SECRETS_ENCRYPTION_KEYS.

    Put the new key first and keep the old ones behind it, run this, then drop the old keys
    (docs/deploy.md)."""
    from app.secretbox import SecretKeyError, box, rotate_all

    try:
        with db.engine.begin() as connection:
            count = rotate_all(connection, db.metadata, box())
    except SecretKeyError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(1)
    click.echo(f"re-encrypted {count} secret value(s) with the first key")
