"""The kitchen floor: stations by the store's names, a dish or a ticket bumped and recalled (the
recall list kept by the server, so it survives a reload), the all-day counts, and the diners'
waiter calls acknowledged by staff."""

import re
import uuid

import pytest
import sqlalchemy as sa

from app.events.models import EventKind, StoreEvent, WaiterCallAck
from tests.factories import create_dish, create_table


def _login(client, username, password, next_path=None):
    html = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)
    url = f"/login?next={next_path}" if next_path else "/login"
    return client.post(url, data={"username": username, "password": password, "csrf_token": token})


class Screen:
    """A kitchen screen's browser: the page's CSRF token, its JSON and its buttons."""

    def __init__(self, client, store_id):
        self.client, self.store_id = client, store_id
        html = client.get("/kitchen/").get_data(as_text=True)
        self.csrf = re.search(r'data-csrf="([^"]+)"', html).group(1)

    def state(self, station=""):
        response = self.client.get(f"/kitchen/stores/{self.store_id}/tickets.json",
                                   query_string={"station": station} if station else None)
        assert response.status_code == 200
        return response.get_json()

    def post(self, path):
        return self.client.post(path, headers={"X-CSRFToken": self.csrf, "Accept": "application/json"})

    def bump_item(self, line_id):
        return self.post(f"/kitchen/items/{line_id}/bump")

    def recall_item(self, line_id):
        return self.post(f"/kitchen/items/{line_id}/recall")

    def ticket(self, ticket_id, action):
        return self.post(f"/kitchen/tickets/{ticket_id}/{action}")

    def ack(self, seq, store_id=None):
        return self.post(f"/kitchen/stores/{store_id or self.store_id}/waiter-calls/{seq}/ack")


@pytest.fixture
def kitchen(make, client):
    tenant = make.tenant()
    cook = make.staff(tenant, "kitchen")
    api = make.api(tenant.owner)
    dishes = {
        "辣椒炒肉": create_dish(make, tenant, "辣椒炒肉", 4_200, station="hot"),
        "剁椒鱼头": create_dish(make, tenant, "剁椒鱼头", 12_800, station="hot"),
        "凉拌黄瓜": create_dish(make, tenant, "凉拌黄瓜", 1_600, station="cold", category="凉菜"),
    }
    assert _put(api, "/menu/stations/hot", {"name": "热菜", "name_en": "Hot kitchen"}).status_code == 200
    assert _put(api, "/menu/stations/cold", {"name": "凉菜", "sort_order": 2}).status_code == 200
    _login(client, cook.username, make.PASSWORD)

    def order(*items):
        body = api.post("/orders", json={"store_id": tenant.store.id, "idempotency_key": uuid.uuid4().hex,
                                         "items": [{"dish_id": dishes[name]["id"], "qty": qty} for name, qty in items]})
        assert body.status_code == 201, body.get_json()
        return body.get_json()

    return tenant, api, Screen(client, tenant.store.id), order


def _put(api, path, body):
    return api.request("PUT", path, json=body)


def _by_station(state, station):
    return [t for t in state["tickets"] if t["station"] == station]


def _events(make, store_id, kind):
    return make.db.session.scalars(sa.select(StoreEvent).where(StoreEvent.store_id == store_id,
                                                               StoreEvent.kind == kind).order_by(StoreEvent.seq)).all()


def test_stations_are_named_by_the_store_and_shown_by_name(kitchen, make, client):
    tenant, api, screen, order = kitchen
    listed = api.get("/menu/stations").get_json()["stations"]
    assert [(s["code"], s["name"], s["is_named"]) for s in listed] == [("hot", "热菜", True), ("cold", "凉菜", True)]
    # A renamed station keeps its code; a code used by a dish but never named is listed as itself.
    assert _put(api, "/menu/stations/hot", {"name": "炒锅", "name_en": "Wok"}).get_json()["name"] == "炒锅"
    create_dish(make, tenant, "柠檬茶", 1_200, station="bar", category="饮品")
    listed = {s["code"]: s for s in api.get("/menu/stations").get_json()["stations"]}
    assert listed["hot"]["name"] == "炒锅" and listed["bar"] == {"code": "bar", "name": "bar", "name_en": "",
                                                                "sort_order": 0, "is_named": False, "dishes": 1}
    bad = _put(api, "/menu/stations/Hot Kitchen", {"name": "热菜"})
    assert bad.status_code == 422 and bad.get_json()["error"]["code"] == "bad_station_code"
    assert _put(api, "/menu/stations/hot", {"name": ""}).status_code == 422
    cook_api = make.api(make.staff(tenant, "kitchen"))
    assert _put(cook_api, "/menu/stations/hot", {"name": "热菜"}).status_code == 403
    # Another merchant's names are its own.
    stranger = make.api(make.tenant().owner)
    assert stranger.get("/menu/stations").get_json()["stations"] == []

    order(("辣椒炒肉", 1), ("凉拌黄瓜", 1))
    html = client.get("/kitchen/").get_data(as_text=True)
    assert ">炒锅</a>" in html and ">凉菜</a>" in html and ">hot</a>" not in html
    state = screen.state()
    hot = _by_station(state, "hot")[0]
    assert [i["station_name"] for i in hot["items"]] == ["炒锅"]  # the printed ticket names it too
    english = client.get("/lang/en?next=/kitchen/")
    assert english.status_code == 302
    assert ">Wok</a>" in client.get("/kitchen/").get_data(as_text=True)


