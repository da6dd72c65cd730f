"""Coupons over the API and the service: templates, issue, look-up, redeem/restore, expiry."""

import re
import threading
import uuid
from contextlib import contextmanager
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from app.actor import Actor
from app.audit.models import AuditEntry
from app.coupons import service
from app.coupons.models import Coupon, CouponEvent, CouponEventKind, CouponStatus
from app.db import begin_write, utcnow
from app.errors import APIError
from tablerules import coupons as rules
from tests.factories import create_coupon_template, create_dish, create_member, issue_coupon


def key() -> str:
    return uuid.uuid4().hex


@pytest.fixture
def shop(make):
    tenant = make.tenant()
    return tenant, make.api(tenant.owner)


@contextmanager
def as_merchant(app, merchant_id):
    """A request context with its own session, as a route or the settlement has (the services take
    the actor: nothing of the merchant is read from the request)."""
    from app.extensions import db

    with app.test_request_context():
        begin_write()
        try:
            yield db.session
        finally:
            db.session.rollback()


def _run_in_threads(target, count):
    barrier = threading.Barrier(count)
    results, errors = [], []

    def run(i):
        barrier.wait()
        try:
            results.append(target(i))
        except Exception as error:  # collected and asserted on below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results, errors


def _events(db, coupon_id):
    db.session.rollback()
    return [e.kind for e in db.session.scalars(
        sa.select(CouponEvent).where(CouponEvent.coupon_id == coupon_id).order_by(CouponEvent.id))]


WHOLE_BILL = [rules.CouponLine(line_id=1, dish_id=1, category_id=None, qty=1, amount_cents=10_000)]


# --- templates -------------------------------------------------------------------------------

def test_a_cash_voucher_with_min_spend(shop):
    _tenant, api = shop
    response = api.post("/coupon-templates", json={
        "name": "满100减20", "kind": "cash", "value_cents": 2000, "min_spend_cents": 10_000, "valid_days": 30,
        "per_member_limit": 2, "is_stackable": True})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert (body["kind"], body["value_cents"], body["min_spend_cents"]) == ("cash", 2000, 10_000)
    assert (body["terms"], body["terms_en"]) == ("满100减20", "¥20 off over ¥100")
    assert body["is_active"] and body["is_stackable"] and not body["is_transferable"]
    assert api.get(f"/coupon-templates/{body['id']}").get_json() == body
    assert [t["id"] for t in api.get("/coupon-templates").get_json()["templates"]] == [body["id"]]


def test_a_percent_coupon_with_a_cap_scoped_by_category_and_dish(shop, make):
    tenant, api = shop
    dish = create_dish(make, tenant, name="酸梅汤", category="饮品")
    response = api.post("/coupon-templates", json={
        "name": "饮品88折", "kind": "percent", "percent_off": 12, "cap_cents": 1500,
        "category_ids": [dish["category_id"]], "dish_ids": [dish["id"]],
        "valid_from": "2030-01-01T00:00:00+08:00", "valid_until": "2030-02-01T00:00:00+08:00"})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert (body["percent_off"], body["cap_cents"], body["value_cents"]) == (12, 1500, 0)
    assert body["category_ids"] == [dish["category_id"]] and body["dish_ids"] == [dish["id"]]
    assert body["terms"] == "8.8折券（最高减15元）"
    assert body["valid_from"].startswith("2029-12-31T16:00:00")  # stored and shown in UTC


def test_a_free_dish_coupon(shop, make):
    tenant, api = shop
    dish = create_dish(make, tenant, name="酸梅汤", price_cents=1800)
    response = api.post("/coupon-templates", json={
        "name": "赠酸梅汤", "kind": "free_dish", "dish_id": dish["id"], "valid_days": 7, "is_transferable": True,
        "max_transfer_chain": 2})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert (body["dish_id"], body["terms"], body["max_transfer_chain"]) == (dish["id"], "赠菜券", 2)


