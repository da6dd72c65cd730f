"""/api/v1/stores/{id}/events: read the store event log after a cursor, or stream it (SSE);
/api/v1/devices/me/status: an on-site agent reports its printers and queue."""

from __future__ import annotations

from flask import Response, current_app, g, request
from marshmallow import EXCLUDE, fields, validate

from app.api import Blueprint, Schema
from app.auth.guard import current_actor, require_store, requires, token_in_query
from app.auth.permissions import Permission
from app.db import db, utcnow
from app.errors import Forbidden, Unprocessable
from app.events import waiter
from app.events.devices import record_device_status
from app.events.models import EventKind
from app.events.service import event_json, last_seq, read_after, sse_stream

blp = Blueprint("events", __name__, url_prefix="/api/v1", description="Store event log and live stream")

KIND_NAMES = [kind.label for kind in EventKind]


class EventsQuery(Schema):
    after = fields.Integer(load_default=0, validate=validate.Range(min=0, max=2**62))
    kinds = fields.String(load_default="", validate=validate.Length(max=400))
    limit = fields.Integer(load_default=200, validate=validate.Range(min=1, max=1000))
    access_token = fields.String(load_default=None)


class EventOut(Schema):
    seq = fields.Integer()
    kind = fields.String()
    order_id = fields.Integer(allow_none=True)
    created_at = fields.String()
    payload = fields.Dict()


class EventList(Schema):
    events = fields.List(fields.Nested(EventOut))
    last_seq = fields.Integer(metadata={"description": "The cursor to pass as `after` next time"})
    head_seq = fields.Integer(metadata={"description": "The store's newest seq (start here to skip history)"})


# One event of the stream (OpenAPI 3.0 has the schema of a text/event-stream describe each event).
SSE_EVENT = {"type": "object", "required": ["id", "event", "data"], "properties": {
    "id": {"type": "string", "description": "The event's seq (send it back as Last-Event-ID)"},
    "event": {"type": "string", "enum": KIND_NAMES},
    "data": {"type": "string", "description": "An EventOut as JSON"},
    "retry": {"type": "integer", "description": "Milliseconds to wait before reconnecting"}}}


def _kinds(text: str) -> list[EventKind] | None:
    if not text:
        return None
    try:
        return [EventKind[name.strip().upper()] for name in text.split(",") if name.strip()]
    except KeyError:
        raise Unprocessable(details={"fields": {"kinds": [f"Use any of: {', '.join(KIND_NAMES)}"]}}) from None


@blp.route("/stores/<id:store_id>/events", methods=["GET"])
@requires(Permission.KITCHEN, devices=True)
@blp.arguments(EventsQuery, location="query")
@blp.response(200, EventList)
def list_events(query, store_id):
    """Events after the cursor `after`, oldest first; `kinds` filters (comma-separated)."""
    require_store(store_id)
    events = [event_json(e) for e in read_after(store_id, query["after"], _kinds(query["kinds"]), query["limit"])]
    return {"events": events, "last_seq": events[-1]["seq"] if events else query["after"],
            "head_seq": last_seq(store_id)}


@blp.route("/stores/<id:store_id>/events/stream", methods=["GET"])
@token_in_query
@requires(Permission.KITCHEN, devices=True)
@blp.arguments(EventsQuery, location="query")
@blp.alt_response(200, success=True, content_type="text/event-stream", schema=SSE_EVENT,
                  description="An endless stream of events, with a comment line now and then while nothing happens")
