"""/api/v1/stores/{id}/snapshot and /api/v1/sync/batches (on-site agents, device token);
/api/v1/sync/flags and /api/v1/member-debts (managers)."""

from __future__ import annotations

from datetime import UTC

from flask import request
from flask_babel import gettext
from marshmallow import ValidationError, fields, validate, validates_schema

from app.api import Blueprint, Id, QueryId, Schema, json_response
from app.auth import service as auth_service
from app.auth.guard import current_actor, require_store, requires
from app.auth.models import Device
from app.auth.permissions import Permission
from app.auth.schemas import CardApprovalIn, TokenOut
from app.db import db, get_scoped_or_404, utcnow
from app.errors import Forbidden, NotFound, Unprocessable
from app.orders.models import Order
from app.orders.schemas import SettleIn, SettleOut
from app.orders.settlement import SettleRequest, TenderRequest, settle_result
from app.payments import service as payments
from app.payments.schemas import intent_json
from app.sync import service
from app.tenants.models import Store
from tablerules.documents import DocumentError
from tablerules.sync import SyncBatch
from tablerules.tenders import TenderType

blp = Blueprint("sync", __name__, url_prefix="/api/v1", description="On-site agent: snapshot and sync")


class SnapshotQuery(Schema):
    part = fields.String(load_default="base", validate=validate.OneOf(["base", "members"]))
    since = fields.AwareDateTime(load_default=None, metadata={"description": "members changed since (ISO 8601)"})
    after = fields.Integer(load_default=0, validate=validate.Range(min=0, max=2**31 - 1),
                           metadata={"description": "members after this id (the last page's `next_after`)"})
    limit = fields.Integer(load_default=500, validate=validate.Range(min=1, max=service.MEMBER_PAGE_MAX))


class FlagQuery(Schema):
    store_id = QueryId(load_default=None)
    open = fields.Boolean(load_default=True)
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=500))
    before_id = QueryId(load_default=None, metadata={"description": "newest first: the last id of the previous page"})


class AgentReport(Schema):
    outbox_pending = fields.Integer(required=True, strict=True, validate=validate.Range(min=0, max=10**9))
    oldest_unsynced_at = fields.AwareDateTime(load_default=None, allow_none=True)
    last_synced_at = fields.AwareDateTime(load_default=None, allow_none=True)


class AgentQuery(Schema):
    store_id = QueryId(load_default=None)


class DebtQuery(Schema):
    member_id = QueryId(load_default=None)
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=500))
    before_id = QueryId(load_default=None, metadata={"description": "newest first: the last id of the previous page"})


# The answers are built by app.sync.service as plain JSON: documented by their outer shape.
ANY_OBJECT = {"type": "object"}


def _list_of(key: str) -> dict:
    return {"type": "object", "required": [key], "properties": {key: {"type": "array", "items": {"type": "object"}}}}


def _device() -> Device:
    actor = current_actor()
    if actor.device_id is None:
        raise Forbidden()
    return db.session.get(Device, actor.device_id)


@blp.route("/stores/<id:store_id>/snapshot", methods=["GET"])
@requires(Permission.MENU_READ, devices=True)
@blp.arguments(SnapshotQuery, location="query")
@blp.alt_response(200, success=True, schema=ANY_OBJECT, description="The part asked for")
def snapshot(query, store_id):
    """The local copy an agent keeps: `part=base` (store, menu, tables, tiers and rules, staff
    with credential hashes) or `part=members` (paged by `after`; `since` for changes only),
    each member with the offline allowance signed for this store. Devices only."""
    _device()  # it carries credential hashes: never for a person's token
    require_store(store_id)
    store = get_scoped_or_404(Store, store_id)
    now = utcnow()
    if query["part"] == "members":
        since = query["since"].astimezone(UTC) if query["since"] else None
        return json_response(service.snapshot_members(store, since=since, after_id=query["after"],
                                                      limit=query["limit"], now=now), 200)
    return json_response(service.snapshot_base(store, now), 200)


