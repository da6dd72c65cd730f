"""The store's customer-service inbox page (conversations, the thread, the member's card, the
reply box) and the manager's canned replies and keyword auto-replies.

Views parse and authorise, then call `app.inbox.service` — the same functions as the JSON API.
The page keeps itself current by asking `…/inbox/stamp` every second (static/inbox.js) and
swapping in the changed parts when the stamp moves.
"""

from __future__ import annotations

import uuid

import requests
import sqlalchemy as sa
from flask import Blueprint, Response, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext

from app.auth.guard import current_actor
from app.auth.models import Staff
from app.auth.permissions import Permission
from app.db import begin_write, db, get_scoped_or_404, scoped, utcnow
from app.errors import APIError, NotFound
from app.inbox import service
from app.inbox.models import CannedReply, Conversation, KeywordReply, ServiceMessage
from app.members.models import Member
from app.pages.auth import login_required
from app.tenants.models import Store
from tablerules import service_window as window

bp = Blueprint("inbox_pages", __name__, url_prefix="/manage")


def _start_write() -> None:
    db.session.commit()
    begin_write()


def _store(store_id: int) -> Store:
    store = get_scoped_or_404(Store, store_id)
    if not current_actor().works_at(store.id):
        raise NotFound("store")
    return store


def _stores() -> list[Store]:
    actor = current_actor()
    return [s for s in db.session.scalars(scoped(Store).order_by(Store.id)) if actor.works_at(s.id)]


@bp.route("/inbox")
@login_required(Permission.CS_INBOX)
def inbox_home():
    stores = _stores()
    if not stores:
        raise NotFound("store")
    return redirect(url_for(".inbox", store_id=stores[0].id))


def _stamp(store: Store) -> str:
    """Moves whenever the store's inbox shows something new: a message, a read, an assignment."""
    row = db.session.execute(sa.select(
        sa.func.max(ServiceMessage.id), sa.func.coalesce(sa.func.sum(Conversation.unread_count), 0),
        sa.func.count(Conversation.assigned_staff_id)).select_from(Conversation)
        .outerjoin(ServiceMessage, ServiceMessage.conversation_id == Conversation.id)
        .where(Conversation.merchant_id == store.merchant_id, Conversation.store_id == store.id)).one()
    return "-".join(str(v or 0) for v in row)


@bp.route("/stores/<id:store_id>/inbox/stamp")
@login_required(Permission.CS_INBOX)
def inbox_stamp(store_id: int):
    return {"stamp": _stamp(_store(store_id))}


@bp.route("/stores/<id:store_id>/inbox")
@login_required(Permission.CS_INBOX)
def inbox(store_id: int):
    actor = current_actor()
    store = _store(store_id)
    conversation = None
    chosen = request.args.get("c", type=int)
    if chosen:
        _start_write()
        conversation = service.get_conversation(chosen, actor)
        if conversation.store_id != store.id:
            raise NotFound("conversation")
        service.mark_read(conversation)  # staff have it open: what it says is read
        db.session.commit()
    return _render(store, conversation)


def _render(store: Store, conversation: Conversation | None, status: int = 200, reply_error: str | None = None,
            draft: str = ""):
    actor = current_actor()
    now = utcnow()
    rows = service.conversations(store.id, actor)
    member_ids = {c.member_id for c in rows if c.member_id}
    names = {m.id: m.name for m in db.session.scalars(sa.select(Member).where(Member.id.in_(member_ids)))} \
        if member_ids else {}
    staff = {s.id: s.display_name or s.username for s in db.session.scalars(scoped(Staff))}
    context = {"store": store, "stores": _stores(), "conversations": rows, "names": names, "staff_names": staff,
               "unread": service.unread_total(store.id, store.merchant_id), "conversation": conversation,
               "stamp": _stamp(store), "reply_error": reply_error, "draft": draft}
    if conversation is not None:
        thread = service.messages(conversation)
        context.update(
            thread=thread, states=service.delivery_states(thread),
            can_reply=window.can_reply(conversation.last_inbound_at, now),
            deadline=window.reply_deadline(conversation.last_inbound_at),
            card=service.member_card(conversation), canned=service.canned_replies(store.merchant_id),
            assignable=service.assignable_staff(store.id, store.merchant_id), key=uuid.uuid4().hex)
    db.session.commit()
    return render_template("manage/inbox/inbox.html", **context), status


