"""Physical member cards at the till, in a real Chromium at 1366×768 with the virtual card reader:
a new card issued by swiping it in the 发卡 dialog, one already someone else's refused, the old
card reported lost (挂失) and refused at once, replaced by a new one (补卡) that keeps the balance,
and the lost card refused from the agent's local copy with the server away."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from app.members.models import MemberCard
from tests.e2e.conftest import screenshots_dir
from tests.e2e.test_till_browser import CARD_HEX, CARD_NO, till  # noqa: F401 (the fixture)
from tests.integration.agent_support import until

NEW_HEX = "0A0098967F"  # printed 0009999999
TAKEN_HEX = "0A0001E240"  # printed 0000123456, someone else's
SPARE_HEX = "0A00BC6150"  # printed 0012345680


def _printed(card_hex: str) -> str:
    return f"{int(card_hex[2:], 16):010d}"


def _present(page, reader, card_hex: str) -> None:
    """A card laid on the reader after the last one was taken off: the agent drops a card seen again
    within its debounce window (1.5 s), as a card left lying on the reader."""
    page.wait_for_timeout(1_600)
    reader.swipe(card_hex)


def _statuses(db, member_id):
    db.session.rollback()
    rows = db.session.scalars(sa.select(MemberCard).where(MemberCard.member_id == member_id)
                              .order_by(MemberCard.id)).all()
    return [(c.card_no, c.status.name.lower()) for c in rows]


@pytest.mark.e2e
def test_cards_issued_lost_and_replaced_at_the_till(till, db):  # noqa: F811
    page, reader, owner, member = till.page, till.reader, till.owner, till.member
    other = owner.post("/members", json={"phone": "13900009999", "name": "韩梅梅"}).get_json()
    assert owner.post(f"/members/{other['id']}/cards", json={"card_no": _printed(TAKEN_HEX)}).status_code == 201

    # The member by their card; the panel shows the card and its state. No dialog: no card keys.
    _present(page, reader, CARD_HEX)
    page.wait_for_selector("#member-name:has-text('李雷')", timeout=10_000)
    assert "0012345678 正常" in page.locator("#member-cards").inner_text()

    # 发卡 (Alt+I): the blank card swiped on the reader fills the dialog; it identifies no one.
    page.keyboard.press("Alt+I")
    page.wait_for_selector("dialog[open] input[name=card_no]")
    _present(page, reader, TAKEN_HEX)
    expect(page.locator("dialog input[name=card_no]")).to_have_value("0000123456")
    page.keyboard.press("Enter")
    page.wait_for_selector("#dialog-error:has-text('已经绑定了会员')", timeout=10_000)
    assert page.locator("#member-name").inner_text() == "李雷"  # the swipe was the dialog's
    _present(page, reader, NEW_HEX)
    expect(page.locator("dialog input[name=card_no]")).to_have_value(_printed(NEW_HEX))
    page.screenshot(path=str(screenshots_dir() / "till-card-issue.png"))
    # A keyboard-wedge reader's burst (the number and Enter, faster than anyone types) fills the
    # dialog as the serial reader does, and waits: its Enter confirms nothing.
    page.locator("dialog input[name=card_no]").fill("")
    page.keyboard.type(_printed(SPARE_HEX))
    page.keyboard.press("Enter")
    expect(page.locator("dialog input[name=card_no]")).to_have_value(_printed(SPARE_HEX))
    page.wait_for_selector(f"#dialog-error.waiting:has-text('{_printed(SPARE_HEX)}')")
    page.wait_for_timeout(500)  # proving silence: nothing was sent
    assert page.locator("dialog[open] input[name=card_no]").count() == 1
    assert _statuses(db, member["id"]) == [(CARD_NO, "active")]
    page.locator("dialog input[name=card_no]").fill(_printed(NEW_HEX))
    page.wait_for_timeout(100)  # the cashier's Enter comes later than a reader's would
    page.keyboard.press("Enter")
    page.wait_for_selector(f".toast:has-text('已发卡 {_printed(NEW_HEX)}')", timeout=10_000)
    page.wait_for_selector(f"#member-cards [data-card='{_printed(NEW_HEX)}']")
    assert _statuses(db, member["id"]) == [(CARD_NO, "active"), (_printed(NEW_HEX), "active")]
    assert _statuses(db, other["id"]) == [(_printed(TAKEN_HEX), "active")]

    # 挂失 (Alt+Z): swiping the old card chooses it; a confirmation says it cannot be undone.
    page.keyboard.press("Alt+Z")
    page.wait_for_selector("dialog[open] .card-choice")
    assert "不能撤销" in page.locator("dialog .warn").inner_text()
    _present(page, reader, CARD_HEX)
    expect(page.locator(f"dialog input[data-card='{CARD_NO}']")).to_be_checked()
    page.screenshot(path=str(screenshots_dir() / "till-card-lost.png"))
    page.keyboard.press("Escape")  # cancelled: nothing changes
    page.wait_for_selector("dialog[open]", state="detached")
    assert _statuses(db, member["id"])[0] == (CARD_NO, "active")
    page.keyboard.press("Alt+Z")
    page.wait_for_selector("dialog[open] .card-choice")
    _present(page, reader, CARD_HEX)
    expect(page.locator(f"dialog input[data-card='{CARD_NO}']")).to_be_checked()
    page.keyboard.press("Enter")
    page.wait_for_selector(f".toast:has-text('卡 {CARD_NO} 已挂失')", timeout=10_000)
    page.wait_for_selector(f"#member-cards .card.lost[data-card='{CARD_NO}']:has-text('已挂失')")

    # The lost card is refused at once (online).
    _present(page, reader, CARD_HEX)
    page.wait_for_selector(".toast.error:has-text('已挂失或已补卡')", timeout=10_000)

    # 补卡 (Alt+A): the lost card, replaced by a new card swiped on the reader.
    page.keyboard.press("Alt+A")
    page.wait_for_selector("dialog[open] input[name=card_no]")
    assert page.is_checked(f"dialog input[data-card='{CARD_NO}']")  # the lost card first
    _present(page, reader, SPARE_HEX)
    expect(page.locator("dialog input[name=card_no]")).to_have_value(_printed(SPARE_HEX))
    page.screenshot(path=str(screenshots_dir() / "till-card-replace.png"))
    page.keyboard.press("Enter")
    page.wait_for_selector(f".toast:has-text('新卡 {_printed(SPARE_HEX)}')", timeout=10_000)
    page.wait_for_selector(f"#member-cards .card.active[data-card='{_printed(SPARE_HEX)}']")
    assert page.locator(f"#member-cards [data-card='{CARD_NO}']").count() == 0  # replaced: not held any more
    page.screenshot(path=str(screenshots_dir() / "till-cards.png"))
    assert _statuses(db, member["id"]) == [(CARD_NO, "replaced"), (_printed(NEW_HEX), "active"),
                                           (_printed(SPARE_HEX), "active")]

    # The new card identifies the member, with the balance where it was.
    _present(page, reader, SPARE_HEX)
    page.wait_for_selector(".toast:has-text('已识别会员：李雷')", timeout=10_000)
    assert page.locator("#member-balance").inner_text() == "¥100.00"

    # The agent's local copy drops the lost card on the store's member_changed; with the server
    # away the till refuses it from there, and the replacement still works.
    status, session = till.agent.call("POST", "/api/v1/session", {"username": till.manager.username,
                                                                  "password": till.password})
    assert status == 200
    until(lambda: till.agent.call("GET", f"/api/v1/members/lookup?card={CARD_NO}", token=session["token"])[0] == 404
          and till.agent.call("GET", f"/api/v1/members/lookup?card={_printed(SPARE_HEX)}",
                              token=session["token"])[0] == 200, 30, "the local copy to follow the cards")
    till.server.stop()
    page.wait_for_selector("#conn.off", timeout=20_000)
    _present(page, reader, CARD_HEX)
    page.wait_for_selector(".toast.error:has-text('没有这位会员')", timeout=10_000)
    _present(page, reader, SPARE_HEX)
    page.wait_for_selector(".toast:has-text('已识别会员：李雷')", timeout=10_000)
    assert "正常" in page.locator("#member-cards").inner_text()  # from the local copy
    # Offline, cards cannot change: the till says so.
    page.keyboard.press("Alt+I")
    page.wait_for_selector(".toast.error:has-text('需要联网')", timeout=10_000)
    assert page.locator("dialog[open]").count() == 0
