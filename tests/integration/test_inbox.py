"""The customer-service inbox end to end through the real WeChat simulator: a follower writes,
the store's inbox shows it, staff answer through the customer-service message API after commit,
keyword auto-replies answer without staff, and the 48-hour window closes the reply box."""

from __future__ import annotations

import hashlib
import time
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.db import utcnow
from app.errors import Conflict
from app.events.models import EventKind, StoreEvent
from app.inbox import service as inbox
from app.inbox.models import Conversation, Direction, ServiceMessage
from app.outbox.models import OutboxMessage, OutboxStatus
from simulators.wechat import DEMO_TOKEN
from tests.factories import create_member, create_table
from tests.integration.test_member_pages import log_in
from tests.integration.wechat_support import control, deliver, new_user, scan, scene_ticket
from tests.integration.wechat_support import inbox as phone

EN = {"Accept-Language": "en"}


def _say(make, sim, openid: str, **body) -> dict:
    make.db.session.commit()  # the live server must not wait for the test's transaction
    delivery = control(sim, f"/_sim/users/{openid}/messages", body)
    assert delivery["state"] == "delivered", delivery
    return delivery


def _chat(sim, openid: str) -> list[tuple[str, str]]:
    """The follower's chat, oldest first: (kind, text)."""
    return [(m["kind"], m["text"]) for m in reversed(phone(sim, openid)) if m["kind"] in ("sent", "reply", "custom")]


def _conversations(api, store_id: int) -> dict:
    response = api.get(f"/stores/{store_id}/inbox")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _key() -> str:
    return uuid.uuid4().hex


def test_a_followers_message_reaches_the_store_inbox_and_the_staff_reply_reaches_the_chat(make, oa):
    api = make.api(oa.tenant.owner)
    openid = new_user(oa.sim, "小红")
    started = time.monotonic()
    delivery = _say(make, oa.sim, openid, content="我想订位")
    assert delivery["reply"] is None  # no keyword: the account stays silent, staff answer

    listing = _conversations(api, oa.tenant.store.id)
    assert time.monotonic() - started < 2
    (conversation,) = listing["conversations"]
    assert (conversation["openid"], conversation["unread_count"], conversation["last_preview"]) == \
        (openid, 1, "我想订位")
    assert conversation["can_reply"] is True and listing["unread"] == 1
    make.db.session.commit()
    (event,) = make.db.session.scalars(sa.select(StoreEvent).where(StoreEvent.kind == EventKind.CS_MESSAGE)).all()
    assert event.store_id == oa.tenant.store.id and event.payload["conversation_id"] == conversation["id"]

    key = _key()
    answer = api.post(f"/inbox/conversations/{conversation['id']}/replies",
                      json={"text": "好的，今晚几位？", "idempotency_key": key})
    assert answer.status_code == 201, answer.get_json()
    again = api.post(f"/inbox/conversations/{conversation['id']}/replies",
                     json={"text": "好的，今晚几位？", "idempotency_key": key})
    assert again.status_code == 200 and again.get_json()["id"] == answer.get_json()["id"]
    assert _chat(oa.sim, openid) == [("sent", "我想订位")]  # nothing sent inside the transaction

    report = deliver()
    assert report.sent == 1
    assert _chat(oa.sim, openid) == [("sent", "我想订位"), ("custom", "好的，今晚几位？")]
    messages = api.get(f"/inbox/conversations/{conversation['id']}/messages").get_json()["messages"]
    assert [(m["direction"], m["text"]) for m in messages] == [("in", "我想订位"), ("out", "好的，今晚几位？")]
    assert _conversations(api, oa.tenant.store.id)["unread"] == 0  # answering reads it


def test_a_keyword_auto_reply_answers_without_staff(make, oa):
    from app.actor import Actor

    inbox.add_keyword_reply(actor=Actor.system(oa.merchant_id), keyword="菜单", text="今日菜单：剁椒鱼头…",
                            now=utcnow())
    make.db.session.commit()
    openid = new_user(oa.sim)
    delivery = _say(make, oa.sim, openid, content="有什么菜单推荐吗")
    assert delivery["reply"]["Content"] == "今日菜单：剁椒鱼头…"
    assert _chat(oa.sim, openid) == [("sent", "有什么菜单推荐吗"), ("reply", "今日菜单：剁椒鱼头…")]
    make.db.session.commit()
    rows = make.db.session.scalars(sa.select(ServiceMessage).order_by(ServiceMessage.id)).all()
    assert [(m.direction, m.text) for m in rows] == [(Direction.IN, "有什么菜单推荐吗"),
                                                     (Direction.AUTO, "今日菜单：剁椒鱼头…")]
    assert make.db.session.scalar(sa.select(sa.func.count(OutboxMessage.id))) == 0  # a passive reply, no API call


