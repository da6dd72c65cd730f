"""The till's WeChat waits and refunds by line, through the agent against the real server and the
WeChat Pay simulator: 扫码支付 with its QR printed on a pre-bill, 取消 of a payment still waiting
(a payment code reversed, a QR closed; a diner who paid first keeps the sale), and refunds of
some lines with the amount shown first."""

from __future__ import annotations

import threading
import uuid

import sqlalchemy as sa

from app.audit.models import AuditEntry
from app.auth.models import ApiToken
from app.orders.models import Order, Payment, PaymentKind
from app.payments.models import PaymentIntent
from app.payments.state import IntentStatus
from tablerules import points as points_rules
from tests import wechat_pay_support as pay_support
from tests.factories import issue_coupon
from tests.integration.agent_support import until
from tests.integration.test_till_desk import _order, desk  # noqa: F401 - the fixture

pay_sim, live_url, wechat = pay_support.pay_sim, pay_support.live_url, pay_support.wechat

GS_QR = b"\x1d(k"  # ESC/POS GS ( k: the printer's own QR code


def _paper(front) -> list[str]:
    return ["\n".join(job.decoded.lines) for job in front.printed_jobs]


def _intent(db, key: str) -> PaymentIntent:
    db.session.rollback()
    return db.session.scalar(sa.select(PaymentIntent).where(PaymentIntent.idempotency_key == key))


def _scanned_and_paid(sim, code_url: str, agent, token: str, cid: str) -> None:
    """A diner scans the printed QR and pays in WeChat; the till's order turns paid."""
    diner = sim.state.create_user("扫码的食客")
    paid = sim.app.test_client().post("/_sim/orders/pay", json={"code_url": code_url, "openid": diner.openid})
    assert paid.status_code == 200, paid.get_json()
    until(lambda: agent.call("GET", f"/api/v1/orders/{cid}", token=token)[1]["status"] == "paid", 20,
          "the order to turn paid")


def test_scan_to_pay_prints_the_qr_on_a_pre_bill_and_turns_paid_when_the_diner_pays(desk, wechat, db):  # noqa: F811
    agent, token, front = desk["agent"], desk["token"], desk["front"]
    order = _order(agent, token, "A01", [{"dish_id": desk["pork"]["id"], "qty": 1},
                                         {"dish_id": desk["rice"]["id"], "qty": 2}])
    cid = order["client_order_id"]
    key = uuid.uuid4().hex
    body = {"tenders": [{"type": "cash", "amount_cents": 1_000},
                        {"type": "wechat", "amount_cents": 6_800, "trade_type": "NATIVE"}], "idempotency_key": key}

    status, opened = agent.call("POST", f"/api/v1/orders/{cid}/checkout", body, token)

    assert status == 202, opened
    assert opened["status"] == "awaiting_payment" and opened["amount_cents"] == 6_800
    assert opened["code_url"].startswith("weixin://wxpay/bizpayurl?pr=") and opened["prebill"] == "printed"
    (slip,) = front.wait_for_jobs(1)
    assert GS_QR in bytes(slip.data) and opened["code_url"].encode() in bytes(slip.data)
    assert slip.decoded.qr_codes == [opened["code_url"]]
    text = "\n".join(slip.decoded.lines)
    assert "账单 BILL" in text and "¥68.00" in text.replace("￥", "¥") and "辣椒炒肉" in text
    # Asked again (a lost answer), the same trade answers and its slip does not print twice.
    status, again = agent.call("POST", f"/api/v1/orders/{cid}/checkout", body, token)
    assert status == 202 and again["intent_id"] == opened["intent_id"]
    assert agent.call("GET", f"/api/v1/orders/{cid}", token=token)[1]["status"] == "open"

    _scanned_and_paid(wechat, opened["code_url"], agent, token, cid)
    until(lambda: sum("结账单 RECEIPT" in p for p in _paper(front)) == 1, 20, "the receipt")
    assert _intent(db, key).status is IntentStatus.PAID
    assert sum("结账单 RECEIPT" in p for p in _paper(front)) == 1
    assert sum(opened["code_url"] in job.decoded.qr_codes
               for job in front.printed_jobs) == 1


