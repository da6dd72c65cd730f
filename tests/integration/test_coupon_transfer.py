"""Passing a coupon to another member: the sender loses it, the receiver gains a linked new one."""

import threading
import uuid
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

from app.actor import Actor
from app.coupons import service
from app.coupons.models import Coupon, CouponEvent
from app.db import begin_write, utcnow
from app.errors import APIError
from tablerules import coupons as rules
from tests.factories import create_coupon_template, create_member, issue_coupon

WHOLE_BILL = [rules.CouponLine(line_id=1, dish_id=1, category_id=None, qty=1, amount_cents=10_000)]


def key() -> str:
    return uuid.uuid4().hex


@pytest.fixture
def shop(make):
    tenant = make.tenant()
    return tenant, make.api(tenant.owner)


@contextmanager
def as_merchant(app, merchant_id):
    from app.extensions import db

    with app.test_request_context():
        begin_write()
        try:
            yield db.session
        finally:
            db.session.rollback()


def _transferable(make, tenant, **fields):
    return create_coupon_template(make, tenant, is_transferable=True, **fields)


def _transfer(api, coupon_id, **body):
    return api.post(f"/coupons/{coupon_id}/transfer", json={"idempotency_key": key(), **body})


def test_a_transfer_moves_the_coupon_and_records_both_ends(app, shop, make):
    tenant, api = shop
    alice, bob = create_member(make, tenant), create_member(make, tenant)
    coupon = issue_coupon(make, tenant, alice["id"], _transferable(make, tenant)["id"])
    response = _transfer(api, coupon["id"], to_member_id=bob["id"])
    assert response.status_code == 201, response.get_json()
    sent, received = response.get_json()["sent"], response.get_json()["received"]
    assert (sent["id"], sent["state"], sent["member_id"]) == (coupon["id"], "transferred", alice["id"])
    assert (received["state"], received["member_id"], received["source"]) == ("issued", bob["id"], "transfer")
    assert sent["transferred_to_id"] == received["id"] and received["transferred_from_id"] == sent["id"]
    assert received["transfer_depth"] == 1 and received["code"] != sent["code"]
    assert received["expires_at"] == coupon["expires_at"]  # a transfer never extends validity

    sender_side = api.get(f"/coupons/{sent['id']}").get_json()["events"]
    receiver_side = api.get(f"/coupons/{received['id']}").get_json()["events"]
    assert [(e["kind"], e["member_id"]) for e in sender_side] == [("issue", alice["id"]),
                                                                  ("transfer_out", alice["id"])]
    assert [(e["kind"], e["member_id"]) for e in receiver_side] == [("transfer_in", bob["id"])]
    assert [c["id"] for c in api.get(f"/members/{bob['id']}/coupons?state=issued").get_json()["coupons"]] == [
        received["id"]]

    now = utcnow()
    with as_merchant(app, tenant.merchant.id):
        actor = Actor.system(tenant.merchant.id)
        (old,) = service.coupons_for_bill(alice["id"], [sent["id"]], now, actor=actor)
        assert old.state is rules.CouponState.TRANSFERRED
        assert rules.eligibility(old, alice["id"], WHOLE_BILL, now) == rules.Refused(rules.NOT_ACTIVE)
        (new,) = service.coupons_for_bill(bob["id"], [received["id"]], now, actor=actor)
        assert rules.eligibility(new, bob["id"], WHOLE_BILL, now)
        with pytest.raises(APIError) as error:  # it is no longer the sender's to bring to a bill
            service.coupons_for_bill(alice["id"], [received["id"]], now, actor=actor)
        assert error.value.code == 404


def test_a_transfer_by_phone(shop, make):
    tenant, api = shop
    alice, bob = create_member(make, tenant), create_member(make, tenant, phone="13912345678")
    coupon = issue_coupon(make, tenant, alice["id"], _transferable(make, tenant)["id"])
    response = _transfer(api, coupon["id"], to_phone="13912345678")
    assert response.status_code == 201 and response.get_json()["received"]["member_id"] == bob["id"]
    unknown = _transfer(api, response.get_json()["received"]["id"], to_phone="13000000000")
    assert unknown.status_code == 404


def test_a_non_transferable_coupon_is_refused(shop, make):
    tenant, api = shop
    alice, bob = create_member(make, tenant), create_member(make, tenant)
    coupon = issue_coupon(make, tenant, alice["id"], create_coupon_template(make, tenant)["id"])
    response = _transfer(api, coupon["id"], to_member_id=bob["id"])
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "not_transferable"
    assert api.get(f"/coupons/{coupon['id']}").get_json()["state"] == "issued"
    assert api.get(f"/members/{bob['id']}/coupons").get_json()["coupons"] == []


def test_the_chain_limit(shop, make):
    tenant, api = shop
    alice, bob, carol, dave = (create_member(make, tenant) for _ in range(4))
    coupon = issue_coupon(make, tenant, alice["id"], _transferable(make, tenant, max_transfer_chain=2)["id"])
    first = _transfer(api, coupon["id"], to_member_id=bob["id"]).get_json()["received"]
    second = _transfer(api, first["id"], to_member_id=carol["id"])
    assert second.status_code == 201 and second.get_json()["received"]["transfer_depth"] == 2
    third = _transfer(api, second.get_json()["received"]["id"], to_member_id=dave["id"])
    assert third.status_code == 409 and third.get_json()["error"]["code"] == "chain_limit"
    never = issue_coupon(make, tenant, alice["id"], _transferable(make, tenant, max_transfer_chain=0)["id"])
    response = _transfer(api, never["id"], to_member_id=bob["id"])
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "chain_limit"


