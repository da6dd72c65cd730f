"""The WeChat simulator, driven by the real wechatpy clients pointed at it through base URLs."""

from __future__ import annotations

import dataclasses
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import xmltodict
from wechatpy import parse_message
from wechatpy.client.api import WeChatQRCode
from wechatpy.crypto import WeChatCrypto
from wechatpy.events import ScanEvent, SubscribeEvent, SubscribeScanEvent, UnsubscribeEvent
from wechatpy.exceptions import WeChatClientException, WeChatOAuthException, WeChatPayException
from wechatpy.replies import ArticlesReply, TextReply
from wechatpy.utils import check_signature

from simulators.wechat import (
    DEMO_API_KEY,
    DEMO_APPID,
    DEMO_MCH_ID,
    DEMO_TOKEN,
    SimulatorConfig,
    SimulatorServer,
    create_simulator,
    new_code,
)
from simulators.wechat.__main__ import config_from_args, parser
from simulators.wechat.protocol import pay_sign, to_xml
from simulators.wechat.qr import qr_matrix
from tests.simulators.wechat_helpers import (
    Receiver,
    SimWeChatClient,
    hidden_fields,
    radio_values,
    sim_oauth,
    sim_pay,
)

AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


@pytest.fixture(scope="module")
def receiver():
    r = Receiver()
    yield r
    r.stop()


@pytest.fixture(scope="module")
def sim(receiver):
    config = SimulatorConfig(
        server_callback_url=receiver.url + "/wechat/callback",
        notify_retry_delays=(0, 0.05, 0.1, 0.2),
        notify_timeout=2,
        callback_timeout=2,
    )
    with SimulatorServer(config) as server:
        yield server


@pytest.fixture(autouse=True)
def fresh(sim, receiver):
    """Every test starts from an empty simulator with the module's settings."""
    saved = dataclasses.replace(sim.config)
    sim.state.reset()
    receiver.clear()
    yield
    for f in dataclasses.fields(SimulatorConfig):
        setattr(sim.config, f.name, getattr(saved, f.name))
    sim.state.reset()


@pytest.fixture
def client(sim):
    return SimWeChatClient(sim.url, timeout=5)


@pytest.fixture
def pay(sim):
    return sim_pay(sim.url)


def control(sim, path, body=None, method="post", status=200):
    response = requests.request(method, sim.url + path, json=body, timeout=5)
    assert response.status_code == status, response.text
    return response.json()


def new_user(sim, nickname="小明", subscribed=True):
    return control(sim, "/_sim/users", {"nickname": nickname, "subscribed": subscribed}, status=201)["openid"]


def trade_no():
    return "T" + uuid.uuid4().hex[:20]


# --- the app factory and the CLI ---------------------------------------------------------------


def test_factory_defaults_are_the_demo_account():
    app = create_simulator()
    with app.test_client() as web:
        config = web.get("/_sim/config").get_json()
        page = web.get("/").get_data(as_text=True)
    assert (config["appid"], config["token"], config["mch_id"]) == (DEMO_APPID, DEMO_TOKEN, DEMO_MCH_ID)
    assert "api_key" not in config and "secret" not in config
    assert "微信模拟器 WeChat simulator" in page
    assert len(DEMO_API_KEY) == 32
    with pytest.raises(ValueError, match="unknown simulator settings"):
        create_simulator({"app_id": "typo"})


def test_cli_builds_the_callback_url_from_the_server_url():
    args = parser().parse_args(["--port", "8100", "--server-url", "http://127.0.0.1:8000/"])
    config = config_from_args(args)
    assert config.server_callback_url == "http://127.0.0.1:8000/wechat/callback"
    assert config.appid == DEMO_APPID


def test_control_errors_are_json_with_4xx(sim):
    assert control(sim, "/_sim/users", {}, status=422)["error"]["code"] == "nickname_required"
    assert control(sim, "/_sim/users/nobody/inbox", method="get", status=404)["error"]["code"] == "user_not_found"
    assert control(sim, "/_sim/down", {"mode": "explode"}, status=422)["error"]["code"] == "invalid_outage"
    assert control(sim, "/_sim/config", {"appid": "x"}, method="patch", status=422)["error"]["code"] == "not_changeable"


# --- access token ----------------------------------------------------------------------------


def test_access_token_is_issued_for_the_right_secret_only(sim, client):
    token = client.fetch_access_token()
    assert token["expires_in"] == 7200 and len(token["access_token"]) > 100
    with pytest.raises(WeChatClientException) as caught:
        SimWeChatClient(sim.url, secret="wrong").fetch_access_token()
    assert caught.value.errcode == 40001


