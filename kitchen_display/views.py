from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, Response, current_app, render_template, request
from flask_babel import gettext

from app.auth.guard import current_actor
from app.auth.permissions import Permission
from app.db import db, get_scoped_or_404, scoped, utcnow
from app.errors import NotFound
from app.events.models import KITCHEN_KINDS
from app.events.service import last_seq, sse_stream
from app.orders import documents, kitchen
from app.orders.models import KitchenTicket, TicketStatus
from app.pages.auth import login_required
from app.tenants.models import Store

bp = Blueprint("kitchen", __name__, url_prefix="/kitchen", template_folder="templates",
               static_folder="static", static_url_path="/kitchen/static")


def _store(store_id: int | None) -> Store:
    """The screen's store: a store-bound account's own; an owner or manager picks one."""
    actor = current_actor()
    if actor.store_id is not None:
        if store_id is not None and not actor.works_at(store_id):
            raise NotFound("store")
        return db.session.get(Store, actor.store_id)
    if store_id is None:
        store = db.session.scalar(scoped(Store).order_by(Store.id).limit(1))
        if store is None:
            raise NotFound("store")
        return store
    return get_scoped_or_404(Store, store_id)


@bp.route("/")
@login_required(Permission.KITCHEN)
def screen():
    store = _store(request.args.get("store", type=int))
    station = (request.args.get("station") or "").strip()[:20]
    stations = sorted(set(db.session.scalars(sa.select(KitchenTicket.station).where(
        KitchenTicket.store_id == store.id).distinct())) | {"hot", "cold"})
    return render_template("kitchen/screen.html", store=store, station=station, stations=stations,
                           head_seq=last_seq(store.id))


@bp.route("/stores/<id:store_id>/tickets.json")
@login_required(Permission.KITCHEN)
def open_tickets(store_id: int):
    store = _store(store_id)
    tickets = db.session.scalars(scoped(KitchenTicket).where(
        KitchenTicket.store_id == store.id, KitchenTicket.status == TicketStatus.OPEN).order_by(KitchenTicket.id))
    return {"tickets": [documents.ticket_json(t) for t in tickets], "head_seq": last_seq(store.id)}


@bp.route("/stores/<id:store_id>/stream")
@login_required(Permission.KITCHEN)
def stream(store_id: int):
    store = _store(store_id)
    last_id = request.headers.get("Last-Event-ID", "")
    cursor = int(last_id) if last_id.isdigit() and len(last_id) < 19 else request.args.get("after", 0, type=int)
    app = current_app._get_current_object()
    db.session.remove()
    response = Response(sse_stream(app, store.id, max(cursor, 0), sorted(KITCHEN_KINDS)), mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"
    return response


@bp.route("/tickets/<id:ticket_id>/<any(bump, recall):action>", methods=["POST"])
@login_required(Permission.KITCHEN)
def ticket_action(ticket_id: int, action: str):
    ticket = kitchen.set_ticket(ticket_id, bumped=action == "bump", actor=current_actor(), now=utcnow())
    db.session.commit()
    return {"ticket": documents.ticket_json(ticket), "message": gettext("Done.")}
