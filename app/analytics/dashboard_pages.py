"""The manager's sales dashboard page: today / this week / this month, one store or the chain,
with server-made SVG charts (no script, so the strict CSP holds). The figures come from
`app.analytics.sales`, as /api/v1/analytics/sales answers them."""

from __future__ import annotations

from datetime import date, timedelta

from flask import Blueprint, g, render_template, request
from flask_babel import lazy_gettext

from app.analytics import sales
from app.auth.permissions import Permission
from app.db import db, get_scoped_or_404, utcnow
from app.pages.auth import login_required
from app.tenants.models import Store

bp = Blueprint("dashboard_pages", __name__)

PERIODS = {sales.Period.TODAY: lazy_gettext("Today"), sales.Period.WEEK: lazy_gettext("This week"),
           sales.Period.MONTH: lazy_gettext("This month")}
TENDERS = {"cash": lazy_gettext("Cash"), "stored_value": lazy_gettext("Stored value"),
           "wechat": lazy_gettext("WeChat Pay")}
SOURCES = {"campaign": lazy_gettext("Campaign"), "table": lazy_gettext("Table QR code"),
           "store": lazy_gettext("Store QR code"), "none": lazy_gettext("At the till")}

CHART_WIDTH, CHART_HEIGHT, CHART_TOP = 720, 190, 16
CHART_LEFT = 24  # room for the first label
BAR_WIDTH = 260  # the horizontal bars (tenders, sources, dishes)


def _period() -> sales.Period:
    try:
        return sales.Period(request.args.get("period", "today"))
    except ValueError:
        return sales.Period.TODAY


def _day() -> date:
    try:
        day = date.fromisoformat(request.args.get("date", ""))
    except ValueError:
        return sales.local_today(utcnow())
    return day if date(2000, 1, 1) <= day <= date(2999, 12, 1) else sales.local_today(utcnow())


def _store_id() -> int | None:
    if g.staff.store_id is not None:  # a store's own manager sees their store
        return g.staff.store_id
    raw = request.args.get("store_id", "")
    if not raw.isdigit() or not 0 < int(raw) < 2**31:
        return None
    return get_scoped_or_404(Store, int(raw), g.staff.merchant_id).id


def series_chart(board: sales.Dashboard) -> dict:
    """Revenue bars by hour or day, with the bucket labels thinned to fit."""
    series = board.series
    top = max((b.revenue_cents for b in series), default=0) or 1
    slot = (CHART_WIDTH - CHART_LEFT) / max(len(series), 1)
    every = 3 if len(series) == 24 else (1 if len(series) <= 7 else 3)
    bars = []
    for index, bucket in enumerate(series):
        height = round((CHART_HEIGHT - CHART_TOP) * bucket.revenue_cents / top)
        label = bucket.label if board.span.by_hour else bucket.label[5:]  # MM-DD
        left = CHART_LEFT + index * slot
        bars.append({"bucket": bucket, "x": round(left + slot * 0.15, 1), "width": round(slot * 0.7, 1),
                     "y": CHART_HEIGHT - height, "height": height, "centre": round(left + slot / 2, 1),
                     "label": label if index % every == 0 else ""})
    return {"width": CHART_WIDTH, "height": CHART_HEIGHT + 22, "base": CHART_HEIGHT, "bars": bars}


def widths(values: list[int]) -> list[int]:
    top = max(values, default=0) or 1
    return [max(2, round(BAR_WIDTH * v / top)) if v > 0 else 0 for v in values]


def previous_and_next(span: sales.Span) -> tuple[date, date]:
    if span.period is sales.Period.MONTH:
        before = span.first_day - timedelta(days=1)
        return before.replace(day=1), span.last_day + timedelta(days=1)
    return span.first_day - timedelta(days=span.days), span.first_day + timedelta(days=span.days)


@bp.route("/manage/dashboard")
@login_required(Permission.ANALYTICS)
def dashboard():
    merchant_id = g.staff.merchant_id
    store_id = _store_id()
    span = sales.span_of(_period(), _day())
    board = sales.dashboard(merchant_id, span, store_id)
    stores = db.session.scalars(db.select(Store).where(Store.merchant_id == merchant_id).order_by(Store.id)).all()
    db.session.commit()
    before, after = previous_and_next(span)
    totals = board.totals
    return render_template(
        "manage/dashboard.html", board=board, span=span, totals=totals, store_id=store_id, stores=stores,
        store_locked=g.staff.store_id is not None, periods=PERIODS, tender_names=TENDERS, source_names=SOURCES,
        chart=series_chart(board), before=before, after=after, today=sales.local_today(utcnow()),
        tender_widths=widths([t.cents for t in board.tenders]),
        source_widths=widths([s.members for s in board.sources]),
        dish_widths=widths([d.revenue_cents for d in board.top_dishes]),
        member_width=round(BAR_WIDTH * 2 * totals.member_share_permille / 1000),
        bar_width=BAR_WIDTH * 2)