@pytest.mark.parametrize("fields", [
    {"kind": "cash", "value_cents": 0, "valid_days": 30},
    {"kind": "cash", "value_cents": 2000, "percent_off": 10, "valid_days": 30},
    {"kind": "percent", "valid_days": 30},
    {"kind": "percent", "percent_off": 10, "value_cents": 500, "valid_days": 30},
    {"kind": "free_dish", "valid_days": 30},
    {"kind": "cash", "value_cents": 2000},
    {"kind": "cash", "value_cents": 2000, "valid_from": "2030-02-01T00:00:00Z", "valid_until": "2030-01-01T00:00:00Z"},
])
def test_contradictory_templates_are_422_and_nothing_is_created(shop, fields):
    _tenant, api = shop
    response = api.post("/coupon-templates", json={"name": "坏券", **fields})
    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "invalid_coupon_template" and error["details"]["problems"]
    assert api.get("/coupon-templates").get_json()["templates"] == []


def test_a_free_dish_takes_no_other_scope_and_its_dish_must_be_the_merchants(shop, make):
    tenant, api = shop
    dish = create_dish(make, tenant, name="凉拌木耳")
    scoped = api.post("/coupon-templates", json={"name": "x", "kind": "free_dish", "dish_id": dish["id"],
                                                 "dish_ids": [dish["id"]], "valid_days": 3})
    assert scoped.status_code == 422
    foreign = create_dish(make, make.tenant(), name="口水鸡")
    response = api.post("/coupon-templates", json={"name": "x", "kind": "free_dish", "dish_id": foreign["id"],
                                                   "valid_days": 3})
    assert response.status_code == 404 and response.get_json()["error"]["details"] == {"object": "dish"}
    response = api.post("/coupon-templates", json={"name": "x", "kind": "cash", "value_cents": 100, "valid_days": 3,
                                                   "category_ids": [foreign["category_id"]]})
    assert response.status_code == 404


