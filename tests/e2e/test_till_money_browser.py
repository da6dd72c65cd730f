"""The till's WeChat waits and refunds by line, in a real Chromium at 1366×768 against the real
server, the agent process, virtual printers, the virtual card reader and the WeChat Pay simulator.

A payment code the diner never confirms is cancelled with Esc (the trade reversed, the bill
unpaid); 扫码支付 prints the QR on a pre-bill slip, the simulator pays it and the table turns paid
with one receipt; a refund of one dish shows its amount first and gives the member back exactly
that line's stored value and points; the rest is approved by the manager's staff card swiped on
the reader (the swipe is the approval, not a member).
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.orders.models import Order, Payment, PaymentKind
from tablerules import points as points_rules
from tablerules.money import to_yuan
from tablerules.tenders import TenderType
from tests import wechat_pay_support as pay_support
from tests.e2e.conftest import screenshots_dir
from tests.e2e.test_till_browser import CARD_HEX, _texts, identify_by_phone, till  # noqa: F401 - the fixture
from tests.integration.agent_support import until

pay_sim, live_url, wechat = pay_support.pay_sim, pay_support.live_url, pay_support.wechat

MANAGER_CARD_HEX = "0A00C0FFEE"  # the manager's staff card; its printed number below
MANAGER_CARD_NO = f"{int(MANAGER_CARD_HEX[2:], 16):010d}"


def _open_a01_with_dinner(page) -> None:
    page.keyboard.press("F1")
    page.keyboard.type("A01")
    page.keyboard.press("Enter")
    page.wait_for_selector("dialog[open]")
    page.keyboard.type("2")
    page.keyboard.press("Enter")
    page.wait_for_selector(".tile.ordering[data-table=A01]")
    page.keyboard.press("F2")
    page.keyboard.type("2*ljcr")
    page.keyboard.press("Enter")
    page.keyboard.type("dcf")
    page.keyboard.press("Enter")
    page.keyboard.press("F6")
    page.wait_for_selector(".tile.ordered[data-table=A01]")
    page.wait_for_selector("#steps tr.payable")


def _sim_orders(sim, trade_type: str) -> list:
    with sim.state.lock:
        return [o for o in sim.state.orders.values() if o.trade_type == trade_type]


def _scan_to_pay(page, sim, front, amount: int):
    """Alt+W, the QR's amount confirmed: the pre-bill with the trade's QR prints; the trade."""
    page.keyboard.press("Alt+W")
    page.wait_for_selector("dialog[open] #confirm-qr")
    assert page.locator("#confirm-qr").inner_text() == f"¥{to_yuan(amount)}"
    page.keyboard.press("Enter")
    page.wait_for_selector("#dialog-error.waiting:has-text('等待顾客扫码支付')")
    (native,) = _sim_orders(sim, "NATIVE")
    assert native.total_fee == amount
    until(lambda: any(native.code_url in job.decoded.qr_codes for job in front.printed_jobs), 20, "the pre-bill")
    return native


def _confirm_then_cancel_while_waiting(page, sim, cancelled: str) -> None:
    """Enter takes the payment code; while the payer types the password, Esc cancels it."""
    page.keyboard.press("Enter")
    page.wait_for_selector("#dialog-error.waiting:has-text('输入支付密码')")
    until(lambda: any(o.state == "USERPAYING" for o in _sim_orders(sim, "MICROPAY")), 20, "the code charged")
    page.keyboard.press("Escape")
    page.wait_for_selector(f".toast:has-text('{cancelled}')", timeout=20_000)
    assert not page.locator("#dialog").evaluate("d => d.open")


@pytest.mark.e2e
def test_cancel_a_wechat_wait_scan_to_pay_and_refund_by_line_then_by_a_managers_card(till, wechat, app, db):  # noqa: F811
    page, front, reader, owner, member = till.page, till.front, till.reader, till.owner, till.member
    app.config.update(WECHAT_PAY_POLL_SECONDS=0.5, WECHAT_PAY_POLLS=60)  # a diner slow to type the password
    _open_a01_with_dinner(page)
    reader.swipe(CARD_HEX, repeat=3)
    page.wait_for_selector("#member-name:has-text('李雷')", timeout=10_000)
    payable = int("".join(c for c in page.locator("#steps tr.payable td").last.inner_text() if c.isdigit()))

    # A payment code the diner never confirms: Esc in the waiting dialog reverses it.
    page.fill("#wx-code", pay_support.payment_code("0004"))
    page.keyboard.press("Enter")
    page.wait_for_selector("dialog[open] #confirm-wechat")
    _confirm_then_cancel_while_waiting(page, wechat, "已取消微信收款，账单未付")
    (micropay,) = _sim_orders(wechat, "MICROPAY")
    assert micropay.state == "REVOKED"
    assert page.locator(".tile[data-table=A01]").get_attribute("class").split().count("ordered") == 1

    # 扫码支付: ¥50 of stored value, the rest by the QR printed on the pre-bill slip.
    page.fill("#wx-code", "")
    page.fill("#sv", "50")
    native = _scan_to_pay(page, wechat, front, payable - 5_000)
    (slip,) = [job for job in front.printed_jobs if native.code_url in job.decoded.qr_codes]
    assert b"\x1d(k" in bytes(slip.data) and native.code_url.encode() in bytes(slip.data)
    assert "账单 BILL" in "\n".join(slip.decoded.lines)
    page.screenshot(path=str(screenshots_dir() / "till-qr-waiting.png"))
    diner = wechat.state.create_user("扫码的食客")
    paid = wechat.app.test_client().post("/_sim/orders/pay", json={"code_url": native.code_url,
                                                                   "openid": diner.openid})
    assert paid.status_code == 200, paid.get_json()
    page.wait_for_selector(".toast:has-text('顾客已扫码支付')", timeout=20_000)
    page.wait_for_selector(".tile.paid[data-table=A01]")
    until(lambda: sum("结账单 RECEIPT" in t for t in _texts(front)) == 1, 20, "the receipt")
    assert sum(native.code_url in job.decoded.qr_codes for job in front.printed_jobs) == 1
    after_sale = owner.get(f"/members/{member['id']}").get_json()

    # Refund one 辣椒炒肉 of the two: the amount the server will give shows before the approval.
    page.keyboard.press("Alt+R")
    page.wait_for_selector("dialog[open] table.refund-lines")
    assert page.locator("#refund-amount").inner_text() == f"¥{to_yuan(payable)}"
    page.fill("dialog tr:has-text('辣椒炒肉') input.refund-qty", "1")
    page.fill("dialog tr:has-text('蛋炒饭') input.refund-qty", "0")
    until(lambda: page.locator("#refund-amount").inner_text() != f"¥{to_yuan(payable)}", 10, "the new amount")
    shown = int("".join(c for c in page.locator("#refund-amount").inner_text() if c.isdigit()))
    assert 0 < shown < payable
    page.fill("dialog input[name=reason]", "少上一份")
    page.fill("dialog input[name=manager_username]", till.manager.username)
    page.fill("dialog input[name=manager_password]", till.password)
    page.screenshot(path=str(screenshots_dir() / "till-refund-lines.png"))
    page.keyboard.press("Enter")
    page.wait_for_selector(f".toast:has-text('已退款 ¥{to_yuan(shown)}')")

    db.session.rollback()
    order = db.session.scalar(sa.select(Order).where(Order.store_id == till.store_id, Order.table_code == "A01"))
    assert order.status.label == "paid" and order.refunded_cents == shown
    back = {p.tender: p.amount_cents for p in db.session.scalars(sa.select(Payment).where(
        Payment.order_id == order.id, Payment.kind == PaymentKind.REFUND))}
    assert sum(back.values()) == shown and back[TenderType.WECHAT] > 0
    after = owner.get(f"/members/{member['id']}").get_json()
    assert after["stored_value"]["total_cents"] == (after_sale["stored_value"]["total_cents"]
                                                    + back[TenderType.STORED_VALUE])
    earn = order.charged_bill.earn
    take_back = points_rules.points_to_reverse(
        earn.rule, [("stored_value", 5_000), ("wechat", payable - 5_000)],
        [(tender.label, cents) for tender, cents in back.items()], earn.multiplier_percent)
    assert after["points"] == after_sale["points"] - take_back

    # The rest, approved by the manager's staff card on the reader: the swipe is the approval,
    # not a member; the member holds exactly what they held before the dinner.
    assert owner.request("PATCH", f"/staff/{till.manager.id}", json={"card_no": MANAGER_CARD_NO}).status_code == 200
    page.keyboard.press("Alt+R")
    page.wait_for_selector("dialog[open] table.refund-lines")
    assert page.locator("#refund-amount").inner_text() == f"¥{to_yuan(payable - shown)}"
    page.fill("dialog input[name=reason]", "顾客不满意")
    reader.swipe(MANAGER_CARD_HEX, repeat=3)
    page.wait_for_selector(f".toast:has-text('已退款 ¥{to_yuan(payable - shown)}')", timeout=20_000)
    assert till.manager.username in page.locator(".toast").inner_text()
    assert page.locator("#member-name").inner_text() == "李雷"  # the swipe did not identify anyone
    final = owner.get(f"/members/{member['id']}").get_json()
    assert final["stored_value"]["total_cents"] == 10_000 and final["points"] == 0
    db.session.rollback()
    assert db.session.get(Order, order.id).status.label == "refunded"


def _scan_payment_code(page, code: str) -> None:
    """A keyboard-wedge scanner: the code's digits in one burst, then Enter (a moment after the
    cashier's own typing: a burst is keys faster than anyone types)."""
    page.wait_for_timeout(150)
    page.keyboard.type(code)
    page.keyboard.press("Enter")


