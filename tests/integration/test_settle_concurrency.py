"""Settlement under concurrency: stored value never overdrawn, a key applied once."""

import threading
import uuid

import sqlalchemy as sa

from app.members.models import LedgerEntry, Member
from app.orders.models import Payment
from tests.factories import create_dish, create_member


def _threads(count, target):
    barrier = threading.Barrier(count)
    results = []

    def run(i):
        barrier.wait()
        results.append(target(i))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=180)
    return results


def _setup(make, orders: int):
    tenant = make.tenant()
    api = make.api(tenant.owner)
    dish = create_dish(make, tenant, "蛋炒饭", 1_000)
    member = create_member(make, tenant)
    api.post(f"/members/{member['id']}/topups", json={"amount_cents": 10_000, "tender": "cash",
                                                       "idempotency_key": uuid.uuid4().hex})
    ids = []
    for _ in range(orders):
        response = api.post("/orders", json={"store_id": tenant.store.id, "idempotency_key": uuid.uuid4().hex,
                                             "items": [{"dish_id": dish["id"], "qty": 1}]})
        ids.append(response.get_json()["id"])
    return tenant, api, member, ids


def test_fifty_concurrent_settles_never_overdraw_stored_value(make, app, db):
    tenant, api, member, order_ids = _setup(make, 50)
    token = api.token

    def settle(i):
        response = app.test_client().post(f"/api/v1/orders/{order_ids[i]}/settle", json={
            "member_id": member["id"], "tenders": [{"type": "stored_value", "amount_cents": 1_000}],
            "idempotency_key": f"settle-{i}-{uuid.uuid4().hex}"}, headers={"Authorization": f"Bearer {token}"})
        return response.status_code, (response.get_json().get("error") or {}).get("code")

    results = _threads(50, settle)
    assert sorted(set(results)) == [(200, None), (409, "insufficient_balance")]
    assert results.count((200, None)) == 10  # 100 yuan of stored value, 10 yuan each
    db.session.rollback()
    fresh = db.session.get(Member, member["id"])
    assert fresh.principal_cents == 0
    total = db.session.scalar(sa.select(sa.func.sum(LedgerEntry.delta)).where(LedgerEntry.member_id == member["id"],
                                                                             LedgerEntry.account == 1))
    assert total == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Payment)) == 10


def test_the_same_settle_sent_concurrently_applies_once(make, app, db):
    tenant, api, member, (order_id,) = _setup(make, 1)
    body = {"member_id": member["id"], "tenders": [{"type": "stored_value", "amount_cents": 1_000}],
            "idempotency_key": uuid.uuid4().hex}
    token = api.token

    def settle(_i):
        response = app.test_client().post(f"/api/v1/orders/{order_id}/settle", json=body,
                                          headers={"Authorization": f"Bearer {token}"})
        return response.status_code, response.get_data(as_text=True)

    results = _threads(10, settle)
    assert len(set(results)) == 1 and results[0][0] == 200
    db.session.rollback()
    assert db.session.get(Member, member["id"]).principal_cents == 9_000
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Payment)) == 1