def test_unknown_expired_and_replaced_tokens_are_refused_as_wechat_does(sim, client):
    api = sim.url + "/cgi-bin/user/info"
    assert requests.get(api, params={"access_token": "nope", "openid": "x"}).json()["errcode"] == 40001
    assert requests.get(api, params={"openid": "x"}).json()["errcode"] == 41001
    first = client.fetch_access_token()["access_token"]
    client.fetch_access_token()  # a new token: the old one keeps working for five minutes
    assert requests.get(api, params={"access_token": first, "openid": "x"}).json()["errcode"] == 40003
    sim.state.advance(301)
    assert requests.get(api, params={"access_token": first, "openid": "x"}).json()["errcode"] == 40001
    sim.state.advance(7200)
    current = sim.state.access_tokens[-1].token
    assert requests.get(api, params={"access_token": current, "openid": "x"}).json()["errcode"] == 42001


def test_wechatpy_refetches_an_expired_token_and_retries(sim, client):
    openid = new_user(sim)
    client.fetch_access_token()
    sim.state.advance(7201)  # the client's own clock still trusts its token
    client.message.send_template(openid, "TPL", {"amount": {"value": "￥1.00"}})
    assert len(sim.state.access_tokens) == 2
    assert len(control(sim, f"/_sim/users/{openid}/inbox", method="get")["messages"]) == 1


# --- template messages -----------------------------------------------------------------------------


def test_template_message_lands_in_the_users_inbox(sim, client):
    sim.config.templates = {"TPL_BILL": {"title": "账单提醒", "labels": {"amount2": "消费金额"}}}
    openid = new_user(sim)
    result = client.message.send_template(
        openid,
        "TPL_BILL",
        {"thing1": {"value": "3号桌"}, "amount2": {"value": "￥88.50", "color": "#173177"}},
        url="http://127.0.0.1:8000/bill/42",
    )
    assert result["errcode"] == 0 and result["errmsg"] == "ok" and result["msgid"]
    client.message.send_template(openid, "TPL_OTHER", {"thing1": {"value": "later"}})

    inbox = control(sim, f"/_sim/users/{openid}/inbox", method="get")["messages"]
    assert [m["template_id"] for m in inbox] == ["TPL_OTHER", "TPL_BILL"]  # newest first
    bill = inbox[1]
    assert bill["title"] == "账单提醒" and bill["url"] == "http://127.0.0.1:8000/bill/42"
    assert [(f["label"], f["value"]) for f in bill["fields"]] == [("thing1", "3号桌"), ("消费金额", "￥88.50")]
    page = requests.get(f"{sim.url}/inbox/{openid}").text
    assert "账单提醒" in page and "￥88.50" in page and 'href="http://127.0.0.1:8000/bill/42"' in page


@pytest.mark.parametrize(
    ("touser", "template_id", "subscribed", "errcode"),
    [("unknown", "TPL", True, 40003), (None, "", True, 40037), (None, "TPL", False, 43004)],
)
def test_template_message_is_refused(sim, client, touser, template_id, subscribed, errcode):
    openid = new_user(sim, subscribed=subscribed)
    with pytest.raises(WeChatClientException) as caught:
        client.message.send_template(touser or openid, template_id, {"k": {"value": "v"}})
    assert caught.value.errcode == errcode


# --- web OAuth ------------------------------------------------------------------------------------


def test_oauth_page_lets_the_tester_choose_a_user_and_returns_a_single_use_code(sim):
    existing = new_user(sim, "老王")
    oauth = sim_oauth(sim.url, "http://127.0.0.1:8000/wechat/oauth?next=/menu", "snsapi_userinfo", "s123")
    page = requests.get(oauth.authorize_url)
    assert page.status_code == 200 and "允许 Allow" in page.text
    assert radio_values(page.text, "openid") == [existing]

    form = hidden_fields(page.text) | {"nickname": "小红", "subscribed": "1"}
    answer = requests.post(sim.url + "/connect/oauth2/authorize", data=form, allow_redirects=False)
    assert answer.status_code == 302
    target = urlsplit(answer.headers["Location"])
    assert (target.netloc, target.path) == ("127.0.0.1:8000", "/wechat/oauth")
    query = parse_qs(target.query)
    assert query["next"] == ["/menu"] and query["state"] == ["s123"]

    token = oauth.fetch_access_token(query["code"][0])
    assert token["scope"] == "snsapi_userinfo" and oauth.open_id == token["openid"] != existing
    assert oauth.get_user_info()["nickname"] == "小红"
    assert oauth.check_access_token()
    with pytest.raises(WeChatOAuthException) as caught:
        sim_oauth(sim.url, "http://x/").fetch_access_token(query["code"][0])
    assert caught.value.errcode == 40163

    # Picking the existing user:
    form = hidden_fields(page.text) | {"openid": existing}
    code = parse_qs(
        urlsplit(
            requests.post(sim.url + "/connect/oauth2/authorize", data=form, allow_redirects=False).headers["Location"]
        ).query
    )["code"][0]
    assert sim_oauth(sim.url, "http://x/").fetch_access_token(code)["openid"] == existing


