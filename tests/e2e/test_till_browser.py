"""A whole dinner at the cashier's till, in a real Chromium against the real server, the on-site
agent as its own process, virtual printers and a virtual card reader.

Open table A01, add dishes by their pinyin initials, the member's card swiped on the reader
identifies them, a coupon comes off the bill, cash plus stored value pays it with change; the
receipt on the front printer shows the payable and the member's new balance, the kitchen ticket
printed once, and the cash drawer opened.
"""

from __future__ import annotations

import re
import threading
import uuid
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from app.orders.models import Order
from simulators.printer import VirtualPrinter
from simulators.printer.web import PrinterWebServer
from simulators.serial.device import VirtualCardReader
from tablerules.money import to_yuan
from tests.e2e.conftest import screenshots_dir
from tests.factories import create_dish, create_member, issue_coupon
from tests.integration.agent_support import AgentProcess, LiveServer, free_port, until
from tests.wechat_pay_support import add_wechat_settings

CARD_HEX = "0A00BC614E"  # the number printed on the card: 0012345678
CARD_NO = f"{int(CARD_HEX[2:], 16):010d}"


def _agent_config(server: LiveServer, store_id: int, token: str, tmp_path, front: VirtualPrinter,
                  kitchen: VirtualPrinter, reader: VirtualCardReader) -> dict:
    return {
        "store_id": str(store_id), "server_url": server.url, "device_token": token,
        "data_dir": str(tmp_path / "agent-data"), "http": {"host": "127.0.0.1", "port": free_port()},
        "retry_interval_s": 0.2, "status_interval_s": 60, "sync_interval_s": 0.5, "forward_timeout_s": 15,
        "store": {"name": "老王面馆"},
        "printers": [
            {"name": "front", "type": "network", "address": f"127.0.0.1:{front.port}", "role": "receipt",
             "cash_drawer": True, "timeout_s": 2},
            {"name": "kitchen", "type": "network", "address": f"127.0.0.1:{kitchen.port}", "role": "kitchen",
             "stations": ["*"], "timeout_s": 2},
        ],
        "readers": [{"name": "card", "kind": "card", "port": reader.path, "framing": "rdm6300"}],
    }


def _texts(printer: VirtualPrinter) -> list[str]:
    return ["\n".join(job.decoded.lines) for job in printer.printed_jobs]


def _slips(printer: VirtualPrinter) -> list[str]:
    return [text for text in _texts(printer) if "充值凭条 TOP-UP SLIP" in text]


