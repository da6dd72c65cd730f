"""The till's own calls on the agent (table map, dish search, members, the bill, checkout with the
cash drawer, refunds approved by a manager) against a real server that can be stopped."""

from __future__ import annotations

import uuid
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from app.members.models import Tier
from pos_agent.config import parse_config
from simulators.printer import VirtualPrinter
from tests import wechat_pay_support as pay_support
from tests.factories import create_dish, create_member, issue_coupon
from tests.integration.agent_support import LiveServer, until
from tests.integration.test_agent_till import LocalAgent

CARD_NO = "0012345678"


@pytest.fixture
def desk(make, app, db, tmp_path):
    tenant = make.tenant()
    owner = make.api(tenant.owner)
    store_id = tenant.store.id
    hall = owner.post(f"/stores/{store_id}/areas", json={"name": "大厅"}).get_json()
    for code in ("A01", "A02"):
        owner.post(f"/stores/{store_id}/tables", json={"code": code, "seats": 4, "area_id": hall["id"]})
    owner.post(f"/stores/{store_id}/tables", json={"code": "B01", "seats": 8})
    pork = create_dish(make, tenant, "辣椒炒肉", 4_800)
    rice = create_dish(make, tenant, "蛋炒饭", 1_500, category="主食")
    fish = create_dish(make, tenant, "剁椒鱼头", 12_800)
    owner.request("PUT", f"/stores/{store_id}/sold-out/{fish['id']}", json={"is_sold_out": True})
    member = create_member(make, tenant, phone="13900001111", name="韩梅梅")
    owner.post(f"/members/{member['id']}/cards", json={"card_no": CARD_NO})
    owner.post(f"/members/{member['id']}/topups", json={"amount_cents": 10_000, "tender": "cash",
                                                        "idempotency_key": uuid.uuid4().hex})
    db.session.execute(sa.update(Tier).where(Tier.merchant_id == tenant.merchant.id).values(discount_percent=10))
    db.session.commit()
    pay_support.add_wechat_settings(db, tenant.merchant.id)  # the simulator's demo account (used when asked)
    _device, token = make.device(tenant)
    cashier = make.staff(tenant, "cashier")
    manager = make.staff(tenant, "manager")
    server = LiveServer(app)
    server.start()
    with VirtualPrinter(port=0, name="front") as front:
        config = parse_config({
            "store_id": str(store_id), "server_url": server.url, "device_token": token,
            "data_dir": str(tmp_path / "agent"), "http": {"port": 0}, "retry_interval_s": 0.1,
            "sync_interval_s": 0.2, "forward_timeout_s": 2, "store": {"name": "老王面馆"},
            "printers": [{"name": "front", "type": "network", "address": f"127.0.0.1:{front.port}",
                          "role": "receipt", "cash_drawer": True, "timeout_s": 2}]})
        agent = LocalAgent(config)
        try:
            until(lambda: agent.call("GET", "/api/v1/status")[1]["online"]
                  and agent.call("GET", "/api/v1/status")[1]["local_copy_as_of"], 30, "the local copy")
            status, session = agent.call("POST", "/api/v1/session", {"username": cashier.username,
                                                                     "password": make.PASSWORD})
            assert status == 200
            yield {"tenant": tenant, "owner": owner, "agent": agent, "token": session["token"], "server": server,
                   "front": front, "pork": pork, "rice": rice, "fish": fish, "member": member, "make": make,
                   "cashier": cashier, "manager": manager}
        finally:
            agent.stop()
    server.stop()


def _order(agent, token, table, items):
    status, order = agent.call("POST", "/api/v1/orders", {"client_order_id": str(uuid.uuid4()), "table": table,
                                                          "items": items}, token)
    assert status == 201, order
    return order


