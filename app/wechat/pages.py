"""Diner pages that know who the diner is through WeChat: OAuth sign-in (snsapi_base: just the
openid, no consent screen), member sign-up, and the electronic member card.

The diner's identity lives in the session: `wechat_openid`, with the merchant and appid it
belongs to (an openid is per official account). A diner page that needs it and finds none (or
another merchant's) sends the diner through OAuth and back.
"""

from __future__ import annotations

import secrets
from datetime import date
from urllib.parse import urlsplit

import requests
from flask import Blueprint, current_app, redirect, render_template, request, session, url_for
from flask_babel import gettext, lazy_gettext
from flask_wtf import FlaskForm
from markupsafe import Markup
from wechatpy.exceptions import WeChatOAuthException
from werkzeug.exceptions import HTTPException
from wtforms import DateField, StringField
from wtforms.validators import DataRequired, Length, Optional, Regexp

from app.actor import Actor
from app.db import begin_write, db, utcnow
from app.errors import APIError
from app.members import history
from app.members import service as members
from app.members.models import Member
from app.tables import qr
from app.tables.models import DiningTable
from app.tables.service import resolve_table_token
from app.tenants.models import Merchant
from app.wechat import notify, service
from app.wechat.client import oauth
from app.wechat.models import WeChatSettings

bp = Blueprint("wechat_pages", __name__)

_PENDING = "wechat_oauth"  # {"state", "merchant_id", "next"} while the diner is away at WeChat
_OPENID, _MERCHANT, _APPID = "wechat_openid", "wechat_merchant_id", "wechat_appid"
_TABLE = "diner_table_id"  # the table the diner last opened (attribution at sign-up)
_NICKNAME = "wechat_nickname"  # the diner's WeChat nickname (snsapi_userinfo): shown beside their picks
VISITS_SHOWN = 10


class DinerPageError(APIError):
    """Shown to the diner on a plain page (never a manager's page)."""


def _message_page(error: HTTPException):
    status = error.code or 400
    return render_template("diner/message.html", message=error.description), status


bp.register_error_handler(DinerPageError, _message_page)


def _local_path(target: str | None, default: str) -> str:
    # Only paths of this site: never an open redirect to another one.
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target \
            and not urlsplit(target).netloc:
        return target
    return default


def _merchant_arg() -> int | None:
    value = request.args.get("merchant", "")
    if value.isdigit() and 1 <= int(value) <= current_app.config["MAX_ID"]:
        return int(value)
    return None


def diner_openid(merchant_id: int) -> str | None:
    """The diner's openid for this merchant's account, if they signed in through it."""
    if session.get(_MERCHANT) == merchant_id and isinstance(session.get(_OPENID), str):
        return session[_OPENID]
    return None


def diner_nickname(merchant_id: int) -> str | None:
    """The diner's WeChat nickname, when they signed in with it (the table pages ask for it)."""
    if diner_openid(merchant_id) is not None and isinstance(session.get(_NICKNAME), str):
        return session[_NICKNAME]
    return None


def oauth_redirect(merchant_id: int, next_path: str, *, profile: bool = False):
    """Off to WeChat; `profile` asks for the nickname too (snsapi_userinfo) besides the openid."""
    return redirect(url_for("wechat_pages.oauth_start", next=next_path, merchant=merchant_id,
                            **({"profile": 1} if profile else {})))


def _here() -> str:
    return request.full_path.rstrip("?")


def _start_writing() -> None:
    """End this request's reads and open a writer's transaction (SQLite: BEGIN IMMEDIATE, so it
    waits its turn instead of failing when another writer got in since the reads)."""
    db.session.commit()
    begin_write()


# --- OAuth ------------------------------------------------------------------------------------------

def _callback_url() -> str:
    return current_app.config["PUBLIC_BASE_URL"].rstrip("/") + url_for("wechat_pages.oauth_callback")


