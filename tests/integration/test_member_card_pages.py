"""The member's physical cards on the manager's member page: bind, report lost after a
confirmation, replace by typing the new number; bad input changes nothing; another merchant's
member or card is a 404; every change is audited."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.audit.models import AuditEntry
from app.members.models import MemberCard
from tests.factories import create_member
from tests.integration.test_member_pages import EN, _csrf, log_in, page, top_up

CARD_NO = "0012345678"


@pytest.fixture
def shop(make):
    tenant = make.tenant()
    log_in(make, tenant.owner)
    member = create_member(make, tenant, phone="13812345678", name="王小明")
    assert make.api(tenant.owner).post(f"/members/{member['id']}/cards", json={"card_no": CARD_NO}).status_code == 201
    top_up(make, tenant, member, 10_000)
    return tenant, member


def _cards(db, member_id):
    db.session.rollback()
    return [(c.card_no, c.status.name.lower()) for c in db.session.scalars(
        sa.select(MemberCard).where(MemberCard.member_id == member_id).order_by(MemberCard.id))]


def _card_id(db, card_no):
    db.session.rollback()
    return db.session.scalar(sa.select(MemberCard.id).where(MemberCard.card_no == card_no))


def _post(make, url, form_url, **data):
    token = _csrf(page(make, form_url))
    return make.client.post(url, data={"csrf_token": token, **data}, headers=EN)


def test_bind_report_lost_and_replace_on_the_member_page(make, db, shop):
    tenant, member = shop
    detail = f"/manage/members/{member['id']}"
    html = page(make, detail)
    assert CARD_NO in html and "In use" in html and "Report lost" in html and "Bind the card" in html

    # Bad numbers and a number already someone's are refused beside the field; nothing changes.
    other = create_member(make, tenant, phone="13900001111", name="李雷")
    make.api(tenant.owner).post(f"/members/{other['id']}/cards", json={"card_no": "0000123456"})
    for bad, status, words in (("", 422, "Type the card number"), ("12-34", 422, "4 to 32 letters"),
                               ("0000123456", 409, "already registered")):
        response = _post(make, f"{detail}/cards", detail, card_no=bad)
        assert response.status_code == status and words in response.get_data(as_text=True), bad
    assert _cards(db, member["id"]) == [(CARD_NO, "active")]

    response = _post(make, f"{detail}/cards", detail, card_no=" 0009999999 ")
    assert response.status_code == 302 and response.headers["Location"].endswith(f"{detail}#cards")
    assert _cards(db, member["id"]) == [(CARD_NO, "active"), ("0009999999", "active")]

    # 挂失: the confirmation page first (a GET changes nothing), then the post.
    old_id = _card_id(db, CARD_NO)
    lost_url = f"{detail}/cards/{old_id}/lost"
    confirm = page(make, lost_url)
    assert "Report the card lost?" in confirm and "cannot be restored" in confirm and CARD_NO in confirm
    assert _cards(db, member["id"])[0] == (CARD_NO, "active")
    assert _post(make, lost_url, lost_url).status_code == 302
    assert _cards(db, member["id"])[0] == (CARD_NO, "lost")
    assert "Reported lost" in page(make, detail)
    # Twice: refused, nothing changes.
    response = make.client.post(lost_url, data={"csrf_token": _csrf(page(make, detail))}, headers=EN)
    assert response.status_code == 409
    # Without the CSRF token: refused.
    assert make.client.post(lost_url, data={}, headers=EN).status_code in (400, 403)

    # 补卡: type the new number; a bad one is refused and changes nothing.
    replace_url = f"{detail}/cards/{old_id}/replace"
    assert "stops working for good" in page(make, replace_url)
    for bad, status in (("", 422), ("x", 422), ("0000123456", 409)):
        assert _post(make, replace_url, replace_url, card_no=bad).status_code == status, bad
    assert _cards(db, member["id"]) == [(CARD_NO, "lost"), ("0009999999", "active")]
    assert _post(make, replace_url, replace_url, card_no="0012345680").status_code == 302
    assert _cards(db, member["id"]) == [(CARD_NO, "replaced"), ("0009999999", "active"), ("0012345680", "active")]
    assert make.api(tenant.owner).get(f"/members/{member['id']}").get_json()["stored_value"]["total_cents"] == 10_000
    # The replaced card cannot be replaced again.
    assert _post(make, replace_url, detail, card_no="0012345681").status_code == 409

    # Audited: the manager's actions, with the cards.
    db.session.rollback()
    entries = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.merchant_id == tenant.merchant.id,
                                                             AuditEntry.action.like("member_card.%"))).all()
    mine = [e.action for e in entries if e.staff_id == tenant.owner.id]
    assert mine.count("member_card.lost") == 1 and mine.count("member_card.replace") == 1  # refusals left none
    assert mine.count("member_card.bind") == 4  # two set up through the API, one here, the replacement


def test_another_merchants_member_or_card_is_a_404(make, db, shop):
    tenant, member = shop
    elsewhere = make.tenant()
    stranger = create_member(make, elsewhere, phone="13900003333", name="外人")
    make.api(elsewhere.owner).post(f"/members/{stranger['id']}/cards", json={"card_no": "0E0E0E0E0E"})
    foreign = _card_id(db, "0E0E0E0E0E")
    own = _card_id(db, CARD_NO)
    token = _csrf(page(make, f"/manage/members/{member['id']}"))
    for url in (f"/manage/members/{stranger['id']}/cards/{foreign}/lost",
                f"/manage/members/{member['id']}/cards/{foreign}/lost",
                f"/manage/members/{member['id']}/cards/{foreign}/replace",
                f"/manage/members/{stranger['id']}/cards/{own}/replace"):
        assert make.client.get(url, headers=EN).status_code == 404, url
        assert make.client.post(url, data={"csrf_token": token, "card_no": "0D0D0D0D0D"},
                                headers=EN).status_code == 404, url
    response = make.client.post(f"/manage/members/{stranger['id']}/cards",
                                data={"csrf_token": token, "card_no": "0D0D0D0D0D"}, headers=EN)
    assert response.status_code == 404
    assert _cards(db, stranger["id"]) == [("0E0E0E0E0E", "active")]
    assert _cards(db, member["id"]) == [(CARD_NO, "active")]


def test_kitchen_staff_cannot_change_cards(make, db):
    tenant = make.tenant()
    member = create_member(make, tenant, phone="13812345678", name="王小明")
    make.api(tenant.owner).post(f"/members/{member['id']}/cards", json={"card_no": CARD_NO})
    log_in(make, make.staff(tenant, "kitchen"))
    own = _card_id(db, CARD_NO)
    for action in ("lost", "replace"):
        url = f"/manage/members/{member['id']}/cards/{own}/{action}"
        assert make.client.get(url, headers=EN).status_code == 403, url
    assert make.client.post(f"/manage/members/{member['id']}/cards", data={"card_no": "0D0D0D0D0D"},
                            headers=EN).status_code in (400, 403)
    assert _cards(db, member["id"]) == [(CARD_NO, "active")]
