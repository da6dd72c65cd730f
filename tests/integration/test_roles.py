"""Role checks over every API route: a role without the permission gets 403, one with it never does."""

import pytest

from app.auth.permissions import GRANTS, MONEY_PERMISSIONS, Role
from tests.routes import api_routes

UNKNOWN_ID = 2**31 - 1


def test_every_api_route_declares_a_permission(app):
    undeclared = [r.endpoint for r in api_routes(app) if not r.is_public and r.permission is None]
    assert undeclared == []


@pytest.mark.parametrize("role", ["owner", "manager", "cashier", "kitchen"])
def test_role_matrix_over_every_route(make, role):
    tenant = make.tenant()
    staff = tenant.owner if role == "owner" else make.staff(tenant, role)
    api = make.api(staff)
    checked = 0
    for route in api_routes(make.client.application):
        if route.is_public or route.endpoint == "auth.revoke_token":
            continue
        url = route.url(**{arg: UNKNOWN_ID for arg in route.id_args})
        response = api.request(route.method, url, json={})
        allowed = route.permission in GRANTS[Role.from_label(role)]
        assert (response.status_code == 403) != allowed, (route.endpoint, route.method, response.get_json())
        checked += 1
    assert checked > 10


def test_cashier_cannot_create_staff(make):
    tenant = make.tenant()
    response = make.api(make.staff(tenant, "cashier")).post(
        "/staff", json={"username": "newbie", "password": "password123", "role": "cashier",
                        "store_id": tenant.store.id})
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "forbidden"


def test_manager_cannot_create_an_owner_but_owner_can_create_a_manager(make):
    tenant = make.tenant()
    manager_api = make.api(make.staff(tenant, "manager"))
    body = {"username": "boss2", "password": "password123", "role": "owner"}
    assert manager_api.post("/staff", json=body).status_code == 403
    body = {"username": "mgr2", "password": "password123", "role": "manager"}
    assert make.api(tenant.owner).post("/staff", json=body).status_code == 201


def test_kitchen_cannot_touch_money(make):
    assert not GRANTS[Role.KITCHEN] & MONEY_PERMISSIONS
    tenant = make.tenant()
    api = make.api(make.staff(tenant, "kitchen"))
    for route in api_routes(make.client.application):
        if route.permission in MONEY_PERMISSIONS:
            url = route.url(**{arg: UNKNOWN_ID for arg in route.id_args})
            assert api.request(route.method, url, json={}).status_code == 403, route.endpoint


def test_store_bound_roles_need_a_store(make):
    tenant = make.tenant()
    response = make.api(tenant.owner).post("/staff", json={"username": "cook9", "password": "password123",
                                                           "role": "kitchen"})
    assert response.status_code == 422
    assert "store_id" in response.get_json()["error"]["details"]["fields"]
