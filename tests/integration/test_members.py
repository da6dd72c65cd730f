"""Members over the API: the API.md contract for members, top-ups and the ledger."""

import uuid

import pytest

from tests.factories import create_member


def key() -> str:
    return uuid.uuid4().hex


@pytest.fixture
def shop(make):
    tenant = make.tenant()
    return tenant, make.api(tenant.owner)


def test_create_member_answers_201_with_the_card(shop, make):
    tenant, api = shop
    response = api.post("/members", json={"phone": "13800138000", "name": "李雷"})
    assert response.status_code == 201
    body = response.get_json()
    assert body["phone"] == "13800138000" and body["name"] == "李雷"
    assert body["tier"]["name"] == "普通会员" and body["tier"]["discount_percent"] == 0
    assert body["stored_value"] == {"total_cents": 0, "principal_cents": 0, "bonus_cents": 0}
    assert body["points"] == 0
    assert len(body["member_no"]) == 10
    assert api.get(f"/members/{body['id']}").get_json() == body


def test_same_phone_same_merchant_is_409_but_another_merchant_may(shop, make):
    tenant, api = shop
    assert api.post("/members", json={"phone": "13900000001", "name": "A"}).status_code == 201
    again = api.post("/members", json={"phone": "13900000001", "name": "B"})
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "member_exists"
    other = make.api(make.tenant().owner)
    assert other.post("/members", json={"phone": "13900000001", "name": "C"}).status_code == 201


def test_topup_with_rule_credits_principal_and_bonus(shop, make):
    tenant, api = shop
    member = create_member(make, tenant)
    response = api.post(f"/members/{member['id']}/topups",
                        json={"amount_cents": 50_000, "tender": "cash", "idempotency_key": key()})
    assert response.status_code == 201
    body = response.get_json()
    # Default rule: 充500送50.
    assert (body["principal_cents"], body["bonus_cents"]) == (50_000, 5_000)
    assert body["stored_value"] == {"total_cents": 55_000, "principal_cents": 50_000, "bonus_cents": 5_000}
    assert api.get(f"/members/{member['id']}").get_json()["stored_value"] == body["stored_value"]


@pytest.mark.parametrize("amount", [0, -100, 1.5, "100", None, 10**15])
def test_bad_topup_amounts_are_422_and_change_nothing(shop, make, amount):
    tenant, api = shop
    member = create_member(make, tenant)
    response = api.post(f"/members/{member['id']}/topups",
                        json={"amount_cents": amount, "tender": "cash", "idempotency_key": key()})
    assert response.status_code == 422
    assert api.get(f"/members/{member['id']}/ledger").get_json()["entries"] == []


def test_topup_replay_returns_the_first_answer_and_applies_once(shop, make):
    tenant, api = shop
    member = create_member(make, tenant)
    body = {"amount_cents": 10_000, "tender": "cash", "idempotency_key": key()}
    first = api.post(f"/members/{member['id']}/topups", json=body)
    second = api.post(f"/members/{member['id']}/topups", json=body)
    assert (second.status_code, second.get_json()) == (first.status_code, first.get_json())
    assert api.get(f"/members/{member['id']}").get_json()["stored_value"]["total_cents"] == 10_000


def test_key_reused_with_another_body_is_409(shop, make):
    tenant, api = shop
    member = create_member(make, tenant)
    k = key()
    api.post(f"/members/{member['id']}/topups", json={"amount_cents": 10_000, "tender": "cash", "idempotency_key": k})
    response = api.post(f"/members/{member['id']}/topups",
                        json={"amount_cents": 20_000, "tender": "cash", "idempotency_key": k})
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "idempotency_key_reused"


