"""/api/v1/analytics: the member pyramid, a layer's members (also as CSV), one member's figures,
and the merchant's pyramid thresholds. Managers and owners only."""

from __future__ import annotations

from flask import Response, url_for

from app.analytics import sales, schemas, service
from app.analytics.export import members_csv
from app.analytics.labels import layer_name
from app.api import Blueprint
from app.auth.guard import current_actor, id_argument, requires
from app.auth.permissions import Permission
from app.db import db, get_scoped_or_404, utcnow
from app.errors import NotFound
from app.members.models import Member
from app.tenants.models import Store
from tablerules.rfm import LAYERS, Layer

blp = Blueprint("analytics", __name__, url_prefix="/api/v1/analytics",
                description="The member pyramid (RFM layers) and what each layer likes")

id_argument("member_id", Member)


def layer_of(value: str) -> Layer:
    try:
        return Layer(value)
    except ValueError:
        raise NotFound("layer") from None


def _scoring(query: dict) -> service.Scoring:
    return service.score_members(current_actor().merchant_id, query.get("as_of") or utcnow())


def pyramid_body(counted: service.Pyramid) -> dict:
    rows = counted.layers
    return {
        "as_of": counted.as_of,
        "window": {"months": counted.window_months, "start": counted.start, "end": counted.as_of},
        "thresholds": counted.thresholds,
        "totals": {"members": sum(r.members for r in rows), "visits": sum(r.visits for r in rows),
                   "revenue_cents": sum(r.revenue_cents for r in rows)},
        "layers": [{"layer": r.layer.value, "name": layer_name(r.layer), "name_zh": r.layer.name_zh,
                    "name_en": r.layer.name_en, "rank": r.layer.rank, "members": r.members, "visits": r.visits,
                    "revenue_cents": r.revenue_cents, "revenue_share_permille": r.revenue_share_permille,
                    "avg_spend_per_visit_cents": r.avg_spend_per_visit_cents,
                    "avg_spend_per_member_cents": r.avg_spend_per_member_cents,
                    "members_url": url_for("analytics.layer_members", layer=r.layer.value)}
                   for r in rows],
    }


@blp.route("/pyramid", methods=["GET"])
@requires(Permission.ANALYTICS)
@blp.arguments(schemas.AsOfQuery, location="query")
@blp.response(200, schemas.PyramidOut)
def pyramid(query):
    """Each layer's members, visits, revenue, share of revenue and average spend, top first
    (counted in the database)."""
    return pyramid_body(service.pyramid(current_actor().merchant_id, query.get("as_of") or utcnow()))