def test_oauth_codes_expire_and_base_scope_gets_no_profile(sim):
    openid = new_user(sim)
    code = sim.state.new_oauth_code(openid, "snsapi_base").code
    oauth = sim_oauth(sim.url, "http://x/")
    oauth.fetch_access_token(code)
    with pytest.raises(WeChatOAuthException) as caught:
        oauth.get_user_info()
    assert caught.value.errcode == 48001
    refreshed = oauth.refresh_access_token(oauth.refresh_token)
    assert refreshed["openid"] == openid
    stale = sim.state.new_oauth_code(openid, "snsapi_base").code
    sim.state.advance(301)
    with pytest.raises(WeChatOAuthException) as caught:
        oauth.fetch_access_token(stale)
    assert caught.value.errcode == 40029


def test_oauth_page_refuses_a_wrong_appid_or_scope(sim):
    base = sim.url + "/connect/oauth2/authorize"
    good = {"appid": DEMO_APPID, "redirect_uri": "http://x/", "response_type": "code", "scope": "snsapi_base"}
    assert requests.get(base, params=good).status_code == 200
    assert requests.get(base, params=good | {"appid": "wx_other"}).status_code == 400
    assert requests.get(base, params=good | {"scope": "snsapi_login"}).status_code == 400


# --- scene QR codes and events ----------------------------------------------------------------------


def test_qrcode_scan_posts_a_signed_subscribe_then_scan_event(sim, client, receiver):
    openid = new_user(sim, subscribed=False)
    created = client.qrcode.create(
        {"action_name": "QR_LIMIT_STR_SCENE", "action_info": {"scene": {"scene_str": "table_12"}}}
    )
    assert "expire_seconds" not in created and created["url"].startswith(sim.url + "/q/")
    again = client.qrcode.create(
        {"action_name": "QR_LIMIT_STR_SCENE", "action_info": {"scene": {"scene_str": "table_12"}}}
    )
    assert again["ticket"] == created["ticket"]  # a permanent code is the same code

    image = requests.get(WeChatQRCode.get_url(created["ticket"]).replace("https://mp.weixin.qq.com", sim.url))
    assert image.status_code == 200 and image.headers["Content-Type"].startswith("image/svg+xml")
    assert "<svg" in image.text and qr_matrix(created["url"])

    receiver.reply(
        (
            200,
            to_xml(
                {
                    "ToUserName": openid,
                    "FromUserName": "gh",
                    "CreateTime": 1,
                    "MsgType": "text",
                    "Content": "欢迎光临 Welcome",
                }
            ),
        )
    )
    delivery = control(sim, "/_sim/qrcodes/scan", {"ticket": created["ticket"], "openid": openid})
    assert delivery["state"] == "delivered" and delivery["reply"]["Content"] == "欢迎光临 Welcome"
    first = receiver.wait_for(1)[0]
    assert first.method == "POST" and first.path == "/wechat/callback" and first.args["openid"] == openid
    check_signature(DEMO_TOKEN, first.args["signature"], first.args["timestamp"], first.args["nonce"])
    event = parse_message(first.body)
    assert isinstance(event, SubscribeScanEvent)
    assert (event.scene_id, event.ticket, event.source, event.target) == (
        "table_12",
        created["ticket"],
        openid,
        sim.config.original_id,
    )
    raw = xmltodict.parse(first.body)["xml"]
    assert (raw["MsgType"], raw["Event"], raw["EventKey"]) == ("event", "subscribe", "qrscene_table_12")

    control(sim, "/_sim/qrcodes/scan", {"url": created["url"], "openid": openid})
    second = parse_message(receiver.wait_for(2)[1].body)
    assert isinstance(second, ScanEvent) and second.scene_id == "table_12"
    assert control(sim, f"/_sim/users/{openid}", method="get")["is_subscribed"] is True
    assert control(sim, f"/_sim/users/{openid}/inbox", method="get")["messages"][0]["text"] == "欢迎光临 Welcome"


def test_scanning_on_the_phone_page_subscribes_and_opens_the_chat(sim, client, receiver):
    created = client.qrcode.create({"action_name": "QR_LIMIT_STR_SCENE", "action_info": {"scene": {"scene_str": "t3"}}})
    page = requests.get(created["url"])
    assert page.status_code == 200 and "t3" in page.text
    answer = requests.post(created["url"], data={"nickname": "路人"}, allow_redirects=False)
    assert answer.status_code == 302 and answer.headers["Location"].startswith("/inbox/o")
    event = parse_message(receiver.wait_for(1)[0].body)
    assert isinstance(event, SubscribeScanEvent) and event.scene_id == "t3"
    assert answer.headers["Location"] == f"/inbox/{event.source}"


