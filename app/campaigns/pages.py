"""The manager's pages for segments and campaigns, and the tracked link a member opens.

Views parse and authorise, then call the same service functions as /api/v1/segments and
/api/v1/campaigns. The live count of a filter is a small fetch (`static/campaigns.js`) to
`/manage/segments/count`, which answers the number as text.
"""

from __future__ import annotations

import uuid
from datetime import datetime, time
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext, lazy_gettext

from app.analytics.labels import layer_name
from app.auth.guard import current_actor
from app.auth.permissions import Permission
from app.campaigns import service
from app.campaigns.models import Campaign, CampaignStatus, Segment, Trigger
from app.coupons.models import CouponTemplate
from app.db import begin_write, db, get_scoped_or_404, scoped, utcnow
from app.errors import APIError
from app.members.models import Tier
from app.pages.auth import login_required
from app.tenants.models import Store
from tablerules import campaigns as rules
from tablerules.money import parse_yuan
from tablerules.rfm import LAYERS, Layer
from tablerules.segments import SegmentSpec

bp = Blueprint("campaign_pages", __name__, url_prefix="/manage")
open_bp = Blueprint("campaign_open", __name__)

PAGE_SIZE = 50
STATUS_LABELS = {
    CampaignStatus.DRAFT: lazy_gettext("Draft"),
    CampaignStatus.SCHEDULED: lazy_gettext("Scheduled"),
    CampaignStatus.SENDING: lazy_gettext("Sending"),
    CampaignStatus.SENT: lazy_gettext("Sent"),
    CampaignStatus.CANCELLED: lazy_gettext("Cancelled"),
    CampaignStatus.ACTIVE: lazy_gettext("Running"),
    CampaignStatus.PAUSED: lazy_gettext("Paused"),
}
TRIGGER_LABELS = {
    Trigger.ONCE: lazy_gettext("One-off"),
    Trigger.BIRTHDAY: lazy_gettext("Birthday (monthly)"),
    Trigger.WIN_BACK: lazy_gettext("Win-back (members turning dormant)"),
}


@open_bp.route("/c/<token>")
def open_link(token: str):
    """The tracked link of a campaign message: record the first open, then show the member card."""
    delivery = service.record_open(token[:200], utcnow())
    if delivery is None:
        abort(404)
    return redirect(f"/m/card?merchant={delivery.merchant_id}")


# --- the filter form ---------------------------------------------------------------------------

def _ints(name: str) -> list[int]:
    values = []
    for value in request.values.getlist(name):
        for part in value.replace("，", ",").split(","):
            part = part.strip()
            if part.isdigit() and len(part) <= 10:
                values.append(int(part))
    return values


def _texts(name: str) -> list[str]:
    text = request.values.get(name, "").replace("，", ",")
    return [part.strip() for part in text.split(",") if part.strip()]


def _number(name: str, *, yuan: bool = False) -> int | str | None:
    text = request.values.get(name, "").strip()
    if not text:
        return None
    try:
        return parse_yuan(text) if yuan else int(text)
    except ValueError:
        return text  # the spec check names the field


def spec_from_form() -> dict[str, Any]:
    return {
        "layers": request.values.getlist("layers"), "tier_ids": _ints("tier_ids"),
        "last_visit_after": request.values.get("last_visit_after") or None,
        "last_visit_before": request.values.get("last_visit_before") or None,
        "spend_min_cents": _number("spend_min", yuan=True), "spend_max_cents": _number("spend_max", yuan=True),
        "visits_min": _number("visits_min"), "visits_max": _number("visits_max"),
        "points_min": _number("points_min"), "points_max": _number("points_max"),
        "stored_value_min_cents": _number("stored_value_min", yuan=True),
        "stored_value_max_cents": _number("stored_value_max", yuan=True),
        "birthday_months": _ints("birthday_months"), "tags": _texts("tags"),
        "source_store_ids": _ints("source_store_ids"), "source_table_ids": _ints("source_table_ids"),
        "source_campaigns": _texts("source_campaigns"),
    }


def _choices(merchant_id: int) -> dict:
    return {"layers": LAYERS, "tiers": db.session.scalars(scoped(Tier, merchant_id).order_by(Tier.rank)).all(),
            "stores": db.session.scalars(scoped(Store, merchant_id).order_by(Store.id)).all(),
            "months": range(1, 13)}


