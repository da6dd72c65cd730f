"""Fan acquisition pages.

The manager's (`/manage/fans/`): the funnel by poster, lucky wheels with their prizes, posters
with their printable scene-QR sheet, red envelopes.

The diner's (inside WeChat): the wheel `/w/<code>` (spin; the server decides), claiming a win
after joining `/w/<code>/claim`, and the red envelope `/e/<code>`. Who the diner is comes from
WeChat sign-in (the same session as the table pages); the JSON spin needs the page's CSRF token.
"""

from __future__ import annotations

import math
import secrets
from datetime import UTC, datetime, time, timedelta

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import get_locale, gettext, lazy_gettext
from markupsafe import Markup
from werkzeug.exceptions import HTTPException

from app.actor import Actor
from app.auth.guard import current_actor
from app.auth.permissions import Permission
from app.coupons.models import CouponTemplate
from app.db import begin_write, db, scoped, utcnow
from app.errors import APIError, NotFound, error_response
from app.fans import funnel as funnels
from app.fans import service
from app.fans.models import Audience, EnvelopeKind, LuckyWheel, PrizeKind, RedEnvelope
from app.members.models import Member
from app.pages.auth import login_required
from app.tables import qr
from app.tenants.models import Merchant, Store
from app.wechat import notify
from app.wechat import service as wechat_service
from app.wechat.pages import diner_openid, oauth_redirect
from tablerules import fans as rules
from tablerules.money import format_cny, parse_yuan

bp = Blueprint("fans_pages", __name__)

PRIZE_ROWS = 8
AUDIENCE_LABELS = {
    Audience.ANYONE: lazy_gettext("Anyone in WeChat"),
    Audience.FOLLOWERS: lazy_gettext("Followers of the official account"),
    Audience.MEMBERS: lazy_gettext("Members only"),
    Audience.PHONE: lazy_gettext("Anyone who leaves a mobile number"),
}
KIND_LABELS = {
    PrizeKind.COUPON: lazy_gettext("Coupon"),
    PrizeKind.POINTS: lazy_gettext("Points"),
    PrizeKind.BONUS: lazy_gettext("Stored-value bonus"),
    PrizeKind.NOTHING: lazy_gettext("Better luck next time (谢谢参与)"),
}
_DINER_PAGES = ("fans_pages.wheel", "fans_pages.claim", "fans_pages.envelope", "fans_pages.grab")


class FanPageError(APIError):
    """Shown to the diner on a plain page."""


@bp.errorhandler(HTTPException)
def _answer_error(error: HTTPException):
    db.session.rollback()
    status = error.code or 400
    if request.endpoint == "fans_pages.spin":
        code = error.error_code if isinstance(error, APIError) else (
            "csrf_failed" if "CSRF" in str(error.description) else "bad_request")
        message = str(error.description) if isinstance(error, APIError) else (
            gettext("This page has expired; please reload it.") if code == "csrf_failed" else str(error.description))
        return {"error": {"code": code, "message": message,
                          "details": error.details if isinstance(error, APIError) else {}}}, status
    if request.endpoint in _DINER_PAGES:
        return render_template("diner/message.html", message=error.description), status
    return error_response(error)  # the manager's pages answer as every other page does


def _english() -> bool:
    return get_locale().language == "en"


@bp.app_template_global()
def prize_label(prize) -> str:
    return prize.label_en if _english() and prize.label_en else prize.label


@bp.app_template_global()
def wheel_name(wheel: LuckyWheel) -> str:
    return wheel.name_en if _english() and wheel.name_en else wheel.name


def _start_writing() -> None:
    db.session.commit()
    begin_write()


# --- the manager's pages -----------------------------------------------------------------------------