@blp.doc(description="Server-Sent Events. Resume with the Last-Event-ID header (or `after`).")
def stream_events(query, store_id):
    require_store(store_id)
    last_id = request.headers.get("Last-Event-ID", "")
    cursor = int(last_id) if last_id.isdigit() and len(last_id) < 19 else query["after"]
    kinds = _kinds(query["kinds"])
    app = current_app._get_current_object()
    db.session.remove()  # the stream must not hold this request's connection
    response = Response(sse_stream(app, store_id, cursor, kinds), mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"
    return response


class WaiterCallOut(Schema):
    seq = fields.Integer(metadata={"description": "The call's waiter_called event (acknowledge it by this)"})
    table = fields.String()
    table_id = fields.Integer(allow_none=True)
    diner = fields.String()
    at = fields.String()


class WaiterCallList(Schema):
    calls = fields.List(fields.Nested(WaiterCallOut))


class WaiterAckOut(Schema):
    call_seq = fields.Integer()
    table = fields.String()
    acked_by = fields.String()
    acked_at = fields.String()


@blp.route("/stores/<id:store_id>/waiter-calls", methods=["GET"])
@requires(Permission.KITCHEN, devices=True)
@blp.response(200, WaiterCallList)
def list_waiter_calls(store_id):
    """Diners' waiter calls of the last hours nobody acknowledged, oldest first. Live, follow the
    store's events `waiter_called` and `waiter_acked` (the stream above, `kinds=waiter_called,waiter_acked`)."""
    require_store(store_id)
    return {"calls": waiter.open_calls(store_id, now=utcnow())}


@blp.route("/stores/<id:store_id>/waiter-calls/<id:call_seq>/ack",
           methods=["POST"])
@requires(Permission.KITCHEN, devices=True)
@blp.response(200, WaiterAckOut)
def ack_waiter_call(store_id, call_seq):
    """Staff saw the call: recorded once (a second acknowledgement answers the first) and announced
    as a `waiter_acked` event, so every screen takes the call down."""
    require_store(store_id)
    ack = waiter.acknowledge(store_id, call_seq, actor=current_actor(), now=utcnow())
    db.session.commit()
    return waiter.ack_json(ack)


PRINTER_STATES = ("online", "paper_low", "paper_out", "cover_open", "offline", "printer_error", "unreachable",
                  "no_status_reply", "unknown")


class PrinterStatusIn(Schema):
    class Meta:
        unknown = EXCLUDE  # a newer agent may say more

    name = fields.String(required=True, validate=validate.Length(min=1, max=60))
    role = fields.String(required=True, validate=validate.OneOf(["receipt", "kitchen"]))
    stations = fields.List(fields.String(validate=validate.Length(max=40)), load_default=list,
                           validate=validate.Length(max=20))
    state = fields.String(required=True, validate=validate.OneOf(PRINTER_STATES))
    message = fields.String(load_default="", validate=validate.Length(max=300))
    pending = fields.Integer(load_default=0, validate=validate.Range(min=0, max=10**6))


class DeviceStatusIn(Schema):
    class Meta:
        unknown = EXCLUDE

    printers = fields.List(fields.Nested(PrinterStatusIn), load_default=list, validate=validate.Length(max=20))
    cursor = fields.Integer(allow_none=True, load_default=None, validate=validate.Range(min=0, max=2**62))
    outbox_pending = fields.Integer(load_default=0, validate=validate.Range(min=0, max=10**6))
    version = fields.String(load_default="", validate=validate.Length(max=40))


class DeviceStatusOut(Schema):
    device_id = fields.Integer()
    last_seen_at = fields.DateTime()
    changed = fields.Boolean(metadata={"description": "A printer's state changed: a device_status event was logged"})


@blp.route("/devices/me/status", methods=["POST"])
@requires(Permission.DEVICE_SYNC, devices=True)
@blp.arguments(DeviceStatusIn)
@blp.response(200, DeviceStatusOut)
def report_device_status(data):
    """An on-site agent's state: its printers (paper out, offline, back), event-log cursor and
    outbox depth. Sent on every change and as a heartbeat; the manager pages show it."""
    device = g.device
    if device is None:
        raise Forbidden()
    changed = record_device_status(device, data, now=utcnow())
    db.session.commit()
    return {"device_id": device.id, "last_seen_at": device.last_seen_at, "changed": changed}