def describe(spec: dict, merchant_id: int) -> list[str]:
    """The filter in words, one line per field."""
    lines = []
    tiers = {t.id: t.name for t in db.session.scalars(scoped(Tier, merchant_id))}
    if spec.get("layers"):
        lines.append(gettext("Layer: %(v)s", v="、".join(layer_name(Layer(v)) for v in spec["layers"])))
    if spec.get("tier_ids"):
        lines.append(gettext("Tier: %(v)s", v="、".join(tiers.get(i, str(i)) for i in spec["tier_ids"])))
    for key, label in (("last_visit_after", lazy_gettext("Last visit on or after")),
                       ("last_visit_before", lazy_gettext("Last visit before"))):
        if spec.get(key):
            lines.append(f"{label} {spec[key]}")
    for low, high, label, cents in (("spend_min_cents", "spend_max_cents", lazy_gettext("Spend"), True),
                                    ("visits_min", "visits_max", lazy_gettext("Visits"), False),
                                    ("points_min", "points_max", lazy_gettext("Points"), False),
                                    ("stored_value_min_cents", "stored_value_max_cents",
                                     lazy_gettext("Stored value"), True)):
        if spec.get(low) is not None or spec.get(high) is not None:
            show = (lambda v: f"¥{v / 100:g}") if cents else str
            lo = show(spec[low]) if spec.get(low) is not None else "…"
            hi = show(spec[high]) if spec.get(high) is not None else "…"
            lines.append(f"{label} {lo} – {hi}")
    if spec.get("birthday_months"):
        lines.append(gettext("Birthday month: %(v)s", v=", ".join(map(str, spec["birthday_months"]))))
    if spec.get("tags"):
        lines.append(gettext("Tags: %(v)s", v="、".join(spec["tags"])))
    if spec.get("source_store_ids") or spec.get("source_table_ids") or spec.get("source_campaigns"):
        lines.append(gettext("Joined through: %(v)s", v=", ".join(
            map(str, spec.get("source_store_ids", []) + spec.get("source_table_ids", [])
                + spec.get("source_campaigns", [])))))
    return lines or [gettext("All members")]


@bp.app_template_filter("signed_permille")
def signed_permille(permille: int) -> str:
    """-95 -> '-9.5%', 123 -> '+12.3%'."""
    sign = "-" if permille < 0 else "+" if permille > 0 else ""
    return f"{sign}{abs(permille) // 10}.{abs(permille) % 10}%"


@bp.app_template_global()
def campaign_status(campaign: Campaign) -> str:
    return str(STATUS_LABELS[campaign.status])


# --- segments ----------------------------------------------------------------------------------

@bp.route("/segments")
@login_required(Permission.ANALYTICS)
def segment_list():
    merchant_id = current_actor().merchant_id
    segments = db.session.scalars(scoped(Segment, merchant_id).order_by(Segment.id.desc())).all()
    now = utcnow()
    counts = {s.id: service.count_members(merchant_id, service.spec_of(s.spec), now) for s in segments}
    db.session.commit()
    return render_template("manage/campaigns/segments.html", segments=segments, counts=counts,
                           describe=lambda spec: describe(spec, merchant_id))


@bp.route("/segments/count", methods=["POST"])
@login_required(Permission.ANALYTICS)
def segment_count():
    """The live count of the filter form, as text (the form's script shows it)."""
    try:
        spec = service.spec_of(spec_from_form())
        return str(service.count_members(current_actor().merchant_id, spec, utcnow())), 200, {
            "Content-Type": "text/plain; charset=utf-8"}
    except APIError as error:
        return str(error.description), 422, {"Content-Type": "text/plain; charset=utf-8"}


@bp.route("/segments/new", methods=["GET", "POST"])
@login_required(Permission.ANALYTICS)
def create_segment():
    merchant_id = current_actor().merchant_id
    error, status = None, 200
    if request.method == "POST":
        db.session.commit()
        begin_write()
        try:
            segment = service.create_segment(request.form.get("name", "")[:60], service.spec_of(spec_from_form()),
                                             actor=current_actor(), now=utcnow())
            db.session.commit()
            flash(gettext("Segment saved."))
            return redirect(url_for(".segment_detail", segment_id=segment.id))
        except APIError as failure:
            db.session.rollback()
            error, status = failure, failure.code or 422
    try:  # the count of what the form holds now (a layer chosen on the pyramid, say)
        live = service.count_members(merchant_id, service.spec_of(spec_from_form()), utcnow())
    except APIError:
        live = service.count_members(merchant_id, SegmentSpec(), utcnow())
    db.session.commit()
    return render_template("manage/campaigns/segment_form.html", values=request.values, live=live, error=error,
                           **_choices(merchant_id)), status