def test_scan_to_pay_takes_a_coupon_and_the_qr_asks_for_what_it_leaves(desk, wechat, db):  # noqa: F811
    agent, token, front, member = desk["agent"], desk["token"], desk["front"], desk["member"]
    coupon = issue_coupon(desk["make"], desk["tenant"], member["id"])  # 20 yuan off
    order = _order(agent, token, "A01", [{"dish_id": desk["pork"]["id"], "qty": 1},
                                         {"dish_id": desk["rice"]["id"], "qty": 2}])
    cid = order["client_order_id"]
    status, bill = agent.call("GET", f"/api/v1/orders/{cid}/bill?member_id={member['id']}"
                                     f"&coupon_ids={coupon['id']}", token=token)
    assert status == 200 and bill["payable_cents"] == 7_800 - 780 - 2_000, bill
    key = uuid.uuid4().hex
    body = {"member_id": member["id"], "coupon_ids": [coupon["id"]], "idempotency_key": key,
            "tenders": [{"type": "stored_value", "amount_cents": 1_000},
                        {"type": "wechat", "amount_cents": bill["payable_cents"] - 1_000, "trade_type": "NATIVE"}]}
    for wechat_tender in ({"trade_type": "JSAPI"}, {"trade_type": "NATIVE", "auth_code": "130000000000000001"}):
        bad = {**body, "tenders": [{"type": "wechat", "amount_cents": 4_020, **wechat_tender}]}
        assert agent.call("POST", f"/api/v1/orders/{cid}/checkout", bad, token)[0] == 422, wechat_tender

    status, opened = agent.call("POST", f"/api/v1/orders/{cid}/checkout", body, token)

    assert status == 202, opened
    assert (opened["status"], opened["amount_cents"], opened["prebill"]) == ("awaiting_payment", 4_020, "printed")
    (slip,) = front.wait_for_jobs(1)
    assert slip.decoded.qr_codes == [opened["code_url"]]
    assert "¥40.20" in "\n".join(slip.decoded.lines).replace("￥", "¥")
    status, again = agent.call("POST", f"/api/v1/orders/{cid}/checkout", body, token)  # a lost answer
    assert status == 202 and again["intent_id"] == opened["intent_id"]
    assert agent.call("GET", f"/api/v1/orders/{cid}", token=token)[1]["status"] == "open"

    _scanned_and_paid(wechat, opened["code_url"], agent, token, cid)
    assert _intent(db, key).status is IntentStatus.PAID
    # The coupon is used, the stored value taken once: the coupon cannot pay another bill.
    assert desk["owner"].get(f"/members/{member['id']}").get_json()["stored_value"]["total_cents"] == 9_000
    other = _order(agent, token, "A02", [{"dish_id": desk["pork"]["id"], "qty": 1}])
    status, refused = agent.call("GET", f"/api/v1/orders/{other['client_order_id']}/bill?member_id={member['id']}"
                                        f"&coupon_ids={coupon['id']}", token=token)
    assert (status, refused["error"]["code"]) == (422, "not_active"), refused


def test_cancel_while_the_diner_types_the_password_reverses_the_payment_code(desk, wechat, app, db):  # noqa: F811
    agent, token = desk["agent"], desk["token"]
    app.config.update(WECHAT_PAY_POLL_SECONDS=0.3, WECHAT_PAY_POLLS=60)  # the fixture puts them back
    order = _order(agent, token, "A01", [{"dish_id": desk["pork"]["id"], "qty": 1}])
    cid = order["client_order_id"]
    key = uuid.uuid4().hex
    code = pay_support.payment_code("0004")  # USERPAYING, and the diner never confirms
    answers = []
    waiting = threading.Thread(target=lambda: answers.append(agent.call("POST", f"/api/v1/orders/{cid}/checkout", {
        "tenders": [{"type": "wechat", "amount_cents": 4_800, "auth_code": code}], "idempotency_key": key}, token)))
    waiting.start()
    until(lambda: any(o.state == "USERPAYING" for o in wechat.state.orders.values()), 20, "the code to be charged")

    status, cancelled = agent.call("POST", f"/api/v1/orders/{cid}/wechat-cancel", {"idempotency_key": key}, token)

    assert status == 200 and cancelled["status"] == "cancelling", cancelled
    waiting.join(timeout=30)
    ((status, refused),) = answers
    assert status == 409 and refused["error"]["code"] == "payment_cancelled", refused
    (trade,) = wechat.state.orders.values()
    assert trade.state == "REVOKED"
    assert _intent(db, key).status is IntentStatus.REVERSED
    # The diner's password arrives late: WeChat refuses it, so no money is taken without the sale.
    late = wechat.app.test_client().post("/_sim/orders/pay", json={"out_trade_no": trade.out_trade_no})
    assert late.status_code == 409
    assert agent.call("GET", f"/api/v1/orders/{cid}", token=token)[1]["status"] == "open"
    status, again = agent.call("POST", f"/api/v1/orders/{cid}/wechat-cancel", {"idempotency_key": key}, token)
    assert status == 200 and again["status"] == "reversed"
    # The bill is unpaid again: cash pays it.
    status, paid = agent.call("POST", f"/api/v1/orders/{cid}/checkout", {
        "tenders": [{"type": "cash", "amount_cents": 5_000}], "idempotency_key": uuid.uuid4().hex}, token)
    assert status == 200 and paid["change_cents"] == 200, paid


