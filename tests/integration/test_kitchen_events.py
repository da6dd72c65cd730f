"""The store event log: tickets on the log, bump/recall, and the live SSE stream with resume."""

import json
import threading
import uuid

import pytest

from tests.factories import create_dish


@pytest.fixture
def kitchen(make):
    tenant = make.tenant()
    api = make.api(tenant.owner)
    dishes = [create_dish(make, tenant, "辣椒炒肉", 4_800, station="hot"),
              create_dish(make, tenant, "凉拌木耳", 2_200, category="凉菜", station="cold")]
    return tenant, api, dishes


def _order(api, tenant, dishes, qty=1):
    response = api.post("/orders", json={"store_id": tenant.store.id, "idempotency_key": uuid.uuid4().hex,
                                         "items": [{"dish_id": d["id"], "qty": qty} for d in dishes]})
    assert response.status_code == 201
    return response.get_json()


def _read_sse(response, count, timeout=10.0):
    """Read `count` events from a streaming response; fail instead of hanging."""
    events, buffer = [], ""
    found = threading.Event()

    def pump():
        nonlocal buffer
        for chunk in response.response:
            buffer += chunk.decode() if isinstance(chunk, bytes) else chunk
            while "\n\n" in buffer:
                block, buffer = buffer.split("\n\n", 1)
                fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line and
                              not line.startswith(":"))
                if "data" in fields:
                    events.append((int(fields["id"]), fields["event"], json.loads(fields["data"])))
                    if len(events) >= count:
                        found.set()
                        return

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    assert found.wait(timeout), f"only {len(events)} events arrived"
    return events


def test_an_order_puts_one_ticket_per_station_on_the_log(kitchen):
    tenant, api, dishes = kitchen
    order = _order(api, tenant, dishes)
    events = api.get(f"/stores/{tenant.store.id}/events", query_string={"kinds": "ticket_new"}).get_json()
    stations = sorted(e["payload"]["station"] for e in events["events"])
    assert stations == ["cold", "hot"]
    assert all(e["order_id"] == order["id"] for e in events["events"])
    tickets = api.get(f"/stores/{tenant.store.id}/tickets").get_json()["tickets"]
    assert len(tickets) == 2 and all(t["status"] == "open" for t in tickets)


def test_bump_and_recall(kitchen, make):
    tenant, api, dishes = kitchen
    _order(api, tenant, dishes[:1])
    cook = make.api(make.staff(tenant, "kitchen"))
    ticket = cook.get(f"/stores/{tenant.store.id}/tickets").get_json()["tickets"][0]
    bumped = cook.post(f"/tickets/{ticket['ticket_id']}/bump")
    assert bumped.status_code == 200 and bumped.get_json()["items"][0]["status"] == "done"
    assert cook.get(f"/stores/{tenant.store.id}/tickets").get_json()["tickets"] == []
    assert cook.post(f"/tickets/{ticket['ticket_id']}/bump").status_code == 409
    recalled = cook.post(f"/tickets/{ticket['ticket_id']}/recall").get_json()
    assert recalled["status"] == "open" and recalled["items"][0]["status"] == "cooking"
    kinds = [e["kind"] for e in cook.get(f"/stores/{tenant.store.id}/events").get_json()["events"]
             if e["kind"].startswith("ticket_")]
    assert kinds == ["ticket_new", "ticket_bumped", "ticket_recalled"]


def test_seq_is_gap_free_per_store(kitchen, make):
    tenant, api, dishes = kitchen
    for _ in range(3):
        _order(api, tenant, dishes)
    other = make.tenant()
    other_dish = create_dish(make, other, "米饭", 200)
    _order(make.api(other.owner), other, [other_dish])
    events = api.get(f"/stores/{tenant.store.id}/events").get_json()["events"]
    seqs = [e["seq"] for e in events]
    assert seqs == list(range(1, len(seqs) + 1))
    assert sum(e["kind"] == "ticket_new" for e in events) == 6


def test_an_order_sent_shows_on_the_stream(kitchen, app):
    tenant, api, dishes = kitchen
    client = app.test_client()
    response = client.get(f"/api/v1/stores/{tenant.store.id}/events/stream?kinds=ticket_new",
                          headers={"Authorization": f"Bearer {api.token}"}, buffered=False)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    assert response.headers["X-Accel-Buffering"] == "no"
    order = _order(api, tenant, dishes[:1])
    (seq, kind, data), = _read_sse(response, 1)
    assert kind == "ticket_new" and data["order_id"] == order["id"]
    assert data["payload"]["items"][0]["name"] == "辣椒炒肉"
    response.close()


def test_reconnect_with_last_event_id_replays_exactly_the_missed_events(kitchen, app):
    tenant, api, dishes = kitchen
    _order(api, tenant, dishes)  # seq 1, 2
    client = app.test_client()
    first = client.get(f"/api/v1/stores/{tenant.store.id}/events/stream",
                       headers={"Authorization": f"Bearer {api.token}"}, buffered=False)
    seen = _read_sse(first, 2)
    first.close()
    assert [seq for seq, _, _ in seen] == [1, 2]
    _order(api, tenant, dishes)  # seq 3, 4: missed while disconnected
    _order(api, tenant, dishes[:1])  # seq 5
    again = client.get(f"/api/v1/stores/{tenant.store.id}/events/stream",
                       headers={"Authorization": f"Bearer {api.token}", "Last-Event-ID": "2"}, buffered=False)
    replay = _read_sse(again, 3)
    again.close()
    assert [seq for seq, _, _ in replay] == [3, 4, 5]


def test_the_stream_accepts_a_token_in_the_query_for_eventsource(kitchen, app):
    tenant, api, _ = kitchen
    response = app.test_client().get(f"/api/v1/stores/{tenant.store.id}/events/stream?access_token={api.token}",
                                     buffered=False)
    assert response.status_code == 200
    response.close()
    assert app.test_client().get(f"/api/v1/stores/{tenant.store.id}/events/stream").status_code == 401


def test_a_cashier_of_another_store_cannot_read_this_stores_events(kitchen, make):
    tenant, api, _ = kitchen
    other_store = api.post("/stores", json={"name": "分店"}).get_json()
    cashier = make.api(make.staff(tenant, "cashier"))
    assert cashier.get(f"/stores/{other_store['id']}/events").status_code == 404
    assert cashier.get(f"/stores/{tenant.store.id}/events").status_code == 200