def test_editing_a_template_is_audited_and_its_terms_freeze_once_issued(shop, make):
    tenant, api = shop
    template = create_coupon_template(make, tenant)
    response = api.patch(f"/coupon-templates/{template['id']}", json={"value_cents": 3000, "name": "30元券"})
    assert response.status_code == 200 and response.get_json()["value_cents"] == 3000
    issue_coupon(make, tenant, create_member(make, tenant)["id"], template["id"])
    frozen = api.patch(f"/coupon-templates/{template['id']}", json={"value_cents": 5000})
    assert frozen.status_code == 409 and frozen.get_json()["error"]["code"] == "template_in_use"
    response = api.patch(f"/coupon-templates/{template['id']}", json={"is_active": False, "per_member_limit": 1})
    assert response.status_code == 200 and response.get_json()["is_active"] is False
    bad = api.patch(f"/coupon-templates/{template['id']}", json={"valid_days": None})
    assert bad.status_code == 422 and bad.get_json()["error"]["code"] == "invalid_coupon_template"
    make.db.session.rollback()
    actions = make.db.session.scalars(sa.select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert actions.count("coupon_template.update") == 2
    assert "coupon_template.create" in actions and "coupon.issue" in actions


def test_cashiers_read_templates_but_only_managers_write_them(make):
    tenant = make.tenant()
    cashier = make.api(make.staff(tenant, "cashier"))
    assert cashier.get("/coupon-templates").status_code == 200
    response = cashier.post("/coupon-templates", json={"name": "x", "kind": "cash", "value_cents": 1, "valid_days": 1})
    assert response.status_code == 403
    assert make.api(make.staff(tenant, "manager")).post("/coupon-templates", json={
        "name": "x", "kind": "cash", "value_cents": 1, "valid_days": 1}).status_code == 201


# --- issue -----------------------------------------------------------------------------------

def test_issue_answers_201_with_a_cp_code_and_the_expiry(shop, make):
    tenant, api = shop
    member = create_member(make, tenant)
    template = create_coupon_template(make, tenant, valid_days=30)
    before = utcnow()
    response = api.post(f"/members/{member['id']}/coupons", json={"template_id": template["id"],
                                                                   "idempotency_key": key()})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert re.fullmatch(r"CP[A-Z0-9]{10}", body["code"])
    assert (body["state"], body["source"], body["member_id"], body["transfer_depth"]) == (
        "issued", "manual", member["id"], 0)
    assert body["template"]["terms"] == "20元代金券"
    issued_at = datetime.fromisoformat(body["issued_at"])
    assert before <= issued_at and datetime.fromisoformat(body["expires_at"]) == issued_at + timedelta(days=30)
    detail = api.get(f"/coupons/{body['id']}").get_json()
    assert [e["kind"] for e in detail["events"]] == ["issue"]
    assert detail["events"][0]["member_id"] == member["id"]


def test_the_per_member_limit_is_409_and_other_members_are_not_affected(shop, make):
    tenant, api = shop
    member, other = create_member(make, tenant), create_member(make, tenant)
    template = create_coupon_template(make, tenant, per_member_limit=2)
    issue_coupon(make, tenant, member["id"], template["id"])
    issue_coupon(make, tenant, member["id"], template["id"])
    response = api.post(f"/members/{member['id']}/coupons", json={"template_id": template["id"],
                                                                   "idempotency_key": key()})
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "per_member_limit"
    issue_coupon(make, tenant, other["id"], template["id"])
    assert len(api.get(f"/members/{member['id']}/coupons").get_json()["coupons"]) == 2


def test_a_switched_off_or_ended_template_issues_nothing(shop, make):
    tenant, api = shop
    member = create_member(make, tenant)
    off = create_coupon_template(make, tenant, is_active=False)
    response = api.post(f"/members/{member['id']}/coupons", json={"template_id": off["id"], "idempotency_key": key()})
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "template_inactive"
    ended = create_coupon_template(make, tenant, valid_days=None, valid_until="2021-01-01T00:00:00Z")
    response = api.post(f"/members/{member['id']}/coupons", json={"template_id": ended["id"],
                                                                   "idempotency_key": key()})
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "template_ended"
    assert api.get(f"/members/{member['id']}/coupons").get_json()["coupons"] == []


def test_another_merchants_template_is_404(shop, make):
    tenant, api = shop
    member = create_member(make, tenant)
    foreign = create_coupon_template(make, make.tenant())
    response = api.post(f"/members/{member['id']}/coupons", json={"template_id": foreign["id"],
                                                                   "idempotency_key": key()})
    assert response.status_code == 404


def test_issue_replay_returns_the_first_answer_and_a_reused_key_is_409(shop, make):
    tenant, api = shop
    member = create_member(make, tenant)
    template = create_coupon_template(make, tenant)
    body = {"template_id": template["id"], "idempotency_key": key()}
    first = api.post(f"/members/{member['id']}/coupons", json=body)
    second = api.post(f"/members/{member['id']}/coupons", json=body)
    assert (second.status_code, second.get_json()) == (first.status_code, first.get_json())
    other = create_coupon_template(make, tenant)
    reused = api.post(f"/members/{member['id']}/coupons", json={**body, "template_id": other["id"]})
    assert reused.status_code == 409 and reused.get_json()["error"]["code"] == "idempotency_key_reused"
    assert len(api.get(f"/members/{member['id']}/coupons").get_json()["coupons"]) == 1


def test_the_same_issue_sent_concurrently_applies_once(app, make, db):
    tenant = make.tenant()
    member = create_member(make, tenant)
    template = create_coupon_template(make, tenant)
    token = make.token(tenant.owner)
    body = {"template_id": template["id"], "idempotency_key": key()}

    def issue(_i):
        response = app.test_client().post(f"/api/v1/members/{member['id']}/coupons", json=body,
                                          headers={"Authorization": f"Bearer {token}"})
        return response.status_code, response.get_json()

    results, errors = _run_in_threads(issue, 12)
    assert errors == []
    assert {status for status, _ in results} == {201}
    assert len({str(body) for _, body in results}) == 1
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Coupon)) == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CouponEvent)) == 1


