"""Backup and restore on PostgreSQL, as docs/deploy.md tells an operator to do it: pg_dump in the
custom format, pg_restore into a fresh database, `flask db upgrade`, then an app on the restored
database finds every member's ledger equal to the balances, and every table as it was."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from config.settings import ROOT
from tests.factories import create_dish, create_member

pytestmark = pytest.mark.postgres_only

ACCOUNTS = ("principal", "bonus", "points")


def key() -> str:
    return uuid.uuid4().hex


def _libpq_url(url: sa.URL) -> str:
    """The URL as pg_dump, pg_restore and psql take it (no SQLAlchemy driver name)."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} is missing: install postgresql-client (make system-deps)"
    return path


def _post(api, path, body, status=200):
    response = api.post(path, json=body)
    assert response.status_code == status, response.get_json()
    return response.get_json()


def _build_a_day_of_service(make) -> tuple[object, list[int]]:
    tenant = make.tenant()
    api = make.api(tenant.owner)
    api.request("PUT", "/topup-rules", json={"rules": [{"min_cents": 50_000, "bonus_cents": 8_000}]})
    fish = create_dish(make, tenant, "剁椒鱼头", 12_800)
    pork = create_dish(make, tenant, "小炒黄牛肉", 6_800)

    def order(*items):
        return _post(api, "/orders", {"store_id": tenant.store.id, "idempotency_key": key(),
                                      "items": [{"dish_id": dish["id"], "qty": qty} for dish, qty in items]}, 201)

    def settle(order_id, tenders, **extra):
        return _post(api, f"/orders/{order_id}/settle", {"tenders": tenders, "idempotency_key": key(), **extra})

    members = [create_member(make, tenant, name=name)["id"] for name in ("张三", "李四", "王芳", "赵六")]
    for n, member_id in enumerate(members):
        _post(api, f"/members/{member_id}/topups", {"amount_cents": 50_000 + 10_000 * n, "tender": "cash",
                                                    "idempotency_key": key()}, 201)
    # Stored value and cash, earning points.
    for member_id in members[:3]:
        bill = order((fish, 1), (pork, 2))
        settle(bill["id"], [{"type": "stored_value", "amount_cents": 20_000},
                            {"type": "cash", "amount_cents": 10_000}], member_id=member_id)
    # Spending points earned before.
    for member_id in members[:2]:
        bill = order((pork, 1))
        preview = api.get(f"/orders/{bill['id']}/bill", query_string={"member_id": member_id,
                                                                      "points": 50}).get_json()
        settle(bill["id"], [{"type": "stored_value", "amount_cents": preview["payable_cents"]}],
               member_id=member_id, points=50)
    # A whole refund, and a partial one of another order.
    refunded = order((fish, 2))
    settle(refunded["id"], [{"type": "stored_value", "amount_cents": 25_600}], member_id=members[3])
    _post(api, f"/orders/{refunded['id']}/refund", {"reason": "菜品问题，全单退款", "idempotency_key": key()})
    partly = order((fish, 1), (pork, 3))
    settle(partly["id"], [{"type": "stored_value", "amount_cents": 20_000},
                          {"type": "cash", "amount_cents": 20_000}], member_id=members[3])
    pork_line = next(line for line in partly["items"] if line["dish_id"] == pork["id"])
    _post(api, f"/orders/{partly['id']}/refund", {"reason": "少上一份", "idempotency_key": key(),
                                                  "lines": [{"line_id": pork_line["id"], "qty": 1}]})
    # A diner without a card, paying cash.
    settle(order((pork, 1))["id"], [{"type": "cash", "amount_cents": 10_000}])
    return tenant, members


def _cards_and_ledgers(api, members: list[int]) -> dict[int, tuple[dict, list[dict]]]:
    seen = {}
    for member_id in members:
        card = api.get(f"/members/{member_id}")
        assert card.status_code == 200, card.get_json()
        ledger = api.get(f"/members/{member_id}/ledger", query_string={"limit": 1000})
        assert ledger.status_code == 200, ledger.get_json()
        seen[member_id] = (card.get_json(), ledger.get_json()["entries"])
    return seen


