"""The tester's side: ``/`` (an index page with buttons) and the JSON control API under
``/_sim/…`` that tests use. Bad input gets ``{"error": {"code", "message", "details"}}`` with
a 4xx status, as everywhere in TableLoop."""

from __future__ import annotations

from dataclasses import asdict, fields, replace
from typing import Any

from flask import Blueprint, render_template, request

from . import payments
from .app import get_store
from .config import MUTABLE_SETTINGS, SimulatorConfig
from .delivery import NoCallbackURL, start_delivery, verify_callback
from .events import follow, scan_qrcode, send_image, send_text, unfollow
from .models import Order, User
from .payment_codes import OUTCOMES
from .protocol import yuan

bp = Blueprint("control", __name__)


def fail(status: int, code: str, message: str, **details: Any):
    return {"error": {"code": code, "message": message, "details": details}}, status


def body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    return data if isinstance(data, dict) else {}


def user_dict(user: User) -> dict[str, Any]:
    return {**asdict(user), "inbox_url": f"/inbox/{user.openid}", "chat_url": f"/chat/{user.openid}"}


def order_dict(order: Order) -> dict[str, Any]:
    store = get_store()
    data = order.to_dict()
    data["amount"] = yuan(order.total_fee)
    data["refunds"] = [asdict(r) for r in store.refunds_of(order.out_trade_no)]
    return data


def _user_or_404(openid: str):
    user = get_store().user(openid)
    if user is None:
        return None, fail(404, "user_not_found", f"no WeChat user {openid}")
    return user, None


def _delivery_answer(send, *args):
    try:
        delivery = send(get_store(), *args)
    except NoCallbackURL as exc:
        return fail(409, "no_callback_url", str(exc))
    return delivery.to_dict()


# --- index page ---------------------------------------------------------------------------------


@bp.get("/")
def index():
    store = get_store()
    with store.lock:
        for order in store.orders.values():
            payments.settle_due(store, order)
        orders = sorted(store.orders.values(), key=lambda o: -o.created_at)
        return render_template(
            "wechat/index.html",
            config=store.config,
            users=sorted(store.users.values(), key=lambda u: -u.created_at),
            qrcodes=sorted(store.qrcodes.values(), key=lambda q: -q.created_at),
            orders=orders,
            refunds=sorted(store.refunds.values(), key=lambda r: -r.created_at),
            deliveries=list(reversed(store.deliveries))[:50],
            outage=store.outage,
            outcomes=OUTCOMES.values(),
            inbox_counts={u: len(store.inbox(u)) for u in store.users},
            yuan=yuan,
        )


# --- whole simulator ----------------------------------------------------------------------------


@bp.post("/_sim/reset")
def reset():
    get_store().reset()
    return {"ok": True}


@bp.get("/_sim/config")
def get_config():
    data = asdict(get_store().config)
    data.pop("secret")
    data.pop("api_key")
    return data


@bp.patch("/_sim/config")
def patch_config():
    store = get_store()
    changes = body()
    unknown = set(changes) - set(MUTABLE_SETTINGS)
    if unknown:
        return fail(422, "not_changeable", "these settings cannot change at run time", settings=sorted(unknown))
    try:
        with store.lock:
            updated = replace(store.config, **changes)
            for f in fields(SimulatorConfig):
                setattr(store.config, f.name, getattr(updated, f.name))
    except (TypeError, ValueError) as exc:
        return fail(422, "invalid_setting", str(exc))
    return get_config()


@bp.post("/_sim/clock")
def clock():
    try:
        seconds = float(body().get("advance", 0))
    except (TypeError, ValueError):
        return fail(422, "invalid_advance", "advance must be a number of seconds")
    return {"now": get_store().advance(seconds)}


@bp.post("/_sim/down")
def down():
    data = body()
    try:
        seconds = float(data["seconds"]) if data.get("seconds") is not None else None
        delay = float(data.get("delay", 10))
        if data.get("mode") == "refuse" and not seconds:
            raise ValueError("mode refuse needs seconds: nothing could reach /_sim/up while the port is closed")
        outage = get_store().start_outage(str(data.get("mode", "503")), str(data.get("scope", "all")), seconds, delay)
    except (TypeError, ValueError) as exc:
        return fail(422, "invalid_outage", str(exc))
    return asdict(outage)


@bp.post("/_sim/up")
def up():
    get_store().end_outage()
    return {"ok": True}


# --- users and their phones -------------------------------------------------------------------------


@bp.get("/_sim/users")
def list_users():
    with get_store().lock:
        return {"users": [user_dict(u) for u in get_store().users.values()]}


@bp.post("/_sim/users")
def create_user():
    data = body()
    nickname = str(data.get("nickname") or "").strip()
    if not nickname:
        return fail(422, "nickname_required", "nickname is required")
    try:
        openid = data.get("openid") or None
        if openid is not None and (not isinstance(openid, str) or not 1 <= len(openid) <= 64):
            return fail(422, "invalid_openid", "openid must be a string of 1-64 characters")
        user = get_store().create_user(nickname, openid=openid, subscribed=bool(data.get("subscribed", False)))
    except ValueError as exc:
        return fail(409, "user_exists", str(exc))
    return user_dict(user), 201


@bp.get("/_sim/users/<openid>")
def get_user(openid: str):
    user, problem = _user_or_404(openid)
    return problem or user_dict(user)


@bp.get("/_sim/users/<openid>/inbox")
def inbox(openid: str):
    _, problem = _user_or_404(openid)
    if problem:
        return problem
    return {"openid": openid, "messages": [asdict(m) for m in get_store().inbox(openid)]}


