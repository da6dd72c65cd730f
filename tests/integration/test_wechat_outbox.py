"""The outbox and the WeChat template messages it delivers: once per event, after commit, retried
while WeChat is away, given up when WeChat refuses for good."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from datetime import timedelta

import sqlalchemy as sa

from app.db import utcnow
from app.outbox import service as outbox
from app.outbox.models import OutboxMessage, OutboxStatus
from app.wechat.subscribers import STORED_VALUE
from config.settings import ROOT
from tests.factories import create_coupon_template, create_member, issue_coupon
from tests.integration.wechat_support import (
    deliver,
    field,
    new_user,
    templates_in,
)


def _member_on_wechat(make, world, openid: str) -> dict:
    from app.members.models import Member

    member = create_member(make, world.tenant)
    make.db.session.get(Member, member["id"]).openid = openid
    make.db.session.commit()
    return member


def _top_up(make, world, member_id: int, amount_cents: int = 50_000, key: str | None = None):
    response = make.api(world.tenant.owner).post(f"/members/{member_id}/topups", json={
        "amount_cents": amount_cents, "tender": "cash", "idempotency_key": key or uuid.uuid4().hex})
    assert response.status_code in (200, 201), response.get_json()
    return response


def _messages(db, **where) -> list[OutboxMessage]:
    db.session.commit()
    stmt = sa.select(OutboxMessage).order_by(OutboxMessage.id)
    for name, value in where.items():
        stmt = stmt.where(getattr(OutboxMessage, name) == value)
    return list(db.session.scalars(stmt))


def test_a_top_up_lands_in_the_members_wechat_once_even_when_delivery_runs_twice(make, oa):
    openid = new_user(oa.sim)
    member = _member_on_wechat(make, oa, openid)
    key = uuid.uuid4().hex

    _top_up(make, oa, member["id"], 50_000, key=key)
    _top_up(make, oa, member["id"], 50_000, key=key)  # the till retries: replayed, not applied
    assert templates_in(oa.sim, openid) == []  # nothing is sent inside the transaction

    first, second = deliver(), deliver()
    assert (first.sent, second.handled) == (1, 0)
    (message,) = templates_in(oa.sim, openid)
    assert message["template_id"] == "TPL_BALANCE" and message["title"] == "储值变动通知"
    # Demo rules: top up 500, get 50.
    assert field(message, "keyword1") == "+￥550.00" and field(message, "keyword2") == "￥550.00"
    assert field(message, "remark") == "充值"
    assert message["url"].endswith(f"/m/card?merchant={oa.merchant_id}")
    (row,) = _messages(make.db)
    assert (row.status, row.attempts, row.last_error) == (OutboxStatus.SENT, 1, "")


def test_members_without_wechat_or_merchants_without_templates_send_nothing(make, oa):
    member = create_member(make, oa.tenant)
    _top_up(make, oa, member["id"])
    oa.settings.templates = {"payment_success": oa.settings.templates["payment_success"]}
    make.db.session.commit()
    openid = new_user(oa.sim)
    linked = _member_on_wechat(make, oa, openid)
    _top_up(make, oa, linked["id"])
    # The members domain tells whoever subscribes; WeChat finds nothing to send for either.
    assert [row.kind for row in _messages(make.db)] == [STORED_VALUE, STORED_VALUE]
    report = deliver()
    assert (report.sent, report.failed, report.retried) == (2, 0, 0)
    assert templates_in(oa.sim, openid) == []


def test_a_domain_event_reaches_each_subscriber_once(make, oa):
    from app.crm import service as crm
    from app.events.domain import DomainEvent, publish, subscribers
    from app.orders import figures, sales_days
    from app.wechat import subscribers as wechat

    assert subscribers(DomainEvent.ORDER_PAID) == (wechat.PAID_MEMBER, wechat.PAID_PAYER,
                                                   wechat.PAID_STORED_VALUE, wechat.PAID_POINTS, figures.FIGURES_PAID,
                                                   sales_days.SALES_DAY_PAID, crm.RETAG)
    payload = {"order_id": 2**31 - 1, "payer_openid": None}
    assert publish(oa.merchant_id, DomainEvent.ORDER_PAID, "order:x", payload, now=utcnow()) == 7
    assert publish(oa.merchant_id, DomainEvent.ORDER_PAID, "order:x", payload, now=utcnow()) == 0  # the same event
    make.db.session.commit()
    rows = _messages(make.db)
    assert sorted(row.kind for row in rows) == sorted(subscribers(DomainEvent.ORDER_PAID))
    assert all(row.payload == {"event": "order_paid", **payload} for row in rows)
    # An order that is not there (any more): each subscriber has nothing to send.
    assert deliver().sent == 7


def test_adjustments_and_coupons_tell_the_member(make, oa):
    openid = new_user(oa.sim)
    member = _member_on_wechat(make, oa, openid)
    api = make.api(oa.tenant.owner)
    response = api.post(f"/members/{member['id']}/adjustments", json={
        "account": "points", "delta": 120, "reason": "生日礼", "idempotency_key": uuid.uuid4().hex})
    assert response.status_code in (200, 201), response.get_json()
    template = create_coupon_template(make, oa.tenant, name="满100减20")
    issue_coupon(make, oa.tenant, member["id"], template["id"])

    assert deliver().sent == 2
    points, = templates_in(oa.sim, openid, "TPL_POINTS")
    assert (field(points, "keyword1"), field(points, "keyword2"), field(points, "remark")) == ("+120", "120",
                                                                                               "调整：生日礼")
    coupon, = templates_in(oa.sim, openid, "TPL_COUPON")
    assert field(coupon, "keyword1") == "满100减20"


def test_while_wechat_is_down_messages_wait_and_go_once_it_is_back(make, oa):
    openid = new_user(oa.sim)
    member = _member_on_wechat(make, oa, openid)
    _top_up(make, oa, member["id"])
    oa.sim.state.start_outage("refuse", seconds=30)
    try:
        now = utcnow()
        report = deliver(now)
        assert report.retried == 1
        (row,) = _messages(make.db)
        assert row.status is OutboxStatus.PENDING and row.attempts == 1
        assert "ConnectionError" in row.last_error
        assert row.next_attempt_at == now + outbox.RETRY_DELAYS[0]
        assert deliver(now + timedelta(seconds=5)).handled == 0  # not due yet
    finally:
        oa.sim.state.end_outage()

    assert deliver(now + timedelta(seconds=11)).sent == 1
    assert deliver(now + timedelta(hours=2)).handled == 0
    assert len(templates_in(oa.sim, openid)) == 1
    (row,) = _messages(make.db)
    assert row.status is OutboxStatus.SENT and row.attempts == 2 and row.last_error == ""


def test_a_message_wechat_refuses_for_good_is_not_retried(make, oa):
    openid = new_user(oa.sim, subscribed=False)  # template messages need a follower
    member = _member_on_wechat(make, oa, openid)
    _top_up(make, oa, member["id"])
    assert deliver().failed == 1
    (row,) = _messages(make.db)
    assert row.status is OutboxStatus.FAILED and "43004" in row.last_error
    assert deliver(utcnow() + timedelta(days=1)).handled == 0


def test_after_every_retry_a_message_is_dead(make, oa):
    member = _member_on_wechat(make, oa, new_user(oa.sim))
    _top_up(make, oa, member["id"])
    oa.sim.state.start_outage("503", scope="mp")
    now = utcnow()
    for delay in (timedelta(0), *outbox.RETRY_DELAYS):
        now += delay
        deliver(now)
    (row,) = _messages(make.db)
    assert row.status is OutboxStatus.DEAD and row.attempts == len(outbox.RETRY_DELAYS) + 1
    assert deliver(now + timedelta(days=30)).handled == 0


def test_an_event_is_enqueued_once_and_a_message_is_claimed_once(make):
    tenant = make.tenant()
    db = make.db
    assert outbox.enqueue(tenant.merchant.id, "test_kind", "event:1", {"n": 1}) is True
    assert outbox.enqueue(tenant.merchant.id, "test_kind", "event:1", {"n": 2}) is False
    (row,) = _messages(db)
    assert row.payload == {"n": 1}

    now = utcnow()
    assert outbox._claim(row.id, now) == 1
    assert outbox._claim(row.id, now) is None  # a second worker finds it taken
    # A worker that died mid-send: its claim is taken over after the timeout, never before.
    assert outbox._claim(row.id, now + outbox.CLAIM_TIMEOUT - timedelta(seconds=1)) is None
    assert outbox._claim(row.id, now + outbox.CLAIM_TIMEOUT) == 2


def test_an_unknown_kind_waits_for_a_worker_that_knows_it(make):
    tenant = make.tenant()
    outbox.enqueue(tenant.merchant.id, "not_a_kind", "x:1", {})
    make.db.session.commit()
    assert deliver().retried == 1
    (row,) = _messages(make.db)
    assert "no outbox handler" in row.last_error


def test_run_once_command_reports_what_it_did(app, make, oa):
    member = _member_on_wechat(make, oa, new_user(oa.sim))
    _top_up(make, oa, member["id"])
    result = app.test_cli_runner().invoke(args=["outbox", "run-once"])
    assert result.exit_code == 0, result.output
    assert '"sent": 1' in result.output


def test_the_worker_process_delivers_and_stops_cleanly_on_ctrl_c(app, make, oa):
    openid = new_user(oa.sim)
    member = _member_on_wechat(make, oa, openid)
    _top_up(make, oa, member["id"])
    make.db.session.commit()
    # The same SECRET_KEY as the app: outside production the secrets' encryption key derives from it.
    env = {**os.environ, "TABLELOOP_ENV": "development", "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
           "SECRET_KEY": app.config["SECRET_KEY"], "WECHAT_API_BASE_URL": oa.sim.url, "PYTHONWARNINGS": "ignore"}
    worker = subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "outbox", "run"], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        oa.sim.state.wait_for(lambda s: s.inbox(openid), timeout=20)
    finally:
        worker.send_signal(signal.SIGINT)
        output, _ = worker.communicate(timeout=20)
    assert worker.returncode == 0, output
    assert "outbox worker stopped" in output
    (row,) = _messages(make.db)
    assert row.status is OutboxStatus.SENT