def test_a_coupon_is_passed_on_once_and_not_to_its_holder(shop, make):
    tenant, api = shop
    alice, bob, carol = (create_member(make, tenant) for _ in range(3))
    coupon = issue_coupon(make, tenant, alice["id"], _transferable(make, tenant)["id"])
    same = _transfer(api, coupon["id"], to_member_id=alice["id"])
    assert same.status_code == 422 and same.get_json()["error"]["code"] == "same_member"
    assert _transfer(api, coupon["id"], to_member_id=bob["id"]).status_code == 201
    again = _transfer(api, coupon["id"], to_member_id=carol["id"])
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "not_active"


def test_exactly_one_receiver_must_be_named(shop, make):
    tenant, api = shop
    alice, bob = create_member(make, tenant), create_member(make, tenant)
    coupon = issue_coupon(make, tenant, alice["id"], _transferable(make, tenant)["id"])
    for body in ({}, {"to_member_id": bob["id"], "to_phone": bob["phone"]}):
        response = _transfer(api, coupon["id"], **body)
        assert response.status_code == 422 and response.get_json()["error"]["code"] == "one_receiver"


def test_another_merchants_member_is_404(shop, make):
    tenant, api = shop
    alice = create_member(make, tenant)
    elsewhere = make.tenant()
    stranger = create_member(make, elsewhere, phone="13700000001")
    coupon = issue_coupon(make, tenant, alice["id"], _transferable(make, tenant)["id"])
    assert _transfer(api, coupon["id"], to_member_id=stranger["id"]).status_code == 404
    assert _transfer(api, coupon["id"], to_phone="13700000001").status_code == 404
    assert api.get(f"/coupons/{coupon['id']}").get_json()["state"] == "issued"


def test_received_coupons_do_not_count_toward_the_limit_but_given_ones_still_do(shop, make):
    tenant, api = shop
    alice, bob = create_member(make, tenant), create_member(make, tenant)
    template = _transferable(make, tenant, per_member_limit=1)
    issue_coupon(make, tenant, bob["id"], template["id"])
    coupon = issue_coupon(make, tenant, alice["id"], template["id"])
    assert _transfer(api, coupon["id"], to_member_id=bob["id"]).status_code == 201
    assert len(api.get(f"/members/{bob['id']}/coupons?state=issued").get_json()["coupons"]) == 2
    again = api.post(f"/members/{alice['id']}/coupons", json={"template_id": template["id"], "idempotency_key": key()})
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "per_member_limit"


def test_transfer_replay_returns_the_first_answer(shop, make):
    tenant, api = shop
    alice, bob = create_member(make, tenant), create_member(make, tenant)
    coupon = issue_coupon(make, tenant, alice["id"], _transferable(make, tenant)["id"])
    body = {"to_member_id": bob["id"], "idempotency_key": key()}
    first = api.post(f"/coupons/{coupon['id']}/transfer", json=body)
    second = api.post(f"/coupons/{coupon['id']}/transfer", json=body)
    assert (second.status_code, second.get_json()) == (first.status_code, first.get_json())
    assert len(api.get(f"/members/{bob['id']}/coupons").get_json()["coupons"]) == 1


def test_the_service_replays_a_transfer_by_key(app, make):
    tenant = make.tenant()
    alice, bob = create_member(make, tenant), create_member(make, tenant)
    coupon = issue_coupon(make, tenant, alice["id"], _transferable(make, tenant)["id"])
    now = utcnow()
    with as_merchant(app, tenant.merchant.id) as session:
        actor = Actor.system(tenant.merchant.id)
        sent, received = service.transfer_coupon(coupon["id"], alice["id"], bob["id"], key="gift-1", now=now,
                                                 actor=actor)
        session.commit()
        pair = (sent.id, received.id)
        sent, received = service.transfer_coupon(coupon["id"], alice["id"], bob["id"], key="gift-1", now=now,
                                                 actor=actor)
        assert (sent.id, received.id) == pair
        assert session.scalar(sa.select(sa.func.count()).select_from(CouponEvent)) == 3


@pytest.mark.parametrize("same_key", [True, False])
def test_concurrent_transfers_of_one_coupon_make_one_receiver(app, make, db, same_key):
    tenant = make.tenant()
    alice = create_member(make, tenant)
    receivers = [create_member(make, tenant)["id"] for _ in range(6)]
    coupon = issue_coupon(make, tenant, alice["id"], _transferable(make, tenant)["id"])
    token = make.token(tenant.owner)
    shared_key = key()

    def transfer(i):
        body = ({"to_member_id": receivers[0], "idempotency_key": shared_key} if same_key
                else {"to_member_id": receivers[i], "idempotency_key": f"race-{i:05d}"})
        response = app.test_client().post(f"/api/v1/coupons/{coupon['id']}/transfer", json=body,
                                          headers={"Authorization": f"Bearer {token}"})
        return response.status_code, response.get_json()

    barrier = threading.Barrier(len(receivers))
    results = []

    def run(i):
        barrier.wait()
        results.append(transfer(i))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(receivers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    statuses = sorted(status for status, _ in results)
    if same_key:
        assert statuses == [201] * len(receivers)
        assert len({str(body) for _, body in results}) == 1
    else:
        assert statuses == [201] + [409] * (len(receivers) - 1)
        assert {body["error"]["code"] for status, body in results if status == 409} == {"not_active"}
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Coupon)) == 2