def test_table_map_and_dish_search(desk):
    agent, token = desk["agent"], desk["token"]
    assert agent.call("GET", "/api/v1/tables")[0] == 401
    status, tables = agent.call("GET", "/api/v1/tables", token=token)
    assert status == 200 and tables["areas"] == ["大厅", ""]
    assert [(t["code"], t["area"], t["state"]) for t in tables["tables"]] == [
        ("A01", "大厅", "free"), ("A02", "大厅", "free"), ("B01", "", "free")]

    # Pinyin initials, pinyin and the name find a dish; the sold-out one is found and marked.
    for query in ("ljcr", "LJCR", "lajiao", "辣椒"):
        status, found = agent.call("GET", f"/api/v1/dishes/search?q={quote(query)}", token=token)
        assert status == 200 and [d["name"] for d in found["dishes"]][:1] == ["辣椒炒肉"], query
    found = agent.call("GET", "/api/v1/dishes/search?q=djyt", token=token)[1]["dishes"]
    assert [(d["name"], d["is_sold_out"]) for d in found] == [("剁椒鱼头", True)]
    menu = agent.call("GET", "/api/v1/till/menu", token=token)[1]
    assert {d["name"]: d["initials"] for d in menu["dishes"]}["蛋炒饭"] == "dcf"
    assert menu["categories"][:1] == ["热菜"] and "主食" in menu["categories"]

    # Seat, order, a guest more, and the table cannot be cleared while its order is open.
    assert agent.call("POST", "/api/v1/tables/A01/seat", {"guests": 0}, token)[0] == 422
    assert agent.call("POST", "/api/v1/tables/Z99/seat", {"guests": 2}, token)[0] == 404
    status, seated = agent.call("POST", "/api/v1/tables/A01/seat", {"guests": 3}, token)
    assert status == 200 and (seated["state"], seated["guests"]) == ("ordering", 3)
    _order(agent, token, "A01", [{"dish_id": desk["pork"]["id"], "qty": 1}])
    table = agent.call("GET", "/api/v1/tables", token=token)[1]["tables"][0]
    assert table["state"] == "ordered" and table["order"]["subtotal_cents"] == 4_800
    assert agent.call("POST", "/api/v1/tables/A01/seat", {"guests": 4}, token)[1]["guests"] == 4
    status, refused = agent.call("POST", "/api/v1/tables/A01/clear", {}, token)
    assert status == 409 and refused["error"]["code"] == "table_has_open_order"


def test_an_offline_sale_at_the_till_opens_the_drawer_once(desk):
    agent, token, front = desk["agent"], desk["token"], desk["front"]
    agent.call("POST", "/api/v1/tables/A02/seat", {"guests": 2}, token)
    desk["server"].stop()
    order = _order(agent, token, "A02", [{"dish_id": desk["pork"]["id"], "qty": 1}])
    assert order["synced"] is False
    cid = order["client_order_id"]

    # The member by their card, from the local copy; the bill with their tier discount.
    status, member = agent.call("GET", f"/api/v1/members/identify?card={CARD_NO}", token=token)
    assert status == 200 and member["id"] == desk["member"]["id"] and member["source"] == "local"
    assert member["tier"]["discount_percent"] == 10 and member["stored_value"]["total_cents"] == 10_000
    assert agent.call("GET", "/api/v1/members/identify?phone=13000000000", token=token)[0] == 404
    status, bill = agent.call("GET", f"/api/v1/orders/{cid}/bill?member_id={member['id']}", token=token)
    assert status == 200 and bill["offline"] is True and bill["payable_cents"] == 4_320
    assert bill["steps"][0]["kind"] == "subtotal" and bill["steps"][-1]["amount_cents"] == 4_320

    # What needs the server says so in the cashier's words.
    status, refused = agent.call("GET", f"/api/v1/orders/{cid}/bill?coupon_ids=1", token=token)
    assert status == 409 and refused["error"]["code"] == "needs_server" and "联网" in refused["error"]["message"]

    key = uuid.uuid4().hex
    body = {"member_id": member["id"], "tenders": [{"type": "cash", "amount_cents": 5_000}], "idempotency_key": key}
    status, paid = agent.call("POST", f"/api/v1/orders/{cid}/checkout", body, token)
    assert status == 200, paid
    assert (paid["payable_cents"], paid["change_cents"], paid["drawer"]) == (4_320, 680, "with_receipt")
    until(lambda: any(b"\x1bp" in job.data for job in front.jobs), 10, "the drawer kick with the receipt")
    kicks = sum(job.data.count(b"\x1bp") for job in front.jobs)
    status, again = agent.call("POST", f"/api/v1/orders/{cid}/checkout", body, token)
    assert status == 200 and again["drawer"] == "not_needed"
    assert {k: v for k, v in again.items() if k != "drawer"} == {k: v for k, v in paid.items() if k != "drawer"}
    assert sum(job.data.count(b"\x1bp") for job in front.jobs) == kicks == 1

    # A reprint is marked as one and leaves the drawer shut.
    status, reprinted = agent.call("POST", f"/api/v1/orders/{cid}/reprint", {}, token)
    assert status == 200 and reprinted["document_id"] == f"local-receipt-{cid}"
    until(lambda: any("REPRINT" in "\n".join(job.decoded.lines) for job in front.printed_jobs), 10, "the reprint")
    assert sum(job.data.count(b"\x1bp") for job in front.jobs) == 1
    table = next(t for t in agent.call("GET", "/api/v1/tables", token=token)[1]["tables"] if t["code"] == "A02")
    assert table["state"] == "paid"
    assert agent.call("POST", "/api/v1/tables/A02/clear", {}, token)[1]["state"] == "free"