def test_concurrent_issues_never_pass_the_per_member_limit(app, make, db):
    tenant = make.tenant()
    member = create_member(make, tenant)
    template = create_coupon_template(make, tenant, per_member_limit=3)
    token = make.token(tenant.owner)

    def issue(i):
        response = app.test_client().post(f"/api/v1/members/{member['id']}/coupons", json={
            "template_id": template["id"], "idempotency_key": f"limit-race-{i:04d}"},
            headers={"Authorization": f"Bearer {token}"})
        return response.status_code

    results, errors = _run_in_threads(issue, 10)
    assert errors == []
    assert sorted(results) == [201] * 3 + [409] * 7
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Coupon)) == 3


# --- reading ---------------------------------------------------------------------------------

def test_lookup_by_code_for_the_till_scanner(shop, make):
    tenant, api = shop
    member = create_member(make, tenant)
    coupon = issue_coupon(make, tenant, member["id"])
    found = api.get(f"/coupons/lookup?code={coupon['code']}")
    assert found.status_code == 200 and found.get_json()["id"] == coupon["id"]
    assert api.get(f"/coupons/lookup?code={coupon['code'].lower()}").get_json()["id"] == coupon["id"]
    missing = api.get("/coupons/lookup?code=CP2345678923")
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "not_found"
    assert api.get("/coupons/lookup?code=XX12").status_code == 422
    assert api.get("/coupons/lookup").status_code == 422
    intruder = make.api(make.tenant().owner)
    assert intruder.get(f"/coupons/lookup?code={coupon['code']}").status_code == 404


def test_member_coupons_filter_by_state(shop, make, app):
    tenant, api = shop
    member = create_member(make, tenant)
    kept = issue_coupon(make, tenant, member["id"])
    used = issue_coupon(make, tenant, member["id"])
    with as_merchant(app, tenant.merchant.id) as session:
        actor = Actor.system(tenant.merchant.id)
        service.redeem_coupons([used["id"]], order_id=77, key=key(), now=utcnow(), actor=actor)
        session.commit()
    everything = api.get(f"/members/{member['id']}/coupons").get_json()["coupons"]
    assert [c["id"] for c in everything] == [used["id"], kept["id"]]
    issued = api.get(f"/members/{member['id']}/coupons?state=issued").get_json()["coupons"]
    assert [c["id"] for c in issued] == [kept["id"]]
    redeemed = api.get(f"/members/{member['id']}/coupons?state=redeemed").get_json()["coupons"]
    assert [(c["id"], c["redeemed_order_id"]) for c in redeemed] == [(used["id"], 77)]
    assert api.get(f"/members/{member['id']}/coupons?state=lost").status_code == 422


# --- the settlement's calls ------------------------------------------------------------------

def test_coupons_for_bill_keeps_the_order_and_refuses_foreign_ids(app, make):
    tenant = make.tenant()
    member, other = create_member(make, tenant), create_member(make, tenant)
    first = issue_coupon(make, tenant, member["id"])
    second = issue_coupon(make, tenant, member["id"])
    others = issue_coupon(make, tenant, other["id"])
    elsewhere = make.tenant()
    foreign = issue_coupon(make, elsewhere, create_member(make, elsewhere)["id"])
    with as_merchant(app, tenant.merchant.id):
        actor = Actor.system(tenant.merchant.id)
        got = service.coupons_for_bill(member["id"], [second["id"], first["id"], second["id"]], utcnow(), actor=actor)
        assert [c.id for c in got] == [second["id"], first["id"], second["id"]]
        assert all(isinstance(c, rules.IssuedCoupon) and c.state is rules.CouponState.ISSUED for c in got)
        assert got[0].template.value_cents == 2000
        for ids in ([others["id"]], [first["id"], foreign["id"]], [2**31 - 1]):
            with pytest.raises(APIError) as error:
                service.coupons_for_bill(member["id"], ids, utcnow(), actor=actor)
            assert error.value.code == 404
        # Without a member (pricing answers not_owner), and the preview's read without locks.
        anyones = service.coupons_for_bill(None, [others["id"]], utcnow(), actor=actor)
        assert [c.member_id for c in anyones] == [other["id"]]
        assert len(service.coupons_for_bill(member["id"], [first["id"]], utcnow(), lock=False, actor=actor)) == 1


