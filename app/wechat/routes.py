"""/api/v1: the bill pushed to the diners' WeChat, and the official account's table QR codes."""

from __future__ import annotations

from flask import current_app

from app.api import Blueprint
from app.auth.guard import current_actor, requires
from app.auth.permissions import Permission
from app.db import db, get_scoped_or_404, utcnow
from app.errors import NotFound
from app.orders import bill
from app.tables.models import DiningTable
from app.wechat import account, schemas, service

blp = Blueprint("wechat", __name__, url_prefix="/api/v1",
                description="WeChat: the merchant's account, pushed bills, follow QR codes")


@blp.route("/orders/<id:order_id>/push-bill", methods=["POST"])
@requires(Permission.ORDERS)
@blp.response(200, schemas.PushedBillOut)
def push_bill(order_id):
    """Send the itemised bill to every diner at the order's table (WeChat template message) and
    mark the table as waiting for payment. An unchanged bill reaches each diner once."""
    pushed = bill.push_bill(order_id, recipients=service.bill_recipients, actor=current_actor(), now=utcnow())
    db.session.commit()
    return pushed


@blp.route("/stores/<id:store_id>/tables/<id:table_id>/follow-qr", methods=["GET"])
@requires(Permission.STORES_MANAGE)
@blp.response(200, schemas.FollowQrOut)
def follow_qr(store_id, table_id):
    """The official account's QR code for this table: diners who follow through it, and later
    join, are attributed to the table."""
    table = get_scoped_or_404(DiningTable, table_id)
    if table.store_id != store_id:
        raise NotFound("dining_table")
    scene = f"table_{table.id}"
    return {"url": service.scene_qr(current_actor().merchant_id, scene), "scene": scene}


def settings_answer(settings) -> dict:
    answer = account.describe(settings)
    base = current_app.config["PUBLIC_BASE_URL"].rstrip("/")
    answer["callback_url"] = f"{base}/wechat/callback/{answer['appid']}" if answer["appid"] else ""
    return answer


@blp.route("/wechat/settings", methods=["GET"])
@requires(Permission.WECHAT_SETTINGS_READ)
@blp.response(200, schemas.WeChatSettingsOut)
def get_settings():
    """The merchant's WeChat account. Secrets are never returned, only whether each is set."""
    return settings_answer(account.settings_of(current_actor().merchant_id))


@blp.route("/wechat/settings", methods=["PUT"])
@requires(Permission.WECHAT_SETTINGS_WRITE)
@blp.arguments(schemas.WeChatSettingsIn)
@blp.response(200, schemas.WeChatSettingsOut)
def put_settings(body):
    """Set the merchant's WeChat account (owners). A field left out or null keeps its value;
    `clear` empties secrets; `templates`, when given, replaces them all. Every change is audited
    by field name, never by value."""
    clear = frozenset(body.pop("clear", []) or [])
    settings, _changed = account.update_settings(account.Change(values=body, clear=clear), actor=current_actor())
    db.session.commit()
    return settings_answer(settings)


@blp.route("/wechat/settings/test", methods=["POST"])
@requires(Permission.WECHAT_SETTINGS_READ)
@blp.response(200, schemas.ConnectionCheckOut)
def test_settings():
    """Test the connection: fetch an access token from WeChat with the saved AppID and AppSecret.
    Always 200 with `ok` and, when not ok, why (WeChat's errcode and errmsg when it refused);
    409 when the merchant has no WeChat account yet."""
    return account.test_connection(current_actor().merchant_id, utcnow())