@pytest.mark.e2e
def test_a_top_up_paid_by_the_members_wechat_payment_code_and_one_cancelled(till, wechat, app, db):  # noqa: F811
    page, front, owner, member = till.page, till.front, till.owner, till.member
    app.config.update(WECHAT_PAY_POLL_SECONDS=0.5, WECHAT_PAY_POLLS=60)  # a member slow to type the password
    identify_by_phone(page, "13800001234", "李雷")
    kicks = sum(job.data.count(b"\x1bp") for job in front.jobs)

    # ¥200 by WeChat: the scanner's burst lands in the dialog's payment-code field, Enter takes it.
    page.keyboard.press("Alt+T")
    page.wait_for_selector("dialog[open] input[name=code]")
    page.keyboard.type("200")
    code = pay_support.payment_code("0001")
    _scan_payment_code(page, code)
    page.wait_for_selector("#dialog-error.waiting:has-text('已读到微信付款码')")
    assert page.input_value("dialog input[name=code]") == code
    assert page.input_value("dialog input[name=amount]") == "200"  # the burst did not touch the amount
    page.screenshot(path=str(screenshots_dir() / "till-topup-wechat.png"))
    page.keyboard.press("Enter")
    page.wait_for_selector(".toast:has-text('微信充值成功')", timeout=20_000)
    assert "充值凭条已打印" in page.locator(".toast").inner_text()
    page.wait_for_selector("#member-balance:has-text('¥300.00')")
    (trade,) = _sim_orders(wechat, "MICROPAY")
    assert trade.state == "SUCCESS" and trade.total_fee == 20_000
    until(lambda: any("充值凭条 TOP-UP SLIP" in t for t in _texts(front)), 20, "the top-up slip")
    (slip,) = [t for t in _texts(front) if "充值凭条 TOP-UP SLIP" in t]
    assert "支付 Tender 微信支付 WeChat Pay" in [" ".join(row.split()) for row in slip.splitlines()]
    assert sum(job.data.count(b"\x1bp") for job in front.jobs) == kicks  # no cash, no drawer

    # A code the member never confirms: Esc while waiting reverses it and tops up nothing.
    page.keyboard.press("Alt+T")
    page.wait_for_selector("dialog[open] input[name=code]")
    page.keyboard.type("100")
    _scan_payment_code(page, pay_support.payment_code("0004"))
    page.wait_for_selector("#dialog-error.waiting:has-text('已读到微信付款码')")
    _confirm_then_cancel_while_waiting(page, wechat, "已取消微信收款，未充值")
    assert [o.state for o in _sim_orders(wechat, "MICROPAY")] == ["SUCCESS", "REVOKED"]
    assert owner.get(f"/members/{member['id']}").get_json()["stored_value"]["total_cents"] == 30_000

    # Something else scanned into the dialog is refused there; the member stays chosen.
    page.keyboard.press("Alt+T")
    page.wait_for_selector("dialog[open] input[name=code]")
    _scan_payment_code(page, "6901234567892")
    page.wait_for_selector("#dialog-error.error:has-text('不是微信付款码')")
    assert page.input_value("dialog input[name=code]") == ""
    page.keyboard.press("Escape")
    assert page.locator("#member-name").inner_text() == "李雷"