def test_redeem_and_restore_round_trip(app, make, db):
    tenant = make.tenant()
    member = create_member(make, tenant)
    coupon = issue_coupon(make, tenant, member["id"])
    now = utcnow()
    with as_merchant(app, tenant.merchant.id) as session:
        actor = Actor.system(tenant.merchant.id)
        (redeemed,) = service.redeem_coupons([coupon["id"]], order_id=501, key="settle-501", now=now,
                                             member_id=member["id"], actor=actor)
        session.commit()
        assert (redeemed.state, redeemed.redeemed_order_id) == (CouponStatus.REDEEMED, 501)
        (plain,) = service.coupons_for_bill(member["id"], [coupon["id"]], now, actor=actor)
        assert rules.eligibility(plain, member["id"], WHOLE_BILL, now) == rules.Refused(rules.NOT_ACTIVE)
        session.commit()
        # The same settle again: nothing more happens.
        service.redeem_coupons([coupon["id"]], order_id=501, key="settle-501", now=now, actor=actor)
        session.commit()
        # Used already: another order cannot redeem it.
        with pytest.raises(APIError) as error:
            service.redeem_coupons([coupon["id"]], order_id=502, key="settle-502", now=now, actor=actor)
        assert (error.value.code, error.value.error_code) == (409, "not_active")
        session.rollback()

        begin_write()
        result = service.restore_coupons(501, key="refund-501", now=now + timedelta(minutes=5), actor=actor)
        session.commit()
        assert [c.id for c in result.restored] == [coupon["id"]] and result.not_restored == []
        again = service.restore_coupons(501, key="refund-501", now=now + timedelta(minutes=6), actor=actor)
        session.commit()
        assert [c.id for c in again.restored] == [coupon["id"]]
        (plain,) = service.coupons_for_bill(member["id"], [coupon["id"]], now, actor=actor)
        assert plain.state is rules.CouponState.ISSUED
        assert rules.eligibility(plain, member["id"], WHOLE_BILL, now)
        session.commit()
    assert _events(db, coupon["id"]) == [CouponEventKind.ISSUE, CouponEventKind.REDEEM, CouponEventKind.RESTORE]
    restored = db.session.get(Coupon, coupon["id"])
    assert (restored.state, restored.redeemed_order_id, restored.redeemed_at) == (CouponStatus.ISSUED, None, None)


def test_a_refund_after_the_coupon_lapsed_leaves_it_redeemed_and_says_so(app, make, db):
    tenant = make.tenant()
    member = create_member(make, tenant)
    template = create_coupon_template(make, tenant, valid_days=1)
    lapsing = issue_coupon(make, tenant, member["id"], template["id"])
    lasting = issue_coupon(make, tenant, member["id"], create_coupon_template(make, tenant, valid_days=30,
                                                                              is_stackable=True)["id"])
    now = utcnow()
    with as_merchant(app, tenant.merchant.id) as session:
        actor = Actor.system(tenant.merchant.id)
        service.redeem_coupons([lasting["id"], lapsing["id"]], order_id=9, key="settle-9", now=now, actor=actor)
        session.commit()
        result = service.restore_coupons(9, key="refund-9", now=now + timedelta(days=2), actor=actor)
        session.commit()
        assert [c.id for c in result.restored] == [lasting["id"]]
        assert [(n.coupon.id, n.reason) for n in result.not_restored] == [(lapsing["id"], rules.EXPIRED)]
    assert db.session.get(Coupon, lapsing["id"]).state is CouponStatus.REDEEMED
    assert _events(db, lapsing["id"]) == [CouponEventKind.ISSUE, CouponEventKind.REDEEM]