def test_ledger_is_newest_first_and_agrees_with_the_balance(shop, make):
    tenant, api = shop
    member = create_member(make, tenant)
    for amount in (50_000, 12_345, 100_000):
        api.post(f"/members/{member['id']}/topups", json={"amount_cents": amount, "tender": "cash",
                                                           "idempotency_key": key()})
    api.post(f"/members/{member['id']}/cashouts", json={"amount_cents": 20_000, "reason": "顾客退卡部分",
                                                         "idempotency_key": key()})
    entries = api.get(f"/members/{member['id']}/ledger").get_json()["entries"]
    assert [e["id"] for e in entries] == sorted((e["id"] for e in entries), reverse=True)
    card = api.get(f"/members/{member['id']}").get_json()
    for account, balance in (("principal", card["stored_value"]["principal_cents"]),
                             ("bonus", card["stored_value"]["bonus_cents"])):
        mine = [e for e in entries if e["account"] == account]
        assert mine[0]["balance_after"] == balance
        assert sum(e["delta"] for e in mine) == balance
    assert {e["kind"] for e in entries} >= {"topup", "cashout"}


def test_large_topup_lifts_the_tier_with_a_reason(shop, make, db):
    from app.members.models import TierChangeLog

    tenant, api = shop
    member = create_member(make, tenant)
    body = api.post(f"/members/{member['id']}/topups", json={"amount_cents": 100_000, "tender": "cash",
                                                              "idempotency_key": key()}).get_json()
    assert body["tier"]["name"] == "银卡"
    assert api.get(f"/members/{member['id']}").get_json()["tier"]["discount_percent"] == 5
    log = db.session.query(TierChangeLog).one()
    assert log.reason_code == "single_topup_reached" and "银卡" in log.reason


def test_topup_refund_returns_principal_and_bonus_once(shop, make):
    tenant, api = shop
    member = create_member(make, tenant)
    topup = api.post(f"/members/{member['id']}/topups", json={"amount_cents": 50_000, "tender": "cash",
                                                               "idempotency_key": key()}).get_json()
    url = f"/members/{member['id']}/topups/{topup['topup_id']}/refund"
    response = api.post(url, json={"reason": "顾客要求退款", "idempotency_key": key()})
    assert response.status_code == 200
    assert response.get_json() == {"total_cents": 0, "principal_cents": 0, "bonus_cents": 0}
    again = api.post(url, json={"reason": "顾客要求退款", "idempotency_key": key()})
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "already_refunded"


def test_topup_refund_refused_when_the_money_was_spent(shop, make):
    tenant, api = shop
    member = create_member(make, tenant)
    topup = api.post(f"/members/{member['id']}/topups", json={"amount_cents": 10_000, "tender": "cash",
                                                               "idempotency_key": key()}).get_json()
    api.post(f"/members/{member['id']}/cashouts", json={"amount_cents": 5_000, "reason": "部分提现",
                                                         "idempotency_key": key()})
    response = api.post(f"/members/{member['id']}/topups/{topup['topup_id']}/refund",
                        json={"reason": "退款", "idempotency_key": key()})
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "insufficient_balance"
    assert api.get(f"/members/{member['id']}").get_json()["stored_value"]["principal_cents"] == 5_000


def test_cashout_pays_principal_only_and_forfeits_bonus(shop, make):
    tenant, api = shop
    member = create_member(make, tenant)
    api.post(f"/members/{member['id']}/topups", json={"amount_cents": 50_000, "tender": "cash",
                                                       "idempotency_key": key()})
    body = api.post(f"/members/{member['id']}/cashouts", json={"reason": "退卡", "idempotency_key": key()}).get_json()
    assert body["paid_cents"] == 50_000 and body["bonus_forfeited_cents"] == 5_000
    assert body["stored_value"]["total_cents"] == 0


