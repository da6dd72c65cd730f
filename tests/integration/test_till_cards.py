"""Physical member cards through the till's calls on the agent: issue, report lost, replace, against
a real server that can be stopped; a lost card refused online at once and by the local copy after
the store's next ``member_changed``."""

from __future__ import annotations

import sqlalchemy as sa

from app.audit.models import AuditEntry
from app.members.models import MemberCard
from tests.factories import create_member
from tests.integration.agent_support import until
from tests.integration.test_till_desk import CARD_NO, desk  # noqa: F401 (the fixture)

NEW_CARD = "0A0B0C0D0E"
SPARE_CARD = "0F0E0D0C0B"


def _cards(db, member_id):
    db.session.commit()  # a fresh read of what the server committed
    rows = db.session.scalars(sa.select(MemberCard).where(MemberCard.member_id == member_id)
                              .order_by(MemberCard.id)).all()
    return [(c.card_no, c.status.name.lower()) for c in rows]


def _card_id(agent, token, member_id, card_no):
    cards = agent.call("GET", f"/api/v1/members/{member_id}/cards", token=token)[1]["cards"]
    return next(c["id"] for c in cards if c["card_no"] == card_no)


def test_a_card_issued_lost_and_replaced_at_the_till(desk, db):  # noqa: F811
    agent, token, member = desk["agent"], desk["token"], desk["member"]
    member_id = member["id"]
    assert agent.call("GET", f"/api/v1/members/{member_id}/cards")[0] == 401

    # The member panel shows the cards and their states.
    status, found = agent.call("GET", f"/api/v1/members/identify?card={CARD_NO}", token=token)
    assert status == 200 and found["source"] == "server"
    assert [(c["card_no"], c["status"]) for c in found["cards"]] == [(CARD_NO, "active")]

    # Bad input changes nothing.
    for body in ({}, {"card_no": "x!"}, {"card_no": 12345678}, {"card_no": "A" * 33}, []):
        status, refused = agent.call("POST", f"/api/v1/members/{member_id}/cards", body, token)
        assert status == 422 and refused["error"]["code"] == "validation_error", body
    # A card already someone else's is refused clearly.
    other = create_member(desk["make"], desk["tenant"], phone="13900002222", name="李雷")
    desk["owner"].post(f"/members/{other['id']}/cards", json={"card_no": SPARE_CARD})
    status, refused = agent.call("POST", f"/api/v1/members/{member_id}/cards", {"card_no": SPARE_CARD}, token)
    assert status == 409 and refused["error"]["code"] == "card_taken" and "已经绑定" in refused["error"]["message"]
    assert _cards(db, member_id) == [(CARD_NO, "active")]

    # 发卡: a new card, which identifies the member at once.
    status, issued = agent.call("POST", f"/api/v1/members/{member_id}/cards", {"card_no": NEW_CARD}, token)
    assert status == 201 and (issued["card_no"], issued["status"]) == (NEW_CARD, "active")
    status, found = agent.call("GET", f"/api/v1/members/identify?card={NEW_CARD}", token=token)
    assert status == 200 and found["id"] == member_id and len(found["cards"]) == 2

    # 挂失: refused online at once, though the local copy still knows the card for a moment.
    old_id = _card_id(agent, token, member_id, CARD_NO)
    status, lost = agent.call("POST", f"/api/v1/members/{member_id}/cards/{old_id}/lost", {}, token)
    assert status == 200 and lost["status"] == "lost"
    status, refused = agent.call("GET", f"/api/v1/members/identify?card={CARD_NO}", token=token)
    assert status == 409 and refused["error"]["code"] == "card_not_active" and "挂失" in refused["error"]["message"]
    status, refused = agent.call("POST", f"/api/v1/members/{member_id}/cards/{old_id}/lost", {}, token)
    assert status == 409 and refused["error"]["code"] == "card_not_active"

    # 补卡: the lost card replaced by a new one; the balance stays on the member.
    status, refused = agent.call("POST", f"/api/v1/members/{member_id}/cards/{old_id}/replace",
                                 {"card_no": SPARE_CARD}, token)
    assert status == 409 and refused["error"]["code"] == "card_taken"
    status, new = agent.call("POST", f"/api/v1/members/{member_id}/cards/{old_id}/replace",
                             {"card_no": "0C0C0C0C0C"}, token)
    assert status == 201 and (new["card_no"], new["status"]) == ("0C0C0C0C0C", "active")
    status, found = agent.call("GET", "/api/v1/members/identify?card=0C0C0C0C0C", token=token)
    assert status == 200 and found["id"] == member_id and found["stored_value"]["total_cents"] == 10_000
    assert _cards(db, member_id) == [(CARD_NO, "replaced"), (NEW_CARD, "active"), ("0C0C0C0C0C", "active")]
    db.session.commit()
    actions = set(db.session.scalars(sa.select(AuditEntry.action).where(AuditEntry.action.like("member_card.%"))))
    assert {"member_card.bind", "member_card.lost", "member_card.replace"} <= actions

    # The local copy drops the lost card on the store's member_changed, and keeps the new one:
    # offline, the lost card is refused and the replacement works.
    copy = agent.agent.local.copy
    until(lambda: copy.find_member(card=CARD_NO) is None and copy.find_member(card="0C0C0C0C0C") is not None,
          20, "the local copy to follow the cards")
    desk["server"].stop()
    status, refused = agent.call("GET", f"/api/v1/members/identify?card={CARD_NO}", token=token)
    assert status == 404 and refused["error"]["code"] == "member_not_found"
    status, found = agent.call("GET", "/api/v1/members/identify?card=0C0C0C0C0C", token=token)
    assert status == 200 and found["source"] == "local" and found["id"] == member_id
    status, refused = agent.call("POST", f"/api/v1/members/{member_id}/cards", {"card_no": "0D0D0D0D0D"}, token)
    assert status == 409 and refused["error"]["code"] == "needs_server"
    desk["server"].start()