def test_an_expired_coupon_cannot_be_redeemed(app, make):
    tenant = make.tenant()
    member = create_member(make, tenant)
    coupon = issue_coupon(make, tenant, member["id"], create_coupon_template(make, tenant, valid_days=1)["id"])
    with as_merchant(app, tenant.merchant.id), pytest.raises(APIError) as error:
        actor = Actor.system(tenant.merchant.id)
        service.redeem_coupons([coupon["id"]], order_id=1, key=key(), now=utcnow() + timedelta(days=1), actor=actor)
    assert (error.value.code, error.value.error_code) == (409, "expired")


def test_the_same_redeem_in_two_threads_applies_once(app, make, db):
    tenant = make.tenant()
    member = create_member(make, tenant)
    coupon = issue_coupon(make, tenant, member["id"])
    merchant_id = tenant.merchant.id  # read here: ORM objects of this session stay in this thread
    now = utcnow()

    def redeem(_i):
        with as_merchant(app, merchant_id) as session:
            actor = Actor.system(merchant_id)
            try:
                coupons = service.redeem_coupons([coupon["id"]], order_id=31, key="settle-31", now=now, actor=actor)
                session.commit()
                return "redeemed", coupons[0].id
            except APIError as error:
                return error.error_code, None

    results, errors = _run_in_threads(redeem, 2)
    assert errors == []
    assert results == [("redeemed", coupon["id"])] * 2
    assert _events(db, coupon["id"]) == [CouponEventKind.ISSUE, CouponEventKind.REDEEM]


def test_two_orders_racing_for_one_coupon_get_it_once(app, make, db):
    tenant = make.tenant()
    member = create_member(make, tenant)
    coupon = issue_coupon(make, tenant, member["id"])
    merchant_id = tenant.merchant.id
    now = utcnow()

    def redeem(i):
        with as_merchant(app, merchant_id) as session:
            actor = Actor.system(merchant_id)
            try:
                service.redeem_coupons([coupon["id"]], order_id=100 + i, key=f"settle-{i}", now=now, actor=actor)
                session.commit()
                return "redeemed"
            except APIError as error:
                return error.error_code

    results, errors = _run_in_threads(redeem, 8)
    assert errors == []
    assert sorted(results) == ["not_active"] * 7 + ["redeemed"]
    assert _events(db, coupon["id"]).count(CouponEventKind.REDEEM) == 1


# --- expiry ----------------------------------------------------------------------------------

def test_the_expiry_job_expires_what_is_due_once(app, make, db):
    tenant = make.tenant()
    member = create_member(make, tenant)
    short = issue_coupon(make, tenant, member["id"], create_coupon_template(make, tenant, valid_days=1)["id"])
    long = issue_coupon(make, tenant, member["id"], create_coupon_template(make, tenant, valid_days=30)["id"])
    elsewhere = make.tenant()
    foreign = issue_coupon(make, elsewhere, create_member(make, elsewhere)["id"],
                           create_coupon_template(make, elsewhere, valid_days=1)["id"])
    later = utcnow() + timedelta(days=2)
    with as_merchant(app, tenant.merchant.id) as session:
        actor = Actor.system(tenant.merchant.id)
        assert service.expire_coupons(later, actor=actor) == 1
        session.commit()
        assert service.expire_coupons(later, actor=actor) == 0
        session.commit()
    db.session.rollback()
    states = {c.id: c.state for c in db.session.scalars(sa.select(Coupon))}
    assert states == {short["id"]: CouponStatus.EXPIRED, long["id"]: CouponStatus.ISSUED,
                      foreign["id"]: CouponStatus.ISSUED}
    assert _events(db, short["id"]) == [CouponEventKind.ISSUE, CouponEventKind.EXPIRE]
    api = make.api(tenant.owner)
    assert api.get(f"/coupons/{short['id']}").get_json()["state"] == "expired"
