"""Top-ups paid with the member's WeChat payment code, scanned at the till: through the agent,
against a real server and the WeChat Pay simulator. Credited once when WeChat says paid, its slip
printed and no drawer opened; nothing credited when WeChat refuses the code or the cashier gives
up while the member types the password (the trade is reversed)."""

from __future__ import annotations

import threading
import uuid

import sqlalchemy as sa

from app.payments.models import IntentKind, PaymentIntent
from app.payments.state import IntentStatus
from tests import wechat_pay_support as pay_support
from tests.factories import create_member
from tests.integration.agent_support import until
from tests.integration.test_till_desk import desk  # noqa: F401 - the fixture

pay_sim, live_url, wechat = pay_support.pay_sim, pay_support.live_url, pay_support.wechat

KICK = b"\x1bp"


def _intents(db, key: str) -> list[PaymentIntent]:
    db.session.rollback()
    return list(db.session.scalars(sa.select(PaymentIntent).where(PaymentIntent.idempotency_key == key)
                                   .order_by(PaymentIntent.id)))


def _balance(desk) -> int:  # noqa: F811
    return desk["owner"].get(f"/members/{desk['member']['id']}").get_json()["stored_value"]["total_cents"]


def _slips(front) -> list[list[str]]:
    return [[" ".join(row.split()) for row in job.decoded.lines] for job in front.printed_jobs
            if "充值凭条 TOP-UP SLIP" in job.decoded.lines]


def test_a_payment_code_tops_up_once_prints_the_slip_and_leaves_the_drawer_shut(desk, wechat, db):  # noqa: F811
    agent, token, front = desk["agent"], desk["token"], desk["front"]
    path = f"/api/v1/members/{desk['member']['id']}/topups"
    key = uuid.uuid4().hex
    body = {"amount_cents": 20_000, "auth_code": pay_support.payment_code("0001"), "idempotency_key": key}

    status, topped = agent.call("POST", path, body, token)

    assert status == 201, topped
    assert (topped["principal_cents"], topped["drawer"], topped["slip"]) == (20_000, "not_needed", "printed")
    assert topped["stored_value"]["total_cents"] == 30_000 == _balance(desk)  # 100 before, 200 paid by WeChat
    (intent,) = _intents(db, key)
    assert (intent.kind, intent.status, intent.amount_cents) == (IntentKind.TOPUP, IntentStatus.PAID, 20_000)
    (trade,) = wechat.state.orders.values()
    assert trade.state == "SUCCESS" and trade.total_fee == 20_000
    until(lambda: len(_slips(front)) == 1, 10, "the slip")
    (paper,) = _slips(front)
    assert "支付 Tender 微信支付 WeChat Pay" in paper and "储值余额 Stored value ￥300.00" in paper
    assert not any(KICK in bytes(job.data) for job in front.jobs)  # no cash: the drawer stays shut

    # Sent again (a lost answer, a double Enter): the same top-up, no second charge, no second slip.
    status, again = agent.call("POST", path, body, token)
    assert status == 201 and again["topup_id"] == topped["topup_id"], again
    assert len(wechat.state.orders) == 1 and _balance(desk) == 30_000
    assert len(_slips(front)) == 1


def test_a_refused_code_credits_nothing_and_another_code_may_follow(desk, wechat, db):  # noqa: F811
    agent, token, front = desk["agent"], desk["token"], desk["front"]
    path = f"/api/v1/members/{desk['member']['id']}/topups"
    key = uuid.uuid4().hex

    status, refused = agent.call("POST", path, {"amount_cents": 20_000, "idempotency_key": key,
                                                "auth_code": pay_support.payment_code("0002")}, token)  # NOTENOUGH

    assert status == 402 and refused["error"]["code"] == "payment_failed", refused
    assert refused["error"]["details"]["provider_code"] == "NOTENOUGH"
    assert _balance(desk) == 10_000 and _slips(front) == []
    # The member pays with another card in the same dialog (the same key): credited once.
    status, topped = agent.call("POST", path, {"amount_cents": 20_000, "idempotency_key": key,
                                               "auth_code": pay_support.payment_code("0001")}, token)
    assert status == 201 and topped["stored_value"]["total_cents"] == 30_000 == _balance(desk), topped
    assert [i.status for i in _intents(db, key)] == [IntentStatus.FAILED, IntentStatus.PAID]


