"""The diner's phone at a table, behind the table's signed QR link `/t/<token>`: the menu, the
table's shared cart (live on every phone at the table), sending it, the order's state per dish
and calling the waiter.

The token is the only key: it names one table of one merchant, and every answer here is about
that table alone — another table's line, another merchant's dish: 404. The diner is who WeChat
says (their nickname is shown beside their picks); a merchant without a WeChat account gets a
per-browser "diner N" instead. The JSON calls need the page's CSRF token in `X-CSRFToken`.
"""

from __future__ import annotations

import secrets

from flask import Blueprint, Response, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import get_locale, gettext, lazy_gettext
from flask_wtf import FlaskForm
from markupsafe import Markup
from marshmallow import ValidationError, fields, validate
from werkzeug.exceptions import HTTPException
from wtforms import HiddenField, IntegerField, StringField
from wtforms.validators import DataRequired, Length, NumberRange, Regexp

from app.actor import Actor
from app.api import Schema
from app.coupons import links
from app.coupons import service as coupons
from app.coupons.models import Coupon, CouponStatus
from app.db import begin_write, db, utcnow
from app.diner import service
from app.errors import APIError, Conflict, NotFound, Unauthorized, Unprocessable
from app.events.service import last_seq
from app.idempotency import run_once
from app.members import service as members
from app.members.models import Member
from app.orders import cart, settlement
from app.orders import split as splits
from app.orders.kitchen import ItemRequest
from app.orders.models import Order
from app.orders.schemas import ItemIn
from app.orders.settlement import SettleRequest, TenderRequest, price_order
from app.orders.state import OrderStatus
from app.tables.models import DiningTable
from app.tables.service import resolve_table_token
from app.wechat import notify
from app.wechat import service as wechat_service
from app.wechat.pages import (
    diner_at_table,
    diner_member,
    diner_nickname,
    diner_openid,
    oauth_redirect,
    record_diner_here,
)

bp = Blueprint("diner", __name__)

_GUEST = "diner_guest_no"  # a merchant without WeChat: "diner 37" for this browser
MAX_ID = 2**31 - 1


class TablePageError(APIError):
    """A stale or wrong table link: a friendly page asking to scan the table's code again."""


@bp.errorhandler(HTTPException)
def _answer_error(error: HTTPException):
    if request.endpoint in ("diner.menu", "diner.wallet", "diner.transfer", "diner.pay_with_stored_value",
                            "diner.share", "diner.claim", "diner.split_bill", "diner.pay_share"):
        status = error.code or 400
        at_table = request.endpoint not in ("diner.share", "diner.claim")  # a coupon link is no table's
        return render_template("diner/message.html", message=error.description,
                               scan_again=status == 404 and at_table), status
    db.session.rollback()
    return _json_error(error)


def _json_error(error: HTTPException):
    # The phone's calls answer JSON whatever they accept (a CSRF refusal included).
    status = error.code or 400
    code = error.error_code if isinstance(error, APIError) else {
        400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}.get(
        status, "http_error")
    message = str(error.description) if isinstance(error, APIError) else (
        gettext("This page has expired; please reload it.") if "CSRF" in str(error.description)
        else str(error.description or ""))
    if "CSRF" in str(error.description):
        code = "csrf_failed"
    details = error.details if isinstance(error, APIError) else {}
    return {"error": {"code": code, "message": message, "details": details}}, status


def _table(token: str) -> DiningTable:
    table = resolve_table_token(token)
    if table is None:
        raise TablePageError(gettext("This table code is not valid any more. Please scan the QR code on your table."),
                             error_code="table_not_found", status=404)
    return table


def _diner_name(table: DiningTable) -> str:
    """Who the diner is, as the table's other phones see it: their WeChat nickname."""
    nickname = diner_nickname(table.merchant_id)
    if nickname:
        return nickname
    if not isinstance(session.get(_GUEST), int):
        session[_GUEST] = secrets.randbelow(90) + 10
    return gettext("Diner %(number)s", number=session[_GUEST])


def _signed_in(table: DiningTable) -> None:
    """The JSON calls: where the merchant has WeChat, the diner must have signed in through it."""
    if notify.settings_for(table.merchant_id) is not None and diner_openid(table.merchant_id) is None:
        raise Unauthorized(gettext("Please scan the QR code on your table again."), error_code="not_signed_in")