@bp.post("/_sim/users/<openid>/subscribe")
def subscribe(openid: str):
    user, problem = _user_or_404(openid)
    return problem or _delivery_answer(follow, user)


@bp.post("/_sim/users/<openid>/unsubscribe")
def unsubscribe(openid: str):
    user, problem = _user_or_404(openid)
    return problem or _delivery_answer(unfollow, user)


@bp.post("/_sim/users/<openid>/messages")
def user_message(openid: str):
    user, problem = _user_or_404(openid)
    if problem:
        return problem
    data = body()
    image_url = str(data.get("image_url") or "")
    if image_url:
        if not image_url.startswith(("http://", "https://")) or len(image_url) > 500:
            return fail(422, "bad_image_url", "image_url must be an http(s) URL of at most 500 characters")
        return _delivery_answer(send_image, user, image_url)
    content = str(data.get("content") or "")
    if not content:
        return fail(422, "content_required", "content or image_url is required")
    return _delivery_answer(send_text, user, content)


@bp.post("/_sim/users/<openid>/payment-codes")
def payment_code(openid: str):
    _, problem = _user_or_404(openid)
    if problem:
        return problem
    ending = str(body().get("ending") or "0001")
    if ending not in OUTCOMES:
        return fail(422, "unknown_ending", "unknown payment-code ending", endings=sorted(OUTCOMES))
    return {
        "auth_code": get_store().issue_payment_code(openid, ending),
        "openid": openid,
        "outcome": OUTCOMES[ending].label,
    }, 201


# --- QR codes -------------------------------------------------------------------------------------


@bp.get("/_sim/qrcodes")
def list_qrcodes():
    with get_store().lock:
        return {"qrcodes": [asdict(q) for q in get_store().qrcodes.values()]}


@bp.post("/_sim/qrcodes/scan")
def scan():
    store = get_store()
    data = body()
    ticket = str(data.get("ticket") or "")
    code = str(data.get("code") or "") or str(data.get("url") or "").rstrip("/").rsplit("/q/", 1)[-1]
    qr = store.find_qrcode(ticket=ticket) if ticket else store.find_qrcode(code=code)
    if qr is None:
        return fail(404, "qrcode_not_found", "no such QR code (or it expired)")
    user, problem = _user_or_404(str(data.get("openid") or ""))
    return problem or _delivery_answer(scan_qrcode, qr, user)


@bp.post("/_sim/callback/verify")
def callback_verify():
    try:
        return verify_callback(get_store())
    except NoCallbackURL as exc:
        return fail(409, "no_callback_url", str(exc))


@bp.get("/_sim/events")
def events():
    store = get_store()
    with store.lock:
        return {"events": [d.to_dict() for d in store.deliveries if d.kind == "event"]}


# --- pay orders ----------------------------------------------------------------------------------------


def _find_order(data: dict[str, Any]) -> Order | None:
    return get_store().order_by(
        out_trade_no=data.get("out_trade_no"),
        transaction_id=data.get("transaction_id"),
        prepay_id=data.get("prepay_id"),
        code_url=data.get("code_url"),
    )


@bp.get("/_sim/orders")
def list_orders():
    store = get_store()
    with store.lock:
        for order in store.orders.values():
            payments.settle_due(store, order)
        return {"orders": [order_dict(o) for o in store.orders.values()]}


@bp.get("/_sim/orders/<out_trade_no>")
def get_order(out_trade_no: str):
    store = get_store()
    with store.lock:
        order = store.orders.get(out_trade_no)
        if order is None:
            return fail(404, "order_not_found", f"no order {out_trade_no}")
        payments.settle_due(store, order)
        return order_dict(order)


@bp.post("/_sim/orders/pay")
def pay_order():
    """The diner pays: confirms the sheet (JSAPI), scans and pays (NATIVE, ``openid`` needed),
    or enters the password for a payment code still USERPAYING."""
    data = body()
    order = _find_order(data)
    if order is None:
        return fail(404, "order_not_found", "no order matches")
    try:
        payments.pay_as_user(get_store(), order, data.get("openid") or None)
    except payments.SheetError as exc:
        return fail(409, "cannot_pay", str(exc), trade_state=order.trade_state)
    return order_dict(order)


@bp.post("/_sim/orders/cancel")
def cancel_order():
    data = body()
    order = _find_order(data)
    if order is None:
        return fail(404, "order_not_found", "no order matches")
    payments.cancel_as_user(get_store(), order)
    return order_dict(order)


@bp.get("/_sim/refunds")
def list_refunds():
    with get_store().lock:
        return {"refunds": [asdict(r) for r in get_store().refunds.values()]}


@bp.get("/_sim/notifications")
def notifications():
    store = get_store()
    kind = request.args.get("kind")
    if kind not in (None, "payment", "refund"):
        return fail(422, "invalid_kind", "kind is payment or refund")
    key = request.args.get("out_trade_no") or request.args.get("out_refund_no")
    with store.lock:
        found = [
            d.to_dict()
            for d in store.deliveries
            if d.kind in ("payment", "refund") and (kind is None or d.kind == kind) and (key is None or d.key == key)
        ]
    return {"notifications": found}


@bp.post("/_sim/notifications/<int:delivery_id>/resend")
def resend(delivery_id: int):
    store = get_store()
    found = store.delivery(delivery_id)
    if found is None or found.kind not in ("payment", "refund"):
        return fail(404, "notification_not_found", f"no notification {delivery_id}")
    start_delivery(store, found)
    return found.to_dict(), 202
