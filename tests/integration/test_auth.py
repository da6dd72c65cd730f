from datetime import timedelta

import sqlalchemy as sa

from app.auth.models import ApiToken
from app.auth.service import hash_token


def test_token_is_issued_for_good_credentials(make):
    tenant = make.tenant()
    response = make.client.post("/api/v1/auth/token", json={"username": tenant.owner.username,
                                                           "password": make.PASSWORD})
    assert response.status_code == 200
    body = response.get_json()
    assert body["staff"] == {"id": tenant.owner.id, "role": "owner", "merchant_id": tenant.merchant.id,
                             "store_id": None}
    assert body["token"].startswith("tls_") and body["expires_at"]
    assert make.api(token=body["token"]).get("/auth/me").get_json()["username"] == tenant.owner.username


def test_token_is_stored_only_as_a_hash(make, db):
    token = make.token(make.tenant().owner)
    hashes = db.session.scalars(sa.select(ApiToken.token_hash)).all()
    assert hashes == [hash_token(token)]
    assert token not in hashes


def test_bad_credentials_answer_401_invalid_credentials(make):
    tenant = make.tenant()
    for body in ({"username": tenant.owner.username, "password": "wrong-password"},
                 {"username": "nobody", "password": "whatever1"}):
        response = make.client.post("/api/v1/auth/token", json=body)
        assert response.status_code == 401
        assert response.get_json()["error"]["code"] == "invalid_credentials"


def test_inactive_staff_cannot_get_a_token(make):
    tenant = make.tenant()
    cashier = make.staff(tenant, "cashier", active=False)
    response = make.client.post("/api/v1/auth/token", json={"username": cashier.username, "password": make.PASSWORD})
    assert response.status_code == 401


def test_expired_token_is_refused(make, db):
    api = make.api(make.tenant().owner)
    assert api.get("/auth/me").status_code == 200
    row = db.session.scalar(sa.select(ApiToken))
    row.expires_at = row.created_at - timedelta(seconds=1)
    db.session.commit()
    response = api.get("/auth/me")
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "token_invalid"


def test_revoked_token_is_refused(make):
    api = make.api(make.tenant().owner)
    assert api.delete("/auth/token").status_code == 204
    assert api.get("/auth/me").status_code == 401


def test_deactivating_staff_revokes_their_tokens(make):
    tenant = make.tenant()
    cashier = make.staff(tenant, "cashier")
    cashier_api = make.api(cashier)
    assert cashier_api.get("/auth/me").status_code == 200
    assert make.api(tenant.owner).delete(f"/staff/{cashier.id}").status_code == 204
    assert cashier_api.get("/auth/me").status_code == 401


def test_missing_or_malformed_authorization_answers_401(make):
    make.tenant()
    for header in (None, "Bearer", "Basic abc", "Bearer not-a-token"):
        headers = {"Authorization": header} if header else {}
        response = make.client.get("/api/v1/auth/me", headers=headers)
        assert response.status_code == 401
        assert set(response.get_json()["error"]) == {"code", "message", "details"}


def test_device_token_works_for_device_routes_and_is_revocable(make):
    tenant = make.tenant()
    device, token = make.device(tenant)
    device_api = make.api(token=token)
    me = device_api.get("/devices/me")
    assert me.status_code == 200 and me.get_json()["store_id"] == tenant.store.id
    # A device is not a person: staff routes stay closed to it.
    assert device_api.get("/staff").status_code == 403
    assert make.api(tenant.owner).delete(f"/devices/{device.id}").status_code == 204
    assert device_api.get("/devices/me").status_code == 401


def test_device_token_is_shown_once(make):
    tenant = make.tenant()
    make.device(tenant)
    listed = make.api(tenant.owner).get("/devices").get_json()["devices"]
    assert len(listed) == 1 and "token" not in listed[0]