@bp.route("/manage/fans/")
@login_required(Permission.ANALYTICS)
def index():
    merchant_id = g.staff.merchant_id
    posters = service.posters_of(merchant_id)
    envelopes = service.envelopes_of(merchant_id)
    grabbed = {e.id: sum(1 for s in service.shares_of(e) if s.member_id) for e in envelopes}
    return render_template("manage/fans/index.html", funnels=funnels.funnels(posters), posters=posters,
                           wheels=service.wheels_of(merchant_id), envelopes=envelopes, grabbed=grabbed,
                           audience_labels=AUDIENCE_LABELS, kind_labels=KIND_LABELS,
                           stores=list(db.session.scalars(scoped(Store, merchant_id).order_by(Store.id))),
                           public_base=current_app.config["PUBLIC_BASE_URL"].rstrip("/"))


def _templates() -> list[CouponTemplate]:
    return list(db.session.scalars(scoped(CouponTemplate, g.staff.merchant_id).where(
        CouponTemplate.is_active.is_(True)).order_by(CouponTemplate.id)))


def _int(name: str, default: int | None = None) -> int | None:
    text = (request.form.get(name) or "").strip()
    if not text:
        return default
    if not text.isdigit() or len(text) > 9:
        raise ValueError(name)
    return int(text)


def _day(name: str, end: bool = False) -> datetime | None:
    """A date field as the start (or the end) of that day in China, in UTC."""
    text = (request.form.get(name) or "").strip()
    if not text:
        return None
    day = datetime.strptime(text, "%Y-%m-%d").date()
    if end:
        day += timedelta(days=1)
    return datetime.combine(day, time(0), tzinfo=rules.CHINA).astimezone(UTC)


def _percent_bp(text: str) -> int:
    text = (text or "").strip() or "0"
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("chance")
    return round(value * 100)


def _wheel_form() -> tuple[dict, list[dict]]:
    """The wheel's fields and its prize rows from the posted form (ValueError for a bad number)."""
    values = {
        "name": (request.form.get("name") or "").strip()[:60],
        "name_en": (request.form.get("name_en") or "").strip()[:120],
        "audience": Audience.from_label(request.form.get("audience") or "anyone"),
        "starts_at": _day("starts_on"), "ends_at": _day("ends_on", end=True),
        "per_person_total": _int("per_person_total"), "per_person_daily": _int("per_person_daily"),
        "is_active": request.form.get("is_active") == "1",
    }
    prizes = []
    for i in range(service.MAX_SEGMENTS + 1):  # one more than allowed: the service says it is too many
        kind = request.form.get(f"prize-{i}-kind") or ""
        if not kind:
            continue
        kind = PrizeKind.from_label(kind)
        bonus = (request.form.get(f"prize-{i}-bonus") or "").strip()
        prizes.append({
            "kind": kind, "label": (request.form.get(f"prize-{i}-label") or "").strip(),
            "label_en": (request.form.get(f"prize-{i}-label_en") or "").strip(),
            "coupon_template_id": _int(f"prize-{i}-coupon"), "points": _int(f"prize-{i}-points", 0),
            "bonus_cents": parse_yuan(bonus) if bonus else 0,
            "chance_bp": _percent_bp(request.form.get(f"prize-{i}-chance", "")), "stock": _int(f"prize-{i}-stock", 0),
        })
    return values, prizes


def _rows_of(wheel: LuckyWheel | None) -> list[dict]:
    rows = []
    for prize in (wheel.prizes if wheel is not None else []):
        rows.append({"kind": prize.kind.label, "label": prize.label, "label_en": prize.label_en,
                     "coupon": prize.coupon_template_id, "points": prize.points or "",
                     "bonus": format_cny(prize.bonus_cents)[1:] if prize.bonus_cents else "",
                     "chance": f"{prize.chance_bp / 100:g}", "stock": prize.stock, "issued": prize.issued})
    target = min(max(PRIZE_ROWS, len(rows) + 1), service.MAX_SEGMENTS)  # room for one more segment
    while len(rows) < target:
        rows.append({"kind": "", "label": "", "label_en": "", "coupon": None, "points": "", "bonus": "",
                     "chance": "", "stock": "", "issued": 0})
    return rows