def test_cancel_while_the_member_types_the_password_reverses_the_top_up(desk, wechat, app, db):  # noqa: F811
    agent, token = desk["agent"], desk["token"]
    app.config.update(WECHAT_PAY_POLL_SECONDS=0.3, WECHAT_PAY_POLLS=60)  # the fixture puts them back
    member_id = desk["member"]["id"]
    key = uuid.uuid4().hex
    answers = []
    waiting = threading.Thread(target=lambda: answers.append(agent.call(
        "POST", f"/api/v1/members/{member_id}/topups",
        {"amount_cents": 20_000, "auth_code": pay_support.payment_code("0004"), "idempotency_key": key}, token)))
    waiting.start()
    until(lambda: any(o.state == "USERPAYING" for o in wechat.state.orders.values()), 20, "the code to be charged")

    cancel = f"/api/v1/members/{member_id}/topups/wechat-cancel"
    status, cancelled = agent.call("POST", cancel, {"idempotency_key": key}, token)

    assert status == 200 and cancelled == {"member_id": member_id, "status": "cancelling"}, cancelled
    waiting.join(timeout=30)
    ((status, refused),) = answers
    assert status == 409 and refused["error"]["code"] == "payment_cancelled", refused
    (trade,) = wechat.state.orders.values()
    assert trade.state == "REVOKED"
    (intent,) = _intents(db, key)
    assert intent.status is IntentStatus.REVERSED
    assert _balance(desk) == 10_000
    status, again = agent.call("POST", cancel, {"idempotency_key": key}, token)
    assert status == 200 and again["status"] == "reversed"


def test_bad_codes_and_cancels_are_refused_and_change_nothing(desk, wechat):  # noqa: F811
    agent, token = desk["agent"], desk["token"]
    member_id = desk["member"]["id"]
    path = f"/api/v1/members/{member_id}/topups"
    for code in ("123", "99" + "0" * 16, 1234, ""):
        status, refused = agent.call("POST", path, {"amount_cents": 20_000, "auth_code": code,
                                                    "idempotency_key": uuid.uuid4().hex}, token)
        assert status == 422 and refused["error"]["details"]["field"] == "auth_code", (code, refused)
    cancel = f"/api/v1/members/{member_id}/topups/wechat-cancel"
    assert agent.call("POST", cancel, {"idempotency_key": "short"}, token)[0] == 422
    status, unknown = agent.call("POST", cancel, {"idempotency_key": uuid.uuid4().hex}, token)
    assert status == 404, unknown  # no payment was started with that key
    assert agent.call("POST", cancel, {"idempotency_key": uuid.uuid4().hex})[0] == 401
    assert wechat.state.orders == {} and _balance(desk) == 10_000


def test_the_servers_cancel_takes_an_order_or_a_member_of_its_own_merchant(make, db):
    tenant, other = make.tenant(), make.tenant()
    _device, token = make.device(tenant)
    till = make.api(token=token)
    cashier = make.staff(tenant, "cashier")
    stranger = create_member(make, other)
    ours = create_member(make, tenant)
    key = uuid.uuid4().hex
    order_id = str(uuid.uuid4())
    for body in ({"staff_id": cashier.id, "idempotency_key": key},  # neither the order nor the member
                 {"staff_id": cashier.id, "idempotency_key": key, "client_order_id": order_id,
                  "member_id": ours["id"]}):  # both
        answer = till.post("/sync/wechat-cancel", json=body)
        assert answer.status_code == 422, answer.get_json()
        assert "client_order_id" in answer.get_json()["error"]["details"]["fields"]
    for member_id in (stranger["id"], ours["id"]):  # another merchant's member, or no payment with the key
        answer = till.post("/sync/wechat-cancel", json={"staff_id": cashier.id, "idempotency_key": key,
                                                        "member_id": member_id})
        assert answer.status_code == 404, answer.get_json()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PaymentIntent)) == 0