def test_online_add_dishes_coupon_and_a_refund_approved_by_a_manager(desk):
    agent, token, owner, member = desk["agent"], desk["token"], desk["owner"], desk["member"]
    coupon = issue_coupon(desk["make"], desk["tenant"], member["id"])  # 20 yuan off
    order = _order(agent, token, "A01", [{"dish_id": desk["pork"]["id"], "qty": 1}])
    cid = order["client_order_id"]

    add = {"items": [{"dish_id": desk["rice"]["id"], "qty": 2, "note": "少盐"}], "idempotency_key": uuid.uuid4().hex}
    status, added = agent.call("POST", f"/api/v1/orders/{cid}/items", add, token)
    assert status == 200 and added["subtotal_cents"] == 7_800, added
    assert agent.call("POST", f"/api/v1/orders/{cid}/items", add, token)[1]["subtotal_cents"] == 7_800
    status, refused = agent.call("POST", f"/api/v1/orders/{cid}/items", {
        "items": [{"dish_id": desk["fish"]["id"], "qty": 1}], "idempotency_key": uuid.uuid4().hex}, token)
    assert status == 409 and refused["error"]["code"] == "dish_sold_out"

    # Online the member comes with principal and bonus and their usable coupons.
    status, found = agent.call("GET", "/api/v1/members/identify?code=13900001111", token=token)
    assert status == 200 and found["source"] == "server"
    assert found["stored_value"] == {"total_cents": 10_000, "principal_cents": 10_000, "bonus_cents": 0}
    assert [c["id"] for c in found["coupons"]] == [coupon["id"]]
    status, bill = agent.call("GET", f"/api/v1/orders/{cid}/bill?member_id={member['id']}"
                                     f"&coupon_ids={coupon['id']}", token=token)
    assert status == 200 and bill["offline"] is False
    payable = bill["payable_cents"]
    assert payable == 7_800 - 780 - 2_000 and "coupon" in [s["kind"] for s in bill["steps"]]

    key = uuid.uuid4().hex
    body = {"member_id": member["id"], "coupon_ids": [coupon["id"]], "idempotency_key": key,
            "tenders": [{"type": "stored_value", "amount_cents": 3_000}, {"type": "cash", "amount_cents": 5_000}]}
    status, paid = agent.call("POST", f"/api/v1/orders/{cid}/checkout", body, token)
    assert status == 200, paid
    assert paid["payable_cents"] == payable and paid["change_cents"] == 8_000 - payable
    assert agent.call("POST", f"/api/v1/orders/{cid}/checkout", body, token)[1]["payable_cents"] == payable
    status, reused = agent.call("POST", f"/api/v1/orders/{cid}/checkout", {**body, "coupon_ids": []}, token)
    assert status == 409
    assert owner.get(f"/members/{member['id']}").get_json()["stored_value"]["total_cents"] == 7_000
    assert agent.call("GET", f"/api/v1/orders/{cid}", token=token)[1]["status"] == "paid"

    # A refund needs a manager's password at the till; a cashier's own does not do.
    refund = {"reason": "菜品问题", "idempotency_key": uuid.uuid4().hex}
    status, refused = agent.call("POST", f"/api/v1/orders/{cid}/refund", refund, token)
    assert status == 422 and refused["error"]["code"] == "manager_required"
    for username in (desk["manager"].username, desk["cashier"].username):
        password = "wrong-password" if username == desk["manager"].username else desk["make"].PASSWORD
        status, refused = agent.call("POST", f"/api/v1/orders/{cid}/refund", {
            **refund, "manager_username": username, "manager_password": password}, token)
        assert status == 403 and refused["error"]["code"] == "manager_approval_refused", refused
    status, refunded = agent.call("POST", f"/api/v1/orders/{cid}/refund", {
        **refund, "manager_username": desk["manager"].username, "manager_password": desk["make"].PASSWORD}, token)
    assert status == 200 and refunded["status"] == "refunded", refunded
    after = owner.get(f"/members/{member['id']}").get_json()
    assert after["stored_value"]["total_cents"] == 10_000


