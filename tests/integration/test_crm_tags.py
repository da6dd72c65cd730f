"""Member tags: by hand (page and API), by the manager's rules (evaluated after each settlement,
nightly and when a rule changes), distinguished, and found again by `members_with_tag`."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.actor import Actor
from app.crm import service as crm
from app.crm.models import MemberTag, TagSource
from app.db import utcnow
from app.members.models import Member, MemberVisit
from app.outbox.service import deliver_due
from tests.factories import create_dish, create_member, create_table
from tests.integration.test_member_pages import _csrf, log_in

EN = {"Accept-Language": "en"}


def key() -> str:
    return uuid.uuid4().hex


def tags(db, member_id: int) -> set[tuple[str, str]]:
    db.session.commit()
    return {(t.tag, t.source.label) for t in db.session.scalars(sa.select(MemberTag).where(
        MemberTag.member_id == member_id))}


def tagged(db, merchant_id: int, tag: str, source=None) -> set[int]:
    db.session.commit()
    return set(db.session.scalars(crm.members_with_tag(merchant_id, tag, source)))


def visit(db, member_id: int, merchant_id: int, days_ago: float, paid_cents: int, items=(), refunded=0) -> None:
    order_id = db.session.scalar(sa.select(sa.func.coalesce(sa.func.max(MemberVisit.order_id), 0))) + 1
    db.session.add(MemberVisit(merchant_id=merchant_id, member_id=member_id, order_id=order_id,
                               visited_at=utcnow() - timedelta(days=days_ago), paid_cents=paid_cents,
                               refunded_cents=refunded,
                               items=[{"name": n, "qty": q, "amount_cents": 0} for n, q in items]))


RULES = [
    {"name": "高消费", "tag": "高消费", "kind": "spend", "params": {"min_cents": 200_000, "days": 90}},
    {"name": "鱼头控", "tag": "鱼头控", "kind": "dish", "params": {"dish": "剁椒鱼头", "min_count": 3}},
    {"name": "A05来客", "tag": "A05", "kind": "source_table", "params": {"table": "A05"}},
]


def test_rules_give_exactly_the_expected_tags_on_a_hand_built_set(make):
    tenant = make.tenant()
    api = make.api(tenant.owner)
    a05 = create_table(make, tenant, code="A05")
    a06 = create_table(make, tenant, code="A06")
    m = {name: create_member(make, tenant, name=name)["id"] for name in
         ("big", "refunded", "old", "fish", "fish_refunded", "from_a05", "from_a06", "everything", "nobody")}
    merchant = tenant.merchant.id
    db = make.db
    visit(db, m["big"], merchant, 10, 150_000)
    visit(db, m["big"], merchant, 80, 50_000)
    visit(db, m["refunded"], merchant, 5, 250_000, refunded=60_000)
    visit(db, m["old"], merchant, 95, 300_000)
    visit(db, m["fish"], merchant, 200, 20_000, items=[("剁椒鱼头", 2)])
    visit(db, m["fish"], merchant, 3, 10_000, items=[("剁椒鱼头", 1), ("米饭", 2)])
    for days in (1, 2):
        visit(db, m["fish_refunded"], merchant, days, 10_000, items=[("剁椒鱼头", 1)])
    visit(db, m["fish_refunded"], merchant, 3, 10_000, items=[("剁椒鱼头", 1)], refunded=10_000)
    visit(db, m["everything"], merchant, 1, 250_000, items=[("剁椒鱼头", 3)])
    db.session.get(Member, m["from_a05"]).source_table_id = a05["id"]
    db.session.get(Member, m["from_a06"]).source_table_id = a06["id"]
    db.session.get(Member, m["everything"]).source_table_id = a05["id"]
    db.session.commit()

    for rule in RULES:  # each new rule checks every member at once
        response = api.post("/tag-rules", json=rule)
        assert response.status_code == 201, response.get_json()

    expected = {"big": {"高消费"}, "refunded": set(), "old": set(), "fish": {"鱼头控"}, "fish_refunded": set(),
                "from_a05": {"A05"}, "from_a06": set(), "everything": {"高消费", "鱼头控", "A05"}, "nobody": set()}
    assert {name: {t for t, _ in tags(db, i)} for name, i in m.items()} == expected
    assert all(source == "rule" for i in m.values() for _, source in tags(db, i))
    assert tagged(db, merchant, "高消费") == {m["big"], m["everything"]}
    listed = api.get("/tags/members", query_string={"tag": "A05"}).get_json()
    assert {x["id"] for x in listed["members"]} == {m["from_a05"], m["everything"]}

    # Deleting a rule takes its tag away at once.
    rule_id = next(r["id"] for r in api.get("/tag-rules").get_json()["rules"] if r["tag"] == "A05")
    assert api.delete(f"/tag-rules/{rule_id}").status_code == 204
    assert tagged(db, merchant, "A05") == set()


def test_hand_tags_and_rule_tags_are_kept_apart(make):
    tenant = make.tenant()
    api = make.api(tenant.owner)
    member = create_member(make, tenant)["id"]
    visit(make.db, member, tenant.merchant.id, 1, 300_000)
    make.db.session.commit()
    assert api.post("/tag-rules", json=RULES[0]).status_code == 201
    # By hand, the same word as a rule tag: both kept, each with its source.
    response = api.request("PUT", f"/members/{member}/tags", json={"tags": ["高消费", "爱吃辣"]})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["hand"] == ["爱吃辣", "高消费"]
    assert {(t["tag"], t["source"]) for t in body["tags"]} == {
        ("高消费", "hand"), ("爱吃辣", "hand"), ("高消费", "rule")}
    assert tagged(make.db, tenant.merchant.id, "高消费", TagSource.HAND) == {member}
    assert tagged(make.db, tenant.merchant.id, "高消费", TagSource.RULE) == {member}
    # The nightly run does not touch hand tags; the member tag list API shows them as before.
    crm.retag_all(utcnow(), actor=Actor.system(tenant.merchant.id))
    assert tags(make.db, member) == {("高消费", "hand"), ("爱吃辣", "hand"), ("高消费", "rule")}
    assert api.get(f"/members/{member}").get_json()["tags"] == ["爱吃辣", "高消费"]
    # PATCH on the member (the older way) keeps the index right too.
    assert api.patch(f"/members/{member}", json={"tags": ["新客"]}).status_code == 200
    assert tags(make.db, member) == {("新客", "hand"), ("高消费", "rule")}


def test_the_nightly_run_takes_a_tag_away_when_time_moves_on(make):
    tenant = make.tenant()
    member = create_member(make, tenant)["id"]
    visit(make.db, member, tenant.merchant.id, 85, 300_000)
    make.db.session.commit()
    assert make.api(tenant.owner).post("/tag-rules", json=RULES[0]).status_code == 201
    assert tags(make.db, member) == {("高消费", "rule")}
    actor = Actor.system(tenant.merchant.id)
    crm.retag_all(utcnow() + timedelta(days=4), actor=actor)  # the visit is now 89 days old
    assert tags(make.db, member) == {("高消费", "rule")}
    crm.retag_all(utcnow() + timedelta(days=6), actor=actor)
    assert tags(make.db, member) == set()


def test_a_settlement_re_evaluates_the_members_tags_after_commit(make):
    tenant = make.tenant()
    api = make.api(tenant.owner)
    fish = create_dish(make, tenant, "剁椒鱼头", 12_800)
    assert api.post("/tag-rules", json={"name": "鱼头控", "tag": "鱼头控", "kind": "dish",
                                        "params": {"dish": "剁椒鱼头", "min_count": 3}}).status_code == 201
    member = create_member(make, tenant)["id"]
    order = api.post("/orders", json={"store_id": tenant.store.id, "idempotency_key": key(),
                                      "items": [{"dish_id": fish["id"], "qty": 3}]}).get_json()
    bill = api.get(f"/orders/{order['id']}/bill", query_string={"member_id": member, "points": 0}).get_json()
    settled = api.post(f"/orders/{order['id']}/settle", json={
        "tenders": [{"type": "cash", "amount_cents": bill["payable_cents"]}], "member_id": member,
        "idempotency_key": key()})
    assert settled.status_code in (200, 201), settled.get_json()
    assert tags(make.db, member) == set()  # not inside the settlement's transaction
    deliver_due(utcnow())
    assert tags(make.db, member) == {("鱼头控", "rule")}


@pytest.mark.parametrize("rule", [
    {"name": "x", "tag": "x", "kind": "spend", "params": {"days": 90}},
    {"name": "x", "tag": "x", "kind": "dish", "params": {"dish": "鱼", "min_count": 3, "days": 99999}},
    {"name": "x", "tag": "x" * 21, "kind": "source_table", "params": {"table": "A05"}},
    {"name": "x", "tag": "x", "kind": "birthday", "params": {}},
])
def test_a_rule_that_makes_no_sense_is_a_422(make, rule):
    tenant = make.tenant()
    response = make.api(tenant.owner).post("/tag-rules", json=rule)
    assert response.status_code == 422, response.get_json()


def test_a_cashier_may_tag_by_hand_but_not_write_rules(make):
    tenant = make.tenant()
    cashier = make.api(make.staff(tenant, "cashier"))
    member = create_member(make, tenant)["id"]
    assert cashier.request("PUT", f"/members/{member}/tags", json={"tags": ["熟客"]}).status_code == 200
    assert cashier.post("/tag-rules", json=RULES[2]).status_code == 403
    other = make.tenant()
    assert make.api(other.owner).request("PUT", f"/members/{member}/tags", json={"tags": ["x"]}).status_code == 404


def test_tags_on_the_members_page_and_the_rules_page(make):
    tenant = make.tenant()
    log_in(make, tenant.owner)
    member = create_member(make, tenant, name="王五")["id"]
    html = make.client.get(f"/manage/members/{member}", headers=EN).get_data(as_text=True)
    response = make.client.post(f"/manage/members/{member}/tags", data={"tag": "爱吃辣", "csrf_token": _csrf(html)})
    assert response.status_code == 302
    html = make.client.get(f"/manage/members/{member}", headers=EN).get_data(as_text=True)
    assert "爱吃辣" in html and "Remove the tag 爱吃辣" in html
    page = make.client.get("/manage/members/tag-rules", headers=EN).get_data(as_text=True)
    response = make.client.post("/manage/members/tag-rules", data={
        "csrf_token": _csrf(page), "action": "add", "name": "大户", "tag": "大户", "kind": "spend",
        "min_yuan": "2000", "days": "90"})
    assert response.status_code == 302
    page = make.client.get("/manage/members/tag-rules", headers=EN).get_data(as_text=True)
    assert "Spent at least ￥2000.00 in the last 90 days" in page
    found = make.client.get("/manage/members/tagged?tag=爱吃辣", headers=EN).get_data(as_text=True)
    assert "王五" in found
    response = make.client.post(f"/manage/members/{member}/tags", data={"remove": "爱吃辣", "csrf_token": _csrf(html)})
    assert response.status_code == 302 and tags(make.db, member) == set()