def test_manual_adjustment_needs_a_manager_and_is_audited(shop, make):
    tenant, api = shop
    member = create_member(make, tenant)
    cashier = make.api(make.staff(tenant, "cashier"))
    body = {"account": "points", "delta": 300, "reason": "开业活动补积分", "idempotency_key": key()}
    assert cashier.post(f"/members/{member['id']}/adjustments", json=body).status_code == 403
    response = api.post(f"/members/{member['id']}/adjustments", json=body)
    assert response.status_code == 201 and response.get_json()["balance_after"] == 300
    audit = api.get("/audit", query_string={"object_type": "member"}).get_json()["entries"]
    assert audit[0]["action"] == "member.adjust" and audit[0]["details"]["reason"] == "开业活动补积分"
    minus = {"account": "points", "delta": -301, "reason": "纠正错误", "idempotency_key": key()}
    refused = api.post(f"/members/{member['id']}/adjustments", json=minus)
    assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "insufficient_points"


def test_search_and_lookup(shop, make):
    tenant, api = shop
    created = create_member(make, tenant, phone="13712345678", name="韩梅梅")
    found = api.get("/members", query_string={"q": "137123"}).get_json()
    assert [m["id"] for m in found["members"]] == [created["id"]] and found["total"] == 1
    assert api.get("/members/lookup", query_string={"phone": "13712345678"}).get_json()["id"] == created["id"]
    by_number = api.get("/members/lookup", query_string={"member_no": created["member_no"]}).get_json()
    assert by_number["id"] == created["id"]
    assert api.get("/members/lookup", query_string={"phone": "13700000000"}).status_code == 404
    assert api.get("/members/lookup").status_code == 422


def _tier_bodies(api) -> list[dict]:
    return [{k: v for k, v in t.items() if k != "id"} for t in api.get("/member-tiers").get_json()["tiers"]]


def test_tier_table_refusals_are_422_with_the_reason_and_change_nothing(shop, make):
    tenant, api = shop
    before = api.get("/member-tiers").get_json()
    same_name = _tier_bodies(api)
    same_name[3]["name"] = same_name[2]["name"]
    response = api.request("PUT", "/member-tiers", json={"tiers": same_name})
    assert response.status_code == 422
    assert response.get_json()["error"]["details"] == {"reason": "duplicate_name", "index": 3}
    no_threshold = _tier_bodies(api)
    no_threshold[1].update(spend_threshold_cents=None, topup_threshold_cents=None)
    response = api.request("PUT", "/member-tiers", json={"tiers": no_threshold}, headers={"Accept-Language": "en"})
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["details"] == {"reason": "threshold_missing", "index": 1}
    assert error["message"] == "A tier above the base needs a spend or a top-up threshold."
    assert api.get("/member-tiers").get_json() == before


def test_a_tier_in_members_history_cannot_be_removed(shop, make, db):
    from app.members.models import Member, Tier

    tenant, api = shop
    member = create_member(make, tenant)
    api.post(f"/members/{member['id']}/topups", json={"amount_cents": 100_000, "tender": "cash",
                                                       "idempotency_key": key()})  # up to 银卡
    row = db.session.get(Member, member["id"])
    row.tier_id = db.session.query(Tier).filter_by(merchant_id=tenant.merchant.id, rank=0).one().id
    db.session.commit()  # as after a review that moved the member back down
    tiers = _tier_bodies(api)
    response = api.request("PUT", "/member-tiers", json={"tiers": [tiers[0], tiers[2], tiers[3]]})
    assert response.status_code == 422 and response.get_json()["error"]["code"] == "tier_in_use"
    assert len(api.get("/member-tiers").get_json()["tiers"]) == 4


def test_rule_changes_are_audited(shop, make):
    tenant, api = shop
    api.request("PUT", "/topup-rules", json={"rules": [{"min_cents": 10_000, "bonus_cents": 2_000}]})
    api.patch("/member-settings", json={"points_per_yuan": 2})
    api.request("PUT", "/member-tiers", json={"tiers": _tier_bodies(api)})
    actions = [e["action"] for e in api.get("/audit").get_json()["entries"]]
    assert {"topup_rules.update", "member_settings.update", "member_tiers.update"} <= set(actions)
