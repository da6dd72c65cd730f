"""A manager's staff card approving an act at a till (`POST /sync/approvals`): only a manager's
or the owner's card of the device's merchant and store, and cards cannot be tried one by one —
refusals count against the device as wrong passwords count against an account."""

from __future__ import annotations

import sqlalchemy as sa

from app.auth.models import ApiToken

MANAGER_CARD = "0012345678"


def _setup(make):
    tenant = make.tenant()
    owner = make.api(tenant.owner)
    manager, cashier = make.staff(tenant, "manager"), make.staff(tenant, "cashier")
    assert owner.request("PATCH", f"/staff/{manager.id}", json={"card_no": MANAGER_CARD}).status_code == 200
    assert owner.request("PATCH", f"/staff/{cashier.id}", json={"card_no": "0012345679"}).status_code == 200
    _device, token = make.device(tenant)
    return make.api(token=token), manager, tenant


def _tokens(db, staff) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(ApiToken).where(ApiToken.staff_id == staff.id))


def test_a_managers_card_gets_a_short_token_and_others_are_refused(make, db):
    device_api, manager, _tenant = _setup(make)
    for cards in (["0012345679"], ["0099999999"]):  # the cashier's card, a card nobody holds
        refused = device_api.post("/sync/approvals", json={"card_nos": cards})
        assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "manager_approval_refused"
    approved = device_api.post("/sync/approvals", json={"card_nos": [MANAGER_CARD]})
    assert approved.status_code == 201 and approved.get_json()["username"] == manager.username
    assert _tokens(db, manager) == 1


def test_cards_tried_one_by_one_lock_the_device_out(make, app, db):
    device_api, manager, tenant = _setup(make)
    limit = app.config["LOGIN_MAX_FAILURES_PER_ACCOUNT"]
    for n in range(limit):
        refused = device_api.post("/sync/approvals", json={"card_nos": [f"00{n:08d}"]})
        assert refused.status_code == 403, refused.get_json()
    locked = device_api.post("/sync/approvals", json={"card_nos": [MANAGER_CARD]})
    assert locked.status_code == 429 and locked.get_json()["error"]["code"] == "too_many_attempts"
    assert int(locked.headers["Retry-After"]) > 0
    assert _tokens(db, manager) == 0
    # Another till of the store is not locked by this one's failures.
    _other, other_token = make.device(tenant, name="till-2")
    approved = make.api(token=other_token).post("/sync/approvals", json={"card_nos": [MANAGER_CARD]})
    assert approved.status_code == 201, approved.get_json()