def test_a_cash_top_up_with_the_rule_shown(desk):
    agent, token, owner, member, front = desk["agent"], desk["token"], desk["owner"], desk["member"], desk["front"]
    owner.request("PUT", "/topup-rules", json={"rules": [{"min_cents": 50_000, "bonus_cents": 5_000}]})
    status, rules = agent.call("GET", "/api/v1/till/topup-rules", token=token)
    assert status == 200 and [(r["label"], r["label_en"]) for r in rules["rules"]] == [
        ("充500送50", "top up 500, get 50 more")]
    body = {"amount_cents": 50_000, "idempotency_key": uuid.uuid4().hex}
    status, topped = agent.call("POST", f"/api/v1/members/{member['id']}/topups", body, token)
    assert status == 201, topped
    assert (topped["principal_cents"], topped["bonus_cents"], topped["drawer"]) == (50_000, 5_000, "opened")
    assert topped["stored_value"]["total_cents"] == 10_000 + 55_000
    until(lambda: any(b"\x1bp" in job.data for job in front.jobs), 10, "the drawer kick")
    status, again = agent.call("POST", f"/api/v1/members/{member['id']}/topups", body, token)
    assert status == 201 and again["drawer"] == "not_needed" and again["topup_id"] == topped["topup_id"]
    assert owner.get(f"/members/{member['id']}").get_json()["stored_value"]["total_cents"] == 65_000
    status, refused = agent.call("POST", f"/api/v1/members/{member['id']}/topups", {"amount_cents": 0,
                                                                                  "idempotency_key": "k" * 10}, token)
    assert status == 422


pay_sim, live_url, wechat = pay_support.pay_sim, pay_support.live_url, pay_support.wechat


def test_a_wechat_payment_code_scanned_at_the_till(desk, wechat):
    """MICROPAY: the customer types the password (USERPAYING) while the server asks WeChat Pay
    again; the till's request answers once the money is in. A code never confirmed is reversed
    and the order stays open; offline the tender is refused."""
    agent, token = desk["agent"], desk["token"]
    order = _order(agent, token, "A01", [{"dish_id": desk["pork"]["id"], "qty": 1}])
    cid = order["client_order_id"]

    never = {"tenders": [{"type": "wechat", "amount_cents": 4_800,
                          "auth_code": pay_support.payment_code("0004")}], "idempotency_key": uuid.uuid4().hex}
    status, refused = agent.call("POST", f"/api/v1/orders/{cid}/checkout", never, token)
    assert status == 409 and refused["error"]["code"] == "payment_not_completed", refused
    assert agent.call("GET", f"/api/v1/orders/{cid}", token=token)[1]["status"] == "open"

    body = {"tenders": [{"type": "cash", "amount_cents": 800},
                        {"type": "wechat", "amount_cents": 4_000, "auth_code": pay_support.payment_code("0003")}],
            "idempotency_key": uuid.uuid4().hex}
    status, paid = agent.call("POST", f"/api/v1/orders/{cid}/checkout", body, token)
    assert status == 200, paid
    assert (paid["status"], paid["payable_cents"], paid["change_cents"]) == ("paid", 4_800, 0)
    assert paid["tenders"] == [{"type": "cash", "amount_cents": 800}, {"type": "wechat", "amount_cents": 4_000}]
    assert agent.call("POST", f"/api/v1/orders/{cid}/checkout", body, token)[1]["status"] == "paid"

    other = _order(agent, token, "A02", [{"dish_id": desk["pork"]["id"], "qty": 1}])
    desk["server"].stop()
    until(lambda: agent.call("GET", "/api/v1/status")[1]["online"] is False
          or agent.call("GET", f"/api/v1/orders/{other['client_order_id']}/bill", token=token)[1].get("offline"),
          20, "the agent to notice")
    status, refused = agent.call("POST", f"/api/v1/orders/{other['client_order_id']}/checkout", {
        "tenders": [{"type": "wechat", "amount_cents": 4_800, "auth_code": pay_support.payment_code("0001")}],
        "idempotency_key": uuid.uuid4().hex}, token)
    assert status == 409 and refused["error"]["code"] in ("tender_unavailable_offline", "needs_server"), refused


