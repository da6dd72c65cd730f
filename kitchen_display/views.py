from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, Response, current_app, render_template, request
from flask_babel import get_locale, gettext
from sqlalchemy.orm import selectinload

from app.auth.guard import current_actor
from app.auth.permissions import Permission
from app.db import db, get_scoped_or_404, scoped, utcnow
from app.errors import NotFound
from app.events import waiter
from app.events.models import KITCHEN_KINDS, EventKind
from app.events.service import last_seq, sse_stream
from app.menu import service as menu
from app.orders import documents, kitchen, rush
from app.orders.models import KitchenTicket, TicketStatus
from app.pages.auth import login_required
from app.tenants.models import Store
from tablerules import documents as contract
from tablerules import kitchen as rules

bp = Blueprint("kitchen", __name__, url_prefix="/kitchen", template_folder="templates",
               static_folder="static", static_url_path="/kitchen/static")

# What the screen follows: the tickets, and the diners' waiter calls with their acknowledgements.
SCREEN_KINDS = sorted(KITCHEN_KINDS | {EventKind.WAITER_CALLED, EventKind.WAITER_ACKED})


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


def _stations(store: Store) -> list[dict]:
    """The stations as the screen shows them: the store's names (English ones when the screen is
    in English and one is set), and any code seen on a ticket of the store."""
    english = str(get_locale() or "").startswith("en")
    found = [{"code": s.code, "name": s.name, "name_en": s.name_en} for s in menu.stations(store.merchant_id)]
    known = {s["code"] for s in found}
    used = db.session.scalars(sa.select(KitchenTicket.station).where(KitchenTicket.store_id == store.id).distinct())
    found += [{"code": code, "name": code, "name_en": ""} for code in sorted(set(used) - known)]
    return [{"code": s["code"], "name": (s["name_en"] if english and s["name_en"] else s["name"])} for s in found]


@bp.route("/")
@login_required(Permission.KITCHEN)
def screen():
    store = _store(request.args.get("store", type=int))
    station = (request.args.get("station") or "").strip()[:20]
    config = current_app.config
    return render_template("kitchen/screen.html", store=store, station=station, stations=_stations(store),
                           head_seq=last_seq(store.id), warn_minutes=config["KITCHEN_WARN_MINUTES"],
                           late_minutes=config["KITCHEN_LATE_MINUTES"])


@bp.route("/stores/<id:store_id>/tickets.json")
@login_required(Permission.KITCHEN)
def open_tickets(store_id: int):
    """The screen's state: open tickets, the last rush (催菜) of their orders, what can be recalled
    (last bumped first), the all-day counts (of one `station` when given) and the unacknowledged
    waiter calls; `head_seq` is the cursor the live stream goes on from."""
    store = _store(store_id)
    station = (request.args.get("station") or "").strip()[:20]
    head = last_seq(store.id)
    names = menu.station_names(store.merchant_id)
    tickets = [documents.ticket_json(t, names) for t in db.session.scalars(scoped(KitchenTicket).where(
        KitchenTicket.store_id == store.id, KitchenTicket.status == TicketStatus.OPEN)
        .options(selectinload(KitchenTicket.lines)).order_by(KitchenTicket.id))]
    counts = rules.all_day((contract.KitchenTicket.from_dict(t) for t in tickets), station=station)
    return {"tickets": tickets,
            "rushes": rush.recent_rushes(store.id, {t["order_id"] for t in tickets}),
            "bumped": [documents.ticket_json(t, names) for t in kitchen.recently_bumped(store.id, station=station)],
            "all_day": [{"name": row.name, "qty": row.qty, "tickets": row.tickets} for row in counts],
            "waiter_calls": waiter.open_calls(store.id, now=utcnow()),
            "head_seq": head}


@bp.route("/stores/<id:store_id>/stream")
@login_required(Permission.KITCHEN)
def stream(store_id: int):
    store = _store(store_id)
    last_id = request.headers.get("Last-Event-ID", "")
    cursor = int(last_id) if last_id.isdigit() and len(last_id) < 19 else request.args.get("after", 0, type=int)
    app = current_app._get_current_object()
    db.session.remove()
    response = Response(sse_stream(app, store.id, max(cursor, 0), SCREEN_KINDS), mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"
    return response


@bp.route("/tickets/<id:ticket_id>/<any(bump, recall):action>", methods=["POST"])
@login_required(Permission.KITCHEN)
def ticket_action(ticket_id: int, action: str):
    ticket = kitchen.set_ticket(ticket_id, bumped=action == "bump", actor=current_actor(), now=utcnow())
    db.session.commit()
    return {"ticket": documents.ticket_json(ticket), "message": gettext("Done.")}


@bp.route("/items/<id:line_id>/<any(bump, recall):action>", methods=["POST"])
@login_required(Permission.KITCHEN)
def item_action(line_id: int, action: str):
    """One dish of a ticket done (bump) or back to cooking (recall); answers its whole ticket."""
    ticket = kitchen.set_line(line_id, bumped=action == "bump", actor=current_actor(), now=utcnow())
    db.session.commit()
    return {"ticket": documents.ticket_json(ticket), "message": gettext("Done.")}


@bp.route("/stores/<id:store_id>/waiter-calls/<id:call_seq>/ack", methods=["POST"])
@login_required(Permission.KITCHEN)
def ack_waiter_call(store_id: int, call_seq: int):
    store = _store(store_id)
    ack = waiter.acknowledge(store.id, call_seq, actor=current_actor(), now=utcnow())
    db.session.commit()
    return {"ack": waiter.ack_json(ack), "message": gettext("Done.")}
