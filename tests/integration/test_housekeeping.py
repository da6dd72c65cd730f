"""Housekeeping: expired idempotency records and finished outbox messages are deleted in bounded
batches; nothing inside its window and no message still to deliver is ever touched."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app import housekeeping
from app.db import utcnow
from app.idempotency import IdempotencyRecord
from app.outbox import service as outbox
from app.outbox.models import OutboxMessage, OutboxStatus
from app.scheduler import JOBS
from tests.factories import create_member

DAY = timedelta(days=1)


def _retention(batch_size: int = 500) -> housekeeping.Retention:
    return housekeeping.Retention(idempotency=30 * DAY, outbox_sent=30 * DAY, outbox_failed=90 * DAY,
                                  batch_size=batch_size)


def _top_up(api, member_id: int, key: str, amount_cents: int = 10_000):
    return api.post(f"/members/{member_id}/topups", json={"amount_cents": amount_cents, "tender": "cash",
                                                          "idempotency_key": key})


def _keys(db) -> set[str]:
    return set(db.session.scalars(sa.select(IdempotencyRecord.key)))


def _age_records(db, keys: list[str], age: timedelta) -> None:
    db.session.execute(sa.update(IdempotencyRecord).where(IdempotencyRecord.key.in_(keys))
                       .values(created_at=utcnow() - age))
    db.session.commit()


def test_idempotency_records_expire_after_their_window_and_not_before(make, db):
    tenant = make.tenant()
    api = make.api(tenant.owner)
    member = create_member(make, tenant)
    keys = [f"topup-key-{n}" for n in range(6)]
    for key in keys:
        assert _top_up(api, member["id"], key).status_code == 201
    _age_records(db, keys[:3], 31 * DAY)
    _age_records(db, keys[3:5], 29 * DAY)  # inside the window by a day

    report = housekeeping.run(utcnow(), _retention())
    assert report.idempotency_records == 3
    assert _keys(db) == set(keys[3:])
    # Inside its window a retry still replays the first answer.
    assert _top_up(api, member["id"], keys[4]).status_code == 201
    assert housekeeping.run(utcnow(), _retention()).idempotency_records == 0


def test_a_key_sent_again_after_its_record_expired_is_refused_and_applies_nothing(make, db):
    tenant = make.tenant()
    api = make.api(tenant.owner)
    member = create_member(make, tenant)
    assert _top_up(api, member["id"], "late-retry-key").status_code == 201
    balance = api.get(f"/members/{member['id']}").get_json()
    housekeeping.run(utcnow() + 31 * DAY, _retention())
    assert _keys(db) == set()

    again = _top_up(api, member["id"], "late-retry-key")
    assert again.status_code == 409
    assert again.get_json()["error"]["code"] == "idempotency_key_expired"
    assert api.get(f"/members/{member['id']}").get_json() == balance
    assert _keys(db) == set()  # the refused attempt left no record behind


def _message(db, merchant_id: int, status: OutboxStatus, *, due_days_ago: float,
             sent_days_ago: float | None = None) -> int:
    key = uuid.uuid4().hex
    outbox.enqueue(merchant_id, "test.kind", key, {}, now=utcnow() - timedelta(days=due_days_ago))
    db.session.flush()
    message = db.session.scalar(sa.select(OutboxMessage).where(OutboxMessage.dedupe_key == key))
    message.status = status
    if sent_days_ago is not None:
        message.sent_at = utcnow() - timedelta(days=sent_days_ago)
    if status is OutboxStatus.SENDING:
        message.claimed_at = utcnow() - timedelta(days=due_days_ago)
    db.session.commit()
    return message.id


def test_only_finished_outbox_messages_past_their_retention_are_deleted(make, db):
    merchant_id = make.tenant().merchant.id
    kept = {
        "pending, a year overdue": _message(db, merchant_id, OutboxStatus.PENDING, due_days_ago=365),
        "sending, claim a year old": _message(db, merchant_id, OutboxStatus.SENDING, due_days_ago=365),
        "sent 29 days ago": _message(db, merchant_id, OutboxStatus.SENT, due_days_ago=29, sent_days_ago=29),
        "due long ago, sent 10 days ago": _message(db, merchant_id, OutboxStatus.SENT, due_days_ago=60,
                                                   sent_days_ago=10),
        "failed 89 days ago": _message(db, merchant_id, OutboxStatus.FAILED, due_days_ago=89),
        "dead 60 days ago": _message(db, merchant_id, OutboxStatus.DEAD, due_days_ago=60),
    }
    gone = {
        "sent 31 days ago": _message(db, merchant_id, OutboxStatus.SENT, due_days_ago=31, sent_days_ago=31),
        "sent 200 days ago": _message(db, merchant_id, OutboxStatus.SENT, due_days_ago=200, sent_days_ago=200),
        "failed 91 days ago": _message(db, merchant_id, OutboxStatus.FAILED, due_days_ago=91),
        "dead 120 days ago": _message(db, merchant_id, OutboxStatus.DEAD, due_days_ago=120),
    }
    report = housekeeping.run(utcnow(), _retention())
    assert (report.outbox_sent, report.outbox_failed) == (2, 2)
    left = set(db.session.scalars(sa.select(OutboxMessage.id)))
    assert left == set(kept.values()), ({name for name, id_ in kept.items() if id_ not in left},
                                        {name for name, id_ in gone.items() if id_ in left})


def test_deletes_go_in_bounded_batches(app, make, db):
    tenant = make.tenant()
    api = make.api(tenant.owner)
    member = create_member(make, tenant)
    keys = [f"batch-key-{n}" for n in range(11)]
    for key in keys:
        assert _top_up(api, member["id"], key, amount_cents=100).status_code == 201
    for _ in range(7):
        _message(db, tenant.merchant.id, OutboxStatus.SENT, due_days_ago=40, sent_days_ago=40)

    deletes: list[tuple[str, int]] = []

    def watch(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("DELETE"):
            params = parameters if isinstance(parameters, (list, tuple)) else list(parameters.values())
            deletes.append((statement, len(params)))

    sa.event.listen(db.engine, "before_cursor_execute", watch)
    try:
        report = housekeeping.run(utcnow() + 31 * DAY, _retention(batch_size=4))
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", watch)
    assert (report.idempotency_records, report.outbox_sent) == (11, 7)
    assert _keys(db) == set()
    # The top-ups' own messages are still pending: untouched.
    assert set(db.session.scalars(sa.select(OutboxMessage.status))) == {OutboxStatus.PENDING}
    # 11 records: 4 + 4 + 3; 7 messages: 4 + 3 — never more than 4 ids in one statement (plus
    # the repeated conditions: at most 3 values).
    assert len(deletes) == 5
    assert all(count <= 4 + 3 for _statement, count in deletes), deletes


def test_the_command_runs_it_once_and_prints_the_counts(app, make, db):
    tenant = make.tenant()
    api = make.api(tenant.owner)
    member = create_member(make, tenant)
    assert _top_up(api, member["id"], "cli-old-key").status_code == 201
    assert _top_up(api, member["id"], "cli-new-key").status_code == 201
    _age_records(db, ["cli-old-key"], 40 * DAY)
    _message(db, tenant.merchant.id, OutboxStatus.SENT, due_days_ago=40, sent_days_ago=40)

    result = app.test_cli_runner().invoke(args=["housekeeping", "run"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"idempotency_records": 1, "outbox_sent": 1, "outbox_failed": 0}
    assert _keys(db) == {"cli-new-key"}


def test_it_is_a_daily_scheduled_job():
    assert ("housekeeping", "app.scheduler:housekeeping", {"hour": 4, "minute": 40}) in JOBS


@pytest.mark.parametrize("name", ["IDEMPOTENCY_RETENTION_DAYS", "OUTBOX_RETENTION_DAYS",
                                  "OUTBOX_FAILED_RETENTION_DAYS"])
def test_a_retention_under_a_day_is_refused(app, name):
    config = {**app.config, name: 0}
    with pytest.raises(ValueError, match=name):
        housekeeping.Retention.from_config(config)