def test_bad_input_to_the_tills_calls_answers_4xx(desk):
    agent, token = desk["agent"], desk["token"]
    order = _order(agent, token, "A01", [{"dish_id": desk["pork"]["id"], "qty": 1}])
    cid = order["client_order_id"]
    missing = str(uuid.uuid4())
    bad = [
        ("GET", "/api/v1/dishes/search?q=" + "x" * 41, None),
        ("GET", "/api/v1/members/identify", None),
        ("GET", "/api/v1/members/identify?card=" + "9" * 41, None),
        ("GET", f"/api/v1/orders/{cid}/bill?member_id=abc", None),
        ("GET", f"/api/v1/orders/{cid}/bill?coupon_ids=1,x", None),
        ("GET", f"/api/v1/orders/{missing}/bill", None),
        ("GET", "/api/v1/till/shift?opening_float_cents=-5", None),
        ("POST", "/api/v1/tables/A01/seat", []),
        ("POST", "/api/v1/tables/A01/seat", {"guests": True}),
        ("POST", "/api/v1/tables/%E4%B8%80/seat", {"guests": 2}),
        ("POST", f"/api/v1/orders/{cid}/items", {"items": [{"dish_id": "1", "qty": 1}], "idempotency_key": "k" * 9}),
        ("POST", f"/api/v1/orders/{cid}/items", {"items": [], "idempotency_key": "k" * 9}),
        ("POST", f"/api/v1/orders/{cid}/items", {"items": [{"dish_id": 1, "qty": 1}]}),
        ("POST", f"/api/v1/orders/{cid}/checkout", "cash"),
        ("POST", f"/api/v1/orders/{cid}/checkout", {"tenders": [{"type": "cash", "amount_cents": 5_000}]}),
        ("POST", f"/api/v1/orders/{cid}/checkout", {"tenders": [{"type": "gold", "amount_cents": 1}],
                                                    "idempotency_key": "k" * 9, "coupon_ids": [1]}),
        ("POST", f"/api/v1/orders/{cid}/checkout", {"tenders": [{"type": "wechat", "amount_cents": 4_800,
                                                                 "auth_code": "abc"}], "idempotency_key": "k" * 9}),
        ("POST", f"/api/v1/orders/{cid}/checkout", {"tenders": [], "idempotency_key": "k" * 9, "coupon_ids": ["1"]}),
        ("POST", f"/api/v1/orders/{cid}/refund", {"reason": "x", "idempotency_key": "k" * 9}),
        ("POST", f"/api/v1/orders/{cid}/reprint", {}),
        ("POST", f"/api/v1/orders/{missing}/reprint", {}),
        ("POST", "/api/v1/till/shift/close", {"counted_cash_cents": -1, "idempotency_key": "k" * 9}),
        ("POST", "/api/v1/till/shift/close", None),
        ("POST", f"/api/v1/members/{desk['member']['id']}/topups", {"amount_cents": "100", "idempotency_key": "k" * 9}),
        ("POST", "/api/v1/members/99999999/topups", {"amount_cents": 100, "idempotency_key": "k" * 9}),
    ]
    for method, path, body in bad:
        status, answer = agent.call(method, path, body, token)
        assert 400 <= status < 500 and answer["error"]["code"], (method, path, body, status, answer)
    assert agent.call("GET", "/till/static/../desk.py")[0] == 404
    assert agent.call("GET", "/till/static/secret.js")[0] == 404