@blp.route("/sync/batches", methods=["POST"])
@requires(Permission.DEVICE_SYNC, devices=True)
@blp.alt_response(200, success=True, schema=ANY_OBJECT, description="What became of each operation")
def push_batch():
    """Apply a batch of the till's operations (`tablerules.sync.SyncBatch`), each at most once;
    a replay answers the same and changes nothing."""
    body = request.get_json(silent=True)
    try:
        batch = SyncBatch.from_dict(body)
    except DocumentError as exc:
        raise Unprocessable(str(exc), error_code="invalid_batch", details={"field": exc.field}) from None
    return json_response(service.apply_batch(batch, _device(), utcnow()), 200)


class TillSettleIn(SettleIn):
    client_order_id = fields.UUID(required=True, metadata={"description": "the till's id of the order"})
    staff_id = Id(required=True, metadata={"description": "the cashier at the till"})

    @validates_schema
    def _a_wechat_tender(self, data, **kwargs):
        if not any(t.get("type") is TenderType.WECHAT for t in data.get("tenders", [])):
            raise ValidationError({"tenders": ["A WeChat tender is needed here; other tenders sync as batches."]})


@blp.route("/sync/wechat-settle", methods=["POST"])
@requires(Permission.DEVICE_SYNC, devices=True)
@blp.arguments(TillSettleIn)
@blp.alt_response(200, success=True, schema=SettleOut, description="Paid with the payment code")
@blp.alt_response(202, success=True, schema=ANY_OBJECT, description="The NATIVE payment to confirm")
def settle_by_wechat(data):
    """A till's settlement with WeChat Pay, through its agent (online only): the payment code
    the cashier scanned (MICROPAY, settled at once), or a NATIVE QR answered 202 and settled
    when WeChat Pay notifies the payment. The same idempotency key answers the same."""
    device = _device()
    store = db.session.get(Store, device.store_id)
    order = service.order_by_client_id(store.id, str(data["client_order_id"]))
    if order is None:
        raise NotFound("order", gettext("The order of this settlement is not on the server."))
    actor = service.till_actor(data["staff_id"], device)
    wechat = next(t for t in data["tenders"] if t["type"] is TenderType.WECHAT)
    request_ = SettleRequest(member_id=data["member_id"], points=data["points"], coupon_ids=data["coupon_ids"],
                             tenders=[TenderRequest(t["type"], t["amount_cents"]) for t in data["tenders"]])
    payload = {"order_id": order.id, **{k: v for k, v in data.items() if k not in ("client_order_id", "staff_id")}}
    return json_response(*payments.settle_by_wechat(
        order.id, request_, wechat, member_id=data["member_id"], points=data["points"],
        coupon_ids=data["coupon_ids"], key=data["idempotency_key"], payload=payload, actor=actor, now=utcnow(),
        answer=lambda paid: (settle_result(paid), 200),
        answer_opened=lambda opened: (intent_json(opened), 202)))


class TillCancelIn(Schema):
    client_order_id = fields.UUID(load_default=None, metadata={"description": "the till's id of the order paid"})
    member_id = Id(load_default=None, metadata={"description": "or the member whose top-up is paid"})
    staff_id = Id(required=True, metadata={"description": "the cashier who cancels"})
    idempotency_key = fields.String(required=True, validate=validate.Length(min=8, max=100),
                                    metadata={"description": "the key the WeChat payment was started with"})

    @validates_schema
    def _order_or_member(self, data, **kwargs):
        if (data.get("client_order_id") is None) == (data.get("member_id") is None):
            raise ValidationError({"client_order_id": ["Give the order's client_order_id or the top-up's member_id."]})


@blp.route("/sync/wechat-cancel", methods=["POST"])
@requires(Permission.DEVICE_SYNC, devices=True)
@blp.arguments(TillCancelIn)
@blp.alt_response(200, success=True, schema={"type": "object", "required": ["status"],
                                             "properties": {"status": {"type": "string"},
                                                            "intent_id": {"type": "integer"}}})