@bp.route("/segments/<id:segment_id>")
@login_required(Permission.ANALYTICS)
def segment_detail(segment_id: int):
    segment = get_scoped_or_404(Segment, segment_id, current_actor().merchant_id)
    after_id = max(0, min(request.args.get("after_id", 0, type=int), 2**31 - 1))
    spec = service.spec_of(segment.spec)
    now = utcnow()
    total = service.count_members(segment.merchant_id, spec, now)
    members = service.segment_members(segment.merchant_id, spec, now, after_id=after_id, limit=PAGE_SIZE)
    tiers = {t.id: t for t in db.session.scalars(scoped(Tier, segment.merchant_id))}
    campaigns = db.session.scalars(scoped(Campaign, segment.merchant_id).where(Campaign.segment_id == segment.id)
                                   .order_by(Campaign.id.desc())).all()
    db.session.commit()
    return render_template("manage/campaigns/segment.html", segment=segment, total=total, members=members,
                           tiers=tiers, lines=describe(segment.spec, segment.merchant_id), campaigns=campaigns,
                           next_after_id=members[-1]["id"] if len(members) == PAGE_SIZE else None)


@bp.route("/segments/<id:segment_id>/delete", methods=["POST"])
@login_required(Permission.ANALYTICS)
def delete_segment(segment_id: int):
    db.session.commit()
    begin_write()
    segment = get_scoped_or_404(Segment, segment_id, current_actor().merchant_id)
    service.delete_segment(segment, actor=current_actor())
    db.session.commit()
    flash(gettext("Segment deleted."))
    return redirect(url_for(".segment_list"))


# --- campaigns ---------------------------------------------------------------------------------

@bp.route("/campaigns")
@login_required(Permission.ANALYTICS)
def campaign_list():
    merchant_id = current_actor().merchant_id
    campaigns = db.session.scalars(scoped(Campaign, merchant_id).order_by(Campaign.id.desc()).limit(200)).all()
    funnels = {c.id: service.funnel(c) for c in campaigns if c.status in (CampaignStatus.SENT, CampaignStatus.SENDING)}
    db.session.commit()
    return render_template("manage/campaigns/list.html", campaigns=campaigns, funnels=funnels,
                           triggers=TRIGGER_LABELS)


def _time(name: str) -> time | None:
    text = request.form.get(name, "").strip()
    try:
        return time.fromisoformat(text) if text else None
    except ValueError:
        return None


def _draft() -> service.CampaignDraft:
    scheduled = request.form.get("scheduled_at", "").strip()
    try:
        scheduled_at = service.to_utc(datetime.fromisoformat(scheduled)) if scheduled else None
    except ValueError:
        scheduled_at = None
    trigger = request.form.get("trigger", "once")
    try:
        trigger_value = Trigger.from_label(trigger)
    except KeyError:
        trigger_value = Trigger.ONCE

    def number(name: str, default: int) -> int:
        text = request.form.get(name, "").strip()
        return int(text) if text.isdigit() and len(text) < 6 else default

    return service.CampaignDraft(
        name=request.form.get("name", "")[:60], segment_id=number("segment_id", 0) or None,
        coupon_template_id=number("coupon_template_id", 0) or None,
        message_title=request.form.get("message_title", "")[:60],
        message_body=request.form.get("message_body", "")[:200],
        holdout_percent=number("holdout_percent", 0), quiet_start=_time("quiet_start"),
        quiet_end=_time("quiet_end"),
        window_days=number("window_days", 14), scheduled_at=scheduled_at, trigger=trigger_value,
        spec={} if trigger_value is not Trigger.ONCE else None)


@bp.route("/campaigns/new", methods=["GET", "POST"])
@login_required(Permission.ANALYTICS)
def create_campaign():
    merchant_id = current_actor().merchant_id
    error, status = None, 200
    if request.method == "POST":
        db.session.commit()
        begin_write()
        try:
            campaign = service.create_campaign(_draft(), actor=current_actor(), now=utcnow(),
                                               key=request.form.get("idempotency_key", "")[:100] or None)
            db.session.commit()
            flash(gettext("Campaign saved."))
            return redirect(url_for(".campaign_detail", campaign_id=campaign.id))
        except APIError as failure:
            db.session.rollback()
            error, status = failure, failure.code or 422
    segments = db.session.scalars(scoped(Segment, merchant_id).order_by(Segment.id.desc())).all()
    templates = db.session.scalars(scoped(CouponTemplate, merchant_id).where(CouponTemplate.is_active)
                                   .order_by(CouponTemplate.id.desc())).all()
    chosen = request.values.get("segment_id", type=int)
    now = utcnow()
    counts = {s.id: service.count_members(merchant_id, service.spec_of(s.spec), now) for s in segments}
    db.session.commit()
    return render_template("manage/campaigns/campaign_form.html", segments=segments, templates=templates,
                           counts=counts, chosen=chosen, values=request.form, error=error, triggers=TRIGGER_LABELS,
                           key=request.form.get("idempotency_key") or uuid.uuid4().hex), status