def test_temporary_scene_id_code_and_follow_unfollow_events(sim, client, receiver):
    openid = new_user(sim, subscribed=False)
    created = client.qrcode.create(
        {"expire_seconds": 600, "action_name": "QR_SCENE", "action_info": {"scene": {"scene_id": 123}}}
    )
    assert created["expire_seconds"] == 600
    control(sim, "/_sim/qrcodes/scan", {"ticket": created["ticket"], "openid": openid})
    assert parse_message(receiver.wait_for(1)[0].body).scene_id == "123"
    control(sim, f"/_sim/users/{openid}/unsubscribe")
    news = ArticlesReply(source=DEMO_APPID, target=openid)
    news.add_article({"title": "本周特价", "description": "半价", "url": "http://127.0.0.1:8000/deals"})
    receiver.reply((200, news.render()))
    control(sim, f"/_sim/users/{openid}/subscribe")
    events = [parse_message(r.body) for r in receiver.wait_for(3)]
    assert isinstance(events[1], UnsubscribeEvent) and type(events[2]) is SubscribeEvent
    articles = control(sim, f"/_sim/users/{openid}/inbox", method="get")["messages"][0]["articles"]
    assert [(a["Title"], a["Url"]) for a in articles] == [("本周特价", "http://127.0.0.1:8000/deals")]
    sim.state.advance(601)
    assert control(sim, "/_sim/qrcodes/scan", {"ticket": created["ticket"], "openid": openid}, status=404)
    with pytest.raises(WeChatClientException) as caught:
        client.qrcode.create({"action_name": "QR_LIMIT_SCENE", "action_info": {"scene": {"scene_id": 100001}}})
    assert caught.value.errcode == 40097


def test_safe_mode_events_decrypt_with_wechatpy(sim, client, receiver):
    control(sim, "/_sim/config", {"encoding_aes_key": AES_KEY}, method="patch")
    openid = new_user(sim, subscribed=False)
    created = client.qrcode.create({"action_name": "QR_STR_SCENE", "action_info": {"scene": {"scene_str": "t7"}}})
    control(sim, "/_sim/qrcodes/scan", {"ticket": created["ticket"], "openid": openid})
    sent = receiver.wait_for(1)[0]
    assert sent.args["encrypt_type"] == "aes"
    check_signature(DEMO_TOKEN, sent.args["signature"], sent.args["timestamp"], sent.args["nonce"])
    crypto = WeChatCrypto(DEMO_TOKEN, AES_KEY, DEMO_APPID)
    plain = crypto.decrypt_message(sent.body, sent.args["msg_signature"], sent.args["timestamp"], sent.args["nonce"])
    event = parse_message(plain)
    assert isinstance(event, SubscribeScanEvent) and event.scene_id == "t7"

    # An encrypted passive reply reaches the phone.
    reply = TextReply(source=DEMO_APPID, target=openid, content="欢迎回来").render()
    receiver.reply((200, crypto.encrypt_message(reply, "nonce1")))
    control(sim, "/_sim/qrcodes/scan", {"ticket": created["ticket"], "openid": openid})
    inbox = control(sim, f"/_sim/users/{openid}/inbox", method="get")["messages"]
    assert inbox[0]["kind"] == "reply" and inbox[0]["text"] == "欢迎回来"


def test_callback_url_verification_and_an_unreachable_server(sim, receiver):
    result = control(sim, "/_sim/callback/verify")
    assert result["ok"] is True
    get = receiver.wait_for(1)[0]
    check_signature(DEMO_TOKEN, get.args["signature"], get.args["timestamp"], get.args["nonce"])

    openid = new_user(sim)
    receiver.reply((500, "boom"), (500, "boom"), (500, "boom"))
    delivery = control(sim, f"/_sim/users/{openid}/messages", {"content": "有包间吗"})
    assert delivery["state"] == "failed" and [a["status"] for a in delivery["attempts"]] == [500, 500, 500]
    assert parse_message(receiver.requests[-1].body).content == "有包间吗"

    control(sim, "/_sim/config", {"server_callback_url": None}, method="patch")
    assert control(sim, f"/_sim/users/{openid}/subscribe", status=409)["error"]["code"] == "no_callback_url"


# --- WeChat Pay: JSAPI and NATIVE --------------------------------------------------------------------