def cancel_wechat(data):
    """The cashier cancels a WeChat payment still waiting (a payment code the diner has not
    confirmed, a NATIVE QR not yet scanned) of an order's settlement, or of a member's top-up
    (``member_id``): ``cancelling`` (the waiting settle or top-up reverses it and answers 409
    ``payment_cancelled``), ``closed`` — or ``paid`` when the diner paid first; then the sale or
    the top-up stands. Sent again, it answers where the payment stands."""
    device = _device()
    actor = service.till_actor(data["staff_id"], device)
    if data["member_id"] is not None:
        cancelled = payments.cancel_till_payment(None, member_id=data["member_id"], key=data["idempotency_key"],
                                                 actor=actor, now=utcnow())
        return json_response({"status": cancelled.status, "intent_id": cancelled.intent.id}, 200)
    order = service.order_by_client_id(device.store_id, str(data["client_order_id"]))
    if order is None:
        raise NotFound("order", gettext("The order of this settlement is not on the server."))
    cancelled = payments.cancel_till_payment(order.id, key=data["idempotency_key"], actor=actor, now=utcnow())
    return json_response({"status": cancelled.status, "intent_id": cancelled.intent.id,
                          "order_status": db.session.get(Order, order.id).status.label}, 200)


@blp.route("/sync/approvals", methods=["POST"])
@requires(Permission.DEVICE_SYNC, devices=True)
@blp.arguments(CardApprovalIn)
@blp.alt_response(201, success=True, schema=TokenOut, description="A token of the approving manager, for minutes")
@blp.alt_response(429, response="DEFAULT_ERROR")
def approve_by_card(data):
    """A manager's staff card swiped on the till's reader approves one act (a refund): the
    answer is a token of that manager's for two minutes, so the act is recorded as theirs;
    403 ``manager_approval_refused`` for any other card. Refusals count against the device as
    wrong passwords against an account: 429 ``too_many_attempts`` (``Retry-After``) at the limit."""
    issued = auth_service.approve_by_card(_device(), data["card_nos"], purpose="refund", now=utcnow())
    db.session.commit()
    return json_response({**TokenOut().dump(issued), "approved_by": issued.staff.display_name or issued.staff.username,
                          "username": issued.staff.username}, 201)


@blp.route("/sync/flags", methods=["GET"])
@requires(Permission.AUDIT_READ)
@blp.arguments(FlagQuery, location="query")
@blp.alt_response(200, success=True, schema=_list_of("flags"))
def list_flags(query):
    """Offline sales the server honoured although they differ from its own view, and operations
    it could not apply: for the manager to look at."""
    if query["store_id"] is not None:
        require_store(query["store_id"])
    flags = service.list_flags(current_actor().merchant_id, store_id=query["store_id"], open_only=query["open"],
                               limit=query["limit"], before_id=query["before_id"])
    return json_response({"flags": [service.flag_json(f) for f in flags]}, 200)


@blp.route("/member-debts", methods=["GET"])
@requires(Permission.MEMBERS_READ)
@blp.arguments(DebtQuery, location="query")
@blp.alt_response(200, success=True, schema=_list_of("debts"))
def list_debts(query):
    """What members owe from offline stored-value payments their balance could not cover."""
    debts = service.list_debts(current_actor().merchant_id, member_id=query["member_id"], limit=query["limit"],
                              before_id=query["before_id"])
    return json_response({"debts": [service.debt_json(d) for d in debts]}, 200)


@blp.route("/sync/state", methods=["POST"])
@requires(Permission.DEVICE_SYNC, devices=True)
@blp.arguments(AgentReport)
@blp.alt_response(200, success=True, schema={"type": "object", "required": ["reported_at"],
                                             "properties": {"reported_at": {"type": "string"}}})
def report_state(data):
    """The agent's own report: its outbox depth, oldest unsynced sale and last sync (it is seen now)."""
    now = utcnow()
    service.report_state(_device(), outbox_pending=data["outbox_pending"],
                         oldest_unsynced_at=data["oldest_unsynced_at"], last_synced_at=data["last_synced_at"],
                         now=now)
    db.session.commit()
    return json_response({"reported_at": now.isoformat()}, 200)


@blp.route("/sync/agents", methods=["GET"])
@requires(Permission.AUDIT_READ)
@blp.arguments(AgentQuery, location="query")
@blp.alt_response(200, success=True, schema=_list_of("agents"))
def list_agents(query):
    """Each store's on-site agents: last seen, and the sales waiting in their outbox."""
    if query["store_id"] is not None:
        require_store(query["store_id"])
    return json_response({"agents": service.agents_json(current_actor().merchant_id, query["store_id"])}, 200)