def _body(schema: Schema) -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise APIError(gettext("The body is not valid JSON."), error_code="malformed_json", status=400)
    try:
        return schema.load(body)
    except ValidationError as error:
        raise Unprocessable(details={"fields": error.messages}) from None


def _start_writing() -> None:
    db.session.commit()
    begin_write()


def _render_dishes(sections: list[dict]) -> tuple[str, str]:
    return (render_template("diner/_menu_nav.html", sections=sections),
            render_template("diner/_menu_dishes.html", sections=sections))


# --- the menu page -----------------------------------------------------------------------------------

_MENU_TEXT: dict[str, Markup] = {}  # language → the page script's words as JSON


def menu_text() -> Markup:
    """The menu page script's words in the request's language: they depend on nothing else, so
    they are rendered once per language and process (translations load when the process starts)."""
    language = str(get_locale())
    text = _MENU_TEXT.get(language)
    if text is None:
        text = _MENU_TEXT[language] = Markup(render_template("diner/_menu_text.html").strip())
    return text


@bp.route("/t/<token>")
def menu(token: str):
    """Where a table's QR code leads: the menu, the table's cart and its order."""
    table = _table(token)
    state = service.page_state(table, notify.has_account(table.merchant_id))
    sign_in = diner_at_table(table, state.has_wechat)  # through WeChat first, where the merchant has an account
    if sign_in is not None:
        return sign_in
    member = diner_member(table)
    english = get_locale().language == "en"
    menu_page = service.rendered_menu(table, member, english, _render_dishes, state.menu_version)
    nav_html, dishes_html = menu_page.for_token(token)
    view = service.table_view(table, seq=state.seq)
    has_wechat = diner_openid(table.merchant_id) is not None
    body = render_template("diner/menu.html", table=table, store=table.store, token=token, nav_html=nav_html,
                           dishes_html=dishes_html, member=member, me=_diner_name(table), view=view,
                           has_wechat=has_wechat, dishes_json=Markup(menu_page.dishes_json), text_json=menu_text())
    return body, 200, {"Cache-Control": "no-store"}


@bp.route("/t/<token>/photos/<id:dish_id>.svg")
def photo(token: str, dish_id: int):
    """A dish's drawn demo photo (dishes with a photo of their own link to it instead)."""
    table = _table(token)
    dish = service.dish_of_table(table, dish_id)
    if dish is None:
        raise NotFound("dish")
    return Response(service.demo_photo_svg(dish), mimetype="image/svg+xml",
                    headers={"Cache-Control": "public, max-age=86400"})


# --- the table's cart and order (JSON) --------------------------------------------------------------

class AddIn(ItemIn):
    pass


class ChangeIn(Schema):
    qty = fields.Integer(required=True, strict=True, validate=validate.Range(min=0, max=99))
    version = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=MAX_ID))


def _view(table: DiningTable, **extra) -> dict:
    seen = request.args.get("order", "")
    seen_order = int(seen) if seen.isdigit() and 1 <= int(seen) <= MAX_ID else None
    return {**service.table_view(table, seen_order), "me": _diner_name(table), **extra}


@bp.route("/t/<token>/cart.json")
def cart_json(token: str):
    """The table's cart and order as every phone at the table shows them."""
    table = _table(token)
    body = _view(table)
    db.session.commit()
    return body, 200, {"Cache-Control": "no-store"}


@bp.route("/t/<token>/here", methods=["POST"])
def here(token: str):
    """The page's first call: the diner is at the table (recorded, where WeChat knows them, so that
    a pushed bill reaches their phone), answered with the table's cart and order. The page itself
    is a GET and writes nothing."""
    table = _table(token)
    _signed_in(table)
    _start_writing()
    record_diner_here(table)
    db.session.commit()
    return _view(table), 200, {"Cache-Control": "no-store"}


@bp.route("/t/<token>/cart/lines", methods=["POST"])
def add(token: str):
    """Add a pick (dish, quantity, options) under the diner's name."""
    _start_writing()  # first: the table read below stays loaded for the change and its answer
    table = _table(token)
    _signed_in(table)
    data = _body(AddIn())
    name = _diner_name(table)
    cart.add_to_cart(table, ItemRequest(data["dish_id"], data["qty"], tuple(data["option_ids"]), data["note"]),
                     added_by=name, actor=Actor.diner(table.merchant_id, name, ip=request.remote_addr), now=utcnow())
    answer = _view(table)  # in the transaction, which sees its own change (and its event's seq)
    db.session.commit()
    return answer, 201