def test_a_picture_lands_in_the_inbox(make, oa):
    openid = new_user(oa.sim)
    _say(make, oa.sim, openid, image_url="https://example.com/menu-photo.jpg")
    (conversation,) = _conversations(make.api(oa.tenant.owner), oa.tenant.store.id)["conversations"]
    assert conversation["last_preview"] == "[图片]"
    make.db.session.commit()
    (message,) = make.db.session.scalars(sa.select(ServiceMessage)).all()
    assert (message.kind.label, message.image_url) == ("image", "https://example.com/menu-photo.jpg")


def test_staff_see_the_picture_through_the_server(make, oa):
    openid = new_user(oa.sim)
    _say(make, oa.sim, openid, image_url=f"{oa.sim.url}/avatar/{openid}.svg")
    message_id = make.db.session.scalar(sa.select(ServiceMessage.id))
    log_in(make, oa.tenant.owner)
    url = f"/manage/stores/{oa.tenant.store.id}/inbox/images/{message_id}"
    picture = make.client.get(url)
    assert picture.status_code == 200 and picture.mimetype == "image/svg+xml"
    assert "sandbox" in picture.headers["Content-Security-Policy"] and picture.data.startswith(b"<svg")
    conversation_id = make.db.session.scalar(sa.select(Conversation.id))
    html = make.client.get(f"/manage/stores/{oa.tenant.store.id}/inbox?c={conversation_id}").get_data(as_text=True)
    assert f'src="{url}"' in html
    other = make.tenant()
    log_in(make, other.owner)
    assert make.client.get(url).status_code == 404