@bp.route("/campaigns/<id:campaign_id>")
@login_required(Permission.ANALYTICS)
def campaign_detail(campaign_id: int):
    campaign = get_scoped_or_404(Campaign, campaign_id, current_actor().merchant_id)
    preview = None
    if campaign.status in (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED):
        spec = service.spec_of(campaign.segment.spec) if campaign.segment else service.spec_of(campaign.spec)
        total = service.count_members(campaign.merchant_id, spec, utcnow())
        held = total * campaign.holdout_percent // 100
        preview = {"members": total, "holdout_about": held, "to_send_about": total - held}
    funnel = service.funnel(campaign)
    children = db.session.scalars(scoped(Campaign, campaign.merchant_id).where(Campaign.parent_id == campaign.id)
                                  .order_by(Campaign.id.desc()).limit(24)).all()
    template = db.session.get(CouponTemplate, campaign.coupon_template_id) if campaign.coupon_template_id else None
    db.session.commit()
    return render_template("manage/campaigns/detail.html", campaign=campaign, preview=preview, funnel=funnel,
                           chart=funnel_chart(funnel), children=children, template=template,
                           lines=describe(campaign.spec, campaign.merchant_id), triggers=TRIGGER_LABELS,
                           quiet=service.quiet_hours(campaign))


@bp.route("/campaigns/<id:campaign_id>/send", methods=["GET", "POST"])
@login_required(Permission.ANALYTICS)
def send_campaign(campaign_id: int):
    """GET: the confirmation (how many members it will reach); POST: send now."""
    merchant_id = current_actor().merchant_id
    if request.method == "GET":
        campaign = get_scoped_or_404(Campaign, campaign_id, merchant_id)
        if campaign.status not in (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED):
            return redirect(url_for(".campaign_detail", campaign_id=campaign.id))
        spec = service.spec_of(campaign.segment.spec) if campaign.segment else service.spec_of(campaign.spec)
        total = service.count_members(merchant_id, spec, utcnow())
        db.session.commit()
        return render_template("manage/campaigns/send.html", campaign=campaign, total=total,
                               held=total * campaign.holdout_percent // 100)
    db.session.commit()
    begin_write()
    now = utcnow()
    try:
        campaign = service.lock_campaign(merchant_id, campaign_id)
        audience = service.send_now(campaign, actor=current_actor(), now=now)
        db.session.commit()
    except APIError as failure:
        db.session.rollback()
        flash(str(failure.description))
        return redirect(url_for(".campaign_detail", campaign_id=campaign_id))
    service.send_pending(merchant_id, campaign_id, now=now, seconds=5)
    flash(gettext("Sending to %(num)s members.", num=audience))
    return redirect(url_for(".campaign_detail", campaign_id=campaign_id))


@bp.route("/campaigns/<id:campaign_id>/<any(cancel, pause, resume):action>", methods=["POST"])
@login_required(Permission.ANALYTICS)
def change_campaign(campaign_id: int, action: str):
    db.session.commit()
    begin_write()
    try:
        campaign = service.lock_campaign(current_actor().merchant_id, campaign_id)
        if action == "cancel":
            service.cancel(campaign, actor=current_actor())
        else:
            service.pause(campaign, paused=action == "pause", actor=current_actor())
        db.session.commit()
    except APIError as failure:
        db.session.rollback()
        flash(str(failure.description))
    return redirect(url_for(".campaign_detail", campaign_id=campaign_id))


# --- the funnel chart (server-made SVG: no script, the CSP holds) -------------------------------

def funnel_chart(funnel: rules.Funnel) -> dict:
    """Bars for sent → opened → visited → paid, and the hold-out's visited and paid beside them,
    each as a share of its group."""
    sent = funnel.sent
    steps = [("sent", gettext("Sent"), sent.members, sent.members),
             ("opened", gettext("Opened"), funnel.opened, sent.members),
             ("visited", gettext("Visited"), sent.visited, sent.members),
             ("paid", gettext("Paid"), sent.paid, sent.members)]
    width, left, bar = 740, 110, 420
    rows = []
    for index, (key, label, value, whole) in enumerate(steps):
        share = value / whole if whole else 0
        row = {"key": key, "label": label, "value": value, "y": 10 + index * 44, "width": round(bar * share),
               "permille": round(1000 * share), "holdout": None}
        if funnel.holdout is not None and key in ("visited", "paid") and funnel.holdout.members:
            held = getattr(funnel.holdout, key)
            row["holdout"] = {"value": held, "permille": round(1000 * held / funnel.holdout.members),
                              "width": round(bar * held / funnel.holdout.members)}
        rows.append(row)
    return {"width": width, "height": 10 + len(steps) * 44, "left": left, "bar": bar, "rows": rows}