def test_jsapi_order_paid_on_the_sheet_notifies_the_server(sim, pay, receiver):
    openid = new_user(sim)
    no = trade_no()
    order = pay.order.create(
        "JSAPI",
        "3号桌 午餐",
        8850,
        receiver.url + "/wechat/pay/notify",
        client_ip="127.0.0.1",
        user_id=openid,
        out_trade_no=no,
        attach="bill:42",
    )
    assert order["trade_type"] == "JSAPI" and order["prepay_id"].startswith("wx")
    assert pay.check_signature(dict(order))  # answers are signed too

    params = pay.jsapi.get_jsapi_params(order["prepay_id"])
    sheet = requests.get(sim.url + "/pay/sheet", params=params)
    assert sheet.status_code == 200
    assert "￥88.50" in sheet.text and "确认支付 Pay" in sheet.text and "取消 Cancel" in sheet.text
    forged = requests.get(sim.url + "/pay/sheet", params=params | {"paySign": "0" * 32})
    assert forged.status_code == 400 and "paySign" in forged.text

    done = requests.post(sim.url + "/pay/sheet", data=hidden_fields(sheet.text) | {"action": "pay"})
    assert done.status_code == 200 and "支付成功" in done.text

    notification = receiver.wait_for(1)[0]
    assert notification.path == "/wechat/pay/notify"
    result = pay.parse_payment_result(notification.body)  # raises on a bad signature
    assert (result["out_trade_no"], result["total_fee"], result["cash_fee"]) == (no, 8850, 8850)
    assert (result["openid"], result["attach"], result["trade_type"]) == (openid, "bill:42", "JSAPI")
    assert result["result_code"] == result["return_code"] == "SUCCESS"
    assert len(result["transaction_id"]) == 28 and len(result["time_end"]) == 14

    sim.state.wait_for(lambda s: s.notifications(kind="payment")[0].state == "delivered")
    query = pay.order.query(out_trade_no=no)
    assert (query["trade_state"], query["transaction_id"]) == ("SUCCESS", result["transaction_id"])
    assert [m["kind"] for m in control(sim, f"/_sim/users/{openid}/inbox", method="get")["messages"]] == ["pay"]


def test_sheet_cancel_returns_to_the_page_and_leaves_the_order_payable(sim, pay):
    openid = new_user(sim)
    order = pay.order.create("JSAPI", "x", 100, "http://127.0.0.1:9/n", client_ip="127.0.0.1", user_id=openid)
    back = "http://127.0.0.1:8000/bill/42?table=3#pay"
    sheet = requests.get(sim.url + "/pay/sheet", params={"prepay_id": order["prepay_id"], "return_url": back})
    answer = requests.post(
        sim.url + "/pay/sheet", data=hidden_fields(sheet.text) | {"action": "cancel"}, allow_redirects=False
    )
    target = urlsplit(answer.headers["Location"])
    assert (target.path, target.fragment) == ("/bill/42", "pay")
    assert parse_qs(target.query)["result"] == ["cancel"] and parse_qs(target.query)["table"] == ["3"]
    assert control(sim, "/_sim/orders", method="get")["orders"][0]["trade_state"] == "NOTPAY"


def test_notification_is_retried_until_acknowledged_and_can_be_resent(sim, pay, receiver):
    openid = new_user(sim)
    no = trade_no()
    pay.order.create(
        "JSAPI", "x", 100, receiver.url + "/notify", client_ip="127.0.0.1", user_id=openid, out_trade_no=no
    )
    receiver.reply((500, "down"), (200, "<xml><return_code><![CDATA[FAIL]]></return_code></xml>"))
    control(sim, "/_sim/orders/pay", {"out_trade_no": no})
    delivered = sim.state.wait_for(lambda s: s.notifications(kind="payment", key=no)[0].state == "delivered")
    assert delivered
    listed = control(sim, f"/_sim/notifications?out_trade_no={no}", method="get")["notifications"]
    assert [a["status"] for a in listed[0]["attempts"]] == [500, 200, 200]
    assert [a["ok"] for a in listed[0]["attempts"]] == [False, False, True]
    bodies = {r.body for r in receiver.wait_for(3)}
    assert len(bodies) == 1  # every try carries the same signed message

    control(sim, f"/_sim/notifications/{listed[0]['id']}/resend", status=202)
    assert len(receiver.wait_for(4)) == 4


def test_repeating_a_unified_order(sim, pay, receiver):
    openid = new_user(sim)
    no = trade_no()
    args = ("JSAPI", "午餐", 500, receiver.url + "/notify")
    first = pay.order.create(*args, client_ip="127.0.0.1", user_id=openid, out_trade_no=no)
    again = pay.order.create(*args, client_ip="127.0.0.1", user_id=openid, out_trade_no=no)
    assert again["prepay_id"] == first["prepay_id"]
    with pytest.raises(WeChatPayException) as caught:
        pay.order.create(
            "JSAPI", "午餐", 600, receiver.url + "/notify", client_ip="127.0.0.1", user_id=openid, out_trade_no=no
        )
    assert caught.value.errcode == "INVALID_REQUEST"
    control(sim, "/_sim/orders/pay", {"prepay_id": first["prepay_id"]})
    with pytest.raises(WeChatPayException) as caught:
        pay.order.create(*args, client_ip="127.0.0.1", user_id=openid, out_trade_no=no)
    assert caught.value.errcode == "ORDERPAID"
    assert control(sim, "/_sim/orders/pay", {"out_trade_no": no}, status=409)["error"]["code"] == "cannot_pay"


