"""Test data built through the real services, and an API client that carries a bearer token."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

_counter = itertools.count(1)


@dataclass
class Tenant:
    merchant: Any
    store: Any
    owner: Any


class ApiClient:
    """`api.get("/members/1")` → response, with the token and the /api/v1 prefix added."""

    def __init__(self, client, token: str | None) -> None:
        self.client = client
        self.token = token

    def _headers(self, extra: dict | None) -> dict:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        headers.update(extra or {})
        return headers

    def request(self, method: str, path: str, *, json: Any = None, headers: dict | None = None, **kwargs):
        url = path if path.startswith("/api") else f"/api/v1{path}"
        return self.client.open(url, method=method, json=json, headers=self._headers(headers), **kwargs)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, json=None, **kw):
        return self.request("POST", path, json=json, **kw)

    def patch(self, path, json=None, **kw):
        return self.request("PATCH", path, json=json, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)


class Factory:
    PASSWORD = "password123"

    def __init__(self, db, client) -> None:
        self.db = db
        self.client = client

    def tenant(self, name: str | None = None) -> Tenant:
        from app.onboarding import create_tenant

        n = next(_counter)
        merchant, store, owner = create_tenant(merchant_name=name or f"商户{n}",
                                               owner_username=f"owner{n}", password=self.PASSWORD)
        self.db.session.commit()
        return Tenant(merchant, store, owner)

    def staff(self, tenant: Tenant, role: str, *, store=None, active: bool = True):
        from app.auth.permissions import Role
        from app.auth.service import create_staff

        role_enum = Role.from_label(role)
        store_id = (store or tenant.store).id if role in {"cashier", "kitchen"} else None
        staff = create_staff(None, merchant_id=tenant.merchant.id, username=f"{role}{next(_counter)}",
                             password=self.PASSWORD, role=role_enum, store_id=store_id)
        staff.is_active = active
        self.db.session.commit()
        return staff

    def token(self, staff) -> str:
        response = self.client.post("/api/v1/auth/token",
                                    json={"username": staff.username, "password": self.PASSWORD})
        assert response.status_code == 200, response.get_json()
        return response.get_json()["token"]

    def api(self, staff=None, token: str | None = None) -> ApiClient:
        return ApiClient(self.client, token or (self.token(staff) if staff is not None else None))

    def device(self, tenant: Tenant, name: str = "till-1") -> tuple[Any, str]:
        response = self.api(tenant.owner).post("/devices", json={"store_id": tenant.store.id, "name": name})
        assert response.status_code == 201, response.get_json()
        body = response.get_json()
        from app.auth.models import Device

        return self.db.session.get(Device, body["id"]), body["token"]


def create_member(make: Factory, tenant: Tenant, phone: str | None = None, name: str = "张三"):
    """A member through the API, as the till creates one; returns the response body."""
    api = make.api(tenant.owner)
    response = api.post("/members", json={"phone": phone or f"138{next(_counter):08d}", "name": name})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def create_table(make: Factory, tenant: Tenant, code: str | None = None, seats: int = 4, store=None) -> dict:
    """A dining table through the API; returns the response body."""
    store_id = (store or tenant.store).id
    response = make.api(tenant.owner).post(f"/stores/{store_id}/tables", json={
        "code": code or f"T{next(_counter)}", "seats": seats})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def create_dish(make: Factory, tenant: Tenant, name: str = "剁椒鱼头", price_cents: int = 12_800, **fields):
    """A dish through the API (category by name, created if new); returns the response body."""
    body = {"name": name, "price_cents": price_cents, "category": fields.pop("category", "热菜"), **fields}
    response = make.api(tenant.owner).post("/menu/dishes", json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def create_coupon_template(make: Factory, tenant: Tenant, **fields: Any) -> dict:
    """A coupon template through the API (a 20-yuan cash voucher, 30 days, unless told)."""
    body = {"name": f"券{next(_counter)}", "kind": "cash", "value_cents": 2000, "valid_days": 30, **fields}
    response = make.api(tenant.owner).post("/coupon-templates", json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def issue_coupon(make: Factory, tenant: Tenant, member_id: int, template_id: int | None = None) -> dict:
    """A coupon issued to a member through the API (of a new default template unless told)."""
    if template_id is None:
        template_id = create_coupon_template(make, tenant)["id"]
    response = make.api(tenant.owner).post(f"/members/{member_id}/coupons", json={
        "template_id": template_id, "idempotency_key": f"issue-{next(_counter):08d}-{member_id}"})
    assert response.status_code == 201, response.get_json()
    return response.get_json()