def _posted_rows(prizes: list[dict]) -> list[dict]:
    rows = [{"kind": p["kind"].label, "label": p["label"], "label_en": p["label_en"],
             "coupon": p["coupon_template_id"], "points": p["points"] or "",
             "bonus": format_cny(p["bonus_cents"])[1:] if p["bonus_cents"] else "",
             "chance": f"{p['chance_bp'] / 100:g}", "stock": p["stock"], "issued": 0} for p in prizes]
    blank = _rows_of(None)[0]
    return rows + [dict(blank) for _ in range(max(PRIZE_ROWS - len(rows), 0))]


def _form_page(wheel: LuckyWheel | None, rows: list[dict], problems: list[str] | None = None, status: int = 200):
    form = request.form if request.method == "POST" else None
    return render_template("manage/fans/wheel_form.html", wheel=wheel, rows=rows, form=form, problems=problems or [],
                           templates=_templates(), audience_labels=AUDIENCE_LABELS, kind_labels=KIND_LABELS,
                           kinds=list(PrizeKind), audiences=list(Audience), day=timedelta(days=1)), status


def _save_wheel(wheel: LuckyWheel | None):
    try:
        values, prizes = _wheel_form()
    except (ValueError, KeyError, OverflowError):  # a bad number, name or date (year 1 or 9999 included)
        return _form_page(wheel, _rows_of(wheel), [gettext("Please check the numbers and dates.")], 422)
    actor = current_actor()
    _start_writing()
    try:
        if wheel is None:
            wheel = service.create_wheel(actor=actor, prizes=prizes, **values)
        else:
            wheel = service.wheel_of(actor.merchant_id, wheel.id)
            service.update_wheel(wheel, actor=actor, prizes=prizes, **values)
    except APIError as error:
        db.session.rollback()
        problems = (error.details or {}).get("problems") or [str(error.description)]
        return _form_page(wheel, _posted_rows(prizes), problems, error.code or 422)
    db.session.commit()
    flash(gettext("The lucky wheel is saved."))
    return redirect(url_for("fans_pages.index"))


@bp.route("/manage/fans/wheels/new", methods=["GET", "POST"])
@login_required(Permission.MEMBERS_CONFIG)
def new_wheel():
    if request.method == "POST":
        return _save_wheel(None)
    return _form_page(None, _rows_of(None))


@bp.route("/manage/fans/wheels/<id:wheel_id>", methods=["GET", "POST"])
@login_required(Permission.MEMBERS_CONFIG)
def edit_wheel(wheel_id: int):
    wheel = service.wheel_of(g.staff.merchant_id, wheel_id)
    if request.method == "POST":
        return _save_wheel(wheel)
    return _form_page(wheel, _rows_of(wheel))


@bp.route("/manage/fans/posters", methods=["POST"])
@login_required(Permission.MEMBERS_CONFIG)
def create_poster():
    target = request.form.get("target") or ""
    kind, _, number = target.partition("-")
    target_id = int(number) if number.isdigit() and len(number) < 10 else None
    store = request.form.get("store_id") or ""
    store_id = int(store) if store.isdigit() and len(store) < 10 else None
    actor = current_actor()
    _start_writing()
    try:
        store = db.session.scalar(scoped(Store, actor.merchant_id).where(Store.id == store_id)) if store_id else None
        if store_id is not None and store is None:
            raise NotFound("store")
        service.create_poster(actor=actor, name=request.form.get("name") or "",
                              headline=request.form.get("headline") or "",
                              wheel_id=target_id if kind == "wheel" else None,
                              envelope_id=target_id if kind == "envelope" else None, store_id=store_id)
    except APIError as error:
        db.session.rollback()
        flash(str(error.description))
        return redirect(url_for("fans_pages.index"))
    db.session.commit()
    flash(gettext("The poster is made. Open its sheet to print it."))
    return redirect(url_for("fans_pages.index"))


