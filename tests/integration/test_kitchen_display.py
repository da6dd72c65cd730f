"""The kitchen display page: login, store scoping, bump and recall with the CSRF token."""

import re
import uuid

from tests.factories import create_dish


def _login(client, username, password):
    html = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)
    client.post("/login", data={"username": username, "password": password, "csrf_token": token})


def test_kitchen_screen_needs_a_kitchen_login(make, client):
    assert client.get("/kitchen/").status_code == 302
    tenant = make.tenant()
    _login(client, tenant.owner.username, make.PASSWORD)
    page = client.get("/kitchen/")
    assert page.status_code == 200 and "kds" in page.get_data(as_text=True)


def test_bump_needs_csrf_and_works_with_it(make, client):
    tenant = make.tenant()
    cook = make.staff(tenant, "kitchen")
    dish = create_dish(make, tenant, "凉拌黄瓜", 1_800, station="cold")
    make.api(tenant.owner).post("/orders", json={"store_id": tenant.store.id, "idempotency_key": uuid.uuid4().hex,
                                                 "items": [{"dish_id": dish["id"], "qty": 1}]})
    _login(client, cook.username, make.PASSWORD)
    body = client.get(f"/kitchen/stores/{tenant.store.id}/tickets.json").get_json()
    (ticket,) = body["tickets"]
    assert client.post(f"/kitchen/tickets/{ticket['ticket_id']}/bump").status_code == 400
    html = client.get("/kitchen/").get_data(as_text=True)
    csrf = re.search(r'data-csrf="([^"]+)"', html).group(1)
    done = client.post(f"/kitchen/tickets/{ticket['ticket_id']}/bump", headers={"X-CSRFToken": csrf})
    assert done.status_code == 200 and done.get_json()["ticket"]["status"] == "bumped"
    assert client.get(f"/kitchen/stores/{tenant.store.id}/tickets.json").get_json()["tickets"] == []


def test_a_cook_sees_only_their_store(make, client):
    tenant = make.tenant()
    other = make.api(tenant.owner).post("/stores", json={"name": "二号店"}).get_json()
    cook = make.staff(tenant, "kitchen")
    _login(client, cook.username, make.PASSWORD)
    assert client.get(f"/kitchen/stores/{other['id']}/tickets.json").status_code == 404
    stranger = make.tenant()
    assert client.get(f"/kitchen/stores/{stranger.store.id}/tickets.json").status_code == 404
