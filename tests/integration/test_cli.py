import json

import sqlalchemy as sa

from app.auth.models import Staff
from app.members.models import Member


def test_tenants_create_prints_one_json_line(app, db):
    result = app.test_cli_runner().invoke(args=["tenants", "create", "--merchant", "老街面馆",
                                                "--owner", "laojie", "--password", "s3cret-pass"])
    assert result.exit_code == 0, result.output
    line = json.loads(result.output.strip())
    assert set(line) == {"merchant_id", "store_id", "owner_id"}
    owner = db.session.get(Staff, line["owner_id"])
    assert owner.username == "laojie" and owner.merchant_id == line["merchant_id"]
    assert owner.check_password("s3cret-pass")


def test_tenants_create_refuses_a_taken_username(app, db):
    runner = app.test_cli_runner()
    args = ["tenants", "create", "--merchant", "A", "--owner", "same", "--password", "password1"]
    assert runner.invoke(args=args).exit_code == 0
    result = runner.invoke(args=args)
    assert result.exit_code == 1
    assert "用户名已被占用" in result.output


def test_demo_load_is_idempotent(app, db):
    runner = app.test_cli_runner()
    assert "loaded" in runner.invoke(args=["demo", "load", "--members", "30"]).output
    assert "already" in runner.invoke(args=["demo", "load", "--members", "30"]).output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Member)) == 30
    usernames = set(db.session.scalars(Staff.__table__.select().with_only_columns(Staff.username)).all())
    assert {"owner", "manager", "cashier", "kitchen"} <= usernames