def test_cancel_a_qr_not_yet_scanned_closes_it_and_one_paid_first_keeps_the_sale(desk, wechat, app, db):  # noqa: F811
    agent, token = desk["agent"], desk["token"]
    order = _order(agent, token, "A01", [{"dish_id": desk["pork"]["id"], "qty": 1}])
    cid = order["client_order_id"]
    key = uuid.uuid4().hex
    qr = {"tenders": [{"type": "wechat", "amount_cents": 4_800, "trade_type": "NATIVE"}], "idempotency_key": key}
    status, opened = agent.call("POST", f"/api/v1/orders/{cid}/checkout", qr, token)
    assert status == 202, opened

    status, cancelled = agent.call("POST", f"/api/v1/orders/{cid}/wechat-cancel", {"idempotency_key": key}, token)

    assert status == 200 and cancelled["status"] == "closed", cancelled
    assert _intent(db, key).status is IntentStatus.CLOSED
    diner = wechat.state.create_user("晚到的食客")
    late = wechat.app.test_client().post("/_sim/orders/pay", json={"code_url": opened["code_url"],
                                                                   "openid": diner.openid})
    assert late.status_code == 409
    assert agent.call("GET", f"/api/v1/orders/{cid}", token=token)[1]["status"] == "open"

    # A new QR, paid by the diner just before the cashier cancels: the sale stands. Its
    # notification goes nowhere (the fixture puts the address back), so the cancel learns it first.
    app.config["PUBLIC_BASE_URL"] = "http://127.0.0.1:9"
    second = {**qr, "idempotency_key": uuid.uuid4().hex}
    status, opened = agent.call("POST", f"/api/v1/orders/{cid}/checkout", second, token)
    assert status == 202, opened
    paid = wechat.app.test_client().post("/_sim/orders/pay", json={"code_url": opened["code_url"],
                                                                   "openid": diner.openid})
    assert paid.status_code == 200
    status, cancelled = agent.call("POST", f"/api/v1/orders/{cid}/wechat-cancel",
                                   {"idempotency_key": second["idempotency_key"]}, token)
    assert status == 200 and cancelled["status"] == "paid", cancelled
    assert _intent(db, second["idempotency_key"]).status is IntentStatus.PAID
    until(lambda: agent.call("GET", f"/api/v1/orders/{cid}", token=token)[1]["status"] == "paid", 20, "paid")

    status, refused = agent.call("POST", f"/api/v1/orders/{cid}/wechat-cancel", {"idempotency_key": "short"}, token)
    assert status == 422
    status, refused = agent.call("POST", f"/api/v1/orders/{cid}/wechat-cancel",
                                 {"idempotency_key": uuid.uuid4().hex}, token)
    assert status == 404


def test_a_refund_of_some_lines_shows_the_amount_and_restores_exactly_those(desk, db):  # noqa: F811
    agent, token, owner, member = desk["agent"], desk["token"], desk["owner"], desk["member"]
    manager, password = desk["manager"], desk["make"].PASSWORD
    order = _order(agent, token, "A01", [{"dish_id": desk["pork"]["id"], "qty": 1},
                                         {"dish_id": desk["rice"]["id"], "qty": 2}])
    cid = order["client_order_id"]
    before = owner.get(f"/members/{member['id']}").get_json()
    status, paid = agent.call("POST", f"/api/v1/orders/{cid}/checkout", {
        "member_id": member["id"], "idempotency_key": uuid.uuid4().hex,
        "tenders": [{"type": "stored_value", "amount_cents": 7_020}]}, token)  # 78.00 less the tier's 10 %
    assert status == 200 and paid["payable_cents"] == 7_020, paid
    after_sale = owner.get(f"/members/{member['id']}").get_json()
    assert after_sale["points"] > before["points"]

    status, whole = agent.call("GET", f"/api/v1/orders/{cid}/refund-quote", token=token)
    assert status == 200 and whole["refund_cents"] == 7_020
    rice = next(line for line in whole["lines"] if line["name"] == "蛋炒饭")
    assert (rice["qty"], rice["refundable_qty"]) == (2, 2)
    status, quote = agent.call("GET", f"/api/v1/orders/{cid}/refund-quote?lines={rice['line_id']}:1", token=token)
    assert status == 200 and quote["refund_cents"] == 1_350  # 15.00 less 10 %
    status, refused = agent.call("GET", f"/api/v1/orders/{cid}/refund-quote?lines={rice['line_id']}:3", token=token)
    assert status == 422 and refused["error"]["code"] == "refund_exceeds_qty"
    status, refused = agent.call("GET", f"/api/v1/orders/{cid}/refund-quote?lines=x", token=token)
    assert status == 422

    refund = {"reason": "少上一份", "manager_username": manager.username, "manager_password": password,
              "idempotency_key": uuid.uuid4().hex, "lines": [{"line_id": rice["line_id"], "qty": 1}]}
    status, refunded = agent.call("POST", f"/api/v1/orders/{cid}/refund", refund, token)

    assert status == 200 and refunded["refunded_cents"] == quote["refund_cents"], refunded
    assert refunded["status"] == "paid"  # the rest of the order stands
    assert agent.call("POST", f"/api/v1/orders/{cid}/refund", refund, token)[1]["refunded_cents"] == 1_350
    after = owner.get(f"/members/{member['id']}").get_json()
    assert after["stored_value"]["total_cents"] == after_sale["stored_value"]["total_cents"] + 1_350
    db.session.rollback()
    earn = db.session.get(Order, order["server_id"]).charged_bill.earn
    take_back = points_rules.points_to_reverse(earn.rule, [("stored_value", 7_020)], [("stored_value", 1_350)],
                                               earn.multiplier_percent)
    assert take_back > 0 and after["points"] == after_sale["points"] - take_back
    status, left = agent.call("GET", f"/api/v1/orders/{cid}/refund-quote", token=token)
    assert left["refund_cents"] == 7_020 - 1_350
    status, bad = agent.call("POST", f"/api/v1/orders/{cid}/refund", {**refund, "idempotency_key": uuid.uuid4().hex,
                                                                     "lines": [{"line_id": 0, "qty": 1}]}, token)
    assert status == 422

    # The rest back: the member holds exactly what they held before the dinner.
    status, rest = agent.call("POST", f"/api/v1/orders/{cid}/refund", {
        **refund, "idempotency_key": uuid.uuid4().hex, "lines": None}, token)
    assert status == 200 and rest["status"] == "refunded" and rest["refunded_cents"] == 7_020 - 1_350, rest
    final = owner.get(f"/members/{member['id']}").get_json()
    assert final["stored_value"] == before["stored_value"] and final["points"] == before["points"]