@bp.route("/stores/<id:store_id>/inbox/<id:conversation_id>/reply", methods=["POST"])
@login_required(Permission.CS_INBOX)
def reply(store_id: int, conversation_id: int):
    _start_write()
    actor = current_actor()
    store = _store(store_id)
    text = request.form.get("text", "").strip()
    canned_id = request.form.get("canned_id", type=int)
    if not text and canned_id:
        canned = get_scoped_or_404(CannedReply, canned_id)
        text = canned.text
    try:
        _, created = service.reply(conversation_id, text, key=request.form.get("idempotency_key", "")[:80],
                                   actor=actor, now=utcnow())
        db.session.commit()
    except APIError as error:
        db.session.rollback()
        if error.code == 404:
            raise
        conversation = service.get_conversation(conversation_id, actor)
        return _render(store, conversation, error.code or 400, str(error.description), draft=text)
    if not created:
        flash(gettext("This reply had already been sent; it was not sent twice."))
    return redirect(url_for(".inbox", store_id=store.id, c=conversation_id) + "#reply")


@bp.route("/stores/<id:store_id>/inbox/<id:conversation_id>/assign", methods=["POST"])
@login_required(Permission.CS_INBOX)
def assign(store_id: int, conversation_id: int):
    _start_write()
    store = _store(store_id)
    staff_id = request.form.get("staff_id", type=int)
    try:
        service.assign(conversation_id, staff_id or None, actor=current_actor())
        db.session.commit()
    except APIError as error:
        db.session.rollback()
        if error.code == 404:
            raise
        flash(str(error.description))
    return redirect(url_for(".inbox", store_id=store.id, c=conversation_id))


# A follower's picture is WeChat's URL (PicUrl): the page's policy loads images from this site only,
# and WeChat's image hosts refuse other sites' pages, so the server fetches it for staff.
IMAGE_LIMIT = 5 * 1024 * 1024


@bp.route("/stores/<id:store_id>/inbox/images/<id:message_id>")
@login_required(Permission.CS_INBOX)
def image(store_id: int, message_id: int):
    store = _store(store_id)
    message = get_scoped_or_404(ServiceMessage, message_id)
    conversation = service.get_conversation(message.conversation_id, current_actor())
    url = message.image_url or ""
    db.session.commit()  # no transaction held while the picture is fetched
    if conversation.store_id != store.id or not url.startswith(("http://", "https://")):
        raise NotFound("image")
    try:
        with requests.get(url, timeout=5, stream=True, allow_redirects=False) as answer:
            kind = answer.headers.get("Content-Type", "").split(";")[0].strip().lower()
            body = answer.raw.read(IMAGE_LIMIT + 1, decode_content=True)
    except requests.RequestException:
        raise NotFound("image") from None
    if answer.status_code != 200 or not kind.startswith("image/") or len(body) > IMAGE_LIMIT:
        raise NotFound("image")
    return Response(body, mimetype=kind, headers={
        "Cache-Control": "private, max-age=86400",
        # An SVG opened on its own must not run anything in this site's name.
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; sandbox",
        "X-Content-Type-Options": "nosniff"})


# --- settings ---------------------------------------------------------------------------------

@bp.route("/inbox/settings", methods=["GET", "POST"])
@login_required(Permission.CS_CONFIG)
def settings():
    status = 200
    if request.method == "POST":
        _start_write()
        actor, now, action = current_actor(), utcnow(), request.form.get("action", "")
        try:
            if action == "add_canned":
                service.add_canned_reply(actor=actor, title=request.form.get("title", ""),
                                         text=request.form.get("text", ""), now=now)
            elif action == "add_keyword":
                service.add_keyword_reply(actor=actor, keyword=request.form.get("keyword", ""),
                                          text=request.form.get("text", ""), now=now)
            elif action in ("delete_canned", "delete_keyword"):
                model = CannedReply if action == "delete_canned" else KeywordReply
                service.delete_setting(model, request.form.get("id", 0, type=int), actor=actor)
            else:
                raise APIError(gettext("Unknown action."), error_code="bad_action")
            db.session.commit()
            flash(gettext("Saved."))
            return redirect(url_for(".settings"))
        except APIError as error:
            db.session.rollback()
            if error.code == 404:
                raise
            flash(str(error.description))
            status = error.code or 400
    merchant_id = g.staff.merchant_id
    return render_template("manage/inbox/settings.html", canned=service.canned_replies(merchant_id),
                           keywords=service.keyword_rules(merchant_id)), status