@bp.route("/t/<token>/cart/lines/<id:line_id>", methods=["PATCH"])
def change(token: str, line_id: int):
    """Change a pick's quantity (0 removes it). `version` is the line's as the phone saw it: a
    stale one answers 409 with the fresh cart, so the phone shows what the table has now."""
    _start_writing()
    table = _table(token)
    _signed_in(table)
    data = _body(ChangeIn())
    try:
        cart.change_cart_line(table, line_id, qty=data["qty"], expected_version=data["version"],
                              actor=Actor.diner(table.merchant_id, ip=request.remote_addr), now=utcnow())
    except APIError as error:
        db.session.rollback()
        if error.code != 409:
            raise
        body, status = _json_error(error)
        body["cart"] = _view(table)
        return body, status
    answer = _view(table)
    db.session.commit()
    return answer


@bp.route("/t/<token>/cart/send", methods=["POST"])
def send(token: str):
    """Send the table's picks: to the kitchen, or to the waiter first (the store's setting)."""
    table = _table(token)
    _signed_in(table)
    _start_writing()
    order = cart.send_cart(table, actor=Actor.diner(table.merchant_id, _diner_name(table), ip=request.remote_addr),
                           now=utcnow())
    waits = bool(table.store.is_waiter_confirm)  # a diner's send waits exactly when the store says so
    db.session.commit()
    return _view(table, sent={"order_id": order.id, "needs_confirmation": waits})


@bp.route("/t/<token>/call-waiter", methods=["POST"])
def call_waiter(token: str):
    """Ask for the waiter: the staff screens show the table (the store event log)."""
    table = _table(token)
    _signed_in(table)
    _start_writing()
    service.call_waiter(table, diner=_diner_name(table), now=utcnow())
    db.session.commit()
    return {"called": True, "table": table.code}


@bp.route("/t/<token>/rush", methods=["POST"])
def rush(token: str):
    """催菜: ask the kitchen to hurry the table's dishes not served yet (once in a few minutes)."""
    table = _table(token)
    _signed_in(table)
    _start_writing()
    made = service.rush_table(table, actor=Actor.diner(table.merchant_id, _diner_name(table), ip=request.remote_addr),
                              every_minutes=current_app.config["KITCHEN_RUSH_EVERY_MINUTES"], now=utcnow())
    db.session.commit()
    return {"rushed": True, "table": table.code, "rush_no": made.rush_no}