def test_after_48_hours_there_is_no_reply_and_the_page_says_so(make, oa):
    api = make.api(oa.tenant.owner)
    openid = new_user(oa.sim)
    _say(make, oa.sim, openid, content="你们几点关门？")
    (conversation,) = _conversations(api, oa.tenant.store.id)["conversations"]
    row = make.db.session.get(Conversation, conversation["id"])
    row.last_inbound_at = utcnow() - timedelta(hours=48, minutes=1)
    make.db.session.commit()

    refused = api.post(f"/inbox/conversations/{row.id}/replies", json={"text": "22点", "idempotency_key": _key()})
    assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "reply_window_closed"
    assert _conversations(api, oa.tenant.store.id)["conversations"][0]["can_reply"] is False

    log_in(make, oa.tenant.owner)
    html = make.client.get(f"/manage/stores/{oa.tenant.store.id}/inbox?c={row.id}", headers=EN).get_data(as_text=True)
    assert "More than 48 hours have passed" in html and 'id="reply-text"' not in html
    zh = make.client.get(f"/manage/stores/{oa.tenant.store.id}/inbox?c={row.id}",
                         headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert "超过 48 小时" in zh

    # Writing again reopens the window.
    _say(make, oa.sim, openid, content="还在吗")
    assert api.post(f"/inbox/conversations/{row.id}/replies",
                    json={"text": "在的", "idempotency_key": _key()}).status_code == 201


def test_the_window_rule_takes_now(make, oa):
    """The service decides with the `now` it is given, not the clock."""
    from app.actor import Actor

    openid = new_user(oa.sim)
    _say(make, oa.sim, openid, content="hello")
    conversation = make.db.session.scalar(sa.select(Conversation))
    actor = Actor(merchant_id=oa.merchant_id, staff_id=oa.tenant.owner.id)
    later = conversation.last_inbound_at + timedelta(hours=49)
    with pytest.raises(Conflict) as refused:
        inbox.reply(conversation.id, "hi", key=_key(), actor=actor, now=later)
    assert refused.value.error_code == "reply_window_closed"
    make.db.session.rollback()
    message, created = inbox.reply(conversation.id, "hi", key=_key(), actor=actor,
                                   now=conversation.last_inbound_at + timedelta(hours=47))
    assert created and message.direction is Direction.OUT


def test_wechat_retrying_the_same_message_records_it_once(make, oa):
    body = (f"<xml><ToUserName><![CDATA[gh_x]]></ToUserName><FromUserName><![CDATA[o_retry]]></FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[在吗]]></Content><MsgId>1234567890123456</MsgId></xml>")
    timestamp, nonce = str(int(time.time())), "42"
    signature = hashlib.sha1("".join(sorted([DEMO_TOKEN, timestamp, nonce])).encode()).hexdigest()
    for _ in range(2):
        response = make.client.post("/wechat/callback", data=body, content_type="text/xml",
                                    query_string={"signature": signature, "timestamp": timestamp, "nonce": nonce})
        assert response.status_code == 200
    make.db.session.commit()
    assert make.db.session.scalar(sa.select(sa.func.count(ServiceMessage.id))) == 1
    assert make.db.session.scalar(sa.select(Conversation.unread_count)) == 1


def test_the_conversation_goes_to_the_store_of_the_table_that_brought_the_follower(make, oa):
    from app.tenants.models import Store

    created = make.api(oa.tenant.owner).post("/stores", json={"name": "二店"})
    assert created.status_code == 201, created.get_json()
    second = make.db.session.get(Store, created.get_json()["id"])
    table = create_table(make, oa.tenant, code="B01", store=second)
    openid = new_user(oa.sim, subscribed=False)
    scan(make.db, oa.sim, openid, ticket=scene_ticket(oa.sim, f"table_{table['id']}"))
    _say(make, oa.sim, openid, content="我在二店")
    api = make.api(oa.tenant.owner)
    assert _conversations(api, oa.tenant.store.id)["conversations"] == []
    (conversation,) = _conversations(api, second.id)["conversations"]
    # A cashier of the first store does not see it, by list or by id.
    cashier = make.api(make.staff(oa.tenant, "cashier"))
    assert cashier.get(f"/stores/{second.id}/inbox").status_code == 404
    assert cashier.get(f"/inbox/conversations/{conversation['id']}/messages").status_code == 404


def test_another_merchants_conversation_is_404_and_kitchen_staff_may_not_read(make, oa):
    openid = new_user(oa.sim)
    _say(make, oa.sim, openid, content="hi")
    conversation_id = make.db.session.scalar(sa.select(Conversation.id))
    other = make.tenant()
    other_api = make.api(other.owner)
    assert other_api.get(f"/inbox/conversations/{conversation_id}/messages").status_code == 404
    assert other_api.post(f"/inbox/conversations/{conversation_id}/replies",
                          json={"text": "x", "idempotency_key": _key()}).status_code == 404
    kitchen = make.api(make.staff(oa.tenant, "kitchen"))
    assert kitchen.get(f"/stores/{oa.tenant.store.id}/inbox").status_code == 403


def test_assignment_to_a_colleague_and_the_members_card(make, oa):
    api = make.api(oa.tenant.owner)
    openid = new_user(oa.sim)
    member = create_member(make, oa.tenant, name="李四")
    assert api.patch(f"/members/{member['id']}", json={"tags": ["爱吃辣"]}).status_code == 200
    from app.members.models import Member

    make.db.session.get(Member, member["id"]).openid = openid
    make.db.session.commit()
    _say(make, oa.sim, openid, content="我的积分有多少")
    (conversation,) = _conversations(api, oa.tenant.store.id)["conversations"]
    assert conversation["member_id"] == member["id"]
    cashier = make.staff(oa.tenant, "cashier")
    assigned = api.request("PUT", f"/inbox/conversations/{conversation['id']}/assignee", json={"staff_id": cashier.id})
    assert assigned.status_code == 200 and assigned.get_json()["assigned_staff_id"] == cashier.id
    kitchen = make.staff(oa.tenant, "kitchen")
    refused = api.request("PUT", f"/inbox/conversations/{conversation['id']}/assignee", json={"staff_id": kitchen.id})
    assert refused.status_code == 422

    card = inbox.member_card(make.db.session.get(Conversation, conversation["id"]))
    assert card.member.name == "李四" and [t.tag for t in card.tags] == ["爱吃辣"]
    log_in(make, oa.tenant.owner)
    html = make.client.get(f"/manage/stores/{oa.tenant.store.id}/inbox?c={conversation['id']}",
                           headers=EN).get_data(as_text=True)
    assert "李四" in html and "爱吃辣" in html and 'id="reply-text"' in html


def test_a_reply_wechat_refuses_for_good_ends_failed_and_the_page_shows_it(make, oa):
    api = make.api(oa.tenant.owner)
    openid = new_user(oa.sim)
    _say(make, oa.sim, openid, content="hi")
    conversation_id = make.db.session.scalar(sa.select(Conversation.id))
    oa.sim.state.advance(49 * 3600)  # WeChat's own clock says the window is closed
    assert api.post(f"/inbox/conversations/{conversation_id}/replies",
                    json={"text": "迟到的回复", "idempotency_key": _key()}).status_code == 201
    report = deliver()
    assert report.failed == 1
    make.db.session.commit()
    assert make.db.session.scalar(sa.select(OutboxMessage.status)) is OutboxStatus.FAILED
    log_in(make, oa.tenant.owner)
    html = make.client.get(f"/manage/stores/{oa.tenant.store.id}/inbox?c={conversation_id}",
                           headers=EN).get_data(as_text=True)
    assert "not delivered" in html
