"""Physical cards and the dynamic member code."""

import uuid
from datetime import timedelta

import pytest

from app.db import utcnow
from app.members.models import MemberSettings
from tablerules import members as rules
from tests.factories import create_member


@pytest.fixture
def shop(make):
    tenant = make.tenant()
    api = make.api(tenant.owner)
    member = create_member(make, tenant)
    api.post(f"/members/{member['id']}/topups", json={"amount_cents": 50_000, "tender": "cash",
                                                       "idempotency_key": uuid.uuid4().hex})
    return tenant, api, member


def test_lost_card_replacement_keeps_the_balance_and_refuses_the_old_number(shop):
    tenant, api, member = shop
    card = api.post(f"/members/{member['id']}/cards", json={"card_no": "0012345678"}).get_json()
    assert api.get("/members/lookup", query_string={"card_no": "0012345678"}).get_json()["id"] == member["id"]

    lost = api.post(f"/members/{member['id']}/cards/{card['id']}/lost")
    assert lost.status_code == 200 and lost.get_json()["status"] == "lost"
    refused = api.get("/members/lookup", query_string={"card_no": "0012345678"})
    assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "card_not_active"

    new = api.post(f"/members/{member['id']}/cards/{card['id']}/replace", json={"card_no": "0087654321"})
    assert new.status_code == 201
    found = api.get("/members/lookup", query_string={"card_no": "0087654321"}).get_json()
    assert found["id"] == member["id"]
    assert found["stored_value"]["total_cents"] == 55_000
    assert api.get("/members/lookup", query_string={"card_no": "0012345678"}).status_code == 409
    # The old number cannot be bound again to anyone.
    assert api.post(f"/members/{member['id']}/cards", json={"card_no": "0012345678"}).status_code == 409


def test_cards_work_beside_the_electronic_card(shop):
    tenant, api, member = shop
    api.post(f"/members/{member['id']}/cards", json={"card_no": "AA01"})
    api.post(f"/members/{member['id']}/cards", json={"card_no": "AA02"})
    cards = api.get(f"/members/{member['id']}").get_json()["cards"]
    assert [c["card_no"] for c in cards] == ["AA01", "AA02"]
    assert api.get("/members/lookup", query_string={"member_no": member["member_no"]}).status_code == 200


def _code(db, tenant, member, at):
    secret = db.session.query(MemberSettings).filter_by(merchant_id=tenant.merchant.id).one().member_code_secret
    return rules.member_code(bytes.fromhex(secret), member["member_no"], rules.code_step(at))


def test_dynamic_code_is_accepted_now_and_within_one_step(shop, db):
    tenant, api, member = shop
    for offset in (0, -60):
        code = _code(db, tenant, member, utcnow() + timedelta(seconds=offset))
        response = api.get("/members/lookup", query_string={"code": code})
        assert response.status_code == 200 and response.get_json()["id"] == member["id"]


def test_an_old_screenshot_is_refused_as_expired(shop, db):
    tenant, api, member = shop
    code = _code(db, tenant, member, utcnow() - timedelta(minutes=5))
    response = api.get("/members/lookup", query_string={"code": code})
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "member_code_expired"


def test_a_forged_code_is_refused(shop):
    tenant, api, member = shop
    response = api.get("/members/lookup", query_string={"code": "88" + member["member_no"] + "000000"})
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] in {"member_code_bad_mac", "member_code_expired"}


def test_a_code_is_spent_once_per_settle(shop, db, app):
    from app.actor import Actor
    from app.members import service

    tenant, api, member = shop
    code = _code(db, tenant, member, utcnow())
    actor = Actor.system(tenant.merchant.id)
    with app.test_request_context():
        assert service.find_by_code(code, utcnow(), consume=True, actor=actor).id == member["id"]
        db.session.commit()
        with pytest.raises(Exception) as error:
            service.find_by_code(code, utcnow(), consume=True, actor=actor)
        assert getattr(error.value, "error_code", "") == "member_code_used"
        db.session.rollback()
