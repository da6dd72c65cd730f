"""The official account's callback: WeChat's URL check, signed events, followers and the QR scene
that brought them, the passive reply; and the follow QR code of a table."""

from __future__ import annotations

import hashlib
import time

import requests
import sqlalchemy as sa

from app.wechat.models import WeChatFollower
from simulators.wechat import DEMO_APPID, DEMO_TOKEN
from tests.factories import create_table
from tests.integration.wechat_support import (
    control,
    inbox,
    new_user,
    scan,
    scene_ticket,
)

AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


def _signed(token: str = DEMO_TOKEN, timestamp: str | None = None, nonce: str = "12345") -> dict:
    timestamp = timestamp or str(int(time.time()))
    signature = hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode()).hexdigest()
    return {"signature": signature, "timestamp": timestamp, "nonce": nonce}


def _event(openid: str, event: str, key: str = "") -> str:
    return (f"<xml><ToUserName><![CDATA[gh_0123456789ab]]></ToUserName><FromUserName><![CDATA[{openid}]]>"
            f"</FromUserName><CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
            f"<Event><![CDATA[{event}]]></Event><EventKey><![CDATA[{key}]]></EventKey></xml>")


def _followers(db) -> list[WeChatFollower]:
    db.session.commit()
    return list(db.session.scalars(sa.select(WeChatFollower).order_by(WeChatFollower.id)))


def test_wechat_checks_the_callback_url_and_a_wrong_signature_is_refused(make, oa):
    assert control(oa.sim, "/_sim/callback/verify")["ok"] is True
    good = make.client.get("/wechat/callback", query_string={**_signed(), "echostr": "4242"})
    assert (good.status_code, good.get_data(as_text=True)) == (200, "4242")
    named = make.client.get(f"/wechat/callback/{DEMO_APPID}", query_string={**_signed(), "echostr": "7"})
    assert named.get_data(as_text=True) == "7"
    bad = make.client.get("/wechat/callback", query_string={**_signed(token="not-ours"), "echostr": "4242"})
    assert bad.status_code == 403 and "4242" not in bad.get_data(as_text=True)
    assert make.client.get("/wechat/callback/wx_unknown", query_string=_signed()).status_code == 404


def test_an_event_with_a_bad_signature_changes_nothing(make, oa):
    body = _event("o_intruder", "subscribe", "qrscene_campaign_x")
    for query in (_signed(token="not-ours"), {}, {"signature": "", "timestamp": "", "nonce": ""}):
        response = make.client.post("/wechat/callback", query_string=query, data=body,
                                    content_type="text/xml")
        assert response.status_code == 403
    assert _followers(make.db) == []


def test_a_signed_body_that_is_not_a_message_gets_400(make, oa):
    for body in ("", "not xml", "<a>1</a>"):
        response = make.client.post("/wechat/callback", query_string=_signed(), data=body, content_type="text/xml")
        assert response.status_code == 400, body
    assert _followers(make.db) == []


def test_subscribing_through_a_table_code_records_the_follower_and_offers_membership(make, oa):
    table = create_table(make, oa.tenant, code="A01")
    openid = new_user(oa.sim, subscribed=False)
    delivery = scan(make.db, oa.sim, openid, ticket=scene_ticket(oa.sim, f"table_{table['id']}"))
    assert delivery["state"] == "delivered", delivery

    (follower,) = _followers(make.db)
    assert (follower.merchant_id, follower.openid, follower.is_subscribed) == (oa.merchant_id, openid, True)
    assert follower.scene == follower.first_scene == f"table_{table['id']}"
    assert follower.subscribed_at is not None
    (reply,) = [m for m in inbox(oa.sim, openid) if m["kind"] == "reply"]
    assert "加入会员" in reply["text"] and f"/m/join?merchant={oa.merchant_id}" in reply["text"]

    # A later scan of another code (SCAN, already a follower) moves the scene, not the first one.
    scan(make.db, oa.sim, openid, ticket=scene_ticket(oa.sim, "campaign_spring"))
    (follower,) = _followers(make.db)
    assert (follower.scene, follower.first_scene) == ("campaign_spring", f"table_{table['id']}")

    control(oa.sim, f"/_sim/users/{openid}/unsubscribe")
    (follower,) = _followers(make.db)
    assert follower.is_subscribed is False and follower.unsubscribed_at is not None
    control(oa.sim, f"/_sim/users/{openid}/subscribe")  # back, from search: no scene
    (follower,) = _followers(make.db)
    assert follower.is_subscribed is True and follower.unsubscribed_at is None
    assert follower.first_scene == f"table_{table['id']}"


def test_the_safe_mode_is_understood_and_answered_encrypted(make, oa):
    oa.settings.encoding_aes_key = AES_KEY
    make.db.session.commit()
    oa.sim.config.encoding_aes_key = AES_KEY
    openid = new_user(oa.sim, subscribed=False)
    delivery = control(oa.sim, f"/_sim/users/{openid}/subscribe")
    assert delivery["state"] == "delivered", delivery
    assert "加入会员" in delivery["reply"]["Content"]  # the simulator could decrypt our reply
    assert [f.openid for f in _followers(make.db)] == [openid]


def test_with_several_accounts_the_bare_callback_finds_the_one_that_signed(make, oa):
    from app.wechat.models import WeChatSettings

    other = make.tenant()
    make.db.session.add(WeChatSettings(merchant_id=other.merchant.id, appid="wx_other", app_secret="s",
                                       token="other-token", templates={}))
    make.db.session.commit()
    response = make.client.post("/wechat/callback", query_string=_signed(token="other-token"),
                                data=_event("o_diner", "subscribe"), content_type="text/xml")
    assert response.status_code == 200
    (follower,) = _followers(make.db)
    assert follower.merchant_id == other.merchant.id
    wrong = make.client.post("/wechat/callback/wx_other", query_string=_signed(),
                             data=_event("o_diner2", "subscribe"), content_type="text/xml")
    assert wrong.status_code == 403


def test_a_tables_follow_qr_code_is_the_accounts_scene_code(make, oa):
    table = create_table(make, oa.tenant, code="B02")
    api = make.api(oa.tenant.owner)
    response = api.get(f"/stores/{oa.tenant.store.id}/tables/{table['id']}/follow-qr")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["scene"] == f"table_{table['id']}"
    assert body["url"].startswith(f"{oa.sim.url}/cgi-bin/showqrcode?ticket=")
    image = requests.get(body["url"], timeout=5)
    assert image.status_code == 200 and image.headers["Content-Type"].startswith("image/svg+xml")
    # The same table asks again: the same permanent code.
    assert api.get(f"/stores/{oa.tenant.store.id}/tables/{table['id']}/follow-qr").get_json() == body

    other_store = make.api(oa.tenant.owner).post("/stores", json={"name": "二店"}).get_json()
    wrong = api.get(f"/stores/{other_store['id']}/tables/{table['id']}/follow-qr")
    assert wrong.status_code == 404


def test_follow_qr_without_wechat_or_with_wechat_away(make, oa):
    table = create_table(make, oa.tenant)
    api = make.api(oa.tenant.owner)
    url = f"/stores/{oa.tenant.store.id}/tables/{table['id']}/follow-qr"
    oa.sim.state.start_outage("503", scope="mp")
    response = api.get(url)
    assert response.status_code == 503 and response.get_json()["error"]["code"] == "wechat_unavailable"
    oa.sim.state.end_outage()

    other = make.tenant()
    other_table = create_table(make, other)
    response = make.api(other.owner).get(f"/stores/{other.store.id}/tables/{other_table['id']}/follow-qr")
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "wechat_not_configured"