@bp.route("/t/<token>/stream")
def stream(token: str):
    """The table's live news (Server-Sent Events): `cart`, `order` and `waiter`, each with the
    store log's cursor as its id; a reconnect resumes from Last-Event-ID."""
    table = _table(token)
    last_id = request.headers.get("Last-Event-ID", "") or request.args.get("after", "")
    cursor = int(last_id) if last_id.isdigit() and len(last_id) < 19 else None
    if cursor is None:
        cursor = last_seq(table.store_id)
    app = current_app._get_current_object()
    messages = service.table_stream(app, table, cursor)
    db.session.remove()  # the stream must not hold this request's connection
    response = Response(messages, mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"
    return response


# --- the member's coupon wallet --------------------------------------------------------------------

class TransferForm(FlaskForm):
    phone = StringField(lazy_gettext("Friend's mobile number"), validators=[
        DataRequired(), Regexp(r"^1[3-9][0-9]{9}$", message=lazy_gettext("Please enter an 11-digit mobile number."))])
    key = HiddenField(validators=[DataRequired(), Length(min=16, max=64)])


def _wallet_member():
    """(member, redirect): the signed-in member, or where to send the diner first."""
    arg = request.args.get("merchant", "")
    merchant_id = int(arg) if arg.isdigit() and 1 <= int(arg) <= MAX_ID else session.get("wechat_merchant_id")
    if not isinstance(merchant_id, int) or notify.settings_for(merchant_id) is None:
        raise TablePageError(gettext("Please open this page from the restaurant's WeChat account or table code."),
                             status=400)
    openid = diner_openid(merchant_id)
    if openid is None:
        return None, oauth_redirect(merchant_id, request.full_path.rstrip("?"))
    member = wechat_service.member_for_openid(merchant_id, openid)
    if member is None:
        return None, redirect(url_for("wechat_pages.join"))
    return member, None


def _masked(name: str) -> str:
    return name[:1] + "*" * max(1, len(name) - 1) if name else "—"


@bp.route("/m/coupons", methods=["GET"])
def wallet():
    """The member's coupons: what each gives, until when, and passing a transferable one on."""
    member, elsewhere = _wallet_member()
    if elsewhere is not None:
        return elsewhere
    return _wallet_page(member, TransferForm(formdata=None, key=secrets.token_urlsafe(18)))


def _wallet_page(member, form: TransferForm, *, failed_coupon: int | None = None, status: int = 200):
    held = coupons.member_coupons(member, limit=50)
    links = [c.transferred_to_id for c in held if c.transferred_to_id] + \
            [c.transferred_from_id for c in held if c.transferred_from_id]
    others = coupons.holders(member.merchant_id, links)
    now = utcnow()
    rows = [{"coupon": c, "terms": coupons.terms(c.template),
             "usable": c.state is CouponStatus.ISSUED and c.expires_at > now,
             "can_pass": c.state is CouponStatus.ISSUED and c.expires_at > now and c.template.is_transferable
             and c.transfer_depth < c.template.max_transfer_chain,
             "to": _masked(others[c.transferred_to_id].name) if c.transferred_to_id in others else None,
             "from": _masked(others[c.transferred_from_id].name) if c.transferred_from_id in others else None}
            for c in held]
    rows.sort(key=lambda row: (not row["usable"], row["coupon"].expires_at))
    return render_template("diner/wallet.html", member=member, rows=rows, form=form,
                           failed_coupon=failed_coupon), status


@bp.route("/m/coupons/<id:coupon_id>/transfer", methods=["POST"])
def transfer(coupon_id: int):
    """Pass a transferable coupon to a friend who is a member too (by their mobile number); the
    friend gets WeChat's received-coupon message."""
    member, elsewhere = _wallet_member()
    if elsewhere is not None:
        return elsewhere
    form = TransferForm()
    if not form.validate_on_submit():
        return _wallet_page(member, form, failed_coupon=coupon_id, status=422)
    actor = Actor.diner(member.merchant_id, member.name, ip=request.remote_addr)
    _start_writing()
    try:
        friend = members.find_by_phone(form.phone.data, actor=actor)
        if friend is None:
            raise NotFound("member", gettext("No member has this mobile number. Your friend can join first."))
        coupons.transfer_coupon(coupon_id, member.id, friend.id, key=f"diner-transfer:{form.key.data}",
                                now=utcnow(), actor=actor)
    except APIError as error:
        db.session.rollback()
        form.phone.errors.append(str(error.description))
        return _wallet_page(member, form, failed_coupon=coupon_id, status=error.code or 409)
    db.session.commit()
    flash(gettext("The coupon is on its way to your friend."))
    return redirect(url_for("diner.wallet"))


@bp.route("/m/coupons/<id:coupon_id>/share")
def share(coupon_id: int):
    """A share link for a transferable coupon, to send to a friend in WeChat: whoever opens it
    first in their WeChat (and is or becomes a member) gets the coupon."""
    member, elsewhere = _wallet_member()
    if elsewhere is not None:
        return elsewhere
    coupon = coupons.member_coupons(member, CouponStatus.ISSUED, limit=200)
    coupon = next((c for c in coupon if c.id == coupon_id), None)
    if coupon is None:
        raise TablePageError(gettext("Not found."), status=404)
    if not (coupon.template.is_transferable and coupon.transfer_depth < coupon.template.max_transfer_chain
            and coupon.expires_at > utcnow()):
        raise TablePageError(gettext("This coupon has been passed on as many times as allowed."), status=409)
    url = current_app.config["PUBLIC_BASE_URL"].rstrip("/") + url_for("diner.claim", token=links.make_token(coupon))
    return render_template("diner/share.html", member=member, coupon=coupon, terms=coupons.terms(coupon.template),
                           url=url, days=links.max_age_seconds() // 86_400)


class ClaimForm(FlaskForm):
    pass


@bp.route("/m/coupons/claim/<token>", methods=["GET", "POST"])
def claim(token: str):
    """Where a shared coupon's link leads, in the friend's WeChat: who shares what, and 领取. A
    friend who is not a member yet joins first and comes back here."""
    try:
        link = links.read_token(token)
    except links.LinkInvalid as error:
        return render_template("diner/message.html", message=error.description), error.code
    if notify.settings_for(link.merchant_id) is None:
        raise TablePageError(gettext("This coupon link is not valid."), status=404)
    openid = diner_openid(link.merchant_id)
    if openid is None:
        return oauth_redirect(link.merchant_id, request.full_path.rstrip("?"))
    coupon = links.shared_coupon(link)
    giver = db.session.get(Member, link.from_member_id)
    if giver is None or giver.merchant_id != link.merchant_id:
        raise TablePageError(gettext("This coupon link is not valid."), status=404)
    member = wechat_service.member_for_openid(link.merchant_id, openid)
    form = ClaimForm()
    status, problem = 200, None
    if member is not None and request.method == "POST":
        if not form.validate_on_submit():
            raise TablePageError(gettext("This page has expired; please reload it."), status=400)
        _start_writing()
        try:
            links.claim(link, member.id, now=utcnow(),
                        actor=Actor.diner(link.merchant_id, member.name, ip=request.remote_addr))
        except APIError as error:
            db.session.rollback()
            status, problem = error.code or 409, str(error.description)
        else:
            db.session.commit()
            flash(gettext("The coupon is yours now: it is in your coupons."))
            return redirect(url_for("diner.wallet"))
    mine = member is not None and member.id == link.from_member_id
    taken = coupon.state is not CouponStatus.ISSUED or coupon.member_id != link.from_member_id
    received = db.session.get(Coupon, coupon.transferred_to_id) if coupon.transferred_to_id else None
    yours = member is not None and received is not None and received.member_id == member.id
    return render_template("diner/claim.html", coupon=coupon, terms=coupons.terms(coupon.template),
                           giver=_masked(giver.name), member=member, mine=mine, taken=taken, yours=yours,
                           problem=problem,
                           form=form, join_url=url_for("wechat_pages.join", merchant=link.merchant_id,
                                                       next=request.path)), status


# --- paying the table's bill with stored value -------------------------------------------------------

class StoredValueForm(FlaskForm):
    order_id = IntegerField(validators=[DataRequired(), NumberRange(min=1, max=MAX_ID)])
    payable_cents = IntegerField(validators=[DataRequired(), NumberRange(min=1, max=10**11)])
    key = HiddenField(validators=[DataRequired(), Length(min=16, max=64)])


@bp.route("/t/<token>/bill/stored-value", methods=["POST"])
def pay_with_stored_value(token: str):
    """The member pays the table's whole bill from their stored value, after confirming the
    amount on the bill page. The amount they confirmed must still be the bill's (else nothing is
    charged and the page shows the bill again); one charge per confirmation, however often the
    button is pressed."""
    table = _table(token)
    form = StoredValueForm()
    if not form.validate_on_submit():
        raise TablePageError(gettext("This page has expired; please reload it."), status=400)
    bill_page = url_for("payments_pages.diner_bill", token=token, order=form.order_id.data)
    order = db.session.get(Order, form.order_id.data)
    if order is None or order.merchant_id != table.merchant_id or order.table_id != table.id:
        raise TablePageError(gettext("Not found."), status=404)
    openid = diner_openid(table.merchant_id)
    member = wechat_service.member_for_openid(table.merchant_id, openid) if openid else None
    if member is None:
        flash(gettext("Only members can pay with stored value."))
        return redirect(bill_page)
    key = f"diner-stored-value:{form.key.data}"
    payload = {"order_id": order.id, "member_id": member.id, "payable_cents": form.payable_cents.data}
    actor = Actor.diner(table.merchant_id, member.name, ip=request.remote_addr)

    def work() -> tuple[dict, int]:
        now = utcnow()
        priced = price_order(order, member=member, points=0, coupon_ids=[], now=now)
        if order.status is not OrderStatus.OPEN or priced.payable_cents != form.payable_cents.data:
            raise Conflict(gettext("The bill changed just now; please look at it again."), error_code="bill_changed")
        if member.stored_value_cents < priced.payable_cents:
            raise Conflict(gettext("Your stored value is not enough for this bill."),
                           error_code="insufficient_stored_value")
        paid = settlement.settle_order(order.id, SettleRequest(member_id=member.id, tenders=[
            TenderRequest("stored_value", priced.payable_cents)]), actor=actor, key=key, now=now)
        return settlement.settle_result(paid), 200

    _start_writing()
    try:
        run_once(table.merchant_id, key, "settle", payload, work)
    except APIError as error:
        db.session.rollback()
        flash(str(error.description))
        return redirect(bill_page)
    flash(gettext("Paid with stored value. Thank you!"))
    return redirect(bill_page)


# --- splitting the table's bill -----------------------------------------------------------------------

class SplitForm(FlaskForm):
    order_id = IntegerField(validators=[DataRequired(), NumberRange(min=1, max=MAX_ID)])
    count = IntegerField(validators=[DataRequired(), NumberRange(min=2, max=20)])


class ShareForm(FlaskForm):
    order_id = IntegerField(validators=[DataRequired(), NumberRange(min=1, max=MAX_ID)])
    amount_cents = IntegerField(validators=[DataRequired(), NumberRange(min=1, max=10**11)])
    share_ids = StringField(validators=[DataRequired(), Regexp(r"^[0-9]{1,10}(,[0-9]{1,10}){0,19}$")])
    key = HiddenField(validators=[DataRequired(), Length(min=16, max=64)])


def _table_order(table: DiningTable, order_id: int) -> Order:
    order = db.session.get(Order, order_id)
    if order is None or order.merchant_id != table.merchant_id or order.table_id != table.id:
        raise TablePageError(gettext("Not found."), status=404)
    return order


@bp.route("/t/<token>/bill/split", methods=["POST"])
def split_bill(token: str):
    """Split the table's bill into equal shares, each diner paying theirs on their own phone. A
    member who splits gets their member price, and may put their coupons on the bill."""
    table = _table(token)
    form = SplitForm()
    if not form.validate_on_submit():
        raise TablePageError(gettext("This page has expired; please reload it."), status=400)
    order = _table_order(table, form.order_id.data)
    bill_page = url_for("payments_pages.diner_bill", token=token, order=order.id)
    member = diner_member(table)
    wanted = {int(v) for v in request.form.getlist("coupon_id") if v.isdigit() and 0 < int(v) <= MAX_ID}
    coupon_ids = sorted(wanted) if member is not None else []
    _start_writing()
    try:
        splits.make_split(order.id, count=form.count.data, member=member, coupon_ids=coupon_ids,
                          made_by=_diner_name(table), actor=Actor.diner(table.merchant_id, _diner_name(table),
                                                                        ip=request.remote_addr), now=utcnow())
    except APIError as error:
        db.session.rollback()
        flash(str(error.description))
        return redirect(bill_page)
    db.session.commit()
    return redirect(bill_page)


@bp.route("/t/<token>/bill/shares/stored-value", methods=["POST"])
def pay_share(token: str):
    """A member pays one share (or the rest) of the split bill from their stored value, after
    confirming the amount; once per confirmation however often it is sent, and a share that is
    paid already is never paid again."""
    table = _table(token)
    form = ShareForm()
    if not form.validate_on_submit():
        raise TablePageError(gettext("This page has expired; please reload it."), status=400)
    order = _table_order(table, form.order_id.data)
    bill_page = url_for("payments_pages.diner_bill", token=token, order=order.id)
    member = diner_member(table)
    if member is None:
        flash(gettext("Only members can pay with stored value."))
        return redirect(bill_page)
    share_ids = sorted({int(v) for v in form.share_ids.data.split(",")})
    key = f"diner-share:{form.key.data}"
    payload = {"order_id": order.id, "member_id": member.id, "share_ids": share_ids,
               "amount_cents": form.amount_cents.data}
    name = _diner_name(table)
    actor = Actor.diner(table.merchant_id, name, ip=request.remote_addr)

    def work() -> tuple[dict, int]:
        paid = splits.pay_shares(order.id, share_ids, tender=TenderRequest("stored_value", form.amount_cents.data),
                                 payer=member, paid_by=name, key=key, actor=actor, now=utcnow())
        return {"split_id": paid.id, "status": paid.status.label}, 200

    _start_writing()
    try:
        run_once(table.merchant_id, key, "share", payload, work)
    except APIError as error:
        db.session.rollback()
        flash(str(error.description))
        return redirect(bill_page)
    db.session.commit()
    flash(gettext("Your share is paid. Thank you!"))
    return redirect(bill_page)