@bp.route("/manage/fans/posters/<id:poster_id>/sheet")
@login_required(Permission.ANALYTICS)
def poster_sheet(poster_id: int):
    """The printable poster: the scene QR code WeChat made for it (asked for once, then kept)."""
    poster = service.poster_of(g.staff.merchant_id, poster_id)
    problem = None
    if poster.qr_url is None:
        try:
            url = wechat_service.scene_qr_content(poster.merchant_id, poster.scene)
        except APIError as error:
            problem = str(error.description)
        else:
            _start_writing()
            poster = service.poster_of(g.staff.merchant_id, poster_id)
            poster.qr_url = url
            db.session.commit()
    code = Markup(qr.qr_svg(poster.qr_url)) if poster.qr_url else None
    merchant = db.session.get(Merchant, poster.merchant_id)
    return render_template("manage/fans/poster_sheet.html", poster=poster, code=code, problem=problem,
                           merchant=merchant)


@bp.route("/manage/fans/envelopes", methods=["POST"])
@login_required(Permission.MEMBERS_CONFIG)
def fund_envelope():
    try:
        pool = parse_yuan(request.form.get("pool") or "")
        shares = int(request.form.get("shares") or "0")
        ends_at = _day("ends_on", end=True)
        kind = EnvelopeKind.from_label(request.form.get("kind") or "bonus")
        valid_days = _int("coupon_valid_days")
    except (ValueError, KeyError, OverflowError):
        flash(gettext("Please check the amount and the number of shares."))
        return redirect(url_for("fans_pages.index"))
    actor = current_actor()
    _start_writing()
    try:
        service.fund_envelope(actor=actor, name=request.form.get("name") or "", pool_cents=pool, shares=shares,
                              ends_at=ends_at, kind=kind, coupon_valid_days=valid_days)
    except APIError as error:
        db.session.rollback()
        flash(str(error.description))
        return redirect(url_for("fans_pages.index"))
    db.session.commit()
    flash(gettext("The red envelope is funded and split."))
    return redirect(url_for("fans_pages.index"))


# --- the diner's wheel ---------------------------------------------------------------------------------

def _wheel(code: str) -> LuckyWheel:
    wheel = service.wheel_by_code(code)
    if wheel is None:
        raise FanPageError(gettext("This lucky wheel does not exist."), status=404)
    return wheel


def _who(merchant_id: int):
    """(openid, member, is_follower) of the diner, or (None, None, False) before sign-in."""
    if notify.settings_for(merchant_id) is None:
        raise FanPageError(gettext("Please open this page from the restaurant's WeChat account."), status=404)
    openid = diner_openid(merchant_id)
    if openid is None:
        return None, None, False
    member = wechat_service.member_for_openid(merchant_id, openid)
    follower = wechat_service.follower(merchant_id, openid)
    return openid, member, bool(follower is not None and follower.is_subscribed)


def _poster_id(wheel: LuckyWheel, openid: str) -> int | None:
    """The poster that brought this player: the latest scene they scanned, if it leads here."""
    follower = wechat_service.follower(wheel.merchant_id, openid)
    poster = service.poster_for_scene(wheel.merchant_id, follower.scene if follower is not None else None)
    return poster.id if poster is not None and poster.wheel_id == wheel.id else None


def _segments(wheel: LuckyWheel) -> list[dict]:
    """The wheel drawn as SVG: equal segments (the odds are the server's, not the picture's)."""
    prizes = list(wheel.prizes)
    step = 360 / len(prizes)
    colours = ("#ffd54f", "#ff8a65", "#fff3e0", "#ffb74d", "#ffe082", "#ef9a9a", "#fffde7", "#ffcc80", "#f8bbd0")
    segments = []
    for i, prize in enumerate(prizes):
        a0, a1 = math.radians(i * step - 90), math.radians((i + 1) * step - 90)
        mid = i * step + step / 2
        x0, y0 = 150 + 140 * math.cos(a0), 150 + 140 * math.sin(a0)
        x1, y1 = 150 + 140 * math.cos(a1), 150 + 140 * math.sin(a1)
        path = f"M150,150 L{x0:.2f},{y0:.2f} A140,140 0 {1 if step > 180 else 0},1 {x1:.2f},{y1:.2f} Z"
        segments.append({"path": path, "fill": colours[i % len(colours)], "mid": mid, "label": prize_label(prize),
                         "kind": prize.kind.label})
    return segments