def test_a_managers_staff_card_approves_a_refund_and_nobody_elses(desk, db):  # noqa: F811
    agent, token, owner = desk["agent"], desk["token"], desk["owner"]
    manager, cashier = desk["manager"], desk["cashier"]
    card, decimal = "0A00BC614F", f"{0x00BC614F:010d}"
    set_card = owner.request("PATCH", f"/staff/{manager.id}", json={"card_no": decimal})  # the printed digits
    assert set_card.status_code == 200 and set_card.get_json()["has_card"] is True
    assert "card_no" not in set_card.get_json()  # the number is never shown
    taken = owner.request("PATCH", f"/staff/{cashier.id}", json={"card_no": decimal})
    assert taken.status_code == 409 and taken.get_json()["error"]["code"] == "card_in_use"
    assert owner.request("PATCH", f"/staff/{cashier.id}", json={"card_no": "not-a-card"}).status_code == 422
    assert owner.request("PATCH", f"/staff/{cashier.id}", json={"card_no": "0A00BC6150"}).status_code == 200

    order = _order(agent, token, "A01", [{"dish_id": desk["pork"]["id"], "qty": 1}])
    cid = order["client_order_id"]
    status, paid = agent.call("POST", f"/api/v1/orders/{cid}/checkout", {
        "tenders": [{"type": "cash", "amount_cents": 4_800}], "idempotency_key": uuid.uuid4().hex}, token)
    assert status == 200, paid
    refund = {"reason": "菜品问题", "idempotency_key": uuid.uuid4().hex}
    for other in ("0A00BC6150", "0A00FFFFFF"):  # the cashier's own card, a card nobody has
        status, refused = agent.call("POST", f"/api/v1/orders/{cid}/refund", {**refund, "manager_card": other}, token)
        assert status == 403 and refused["error"]["code"] == "manager_approval_refused", refused
    status, bad = agent.call("POST", f"/api/v1/orders/{cid}/refund", {**refund, "manager_card": "<script>"}, token)
    assert status == 422

    status, refunded = agent.call("POST", f"/api/v1/orders/{cid}/refund", {
        **refund, "manager_card": card, "manager_card_decimal": decimal}, token)  # the reader's hex and digits

    assert status == 200 and refunded["status"] == "refunded", refunded
    assert refunded["approved_by"] in (manager.display_name, manager.username)
    db.session.rollback()
    refund_payment = db.session.scalar(sa.select(Payment).where(Payment.order_id == order["server_id"],
                                                                Payment.kind == PaymentKind.REFUND))
    assert refund_payment.staff_id == manager.id  # the refund is the manager's act
    tokens = db.session.scalars(sa.select(ApiToken).where(ApiToken.staff_id == manager.id)).all()
    assert tokens and all(t.revoked_at is not None for t in tokens)  # the approval served this refund only
    assert db.session.scalar(sa.select(AuditEntry.id).where(AuditEntry.action == "staff.card_approval")) is not None