def test_quick_join_and_points_off_the_bill(desk):
    agent, token, owner = desk["agent"], desk["token"], desk["owner"]
    status, joined = agent.call("POST", "/api/v1/members", {"phone": "13700007777", "name": "王五"}, token)
    assert status == 201 and joined["name"] == "王五" and joined["phone"] == "137****7777", joined
    status, refused = agent.call("POST", "/api/v1/members", {"phone": "13700007777", "name": "王五"}, token)
    assert status == 409 and refused["error"]["code"] == "member_exists"
    assert agent.call("POST", "/api/v1/members", {"phone": "12345", "name": "王五"}, token)[0] == 422

    adjusted = owner.post(f"/members/{joined['id']}/adjustments", json={
        "account": "points", "delta": 1_000, "reason": "开业赠送", "idempotency_key": uuid.uuid4().hex})
    assert adjusted.status_code in (200, 201), adjusted.get_json()
    order = _order(agent, token, "A02", [{"dish_id": desk["pork"]["id"], "qty": 1}])
    cid = order["client_order_id"]
    plain = agent.call("GET", f"/api/v1/orders/{cid}/bill?member_id={joined['id']}", token=token)[1]
    status, bill = agent.call("GET", f"/api/v1/orders/{cid}/bill?member_id={joined['id']}&points=100", token=token)
    assert status == 200 and bill["points_redeemed"] == 100 and bill["max_points_redeemable"] > 0, bill
    assert bill["payable_cents"] < plain["payable_cents"] and "points" in [s["kind"] for s in bill["steps"]]
    body = {"member_id": joined["id"], "points": 100, "idempotency_key": uuid.uuid4().hex,
            "tenders": [{"type": "cash", "amount_cents": bill["payable_cents"]}]}
    status, paid = agent.call("POST", f"/api/v1/orders/{cid}/checkout", body, token)
    assert status == 200 and paid["payable_cents"] == bill["payable_cents"], paid
    ledger = owner.get(f"/members/{joined['id']}/ledger").get_json()["entries"]
    assert -100 in [e["delta"] for e in ledger if e["account"] == "points"]


def test_a_line_voided_with_a_reason(desk):
    agent, token = desk["agent"], desk["token"]
    order = _order(agent, token, "A01", [{"dish_id": desk["pork"]["id"], "qty": 1},
                                         {"dish_id": desk["rice"]["id"], "qty": 2}])
    cid = order["client_order_id"]
    assert agent.call("POST", f"/api/v1/orders/{cid}/void", {"index": 1, "reason": "x"}, token)[0] == 422
    status, voided = agent.call("POST", f"/api/v1/orders/{cid}/void", {"index": 1, "reason": "点错了"}, token)
    assert status == 200, voided
    assert voided["subtotal_cents"] == 4_800 and [i["name"] for i in voided["items"]] == ["辣椒炒肉"]
    line_id = voided["items"][0]["line_id"]
    assert agent.call("GET", f"/api/v1/orders/{cid}", token=token)[1]["subtotal_cents"] == 4_800
    status, again = agent.call("POST", f"/api/v1/orders/{cid}/void", {"line_id": line_id + 1, "reason": "点错了"},
                               token)
    assert status == 409 and again["error"]["code"] == "line_not_open"
    server = desk["owner"].get(f"/orders/{order['server_id']}").get_json()
    assert [(i["name"], i["status"], i["void_reason"]) for i in server["items"]] == [
        ("辣椒炒肉", server["items"][0]["status"], ""), ("蛋炒饭", "cancelled", "点错了")]