def _paper_preview(page, printer: VirtualPrinter, name: str) -> None:
    """The first top-up slip as the printer simulator's paper view shows it, saved as a picture."""
    web = PrinterWebServer(("127.0.0.1", 0), [printer], columns=48, last=50)
    thread = threading.Thread(target=web.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    preview = page.context.new_page()
    try:
        preview.goto(f"http://127.0.0.1:{web.server_address[1]}/")
        paper = preview.locator(".paper", has_text="充值凭条 TOP-UP SLIP")
        assert paper.count() == 2
        paper.last.screenshot(path=str(screenshots_dir() / name))  # the newest first: the original last
    finally:
        preview.close()
        web.shutdown()
        web.server_close()


@pytest.fixture
def till(make, app, db, browser, tmp_path):
    """The store (areas, A01…, a sold-out dish, a member with a card, stored value and a coupon),
    the real server, the agent process with virtual printers and card reader, and the till page
    logged in as a cashier at 1366×768."""
    tenant = make.tenant()
    owner = make.api(tenant.owner)
    store_id = tenant.store.id
    hall = owner.post(f"/stores/{store_id}/areas", json={"name": "大厅"}).get_json()
    room = owner.post(f"/stores/{store_id}/areas", json={"name": "包间"}).get_json()
    for code, area in (("A01", hall), ("A02", hall), ("A03", hall), ("B01", room)):
        assert owner.post(f"/stores/{store_id}/tables", json={"code": code, "seats": 4,
                                                              "area_id": area["id"]}).status_code == 201
    create_dish(make, tenant, "辣椒炒肉", 4_800, station="hot")
    create_dish(make, tenant, "蛋炒饭", 1_500, station="hot", category="主食")
    fish = create_dish(make, tenant, "剁椒鱼头", 12_800, station="hot")
    sold_out = owner.request("PUT", f"/stores/{store_id}/sold-out/{fish['id']}", json={"is_sold_out": True})
    assert sold_out.status_code < 300
    member = create_member(make, tenant, phone="13800001234", name="李雷")
    assert owner.post(f"/members/{member['id']}/cards", json={"card_no": CARD_NO}).status_code == 201
    owner.post(f"/members/{member['id']}/topups", json={"amount_cents": 10_000, "tender": "cash",
                                                        "idempotency_key": uuid.uuid4().hex})
    coupon = issue_coupon(make, tenant, member["id"])  # a 20-yuan cash voucher
    owner.request("PUT", "/topup-rules", json={"rules": [{"min_cents": 50_000, "bonus_cents": 5_000}]})
    _device, device_token = make.device(tenant)
    cashier = make.staff(tenant, "cashier")
    manager = make.staff(tenant, "manager")
    db.session.commit()
    add_wechat_settings(db, tenant.merchant.id)  # the simulator's demo account: a bill can be pushed

    server = LiveServer(app)
    server.start()
    with VirtualPrinter(port=0, name="front") as front, VirtualPrinter(port=0, name="kitchen") as kitchen, \
            VirtualCardReader() as reader:
        agent = AgentProcess(_agent_config(server, store_id, device_token, tmp_path, front, kitchen, reader),
                             tmp_path)
        try:
            agent.start()
            until(lambda: agent.call("GET", "/api/v1/status")[1].get("local_copy_as_of"), 30, "the local copy")
            page = browser.new_context(locale="zh-CN", viewport={"width": 1366, "height": 768}).new_page()
            page.goto(f"{agent.url}/till")
            page.fill("#username", cashier.username)
            page.fill("#password", make.PASSWORD)
            page.keyboard.press("Enter")
            page.wait_for_selector("#desk:not([hidden])")
            page.wait_for_selector("#conn.on")
            # The floor drawn: a table code typed before the tables arrived would find no table.
            page.wait_for_selector(".tile[data-table]")
            yield SimpleNamespace(page=page, agent=agent, server=server, front=front, kitchen=kitchen,
                                  reader=reader, owner=owner, member=member, coupon=coupon, manager=manager,
                                  store_id=store_id, password=make.PASSWORD)
        finally:
            agent.stop()
            server.stop()


def _order_at(page, table: str, dishes: list[str], guests: str = "") -> None:
    """By keyboard: open `table` (F1, its code; `guests`, else the dialog's default), the dishes
    by their search text (F2), sent to the kitchen (F6)."""
    page.keyboard.press("F1")
    page.keyboard.type(table)
    page.keyboard.press("Enter")
    page.wait_for_selector("dialog[open]")
    page.keyboard.type(guests)
    page.keyboard.press("Enter")
    page.wait_for_selector(f".tile.ordering[data-table={table}]")
    page.keyboard.press("F2")
    for dish in dishes:
        page.keyboard.type(dish)
        page.keyboard.press("Enter")
    page.keyboard.press("F6")
    page.wait_for_selector(f".tile.ordered[data-table={table}]", timeout=20_000)


def identify_by_phone(page, phone: str, name: str) -> None:
    """F3, the member's phone number, Enter: the member panel shows `name`."""
    page.keyboard.press("F3")
    page.keyboard.type(phone)
    page.keyboard.press("Enter")
    page.wait_for_selector(f"#member-name:has-text('{name}')")


def _void_chosen_line(page, reason: str) -> None:
    """退菜 (Alt+D) of the chosen sent line (the last one unless one is chosen), with `reason`."""
    page.keyboard.press("Alt+D")
    page.wait_for_selector("dialog[open] input[name=reason]")
    page.keyboard.type(reason)
    page.keyboard.press("Enter")
    page.wait_for_selector(".toast:has-text('已退菜')")


@pytest.mark.e2e
def test_a_whole_dinner_at_the_till(till, db):
    page, front, kitchen, reader, owner = till.page, till.front, till.kitchen, till.reader, till.owner
    member, coupon, manager, store_id = till.member, till.coupon, till.manager, till.store_id
    assert page.locator("#conn").inner_text() == "在线"
    assert page.locator(".tile[data-table=A01]").inner_text().count("空闲") == 1

    # Open table A01 by keyboard: F1, its code, Enter, two guests.
    page.keyboard.press("F1")
    page.keyboard.type("A01")
    page.keyboard.press("Enter")
    page.wait_for_selector("dialog[open]")
    page.keyboard.type("2")
    page.keyboard.press("Enter")
    page.wait_for_selector(".tile.ordering[data-table=A01]")

    # Dishes by pinyin initials: two 辣椒炒肉 (2*ljcr) and one 蛋炒饭; the sold-out fish is refused.
    page.keyboard.press("F2")
    page.keyboard.type("2*ljcr")
    assert page.locator("#results li").first.inner_text().startswith("辣椒炒肉")
    page.keyboard.press("Enter")
    page.keyboard.type("dcf")
    page.keyboard.press("Enter")
    page.keyboard.type("djyt")
    assert "售罄" in page.locator("#results li.out").first.inner_text()
    page.keyboard.press("Enter")
    page.wait_for_selector(".toast.error:has-text('售罄')")
    page.fill("#search", "")
    assert page.locator("#lines li.draft").count() == 2
    page.keyboard.press("F6")
    page.wait_for_selector(".tile.ordered[data-table=A01]")
    # 加菜 one more 蛋炒饭, then 退菜 it with a reason (Alt+D on the last line).
    page.keyboard.press("F2")
    page.keyboard.type("dcf")
    page.keyboard.press("Enter")
    page.keyboard.press("F6")
    page.wait_for_selector("#lines li.sent >> nth=2")
    _void_chosen_line(page, "点重了")
    assert page.locator("#lines li.sent").count() == 2
    page.wait_for_selector("#steps tr.payable")
    kitchen.wait_for_jobs(1, timeout=20)

    # The member's card on the serial reader identifies them; their coupon comes off the bill.
    reader.swipe(CARD_HEX, repeat=3)
    page.wait_for_selector("#member-name:has-text('李雷')", timeout=10_000)
    assert "¥100.00" in page.locator("#member-balance").inner_text()
    assert page.locator(f"label:has(input[data-coupon='{coupon['id']}']) kbd").inner_text() == "Alt+J"
    page.keyboard.press("Alt+J")  # the first coupon, by its key
    assert page.is_checked(f"input[data-coupon='{coupon['id']}']")
    page.wait_for_selector("#steps tr.coupon")
    payable_text = page.locator("#steps tr.payable td").last.inner_text()
    payable = int(re.sub(r"[^\d]", "", payable_text))
    assert payable < 11_100

    # The bill pushed to the diners' WeChat: the table shows 已推送账单. Nobody at the table has
    # scanned its code, so the cashier is told to have them scan it (not "sent to 0 diners").
    page.keyboard.press("Alt+B")
    page.wait_for_selector(".toast.error:has-text('本桌还没有顾客扫码')")
    page.wait_for_selector(".tile.billed[data-table=A01]:has-text('已推送账单')")

    # Split: ¥50 of stored value, the rest in cash with the ¥100 quick key; change shown.
    page.fill("#sv", "50")
    page.keyboard.press("Alt+1")
    change = 10_000 - (payable - 5_000)
    assert page.locator("#change").inner_text() == f"¥{to_yuan(change)}"
    page.screenshot(path=str(screenshots_dir() / "till.png"))
    page.keyboard.press("Enter")
    page.wait_for_selector("dialog[open] #confirm-payable")
    assert page.locator("#confirm-change").inner_text() == f"¥{to_yuan(change)}"
    page.keyboard.press("Enter")
    page.wait_for_selector(f".toast:has-text('已结账，找零 ¥{to_yuan(change)}')")
    page.wait_for_selector(".tile.paid[data-table=A01]")
    page.wait_for_selector("#member-balance:has-text('¥50.00')")

    # Paper: the receipt shows the payable and the new balance; the kitchen ticket printed once.
    until(lambda: any("辣椒炒肉" in t and to_yuan(payable) in t for t in _texts(front)), 20, "the receipt")
    receipt = next(t for t in _texts(front) if "辣椒炒肉" in t and to_yuan(payable) in t)
    assert "50.00" in receipt.split("李雷", 1)[-1] or "50.00" in receipt
    assert sum(1 for t in _texts(kitchen) if "辣椒炒肉" in t) == 1
    assert any(b"\x1bp" in job.data for job in front.jobs)  # the cash drawer kicked

    db.session.rollback()
    order = db.session.scalar(sa.select(Order).where(Order.store_id == store_id, Order.table_code == "A01"))
    assert order.payable_cents == payable and order.status.label == "paid"
    assert owner.get(f"/members/{member['id']}").get_json()["stored_value"]["total_cents"] == 5_000

    # A keyboard-wedge scanner types the card number into the page as a fast burst with Enter:
    # the same handler as the serial reader, and the search box keeps what it had.
    page.keyboard.press("F2")
    page.keyboard.type(CARD_NO)
    page.keyboard.press("Enter")
    page.wait_for_selector(".toast:has-text('已识别会员：李雷')")
    assert page.input_value("#search") == ""

    # The receipt again, marked as a reprint; the drawer stays shut.
    kicks = sum(job.data.count(b"\x1bp") for job in front.jobs)
    page.keyboard.press("Alt+P")
    page.wait_for_selector(".toast:has-text('已重打小票')")
    until(lambda: any("REPRINT" in t and "辣椒炒肉" in t for t in _texts(front)), 20, "the reprint")
    assert sum(job.data.count(b"\x1bp") for job in front.jobs) == kicks

    # Shift close: one bill (paid with two tenders), the cash expected against the cash counted.
    page.keyboard.press("Alt+X")
    page.wait_for_selector("dialog[open] #shift-count")
    assert page.locator("#shift-count").inner_text() == "1"
    page.fill("dialog input[name=opening]", "200")
    cash_taken = payable - 5_000
    assert page.locator("#shift-expected").inner_text() == f"¥{to_yuan(20_000 + cash_taken)}"
    page.fill("dialog input[name=counted]", to_yuan(20_000 + cash_taken))
    page.keyboard.press("Enter")
    page.wait_for_selector(".toast:has-text('已交班')")
    assert "差额 ¥0.00" in page.locator(".toast").inner_text()

    # A refund at the till, approved with the manager's password, restores the member exactly.
    page.keyboard.press("Alt+R")
    page.wait_for_selector("dialog[open] input[name=reason]")
    page.fill("dialog input[name=reason]", "菜品问题")
    page.fill("dialog input[name=manager_username]", manager.username)
    page.fill("dialog input[name=manager_password]", "not-the-password")
    page.keyboard.press("Enter")
    page.wait_for_selector("#dialog-error:has-text('店长账号或密码错误')")
    page.fill("dialog input[name=manager_password]", till.password)
    page.keyboard.press("Enter")
    page.wait_for_selector(".toast:has-text('已退款')")
    assert owner.get(f"/members/{member['id']}").get_json()["stored_value"]["total_cents"] == 10_000

    # Quick join of a new member by phone.
    page.keyboard.press("Alt+M")
    page.wait_for_selector("dialog[open] input[name=phone]")
    page.keyboard.type("13911112222")
    page.keyboard.press("Tab")
    page.keyboard.type("韩梅梅")
    page.keyboard.press("Enter")
    page.wait_for_selector("#member-name:has-text('韩梅梅')")
    identify_by_phone(page, "13800001234", "李雷")

    # A top-up with the rule shown: 充500送50. Its slip (充值凭条) prints once on the front printer
    # with the member, the amount, the bonus and the new balance; the drawer opens once for the cash.
    kicks = sum(job.data.count(b"\x1bp") for job in front.jobs)
    page.keyboard.press("Alt+T")
    assert page.wait_for_selector("dialog[open] #topup-rules").inner_text() == "充500送50"
    page.keyboard.press("Enter")
    page.wait_for_selector(".toast:has-text('充值成功')")
    assert "充值凭条已打印" in page.locator(".toast").inner_text()
    page.wait_for_selector("#member-balance:has-text('¥650.00')")
    until(lambda: _slips(front), 20, "the top-up slip")
    (slip,) = _slips(front)
    rows = [" ".join(row.split()) for row in slip.splitlines()]
    assert "会员 Member: 李雷 138****1234" in rows and "充值 Paid ￥500.00" in rows
    assert "赠送 Bonus ￥50.00" in rows and "活动 Offer: 充500送50" in rows and "储值余额 Stored value ￥650.00" in rows
    until(lambda: sum(job.data.count(b"\x1bp") for job in front.jobs) == kicks + 1, 10, "one drawer kick")

    # The table cleared, no paid order is chosen: Alt+P prints the last top-up slip again, marked
    # 重打 REPRINT, and the drawer stays shut.
    page.keyboard.press("Alt+C")
    page.wait_for_selector(".toast:has-text('已清台')")
    page.keyboard.press("Alt+P")
    page.wait_for_selector(".toast:has-text('已重打充值凭条')")
    until(lambda: len(_slips(front)) == 2, 20, "the reprinted slip")
    assert _slips(front)[1].startswith("重打 REPRINT")
    assert sum(job.data.count(b"\x1bp") for job in front.jobs) == kicks + 1
    _paper_preview(page, front, "till-topup-slip.png")

    # A toast showing when the language switches is said again in English (often why one switches).
    page.keyboard.press("Alt+D")  # 退菜 with no order at the table
    page.wait_for_selector(".toast.error:has-text('这张桌还没有订单')")
    page.keyboard.press("Alt+L")
    page.wait_for_selector("#conn:has-text('Online')")
    assert page.locator("#toast").inner_text() == "This table has no order yet"
    assert page.locator("#h-tables").inner_text().endswith("Tables")
    # English words are longer: at 1366 px nothing is cut off or pushed out of its panel.
    overflow = page.evaluate("""() => {
        const width = document.documentElement.clientWidth;
        const out = [...document.querySelectorAll('header button, .panel button, .panel input')]
            .filter((n) => n.offsetParent !== null)
            .filter((n) => { const r = n.getBoundingClientRect(), p = n.closest('.panel');
                             const edge = p ? p.getBoundingClientRect().right : width;
                             return r.right > Math.min(edge, width) + 1 || n.scrollWidth > n.clientWidth + 1; })
            .map((n) => n.dataset.action || n.id || n.textContent.trim());
        return out; }""")
    assert overflow == [], overflow
    page.screenshot(path=str(screenshots_dir() / "till-en.png"))
    page.keyboard.press("Alt+L")


@pytest.mark.e2e
def test_the_same_dinner_with_the_server_away(till, db):
    """The server stops mid-service: the header says 离线 with the sales waiting, the till seats A02,
    sends dishes, identifies the member by their card from the local copy and takes cash plus
    stored value within the offline allowance; the receipt and the ticket print at once. The
    server comes back and the sale reaches it exactly once."""
    page, front, kitchen, reader, owner, member = (till.page, till.front, till.kitchen, till.reader, till.owner,
                                                   till.member)
    till.server.stop()
    page.wait_for_selector("#conn.off", timeout=20_000)

    _order_at(page, "A02", ["ljcr"])
    assert page.locator("#conn").inner_text().startswith("离线")
    until(lambda: any("辣椒炒肉" in t for t in _texts(kitchen)), 20, "the ticket printed offline")

    reader.swipe(CARD_HEX)
    page.wait_for_selector("#member-name:has-text('李雷')", timeout=10_000)
    assert page.locator("input[data-coupon]").count() == 0  # coupons need the server
    page.fill("#sv", "30")
    page.keyboard.press("F9")  # the rest in cash, rounded up to the yuan
    assert page.input_value("#cash") == "18"
    page.keyboard.press("Enter")
    page.wait_for_selector("dialog[open] #confirm-payable")
    page.keyboard.press("Enter")
    page.wait_for_selector(".toast:has-text('已结账，找零 ¥0.00')")
    until(lambda: any("辣椒炒肉" in t and "48.00" in t and "Offline" in t for t in _texts(front)), 20,
          "the offline receipt")
    page.wait_for_selector("#conn:has-text('离线，1 笔待同步')", timeout=10_000)

    till.server.start()
    page.wait_for_selector("#conn.on", timeout=30_000)
    until(lambda: till.agent.call("GET", "/api/v1/status")[1]["outbox_pending"] == 0, 30, "the sale to sync")
    db.session.rollback()
    orders = db.session.scalars(sa.select(Order).where(Order.store_id == till.store_id,
                                                       Order.table_code == "A02")).all()
    assert [(o.payable_cents, o.status.label, o.member_id) for o in orders] == [(4_800, "paid", member["id"])]
    assert owner.get(f"/members/{member['id']}").get_json()["stored_value"]["total_cents"] == 7_000
    assert sum(1 for t in _texts(kitchen) if "辣椒炒肉" in t) == 1


@pytest.mark.e2e
def test_a_printer_in_trouble_shows_in_the_tills_header(till):
    page, kitchen = till.page, till.kitchen
    assert page.locator("#printers").is_hidden()
    kitchen.set_state("paper_out")
    page.keyboard.press("F1")
    page.keyboard.type("A02")
    page.keyboard.press("Enter")
    page.wait_for_selector("dialog[open]")
    page.keyboard.type("2")
    page.keyboard.press("Enter")
    page.wait_for_selector(".tile.ordering[data-table=A02]")
    page.keyboard.press("F2")
    page.keyboard.type("dcf")
    page.keyboard.press("Enter")
    page.keyboard.press("F6")
    # The ticket cannot print: the cashier reads it in their own words, and it waits in the ledger.
    page.wait_for_selector("#printers:has-text('后厨打印机缺纸')", timeout=30_000)
    page.screenshot(path=str(screenshots_dir() / "till-printer-out.png"))
    kitchen.set_state("online")
    kitchen.wait_for_jobs(1, timeout=30)
    page.wait_for_selector("#printers", state="hidden", timeout=30_000)
    assert sum(1 for t in _texts(kitchen) if "蛋炒饭" in t) == 1


@pytest.mark.e2e
def test_a_party_that_leaves_before_eating_frees_its_table(till):
    """撤单: the dish voided with its reason, Alt+C asks for the reason of the cancellation and
    frees the table; while a dish is on the order the table cannot be cleared."""
    page, owner = till.page, till.owner
    _order_at(page, "A02", ["dcf"], guests="2")

    page.keyboard.press("Alt+C")  # a dish is on the order: refused, nothing asked
    page.wait_for_selector(".toast.error:has-text('未结账的订单')")
    assert page.locator("dialog[open]").count() == 0
    _void_chosen_line(page, "客人离开")
    assert page.locator("#lines li.sent").count() == 0
    page.wait_for_selector("#settle:disabled")  # nothing left to collect

    page.keyboard.press("Alt+C")
    page.wait_for_selector("dialog[open] input[name=reason]")
    assert page.locator("#dialog-title").inner_text() == "撤单并清台：A02"
    assert "已全部退掉" in page.locator("#dialog-body").inner_text()
    page.keyboard.type("客人离开")
    page.screenshot(path=str(screenshots_dir() / "till-cancel.png"))
    page.keyboard.press("Enter")
    page.wait_for_selector(".toast:has-text('已撤单')")
    page.wait_for_selector(".tile.free[data-table=A02]")
    voided = owner.get("/orders", query_string={"store_id": till.store_id, "status": "voided"}).get_json()["orders"]
    assert [(o["table"], o["status"], o["subtotal_cents"]) for o in voided] == [("A02", "voided", 0)]
    entries = owner.get("/audit", query_string={"object_type": "order"}).get_json()["entries"]
    assert [e["details"] for e in entries if e["action"] == "order.cancel"] == [{"reason": "客人离开", "table": "A02"}]
