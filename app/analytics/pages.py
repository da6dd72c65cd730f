"""The manager's pyramid pages: the pyramid, a layer (what it likes, its members, CSV), each member
linking to the member's page. Views call the same service as /api/v1/analytics."""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import get_locale, gettext, lazy_gettext

from app.analytics import service
from app.analytics.chart import permille_text, pyramid_chart
from app.analytics.export import members_csv
from app.analytics.forms import ThresholdsForm
from app.analytics.labels import layer_advice, layer_name, layer_rule
from app.auth.guard import current_actor
from app.auth.permissions import Permission
from app.db import begin_write, db, scoped, utcnow
from app.errors import APIError
from app.members.models import Tier
from app.pages.auth import login_required
from tablerules.money import to_yuan_short
from tablerules.rfm import LAYERS, Layer

bp = Blueprint("analytics_pages", __name__, url_prefix="/manage/analytics")

PAGE_SIZE = 25
MAX_PAGE = 100_000

bp.add_app_template_filter(permille_text, "permille")
bp.add_app_template_global(layer_name)


@bp.app_template_global()
def local_name(name: str, name_en: str) -> str:
    """A dish or category in the reader's language (the Chinese when there is no English)."""
    return name_en if name_en and get_locale().language == "en" else name


def _layer(value: str) -> Layer:
    try:
        return Layer(value)
    except ValueError:
        abort(404)


def _sorting() -> tuple[str, bool]:
    sort = request.args.get("sort", "spend")
    if sort not in service.SORTS:
        sort = "spend"
    return sort, request.args.get("order", "desc") != "asc"


@bp.route("/")
@login_required(Permission.ANALYTICS)
def pyramid():
    return render_pyramid()


def render_pyramid(form: ThresholdsForm | None = None, status: int = 200):
    now = utcnow()
    scoring = service.score_members(current_actor().merchant_id, now)
    rows = scoring.summary()
    moved = service.movement(current_actor().merchant_id, now, current=scoring)
    if form is None:
        form = ThresholdsForm(formdata=None)
        form.fill(scoring.window_months, dict(scoring.chosen))
    db.session.commit()
    return render_template("manage/analytics/pyramid.html", scoring=scoring, rows=rows, moved=moved, layers=LAYERS,
                           form=form,
                           chart=pyramid_chart(rows), rules={r.layer: layer_rule(r.layer, scoring.thresholds)
                                                             for r in rows},
                           totals={"members": sum(r.members for r in rows), "visits": sum(r.visits for r in rows),
                                   "revenue_cents": sum(r.revenue_cents for r in rows)}), status


@bp.route("/thresholds", methods=["POST"])
@login_required(Permission.MEMBERS_CONFIG)
def save_thresholds():
    db.session.commit()
    begin_write()
    form = ThresholdsForm()
    if not form.validate_on_submit():
        db.session.rollback()
        return render_pyramid(form, 422)
    try:
        service.update_settings(form.changes(), actor=current_actor(), now=utcnow())
    except APIError as error:
        db.session.rollback()
        fields = error.details.get("fields", {})
        for name in fields:
            field = getattr(form, "high_spend_yuan" if name == "high_spend_cents" else name, None)
            if field is not None:
                field.errors = [str(error.description)]
        if not fields:
            form.form_errors.append(str(error.description))
        return render_pyramid(form, error.code or 422)
    db.session.commit()
    flash(gettext("Thresholds saved; the pyramid below uses them."))
    return redirect(url_for(".pyramid"))


@bp.route("/layers/<layer>")
@login_required(Permission.ANALYTICS)
def layer(layer: str):
    chosen = _layer(layer)
    sort, descending = _sorting()
    page = min(max(request.args.get("page", 1, type=int), 1), MAX_PAGE)
    scoring = service.score_members(current_actor().merchant_id, utcnow())
    summary = next(r for r in scoring.summary() if r.layer is chosen)
    members = service.sorted_members(scoring.of_layer(chosen), sort, descending)
    pages = max(1, -(-len(members) // PAGE_SIZE))
    shown = members[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]
    tiers = {tier.id: tier for tier in db.session.scalars(scoped(Tier, current_actor().merchant_id))}
    likes = service.likes_of(current_actor().merchant_id, scoring, chosen)
    db.session.commit()
    return render_template("manage/analytics/layer.html", layer=chosen, likes=likes, charts=likes_charts(likes),
                           summary=summary, members=shown,
                           total=len(members), page=page, pages=pages, sort=sort, descending=descending,
                           tiers=tiers, rule=layer_rule(chosen, scoring.thresholds), advice=layer_advice(chosen),
                           layers=LAYERS, scoring=scoring, sort_url=_sort_url(chosen, sort, descending))


def _sort_url(chosen: Layer, sort: str, descending: bool):
    def url(column: str) -> str:
        # A click on the sorted column flips the order; another column starts high to low
        # (names: A to Z).
        order = ("asc" if descending else "desc") if column == sort else ("asc" if column == "name" else "desc")
        return url_for(".layer", layer=chosen.value, sort=column, order=order)

    return url


WEEKDAYS = (lazy_gettext("Mon"), lazy_gettext("Tue"), lazy_gettext("Wed"), lazy_gettext("Thu"),
            lazy_gettext("Fri"), lazy_gettext("Sat"), lazy_gettext("Sun"))


def likes_charts(likes: service.Likes) -> dict:
    """Bar heights (SVG units) for the weekday and hour charts and the bill bands."""
    def bars(values: list[int], height: int) -> list[int]:
        top = max(values, default=0) or 1
        return [round(height * v / top) for v in values]

    limits = [0, *service.BILL_BANDS]
    band_labels = [f"<￥{to_yuan_short(service.BILL_BANDS[0])}"]
    band_labels += [f"￥{to_yuan_short(a)}–{to_yuan_short(b)}" for a, b in zip(limits[1:], service.BILL_BANDS[1:],
                                                                             strict=False)]
    band_labels.append(f"≥￥{to_yuan_short(service.BILL_BANDS[-1])}")
    top_qty = max((d.qty for d in likes.top_by_qty), default=0) or 1
    top_revenue = max((d.revenue_cents for d in likes.top_by_revenue), default=0) or 1
    top_category = max((c.revenue_cents for c in likes.categories), default=0) or 1
    return {"weekdays": list(zip(WEEKDAYS, likes.weekdays, bars(likes.weekdays, 80), strict=True)),
            "hours": list(zip(range(24), likes.hours, bars(likes.hours, 90), strict=True)),
            "bands": list(zip(band_labels, likes.bands, bars(likes.bands, 80), strict=True)),
            "qty_width": lambda d: max(2, round(160 * d.qty / top_qty)),
            "revenue_width": lambda d: max(2, round(160 * d.revenue_cents / top_revenue)),
            "category_width": lambda c: max(2, round(160 * c.revenue_cents / top_category))}


@bp.route("/layers/<layer>.csv")
@login_required(Permission.ANALYTICS)
def layer_csv(layer: str):
    chosen = _layer(layer)
    sort, descending = _sorting()
    now = utcnow()
    members = service.sorted_members(service.score_members(current_actor().merchant_id, now).of_layer(chosen),
                                     sort, descending)
    db.session.commit()
    filename = f"members-{chosen.value}-{now.date().isoformat()}.csv"
    return Response(members_csv(members), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