@bp.route("/wechat/oauth/start")
def oauth_start():
    """Off to WeChat for the diner's openid; back at `next` (a path of this site) afterwards."""
    merchant_id = _merchant_arg()
    if merchant_id is None and request.args.get("table"):
        table = resolve_table_token(request.args["table"])
        merchant_id = table.merchant_id if table is not None else None
    settings = notify.settings_for(merchant_id) if merchant_id is not None else None
    if settings is None:
        raise DinerPageError(gettext("WeChat sign-in is not available here."), status=404)
    state = secrets.token_urlsafe(16)
    profile = request.args.get("profile") == "1"
    session[_PENDING] = {"state": state, "merchant_id": settings.merchant_id, "profile": profile,
                         "next": _local_path(request.args.get("next"), url_for("wechat_pages.card"))}
    scope = "snsapi_userinfo" if profile else "snsapi_base"
    return redirect(oauth(settings, _callback_url(), state, scope).authorize_url)


@bp.route("/wechat/oauth/callback")
def oauth_callback():
    """WeChat sends the diner back with a one-time code; the state proves it is the same trip."""
    pending = session.get(_PENDING)
    state = request.args.get("state", "")
    if not (isinstance(pending, dict) and isinstance(pending.get("state"), str) and state
            and secrets.compare_digest(state.encode(), pending["state"].encode())):
        raise DinerPageError(gettext("This sign-in link is not valid any more. Please scan the code again."))
    settings = db.session.scalar(db.select(WeChatSettings).where(WeChatSettings.merchant_id == pending["merchant_id"]))
    code = request.args.get("code", "")
    if settings is None or not code or len(code) > 512:
        raise DinerPageError(gettext("This sign-in link is not valid any more. Please scan the code again."))
    client = oauth(settings, _callback_url(), state)
    try:
        client.fetch_access_token(code)
    except WeChatOAuthException:
        raise DinerPageError(gettext("WeChat did not confirm the sign-in. Please scan the code again.")) from None
    except requests.RequestException:
        raise DinerPageError(gettext("WeChat cannot be reached right now; please try again."), status=503) from None
    nickname = None
    if pending.get("profile"):
        try:
            nickname = client.get_user_info().get("nickname")
        except (WeChatOAuthException, requests.RequestException, ValueError):
            nickname = None  # the picks show a plain "diner" label instead
    session.pop(_PENDING, None)
    if session.get(_OPENID) != client.open_id:
        session.pop(_NICKNAME, None)
    session[_OPENID], session[_MERCHANT], session[_APPID] = client.open_id, settings.merchant_id, settings.appid
    if pending.get("profile"):  # asked once: "" when WeChat gave none (the picks say "diner")
        session[_NICKNAME] = nickname.strip()[:30] if isinstance(nickname, str) else ""
    return redirect(_local_path(pending.get("next"), url_for("wechat_pages.card")))


# --- the diner's way in: the table page records them -----------------------------------------------

def diner_at_table(table: DiningTable, has_account: bool | None = None):
    """For the table page: None when the diner may see it now, or the redirect that signs them in
    through WeChat first. `has_account`: whether the merchant has a WeChat account, when the
    caller read it already. Reading only: the page's first call records the diner at the table
    (`record_diner_here`)."""
    session[_TABLE] = table.id
    if has_account is None:
        has_account = notify.settings_for(table.merchant_id) is not None
    if not has_account:
        return None
    if diner_openid(table.merchant_id) is None or _NICKNAME not in session:
        return oauth_redirect(table.merchant_id, _here(), profile=True)
    return None


def record_diner_here(table: DiningTable) -> None:
    """The diner signed in through WeChat is at this table now (their phone gets the bill when it
    is pushed); a diner WeChat does not know is nobody to record. In the caller's transaction."""
    openid = diner_openid(table.merchant_id)
    if openid is not None:
        service.record_diner(table, openid, utcnow())


def diner_member(table: DiningTable) -> Member | None:
    openid = diner_openid(table.merchant_id)
    return service.member_for_openid(table.merchant_id, openid) if openid else None


# --- sign-up and the member card ----------------------------------------------------------------------