def test_an_order_with_every_dish_voided_is_cancelled_and_its_table_cleared(desk):
    """撤单: a party leaves before eating; its dishes voided one by one, the empty order is
    cancelled on the server and the table is free for the next party."""
    agent, token = desk["agent"], desk["token"]
    agent.call("POST", "/api/v1/tables/B01/seat", {"guests": 2}, token)
    order = _order(agent, token, "B01", [{"dish_id": desk["pork"]["id"], "qty": 1}])
    cid = order["client_order_id"]
    url = f"/api/v1/orders/{cid}/cancel"
    status, refused = agent.call("POST", url, {"reason": "客人离开"}, token)
    assert status == 409 and refused["error"]["code"] == "order_not_empty", refused
    assert agent.call("POST", url, {"reason": "x"}, token)[0] == 422
    assert agent.call("POST", "/api/v1/tables/B01/clear", {}, token)[0] == 409  # an open order
    assert agent.call("POST", f"/api/v1/orders/{cid}/void", {"index": 0, "reason": "客人离开"}, token)[0] == 200

    status, cancelled = agent.call("POST", url, {"reason": "客人离开"}, token)
    assert status == 200, cancelled
    assert cancelled["order"]["status"] == "voided" and cancelled["table"]["state"] == "free", cancelled
    assert desk["owner"].get(f"/orders/{order['server_id']}").get_json()["status"] == "voided"
    status, again = agent.call("POST", url, {"reason": "客人离开"}, token)
    assert status == 409 and again["error"]["code"] == "order_not_open"
    tables = {t["code"]: t for t in agent.call("GET", "/api/v1/tables", token=token)[1]["tables"]}
    assert tables["B01"]["state"] == "free" and tables["B01"]["order"] is None
    second = _order(agent, token, "B01", [{"dish_id": desk["rice"]["id"], "qty": 1}])
    assert second["server_id"] != order["server_id"]


def test_a_session_without_the_servers_token_is_asked_to_log_in_again(desk):
    """A till session kept across a restart of the agent (or opened offline) has no server token:
    what needs one says so, and a fresh login online brings it back."""
    agent, token, member = desk["agent"], desk["token"], desk["member"]
    agent.agent.local.sessions.server_tokens.clear()  # as after a restart of the agent
    order = _order(agent, token, "A01", [{"dish_id": desk["pork"]["id"], "qty": 1}])
    status, refused = agent.call("POST", f"/api/v1/orders/{order['client_order_id']}/items", {
        "items": [{"dish_id": desk["rice"]["id"], "qty": 1}], "idempotency_key": uuid.uuid4().hex}, token)
    assert status == 409 and refused["error"]["code"] == "login_again" and "重新登录" in refused["error"]["message"]
    status, found = agent.call("GET", f"/api/v1/members/identify?card={CARD_NO}", token=token)
    assert status == 200 and found["source"] == "local"  # still served from the local copy
    fresh = agent.call("POST", "/api/v1/session", {"username": desk["cashier"].username,
                                                   "password": desk["make"].PASSWORD})[1]["token"]
    status, found = agent.call("GET", f"/api/v1/members/identify?card={CARD_NO}", token=fresh)
    assert status == 200 and found["source"] == "server" and found["id"] == member["id"]


def test_a_bill_pushed_to_the_diners_turns_paid_at_the_till(desk):
    agent, token, owner = desk["agent"], desk["token"], desk["owner"]
    agent.call("POST", "/api/v1/tables/A01/seat", {"guests": 2}, token)
    order = _order(agent, token, "A01", [{"dish_id": desk["pork"]["id"], "qty": 1}])
    status, pushed = agent.call("POST", f"/api/v1/orders/{order['client_order_id']}/push-bill", {}, token)
    assert status == 200 and pushed["payable_cents"] == 4_800, pushed

    def a01():
        return next(t for t in agent.call("GET", "/api/v1/tables", token=token)[1]["tables"] if t["code"] == "A01")

    assert a01()["state"] == "billed"
    # A diner pays at the table (here: settled on the server directly); the till hears it from the log.
    paid = owner.post(f"/orders/{order['server_id']}/settle", json={
        "tenders": [{"type": "cash", "amount_cents": 4_800}], "idempotency_key": uuid.uuid4().hex})
    assert paid.status_code == 200, paid.get_json()
    until(lambda: a01()["state"] == "paid", 20, "the table to turn paid")
    status, refused = agent.call("POST", f"/api/v1/orders/{order['client_order_id']}/push-bill", {}, token)
    assert status == 409