def test_unified_order_refuses_bad_parameters(sim, pay):
    with pytest.raises(WeChatPayException) as caught:
        pay.order.create("JSAPI", "x", 100, "http://n/", client_ip="127.0.0.1")
    assert caught.value.return_code == "FAIL" and "openid" in caught.value.return_msg
    with pytest.raises(WeChatPayException) as caught:
        pay.order.create("NATIVE", "x", 0, "http://n/", client_ip="127.0.0.1", product_id="p")
    assert caught.value.return_code == "FAIL"


def test_native_code_url_is_paid_by_whoever_scans_it(sim, pay, receiver):
    openid = new_user(sim)
    no = trade_no()
    order = pay.order.create(
        "NATIVE", "外卖", 2000, receiver.url + "/notify", client_ip="127.0.0.1", product_id="bill-7", out_trade_no=no
    )
    assert order["code_url"].startswith("weixin://wxpay/bizpayurl?pr=")
    scan = requests.get(sim.url + "/pay/scan", params={"code_url": order["code_url"]}, allow_redirects=False)
    assert scan.status_code == 302 and "/pay/sheet?prepay_id=" in scan.headers["Location"]
    sheet = requests.get(sim.url + scan.headers["Location"])
    assert "￥20.00" in sheet.text and radio_values(sheet.text, "openid") == [openid]

    assert control(sim, "/_sim/orders/pay", {"code_url": order["code_url"]}, status=409)  # who scanned?
    paid = control(sim, "/_sim/orders/pay", {"code_url": order["code_url"], "openid": openid})
    assert paid["trade_state"] == "SUCCESS" and paid["openid"] == openid
    assert pay.parse_payment_result(receiver.wait_for(1)[0].body)["trade_type"] == "NATIVE"
    listed = control(sim, "/_sim/orders", method="get")["orders"]
    assert [(o["out_trade_no"], o["trade_state"], o["amount"]) for o in listed] == [(no, "SUCCESS", "￥20.00")]


def test_closed_order_cannot_be_paid(sim, pay):
    openid = new_user(sim)
    no = trade_no()
    pay.order.create("JSAPI", "x", 100, "http://127.0.0.1:9/n", client_ip="127.0.0.1", user_id=openid, out_trade_no=no)
    control(sim, "/_sim/orders/cancel", {"out_trade_no": no})  # closing the sheet leaves it payable
    assert pay.order.query(out_trade_no=no)["trade_state"] == "NOTPAY"
    pay.order.close(no)
    assert pay.order.query(out_trade_no=no)["trade_state"] == "CLOSED"
    assert control(sim, "/_sim/orders/pay", {"out_trade_no": no}, status=409)["error"]["code"] == "cannot_pay"
    with pytest.raises(WeChatPayException) as caught:
        pay.order.close(no)
    assert caught.value.errcode == "ORDERCLOSED"
    with pytest.raises(WeChatPayException) as caught:
        pay.order.query(out_trade_no="missing")
    assert caught.value.errcode == "ORDERNOTEXIST"


# --- WeChat Pay: payment codes (MICROPAY) -----------------------------------------------------------


def micropay(pay, code, fee=1000, no=None):
    return pay.micropay.create("堂食", fee, code, client_ip="127.0.0.1", out_trade_no=no or trade_no())


def test_micropay_success_at_once(sim, pay):
    openid = new_user(sim)
    code = control(sim, f"/_sim/users/{openid}/payment-codes", {"ending": "0001"}, status=201)["auth_code"]
    result = micropay(pay, code, 1288)
    assert (result["trade_type"], result["total_fee"], result["openid"]) == ("MICROPAY", "1288", openid)
    assert result["transaction_id"] and result["time_end"]


@pytest.mark.parametrize(("ending", "errcode"), [("0002", "NOTENOUGH"), ("0005", "AUTHCODEEXPIRE")])
def test_micropay_refused(sim, pay, ending, errcode):
    no = trade_no()
    with pytest.raises(WeChatPayException) as caught:
        micropay(pay, new_code(ending), no=no)
    assert caught.value.errcode == errcode
    assert pay.order.query(out_trade_no=no)["trade_state"] == "PAYERROR"


def test_micropay_with_something_that_is_not_a_payment_code(sim, pay):
    with pytest.raises(WeChatPayException) as caught:
        micropay(pay, "123456")
    assert caught.value.errcode == "AUTH_CODE_INVALID"


