"""/api/v1: the bill pushed to the diners' WeChat, and the official account's table QR codes."""

from __future__ import annotations

from flask_smorest import Blueprint

from app.auth.guard import current_actor, requires
from app.auth.permissions import Permission
from app.db import db, get_scoped_or_404, utcnow
from app.errors import NotFound
from app.orders import bill
from app.tables.models import DiningTable
from app.wechat import schemas, service

blp = Blueprint("wechat", __name__, url_prefix="/api/v1", description="WeChat: pushed bills, follow QR codes")


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