@bp.route("/w/<code>")
def wheel(code: str):
    """The lucky wheel on the diner's phone."""
    wheel = _wheel(code)
    openid, member, is_follower = _who(wheel.merchant_id)
    if openid is None:
        return oauth_redirect(wheel.merchant_id, request.full_path.rstrip("?"))
    now = utcnow()
    problems: list[str] = []
    if member is not None and service.pending_wins(wheel.merchant_id, openid):
        _start_writing()
        member = wechat_service.member_for_openid(wheel.merchant_id, openid)
        problems = service.claim_pending(wheel.merchant_id, openid, member, now=now,
                                         actor=Actor.diner(wheel.merchant_id, member.name, ip=request.remote_addr))
        db.session.commit()
    refusal = None
    try:
        service.may_play(wheel, member=member, is_follower=is_follower, now=now, openid=openid)
    except APIError as error:
        refusal = {"code": error.error_code, "message": str(error.description)}
    left = service.plays_left(wheel, openid, now)
    plays = [p for p in service.plays_of(wheel.merchant_id, openid) if p.wheel_id == wheel.id]
    body = render_template("fans/wheel.html", wheel=wheel, segments=_segments(wheel), member=member,
                           refusal=refusal, left=left, plays=plays, draw_id=secrets.token_urlsafe(18),
                           problems=problems, merchant=db.session.get(Merchant, wheel.merchant_id))
    return body, 200, {"Cache-Control": "no-store"}


@bp.route("/w/<code>/phone", methods=["POST"])
def give_phone(code: str):
    """The mobile number of a diner who is no member, for a wheel open to anyone with a phone."""
    wheel = _wheel(code)
    openid, _member, _ = _who(wheel.merchant_id)
    if openid is None:
        return oauth_redirect(wheel.merchant_id, url_for("fans_pages.wheel", code=code))
    _start_writing()
    try:
        service.give_phone(wheel.merchant_id, openid, request.form.get("phone", ""), now=utcnow())
    except APIError as error:
        db.session.rollback()
        flash(str(error.description))
        return redirect(url_for("fans_pages.wheel", code=code))
    db.session.commit()
    return redirect(url_for("fans_pages.wheel", code=code))


@bp.route("/w/<code>/spin", methods=["POST"])
def spin(code: str):
    """One spin: `{"draw_id"}` (the page's, fresh for every spin). The server rolls and answers
    where the wheel stops; the same draw id again answers the same spin."""
    wheel = _wheel(code)
    openid, member, is_follower = _who(wheel.merchant_id)
    if openid is None:
        raise FanPageError(gettext("Please open the wheel from WeChat again."), error_code="not_signed_in", status=401)
    body = request.get_json(silent=True)
    draw_id = body.get("draw_id") if isinstance(body, dict) else None
    if not isinstance(draw_id, str) or not service.is_draw_id(draw_id):
        raise FanPageError(gettext("This spin is not valid; please reload the page."), error_code="invalid_draw",
                           status=422)
    poster_id = _poster_id(wheel, openid)
    actor = Actor.diner(wheel.merchant_id, member.name if member else "", ip=request.remote_addr)
    _start_writing()
    wheel = service.wheel_by_code(code)
    member = wechat_service.member_for_openid(wheel.merchant_id, openid)
    result = service.draw(wheel, openid=openid, draw_id=draw_id, member=member, is_follower=is_follower,
                          poster_id=poster_id, now=utcnow(), actor=actor)
    db.session.commit()
    prize = result.prize
    needs_join = result.is_win and not result.is_granted and member is None
    return {
        "position": prize.position, "segments": len(wheel.prizes), "label": prize_label(prize),
        "kind": prize.kind.label, "is_win": result.is_win, "granted": result.is_granted,
        "needs_join": needs_join, "problem": result.grant_problem,
        "claim_url": url_for("fans_pages.claim", code=code) if needs_join else None,
        "wallet_url": url_for("diner.wallet", merchant=wheel.merchant_id) if prize.kind is PrizeKind.COUPON
        else url_for("wechat_pages.card", merchant=wheel.merchant_id),
        "plays_left": service.plays_left(wheel, openid, utcnow()), "next_draw_id": secrets.token_urlsafe(18),
    }, 200, {"Cache-Control": "no-store"}