def test_micropay_userpaying_then_paid_after_queries(sim, pay):
    no = trade_no()
    with pytest.raises(WeChatPayException) as caught:
        micropay(pay, new_code("0003"), no=no)
    assert caught.value.errcode == "USERPAYING"
    assert pay.order.query(out_trade_no=no)["trade_state"] == "USERPAYING"
    paid = pay.order.query(out_trade_no=no)
    assert paid["trade_state"] == "SUCCESS" and paid["total_fee"] == "1000" and paid["openid"]


def test_micropay_userpaying_never_completes_and_is_reversed(sim, pay):
    no = trade_no()
    code = new_code("0004")
    with pytest.raises(WeChatPayException) as caught:
        micropay(pay, code, no=no)
    assert caught.value.errcode == "USERPAYING"
    for _ in range(4):
        assert pay.order.query(out_trade_no=no)["trade_state"] == "USERPAYING"
    assert pay.order.reverse(out_trade_no=no)["recall"] == "N"
    assert pay.order.query(out_trade_no=no)["trade_state"] == "REVOKED"
    assert control(sim, "/_sim/orders/pay", {"out_trade_no": no}, status=409)
    with pytest.raises(WeChatPayException) as caught:
        micropay(pay, code, no=no)
    assert caught.value.errcode == "ORDERREVERSED"
    assert pay.order.query(out_trade_no=no)["trade_state"] == "REVOKED"


def test_micropay_system_error_while_the_money_moved(sim, pay):
    no = trade_no()
    with pytest.raises(WeChatPayException) as caught:
        micropay(pay, new_code("0007"), no=no)
    assert caught.value.errcode == "SYSTEMERROR"
    assert pay.order.query(out_trade_no=no)["trade_state"] == "SUCCESS"


def test_micropay_diner_confirms_on_the_phone(sim, pay):
    no = trade_no()
    with pytest.raises(WeChatPayException):
        micropay(pay, new_code("0004"), no=no)
    control(sim, "/_sim/orders/pay", {"out_trade_no": no})
    assert pay.order.query(out_trade_no=no)["trade_state"] == "SUCCESS"


# --- refunds ------------------------------------------------------------------------------------------


def test_refund_is_idempotent_bounded_and_notified_encrypted(sim, pay, receiver):
    no = trade_no()
    paid = micropay(pay, new_code("0001"), 1000, no=no)
    notify = receiver.url + "/wechat/refund/notify"
    first = pay.refund.apply(1000, 300, "R-" + no, out_trade_no=no, notify_url=notify)
    assert first["refund_fee"] == "300" and first["transaction_id"] == paid["transaction_id"]
    again = pay.refund.apply(1000, 300, "R-" + no, out_trade_no=no, notify_url=notify)
    assert again["refund_id"] == first["refund_id"]
    with pytest.raises(WeChatPayException) as caught:
        pay.refund.apply(1000, 800, "R2-" + no, out_trade_no=no)
    assert caught.value.errcode == "ERROR"
    with pytest.raises(WeChatPayException) as caught:
        pay.refund.apply(1000, 400, "R-" + no, out_trade_no=no)
    assert caught.value.errcode == "INVALID_REQUEST"

    body = receiver.wait_for(1)[0].body
    assert "req_info" in xmltodict.parse(body)["xml"] and "sign" not in xmltodict.parse(body)["xml"]
    info = pay.parse_refund_notify_result(body)
    assert (info["out_refund_no"], info["refund_fee"], info["total_fee"]) == ("R-" + no, 300, 1000)
    assert (info["refund_status"], info["refund_id"], info["out_trade_no"]) == ("SUCCESS", first["refund_id"], no)

    assert pay.refund.query(out_refund_no="R-" + no)["refund_status_0"] == "SUCCESS"
    assert pay.order.query(out_trade_no=no)["trade_state"] == "REFUND"
    with pytest.raises(WeChatPayException) as caught:
        pay.refund.query(out_refund_no="nope")
    assert caught.value.errcode == "REFUNDNOTEXIST"


def test_unpaid_order_cannot_be_refunded(sim, pay):
    no = trade_no()
    with pytest.raises(WeChatPayException):
        micropay(pay, new_code("0004"), no=no)
    with pytest.raises(WeChatPayException) as caught:
        pay.refund.apply(1000, 100, "R-" + no, out_trade_no=no)
    assert caught.value.errcode == "ERROR"


# --- forged requests and outages ------------------------------------------------------------------------