@pytest.mark.e2e
def test_scan_to_pay_with_the_members_coupon_prints_the_qr_for_what_it_leaves(till, wechat, db):  # noqa: F811
    page, front, coupon = till.page, till.front, till.coupon
    _open_a01_with_dinner(page)
    identify_by_phone(page, "13800001234", "李雷")
    page.keyboard.press("Alt+J")  # the member's 20-yuan voucher
    page.wait_for_selector("#steps tr.coupon")
    payable = int("".join(c for c in page.locator("#steps tr.payable td").last.inner_text() if c.isdigit()))

    native = _scan_to_pay(page, wechat, front, payable)
    paid = wechat.app.test_client().post("/_sim/orders/pay", json={
        "code_url": native.code_url, "openid": wechat.state.create_user("扫码的会员").openid})
    assert paid.status_code == 200, paid.get_json()
    page.wait_for_selector(".toast:has-text('顾客已扫码支付')", timeout=20_000)
    page.wait_for_selector(".tile.paid[data-table=A01]")
    db.session.rollback()
    order = db.session.scalar(sa.select(Order).where(Order.store_id == till.store_id, Order.table_code == "A01"))
    assert order.status.label == "paid" and order.payable_cents == payable
    assert order.charged_bill.coupon_ids_used == (coupon["id"],)