def test_kitchen_staff_land_on_their_display(make, client):
    tenant = make.tenant()
    cook = make.staff(tenant, "kitchen")
    landed = _login(client, cook.username, make.PASSWORD)
    assert landed.status_code == 302 and landed.headers["Location"].endswith("/kitchen/")
    home = client.get("/manage/")
    assert home.status_code == 302 and home.headers["Location"].endswith("/kitchen/")
    # A manager still lands on the manager home, which links the display.
    client.post("/logout", data={"csrf_token": Screen(client, tenant.store.id).csrf})
    manager = make.staff(tenant, "manager")
    assert _login(client, manager.username, make.PASSWORD).headers["Location"].endswith("/manage/")
    assert "/kitchen/" in client.get("/manage/").get_data(as_text=True)


def test_a_dish_then_the_ticket_bumped_and_recalled(kitchen, make):
    tenant, api, screen, order = kitchen
    placed = order(("辣椒炒肉", 2), ("剁椒鱼头", 1))
    (ticket,) = _by_station(screen.state(), "hot")
    pork, fish = ticket["items"]
    assert screen.client.post(f"/kitchen/items/{pork['line_id']}/bump").status_code == 400  # no CSRF token

    done = screen.bump_item(pork["line_id"])
    assert done.status_code == 200
    body = done.get_json()["ticket"]
    assert body["status"] == "open" and [i["status"] for i in body["items"]] == ["done", "confirmed"]
    assert screen.state()["all_day"] == [{"name": "剁椒鱼头", "qty": 1, "tickets": 1}]
    again = screen.bump_item(pork["line_id"])
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "line_state_conflict"

    # The dish back to cooking, then both done: the last dish bumps the ticket.
    assert screen.recall_item(pork["line_id"]).get_json()["ticket"]["items"][0]["status"] == "cooking"
    screen.bump_item(pork["line_id"])
    last = screen.bump_item(fish["line_id"]).get_json()["ticket"]
    assert last["status"] == "bumped"
    state = screen.state()
    assert state["tickets"] == [] or _by_station(state, "hot") == []
    assert [t["ticket_id"] for t in state["bumped"]] == [ticket["ticket_id"]]

    # Recalling one dish of the bumped ticket brings the ticket back with that dish to cook.
    back = screen.recall_item(fish["line_id"]).get_json()["ticket"]
    assert back["status"] == "open" and [i["status"] for i in back["items"]] == ["done", "cooking"]
    # The whole ticket bumped leaves the dish already done as it is.
    assert screen.ticket(ticket["ticket_id"], "bump").get_json()["ticket"]["status"] == "bumped"
    kinds = [e.kind for e in make.db.session.scalars(sa.select(StoreEvent).where(
        StoreEvent.order_id == placed["id"]).order_by(StoreEvent.seq))]
    bumped, recalled = EventKind.TICKET_BUMPED, EventKind.TICKET_RECALLED
    # Bumps and recalls only: nothing of this goes to the printers (no ticket_changed).
    assert kinds == [EventKind.TICKET_NEW, bumped, recalled, bumped, bumped, recalled, bumped]


def test_the_recall_list_survives_a_reload_and_is_the_servers(kitchen, make, app):
    tenant, api, screen, order = kitchen
    order(("辣椒炒肉", 1))
    order(("剁椒鱼头", 1))
    first, second = _by_station(screen.state(), "hot")
    screen.ticket(first["ticket_id"], "bump")
    screen.ticket(second["ticket_id"], "bump")
    # Another screen (a reload, a new browser) of the same store sees the same recall list.
    other = app.test_client()
    _login(other, make.staff(tenant, "kitchen").username, make.PASSWORD)
    reloaded = Screen(other, tenant.store.id)
    assert [t["ticket_id"] for t in reloaded.state()["bumped"]] == [second["ticket_id"], first["ticket_id"]]
    assert [t["ticket_id"] for t in reloaded.state("cold")["bumped"]] == []
    recalled = reloaded.ticket(second["ticket_id"], "recall")
    assert recalled.status_code == 200
    state = screen.state()
    assert [t["ticket_id"] for t in state["tickets"]] == [second["ticket_id"]]
    assert [t["ticket_id"] for t in state["bumped"]] == [first["ticket_id"]]
    assert screen.ticket(second["ticket_id"], "recall").status_code == 409