class JoinForm(FlaskForm):
    phone = StringField(lazy_gettext("Mobile number"), validators=[
        DataRequired(), Regexp(r"^1[3-9][0-9]{9}$", message=lazy_gettext("Please enter an 11-digit mobile number."))])
    name = StringField(lazy_gettext("Name"), validators=[DataRequired(), Length(max=60)])
    birthday = DateField(lazy_gettext("Birthday (optional)"), validators=[Optional()])


def _diner() -> tuple[int, str] | None:
    """(merchant_id, openid) of the diner, or None when they must sign in first."""
    merchant_id = _merchant_arg() or session.get(_MERCHANT)
    if not isinstance(merchant_id, int):
        raise DinerPageError(gettext("Please open this page from the restaurant's WeChat account or table code."))
    openid = diner_openid(merchant_id)
    if openid is None:
        if notify.settings_for(merchant_id) is None:
            raise DinerPageError(gettext("Please open this page from the restaurant's WeChat account or table code."))
        return None
    return merchant_id, openid


def _table_of(merchant_id: int) -> DiningTable | None:
    table_id = session.get(_TABLE)
    table = db.session.get(DiningTable, table_id) if isinstance(table_id, int) else None
    return table if table is not None and table.merchant_id == merchant_id else None


@bp.route("/m/join", methods=["GET", "POST"])
def join():
    diner = _diner()
    if diner is None:
        return oauth_redirect(_merchant_arg() or session[_MERCHANT], _here())
    merchant_id, openid = diner
    after = _local_path(request.args.get("next"), url_for("wechat_pages.card"))  # e.g. back to claim a prize
    if request.method == "GET" and service.member_for_openid(merchant_id, openid) is not None:
        return redirect(after)
    form = JoinForm()
    status = 200
    if form.validate_on_submit():
        _start_writing()
        try:
            service.join(Actor.diner(merchant_id, ip=request.remote_addr), openid, phone=form.phone.data,
                         name=form.name.data.strip(),
                         birthday=form.birthday.data if isinstance(form.birthday.data, date) else None,
                         table=_table_of(merchant_id))
        except APIError as error:
            db.session.rollback()
            form.phone.errors.append(str(error.description))
            status = error.code or 409
        else:
            db.session.commit()
            return redirect(after)
    elif form.errors:
        status = 422
    return render_template("diner/join.html", form=form), status


def _code_json(member: Member) -> dict:
    now = utcnow()
    code = members.current_code(member, now)
    return {"code": code["code"], "expires_at": code["expires_at"].isoformat(),
            "svg": qr.qr_svg(code["code"]), "refresh_seconds": 60}


def _signed_in_member() -> Member | None:
    diner = _diner()
    if diner is None:
        return None
    return service.member_for_openid(*diner)


@bp.route("/m/card")
def card():
    """The electronic member card: tier, discount, balances, the dynamic member code, visits."""
    if _diner() is None:
        return oauth_redirect(_merchant_arg() or session[_MERCHANT], _here())
    member = _signed_in_member()
    if member is None:
        return redirect(url_for("wechat_pages.join"))
    code = _code_json(member)
    db.session.commit()  # the member-code secret is created on first use
    return render_template("diner/card.html", member=member, code=code, qr=Markup(code["svg"]),
                           visits=history.card_visits(member, limit=VISITS_SHOWN),
                           expiring=history.points_expiring(member, utcnow()),
                           merchant_name=db.session.get(Merchant, member.merchant_id).name)


@bp.route("/m/card/code.json")
def card_code():
    """The member code now (it changes every minute); the card page polls it."""
    merchant_id = session.get(_MERCHANT)
    openid = diner_openid(merchant_id) if isinstance(merchant_id, int) else None
    member = service.member_for_openid(merchant_id, openid) if openid else None
    if member is None:
        return {"error": {"code": "not_a_member", "message": gettext("Please sign in as a member first."),
                          "details": {}}}, 401
    body = _code_json(member)
    db.session.commit()
    return body, 200, {"Cache-Control": "no-store"}
