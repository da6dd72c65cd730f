"""Adds and sends on one table's cart at the same moment: nobody gets a 5xx (no deadlock), and
every dish added either went to the kitchen with a send or is still in the cart."""

import threading
from collections import Counter

import sqlalchemy as sa

from app.orders.models import CartLine, Order, OrderLine
from tests.factories import create_dish

ROUNDS, ADDS = 25, 6


def test_concurrent_adds_and_sends_never_deadlock_and_lose_nothing(make, app, db):
    tenant = make.tenant()
    api = make.api(tenant.owner)
    table = api.post(f"/stores/{tenant.store.id}/tables", json={"code": "A01", "seats": 4}).get_json()
    dish = create_dish(make, tenant, "口味虾", 16_800)
    headers = {"Authorization": f"Bearer {api.token}"}
    cart = f"/api/v1/tables/{table['id']}/cart"
    answers: list[tuple[str, int, str | None]] = []
    added: list[str] = []

    def add(note: str, barrier: threading.Barrier) -> None:
        client = app.test_client()
        barrier.wait()
        r = client.post(f"{cart}/lines", json={"dish_id": dish["id"], "qty": 1, "note": note}, headers=headers)
        answers.append(("add", r.status_code, (r.get_json().get("error") or {}).get("code")))
        if r.status_code == 201:
            added.append(note)

    def send(barrier: threading.Barrier) -> None:
        client = app.test_client()
        barrier.wait()
        r = client.post(f"{cart}/send", headers=headers)
        answers.append(("send", r.status_code, (r.get_json().get("error") or {}).get("code")))

    for round_ in range(ROUNDS):
        barrier = threading.Barrier(ADDS + 1)
        threads = [threading.Thread(target=add, args=(f"r{round_}-{i}", barrier)) for i in range(ADDS)]
        threads.append(threading.Thread(target=send, args=(barrier,)))
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)

    assert [a for a in answers if a[1] >= 500] == []
    assert set(answers) <= {("add", 201, None), ("send", 200, None), ("send", 422, "cart_empty")}
    assert len(added) == ROUNDS * ADDS
    db.session.rollback()
    sent = db.session.scalars(sa.select(OrderLine.note).join(Order, Order.id == OrderLine.order_id)
                              .where(Order.table_id == table["id"])).all()
    waiting = [line["note"] for line in api.get(f"/tables/{table['id']}/cart").get_json()["lines"]]
    # Each add is in exactly one place: sent once, or still waiting in the cart.
    assert Counter(sent) + Counter(waiting) == Counter(added)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CartLine)) == len(waiting)