def page_of(members: list, page: int, per_page: int) -> tuple[list, int]:
    pages = max(1, -(-len(members) // per_page))
    return members[(page - 1) * per_page: page * per_page], pages


@blp.route("/layers/<layer>/members", methods=["GET"])
@requires(Permission.ANALYTICS)
@blp.arguments(schemas.LayerMembersQuery, location="query")
@blp.response(200, schemas.LayerMembersOut)
def layer_members(query, layer):
    """A layer's members, sorted (`sort`: spend, visits, last_visit, recency, joined, name) and
    paged; each with a link to the member's page."""
    chosen = layer_of(layer)
    members = service.sorted_members(_scoring(query).of_layer(chosen), query["sort"], query["order"] == "desc")
    shown, pages = page_of(members, query["page"], query["per_page"])
    return {"layer": chosen.value, "total": len(members), "page": query["page"], "per_page": query["per_page"],
            "pages": pages, "sort": query["sort"], "order": query["order"], "members": shown}


@blp.route("/layers/<layer>/members.csv", methods=["GET"])
@requires(Permission.ANALYTICS)
@blp.arguments(schemas.CsvQuery, location="query")
@blp.response(200, content_type="text/csv", description="Every member of the layer, as CSV")
def layer_members_csv(query, layer):
    chosen = layer_of(layer)
    members = service.sorted_members(_scoring(query).of_layer(chosen), query["sort"], query["order"] == "desc")
    filename = f"members-{chosen.value}-{(query.get('as_of') or utcnow()).date().isoformat()}.csv"
    return Response(members_csv(members), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@blp.route("/members/<id:member_id>", methods=["GET"])
@requires(Permission.ANALYTICS)
@blp.arguments(schemas.AsOfQuery, location="query")
@blp.response(200, schemas.MemberRfmOut)
def member_rfm(query, member_id):
    """One member's visits, spend, recency and layer."""
    get_scoped_or_404(Member, member_id)
    found = next((m for m in _scoring(query).members if m.id == member_id), None)
    if found is None:  # not yet a member on `as_of`
        raise NotFound("member")
    return found


def settings_body(merchant_id: int) -> dict:
    scoring = service.score_members(merchant_id, utcnow())
    return {"window_months": scoring.window_months, "chosen": dict(scoring.chosen), "defaults": scoring.defaults,
            "in_force": scoring.thresholds}


@blp.route("/thresholds", methods=["GET"])
@requires(Permission.ANALYTICS)
@blp.response(200, schemas.SettingsOut)
def get_thresholds():
    """The window, the thresholds the merchant set, the defaults from its data, those in force."""
    return settings_body(current_actor().merchant_id)


@blp.route("/thresholds", methods=["PUT"])
@requires(Permission.MEMBERS_CONFIG)
@blp.arguments(schemas.SettingsIn)
@blp.response(200, schemas.SettingsOut)
def put_thresholds(data):
    actor = current_actor()
    service.update_settings(data, actor=actor, now=utcnow())
    db.session.commit()
    return settings_body(actor.merchant_id)


def likes_body(layer: Layer, likes: service.Likes) -> dict:
    limits = [0, *service.BILL_BANDS, None]
    return {"layer": layer.value, "members": likes.members, "visits": likes.visits,
            "revenue_cents": likes.revenue_cents, "avg_spend_per_visit_cents": likes.avg_spend_per_visit_cents,
            "top_by_qty": likes.top_by_qty, "top_by_revenue": likes.top_by_revenue,
            "categories": likes.categories, "weekdays": likes.weekdays, "hours": likes.hours,
            "stores": likes.stores,
            "bill_bands": [{"from_cents": limits[i], "below_cents": limits[i + 1], "visits": visits}
                           for i, visits in enumerate(likes.bands)]}


@blp.route("/layers/<layer>/likes", methods=["GET"])
@requires(Permission.ANALYTICS)
@blp.arguments(schemas.AsOfQuery, location="query")
@blp.response(200, schemas.LikesOut)
def layer_likes(query, layer):
    """What the layer likes: top dishes and categories (by quantity and by revenue), visits by
    weekday and hour, the stores they visit, and their bill sizes."""
    chosen = layer_of(layer)
    merchant_id = current_actor().merchant_id
    return likes_body(chosen, service.likes_of(merchant_id, _scoring(query), chosen))


def movement_body(moved: service.Movement) -> dict:
    sources: list[Layer | None] = [*LAYERS, None]
    rows = []
    for source in sources:
        to = {layer.value: moved.count(source, layer) for layer in LAYERS}
        rows.append({"from_layer": source.value if source else None, "to": to, "total": sum(to.values())})
    return {"before": moved.before, "after": moved.after, "thresholds": moved.thresholds, "rows": rows,
            "moved_up": moved.up, "moved_down": moved.down, "stayed": moved.stayed, "joined": moved.joined}


@blp.route("/movement", methods=["GET"])
@requires(Permission.ANALYTICS)
@blp.arguments(schemas.MovementQuery, location="query")
@blp.response(200, schemas.MovementOut)
def movement(query):
    """Month over month: how many members went from each layer (or from not yet being a member)
    to each layer, both moments scored by the thresholds in force now."""
    moved = service.movement(current_actor().merchant_id, query.get("as_of") or utcnow(), months=query["months"])
    return movement_body(moved)


def sales_body(board: sales.Dashboard) -> dict:
    def totals(t: sales.Totals) -> dict:
        return {"revenue_cents": t.revenue_cents, "orders": t.orders, "avg_spend_cents": t.avg_spend_cents,
                "member_revenue_cents": t.member_revenue_cents, "non_member_revenue_cents": t.non_member_revenue_cents,
                "member_orders": t.member_orders, "member_share_permille": t.member_share_permille,
                "refunded_cents": t.refunded_cents, "refunded_orders": t.refunded_orders}

    span = board.span
    return {"period": span.period.value, "start": span.start, "end": span.end, "first_day": span.first_day,
            "last_day": span.last_day, "store_id": board.store_id, "totals": totals(board.totals),
            "stores": [{"store_id": s.store_id, "name": s.name, **totals(s.totals)} for s in board.stores],
            "tenders": board.tenders, "new_members": board.new_members,
            "new_members_by_source": board.sources_by_kind, "sources": board.sources,
            "top_dishes": board.top_dishes, "series": board.series}


@blp.route("/sales", methods=["GET"])
@requires(Permission.ANALYTICS)
@blp.arguments(schemas.SalesQuery, location="query")
@blp.response(200, schemas.SalesOut)
def sales_dashboard(query):
    """The sales dashboard's figures: today, this week or this month (Beijing time), for one store
    or the chain (a manager bound to a store: that store). Revenue is what the period's sales kept
    after their refunds."""
    actor = current_actor()
    merchant_id = actor.merchant_id
    store_id = query.get("store_id")
    if actor.store_id is not None:  # a store's own manager: that store only
        if store_id not in (None, actor.store_id):
            raise NotFound("store")
        store_id = actor.store_id
    if store_id is not None:
        get_scoped_or_404(Store, store_id)
    day = query.get("date") or sales.local_today(utcnow())
    return sales_body(sales.dashboard(merchant_id, sales.span_of(sales.Period(query["period"]), day), store_id))