def test_another_merchants_member_or_card_is_not_found(desk, db):  # noqa: F811
    agent, token, member = desk["agent"], desk["token"], desk["member"]
    make = desk["make"]
    db.session.commit()  # no read left open while the server writes (SQLite)
    elsewhere = make.tenant()
    stranger = create_member(make, elsewhere, phone="13900003333", name="外人")
    make.api(elsewhere.owner).post(f"/members/{stranger['id']}/cards", json={"card_no": "0E0E0E0E0E"})
    foreign_card = db.session.scalar(sa.select(MemberCard.id).where(MemberCard.card_no == "0E0E0E0E0E"))
    own_card = _card_id(agent, token, member["id"], CARD_NO)

    calls = [("GET", f"/api/v1/members/{stranger['id']}/cards", None),
             ("POST", f"/api/v1/members/{stranger['id']}/cards", {"card_no": "0D0D0D0D0D"}),
             ("POST", f"/api/v1/members/{stranger['id']}/cards/{foreign_card}/lost", {}),
             ("POST", f"/api/v1/members/{member['id']}/cards/{foreign_card}/lost", {}),
             ("POST", f"/api/v1/members/{member['id']}/cards/{foreign_card}/replace", {"card_no": "0D0D0D0D0D"}),
             ("POST", f"/api/v1/members/{stranger['id']}/cards/{own_card}/replace", {"card_no": "0D0D0D0D0D"})]
    for method, path, body in calls:
        status, refused = agent.call(method, path, body, token)
        assert status == 404, (path, refused)
    # The other merchant's card does not identify anyone here.
    assert agent.call("GET", "/api/v1/members/identify?card=0E0E0E0E0E", token=token)[0] == 404
    assert _cards(db, stranger["id"]) == [("0E0E0E0E0E", "active")]
    assert _cards(db, member["id"]) == [(CARD_NO, "active")]