def test_forged_requests_are_refused(sim, pay):
    with pytest.raises(WeChatPayException) as caught:
        sim_pay(sim.url, api_key="x" * 32).order.query(out_trade_no="T1")
    assert (caught.value.return_code, caught.value.return_msg) == ("FAIL", "签名错误")

    params = {"appid": DEMO_APPID, "mch_id": DEMO_MCH_ID, "nonce_str": "n1", "out_trade_no": "T1"}
    params["sign"] = pay_sign(params, DEMO_API_KEY)
    params["out_trade_no"] = "T2"  # changed after signing
    answer = xmltodict.parse(requests.post(sim.url + "/pay/orderquery", data=to_xml(params)).text)["xml"]
    assert answer["return_code"] == "FAIL"
    answer = xmltodict.parse(requests.post(sim.url + "/pay/orderquery", data="<not xml").text)["xml"]
    assert answer["return_code"] == "FAIL"


def test_hmac_sha256_requests_get_hmac_signed_answers(sim):
    params = {
        "appid": DEMO_APPID,
        "mch_id": DEMO_MCH_ID,
        "nonce_str": "n1",
        "out_trade_no": "T1",
        "sign_type": "HMAC-SHA256",
    }
    params["sign"] = pay_sign(params, DEMO_API_KEY, "HMAC-SHA256")
    answer = xmltodict.parse(requests.post(sim.url + "/pay/orderquery", data=to_xml(params)).text)["xml"]
    assert (answer["return_code"], answer["err_code"]) == ("SUCCESS", "ORDERNOTEXIST")
    assert answer["sign"] == pay_sign(answer, DEMO_API_KEY, "HMAC-SHA256")


def test_simulator_down_answers_503_then_recovers(sim, client, pay):
    control(sim, "/_sim/down", {"mode": "503"})
    with pytest.raises(WeChatClientException) as caught:
        client.fetch_access_token()
    assert caught.value.response.status_code == 503
    with pytest.raises(WeChatPayException) as caught:
        pay.order.query(out_trade_no="T1")
    assert caught.value.response.status_code == 503
    control(sim, "/_sim/up")
    assert client.fetch_access_token()["access_token"]


def test_pay_only_outage_leaves_the_account_up(sim, client, pay):
    control(sim, "/_sim/down", {"mode": "503", "scope": "pay"})
    assert client.fetch_access_token()["access_token"]
    with pytest.raises(WeChatPayException):
        pay.order.query(out_trade_no="T1")


def test_refused_connections_and_slow_answers(sim, pay):
    sim.state.start_outage("refuse")
    with pytest.raises(requests.ConnectionError):
        pay.order.query(out_trade_no="T1")
    sim.state.end_outage()
    with pytest.raises(WeChatPayException) as caught:
        pay.order.query(out_trade_no="T1")
    assert caught.value.errcode == "ORDERNOTEXIST"  # same address, answering again

    assert control(sim, "/_sim/down", {"mode": "refuse"}, status=422)  # nothing could bring it back
    control(sim, "/_sim/down", {"mode": "timeout", "delay": 0.5})
    with pytest.raises(requests.Timeout):
        sim_pay(sim.url, timeout=0.1).order.query(out_trade_no="T1")


# --- the follower's messages and customer-service answers ---------------------------------------


def test_a_follower_sends_text_and_a_picture_as_wechat_does(sim, receiver):
    from wechatpy.messages import ImageMessage, TextMessage

    openid = new_user(sim)
    control(sim, f"/_sim/users/{openid}/messages", {"content": "我想订位"})
    control(sim, f"/_sim/users/{openid}/messages", {"image_url": "https://example.com/a.jpg"})
    text, image = (parse_message(r.body) for r in receiver.wait_for(2))
    check_signature(DEMO_TOKEN, receiver.requests[0].args["signature"], receiver.requests[0].args["timestamp"],
                    receiver.requests[0].args["nonce"])
    assert isinstance(text, TextMessage) and (text.content, text.source) == ("我想订位", openid) and text.id
    assert isinstance(image, ImageMessage) and image.image == "https://example.com/a.jpg" and image.media_id
    control(sim, f"/_sim/users/{openid}/messages", {"image_url": "javascript:alert(1)"}, status=422)
    control(sim, f"/_sim/users/{openid}/messages", {}, status=422)


def test_customer_service_messages_only_within_48_hours_of_the_followers_message(sim, client):
    openid = new_user(sim)
    with pytest.raises(WeChatClientException) as never_wrote:
        client.message.send_text(openid, "您好")
    assert never_wrote.value.errcode == 45015
    control(sim, f"/_sim/users/{openid}/messages", {"content": "在吗"})
    client.message.send_text(openid, "在的，请讲")
    sim.state.advance(48 * 3600 + 1)
    with pytest.raises(WeChatClientException) as late:
        client.message.send_text(openid, "还在吗")
    assert late.value.errcode == 45015
    chat = requests.get(f"{sim.url}/chat/{openid}", timeout=5).text
    assert chat.index("在吗") < chat.index("在的，请讲") and "还在吗" not in chat