def _assert_ledgers_equal_balances(seen: dict[int, tuple[dict, list[dict]]]) -> None:
    for member_id, (card, entries) in seen.items():
        balances = {"principal": card["stored_value"]["principal_cents"],
                    "bonus": card["stored_value"]["bonus_cents"], "points": card["points"]}
        assert card["stored_value"]["total_cents"] == balances["principal"] + balances["bonus"]
        for account in ACCOUNTS:
            mine = sorted((e for e in entries if e["account"] == account), key=lambda e: e["id"])
            assert sum(e["delta"] for e in mine) == balances[account], (member_id, account)
            assert (mine[-1]["balance_after"] if mine else 0) == balances[account], (member_id, account)


def _row_counts(engine: sa.Engine, tables: list[str]) -> dict[str, int]:
    with engine.connect() as conn:
        return {name: conn.scalar(sa.text(f'SELECT count(*) FROM "{name}"')) for name in tables}


def test_a_restored_dump_has_every_ledger_equal_to_its_balances(app, make, db, tmp_path: Path):
    tenant, members = _build_a_day_of_service(make)
    before = _cards_and_ledgers(make.api(tenant.owner), members)
    _assert_ledgers_equal_balances(before)
    assert all(card["stored_value"]["total_cents"] > 0 and card["points"] > 0 for card, _ in before.values())
    kinds = {entry["kind"] for _, entries in before.values() for entry in entries}
    assert {"topup", "spend", "spend_refund", "points_earn", "points_redeem", "points_earn_reversal"} <= kinds
    db.session.commit()

    source = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    tables = sorted(db.metadata.tables)
    original_counts = _row_counts(db.engine, tables)
    assert original_counts["customer_order"] == 8 and original_counts["payment"] > 0

    # Back up: the custom format, as docs/deploy.md says.
    dump = tmp_path / "tableloop.dump"
    subprocess.run([_tool("pg_dump"), "--format=custom", "--no-owner", "--file", str(dump), _libpq_url(source)],
                   check=True, timeout=300)
    assert dump.stat().st_size > 0

    restored_name = f"{source.database}_restore_{uuid.uuid4().hex[:8]}"
    target = source.set(database=restored_name)
    admin = sa.create_engine(source, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{restored_name}"')
    restored_app = None
    try:
        # Restore into the fresh database, then bring the schema up to this release.
        subprocess.run([_tool("pg_restore"), "--no-owner", "--exit-on-error", "--dbname", _libpq_url(target),
                        str(dump)], check=True, timeout=300)
        env = {**os.environ, "TABLELOOP_ENV": "development", "DATABASE_URL": _libpq_url(target)}
        env.pop("REDIS_URL", None)
        upgrade = subprocess.run([sys.executable, "-m", "flask", "--app", "app", "db", "upgrade"], cwd=ROOT,
                                 env=env, capture_output=True, text=True, timeout=300)
        assert upgrade.returncode == 0, upgrade.stderr
        assert "Running upgrade" not in upgrade.stderr  # the dump was at head already

        from app import create_app
        from config.settings import TestingConfig

        class Restored(TestingConfig):
            SQLALCHEMY_DATABASE_URI = target.render_as_string(hide_password=False)

        restored_app = create_app(Restored)
        with restored_app.app_context():
            from app.extensions import db as restored_db

            restored_engine = restored_db.engine
            assert restored_engine.url.database == restored_name
            assert _row_counts(restored_engine, tables) == original_counts

        client = restored_app.test_client()
        login = client.post("/api/v1/auth/token", json={"username": tenant.owner.username,
                                                        "password": make.PASSWORD})
        assert login.status_code == 200, login.get_json()
        from tests.factories import ApiClient

        restored_api = ApiClient(client, login.get_json()["token"])
        after = _cards_and_ledgers(restored_api, members)
        _assert_ledgers_equal_balances(after)
        assert after == before
        orders = restored_api.get("/orders", query_string={"limit": 100})
        assert orders.status_code == 200, orders.get_json()

        # The restored database takes new work: sequences went with the dump.
        topped = restored_api.post(f"/members/{members[0]}/topups", json={
            "amount_cents": 1_000, "tender": "cash", "idempotency_key": key()})
        assert topped.status_code == 201, topped.get_json()
        _assert_ledgers_equal_balances(_cards_and_ledgers(restored_api, members[:1]))
    finally:
        if restored_app is not None:
            with restored_app.app_context():
                from app.extensions import db as restored_db

                restored_db.session.remove()
                restored_db.engine.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{restored_name}" WITH (FORCE)')
        admin.dispose()