def test_all_day_counts_sum_what_is_still_to_cook(kitchen, make):
    tenant, api, screen, order = kitchen
    one = order(("辣椒炒肉", 2), ("凉拌黄瓜", 1))
    order(("辣椒炒肉", 1), ("剁椒鱼头", 1))
    three = order(("辣椒炒肉", 4), ("凉拌黄瓜", 2))
    state = screen.state()
    assert state["all_day"] == [{"name": "辣椒炒肉", "qty": 7, "tickets": 3},
                                {"name": "凉拌黄瓜", "qty": 3, "tickets": 2},
                                {"name": "剁椒鱼头", "qty": 1, "tickets": 1}]
    assert screen.state("cold")["all_day"] == [{"name": "凉拌黄瓜", "qty": 3, "tickets": 2}]
    # A dish voided (退菜), a dish bumped and a ticket bumped count no more.
    line = next(line for line in three["items"] if line["name"] == "辣椒炒肉")
    assert api.post(f"/orders/{three['id']}/lines/{line['id']}/void", json={"reason": "客人不要了"}).status_code == 200
    cold = _by_station(screen.state(), "cold")
    screen.bump_item(next(t for t in cold if t["order_id"] == one["id"])["items"][0]["line_id"])
    hot_two = next(t for t in _by_station(screen.state(), "hot") if t["order_id"] != one["id"]
                   and t["order_id"] != three["id"])
    screen.ticket(hot_two["ticket_id"], "bump")
    state = screen.state()
    assert state["all_day"] == [{"name": "凉拌黄瓜", "qty": 2, "tickets": 1},
                                {"name": "辣椒炒肉", "qty": 2, "tickets": 1}]
    voided = next(t for t in state["tickets"] if t["order_id"] == three["id"] and t["station"] == "hot")
    assert [i["status"] for i in voided["items"]] == ["cancelled"]  # shown struck through as 退 after a reload


def test_a_waiter_call_is_shown_until_staff_acknowledge_it(kitchen, make, app):
    tenant, api, screen, order = kitchen
    a01, a02 = create_table(make, tenant, "A01"), create_table(make, tenant, "A02")
    for table in (a01, a02):
        phone = app.test_client()
        token = table["qr_url"].rsplit("/t/", 1)[1]
        html = phone.get(f"/t/{token}").get_data(as_text=True)
        csrf = re.search(r'data-csrf="([^"]+)"', html).group(1)
        called = phone.post(f"/t/{token}/call-waiter", headers={"X-CSRFToken": csrf, "Accept": "application/json"},
                            json={})
        assert called.status_code in (200, 201, 202), called.get_data(as_text=True)
    calls = screen.state()["waiter_calls"]
    assert [c["table"] for c in calls] == ["A01", "A02"] and all(c["at"] for c in calls)
    # The till reads the same through the API.
    assert [c["seq"] for c in api.get(f"/stores/{tenant.store.id}/waiter-calls").get_json()["calls"]] == \
        [c["seq"] for c in calls]

    first = screen.ack(calls[0]["seq"])
    assert first.status_code == 200 and first.get_json()["ack"]["table"] == "A01"
    # A second press (another screen, a double tap, the till) answers the same acknowledgement.
    twice = api.post(f"/stores/{tenant.store.id}/waiter-calls/{calls[0]['seq']}/ack")
    assert twice.status_code == 200 and twice.get_json()["acked_at"] == first.get_json()["ack"]["acked_at"]
    assert len(_events(make, tenant.store.id, EventKind.WAITER_ACKED)) == 1
    ack = make.db.session.scalars(sa.select(WaiterCallAck)).one()
    assert ack.acked_by_id is not None and ack.call_seq == calls[0]["seq"]
    # A reload does not bring the acknowledged call back; the other stays until it is acknowledged.
    assert [c["table"] for c in screen.state()["waiter_calls"]] == ["A02"]
    api.post(f"/stores/{tenant.store.id}/waiter-calls/{calls[1]['seq']}/ack")
    assert screen.state()["waiter_calls"] == []

    # Only a waiter call of this store can be acknowledged.
    ticket_event = order(("辣椒炒肉", 1))
    new = _events(make, tenant.store.id, EventKind.TICKET_NEW)[-1]
    assert new.order_id == ticket_event["id"]
    assert screen.ack(new.seq).status_code == 404
    assert screen.ack(10**12).status_code == 404
    stranger = make.tenant()
    assert screen.ack(calls[1]["seq"], store_id=stranger.store.id).status_code == 404
    assert make.api(stranger.owner).post(
        f"/stores/{tenant.store.id}/waiter-calls/{calls[1]['seq']}/ack").status_code == 404