@bp.route("/w/<code>/claim")
def claim(code: str):
    """A winner who is not a member yet: join (and come back here), then every pending win of
    theirs goes into the wallet."""
    wheel = _wheel(code)
    openid, member, _ = _who(wheel.merchant_id)
    if openid is None:
        return oauth_redirect(wheel.merchant_id, request.full_path.rstrip("?"))
    if member is None:
        return redirect(url_for("wechat_pages.join", merchant=wheel.merchant_id, next=request.path))
    _start_writing()
    member = wechat_service.member_for_openid(wheel.merchant_id, openid)
    problems = service.claim_pending(wheel.merchant_id, openid, member, now=utcnow(),
                                     actor=Actor.diner(wheel.merchant_id, member.name, ip=request.remote_addr))
    db.session.commit()
    for problem in problems:
        flash(problem)
    if not problems:
        flash(gettext("Your prize is in your wallet."))
    return redirect(url_for("diner.wallet", merchant=wheel.merchant_id))


# --- the diner's red envelope ----------------------------------------------------------------------------

def _envelope(code: str) -> RedEnvelope:
    envelope = service.envelope_by_code(code)
    if envelope is None:
        raise FanPageError(gettext("This red envelope does not exist."), status=404)
    return envelope


def _masked(name: str) -> str:
    return name[:1] + "*" * max(1, len(name) - 1) if name else "—"


@bp.route("/e/<code>")
def envelope(code: str):
    envelope = _envelope(code)
    openid, member, _ = _who(envelope.merchant_id)
    if openid is None:
        return oauth_redirect(envelope.merchant_id, request.full_path.rstrip("?"))
    shares = service.shares_of(envelope)
    names = {m.id: m.name for m in db.session.scalars(db.select(Member).where(
        Member.id.in_([s.member_id for s in shares if s.member_id])))}
    grabbed = [{"name": _masked(names.get(s.member_id, "")), "amount": s.amount_cents, "mine": member is not None
                and s.member_id == member.id} for s in shares if s.member_id]
    mine = service.share_of(envelope, member.id) if member is not None else None
    return render_template("fans/envelope.html", envelope=envelope, grabbed=grabbed, mine=mine, member=member,
                           left=envelope.shares - len(grabbed),
                           merchant=db.session.get(Merchant, envelope.merchant_id)), 200, {"Cache-Control": "no-store"}


@bp.route("/e/<code>/grab", methods=["POST"])
def grab(code: str):
    envelope = _envelope(code)
    openid, member, _ = _who(envelope.merchant_id)
    if openid is None:
        return oauth_redirect(envelope.merchant_id, url_for("fans_pages.envelope", code=code))
    if member is None:
        return redirect(url_for("wechat_pages.join", merchant=envelope.merchant_id,
                                next=url_for("fans_pages.envelope", code=code)))
    _start_writing()
    envelope = service.envelope_by_code(code)
    member = wechat_service.member_for_openid(envelope.merchant_id, openid)
    try:
        share = service.grab(envelope, member, now=utcnow(),
                             actor=Actor.diner(envelope.merchant_id, member.name, ip=request.remote_addr))
    except APIError as error:
        db.session.rollback()
        flash(str(error.description))
        return redirect(url_for("fans_pages.envelope", code=code))
    db.session.commit()
    if envelope.kind is EnvelopeKind.COUPON:
        flash(gettext("You grabbed a %(amount)s voucher! It is in your wallet.", amount=format_cny(share.amount_cents)))
    else:
        flash(gettext("You grabbed %(amount)s! It is in your stored value.", amount=format_cny(share.amount_cents)))
    return redirect(url_for("fans_pages.envelope", code=code))

