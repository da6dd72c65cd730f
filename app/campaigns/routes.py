"""/api/v1/segments and /api/v1/campaigns: saved filters with their live count and members;
campaigns with a preview count, send (after confirmation), cancel, pause and their funnel.
Managers and owners (the analytics permission)."""

from __future__ import annotations

from datetime import time

from app.api import Blueprint
from app.auth.guard import current_actor, id_argument, requires
from app.auth.permissions import Permission
from app.campaigns import schemas, service
from app.campaigns.models import Campaign, Segment, Trigger
from app.db import db, get_scoped_or_404, scoped, utcnow
from app.errors import Unprocessable

blp = Blueprint("campaigns", __name__, url_prefix="/api/v1",
                description="Segments (saved member filters) and targeted campaigns with their funnel")

id_argument("segment_id", Segment)
id_argument("campaign_id", Campaign)

SEND_SECONDS = 5  # a send started here does this much at once; the scheduler does the rest


def _segment_body(segment: Segment, *, count: bool = True) -> dict:
    body = {"id": segment.id, "name": segment.name, "spec": segment.spec, "created_at": segment.created_at,
            "updated_at": segment.updated_at}
    if count:
        body["members"] = service.count_members(segment.merchant_id, service.spec_of(segment.spec), utcnow())
    return body


@blp.route("/segments", methods=["GET"])
@requires(Permission.ANALYTICS)
@blp.response(200, schemas.SegmentList)
def list_segments():
    return {"segments": [_segment_body(s, count=False)
                         for s in db.session.scalars(scoped(Segment).order_by(Segment.id.desc()))]}


@blp.route("/segments", methods=["POST"])
@requires(Permission.ANALYTICS)
@blp.arguments(schemas.SegmentIn)
@blp.response(201, schemas.SegmentOut)
def create_segment(data):
    """Save a filter (audited). 422 `invalid_segment` naming the fields; 409 `segment_name_taken`."""
    segment = service.create_segment(data["name"], service.spec_of(data["spec"]), actor=current_actor(),
                                     now=utcnow())
    db.session.commit()
    return _segment_body(segment)


@blp.route("/segments/count", methods=["POST"])
@requires(Permission.ANALYTICS)
@blp.arguments(schemas.CountIn)
@blp.response(200, schemas.CountOut)
def count_segment(data):
    """How many members a filter matches now (one COUNT), without saving it."""
    return {"members": service.count_members(current_actor().merchant_id, service.spec_of(data["spec"]), utcnow())}


@blp.route("/segments/<id:segment_id>", methods=["GET"])
@requires(Permission.ANALYTICS)
@blp.response(200, schemas.SegmentOut)
def get_segment(segment_id):
    return _segment_body(get_scoped_or_404(Segment, segment_id))


@blp.route("/segments/<id:segment_id>", methods=["PATCH"])
@requires(Permission.ANALYTICS)
@blp.arguments(schemas.SegmentUpdate)
@blp.response(200, schemas.SegmentOut)
def update_segment(data, segment_id):
    segment = service.update_segment(get_scoped_or_404(Segment, segment_id), name=data.get("name"),
                                     spec=service.spec_of(data["spec"]) if "spec" in data else None,
                                     actor=current_actor(), now=utcnow())
    db.session.commit()
    return _segment_body(segment)


@blp.route("/segments/<id:segment_id>", methods=["DELETE"])
@requires(Permission.ANALYTICS)
@blp.response(204)
def delete_segment(segment_id):
    """Campaigns keep the filter they were sent with."""
    service.delete_segment(get_scoped_or_404(Segment, segment_id), actor=current_actor())
    db.session.commit()


@blp.route("/segments/<id:segment_id>/members", methods=["GET"])
@requires(Permission.ANALYTICS)
@blp.arguments(schemas.MembersQuery, location="query")
@blp.response(200, schemas.SegmentMembersOut)
def segment_members(query, segment_id):
    """The segment's members in id order, a page at a time (`after_id`)."""
    segment = get_scoped_or_404(Segment, segment_id)
    rows = service.segment_members(segment.merchant_id, service.spec_of(segment.spec), utcnow(),
                                   after_id=query["after_id"] or 0, limit=query["limit"])
    return {"members": rows, "next_after_id": rows[-1]["id"] if len(rows) == query["limit"] else None}


# --- campaigns ---------------------------------------------------------------------------------

def _time(value: str | None) -> time | None:
    return None if not value else time(int(value[:2]), int(value[3:]))


def draft_of(data: dict) -> service.CampaignDraft:
    return service.CampaignDraft(
        name=data["name"], segment_id=data.get("segment_id"), coupon_template_id=data.get("coupon_template_id"),
        message_title=data.get("message_title", ""), message_body=data.get("message_body", ""),
        holdout_percent=data.get("holdout_percent", 0), quiet_start=_time(data.get("quiet_start")),
        quiet_end=_time(data.get("quiet_end")), window_days=data.get("window_days", 14),
        scheduled_at=data.get("scheduled_at"), trigger=Trigger.from_label(data.get("trigger", "once")),
        spec=data.get("spec"))


@blp.route("/campaigns", methods=["GET"])
@requires(Permission.ANALYTICS)
@blp.arguments(schemas.CampaignQuery, location="query")
@blp.response(200, schemas.CampaignList)
def list_campaigns(query):
    """Newest first."""
    statement = scoped(Campaign).order_by(Campaign.id.desc()).limit(500)
    if query.get("segment_id"):
        statement = statement.where(Campaign.segment_id == query["segment_id"])
    return {"campaigns": db.session.scalars(statement).all()}


@blp.route("/campaigns", methods=["POST"])
@requires(Permission.ANALYTICS)
@blp.arguments(schemas.CampaignIn)
@blp.response(201, schemas.CampaignOut)
def create_campaign(data):
    """A one-off campaign to a segment (a draft, or scheduled with `scheduled_at`), or an
    automation (`trigger` birthday / win_back, active at once). It sends a coupon of a template
    and/or a WeChat template message; `holdout_percent` of the segment gets nothing and is measured
    alike; messages wait for the end of the quiet hours. A replay of `idempotency_key` answers the
    campaign it made."""
    campaign = service.create_campaign(draft_of(data), actor=current_actor(), now=utcnow(),
                                       key=data.get("idempotency_key"))
    db.session.commit()
    return campaign


@blp.route("/campaigns/<id:campaign_id>", methods=["GET"])
@requires(Permission.ANALYTICS)
@blp.response(200, schemas.CampaignOut)
def get_campaign(campaign_id):
    return get_scoped_or_404(Campaign, campaign_id)


@blp.route("/campaigns/<id:campaign_id>/preview", methods=["GET"])
@requires(Permission.ANALYTICS)
@blp.response(200, schemas.PreviewOut)
def preview_campaign(campaign_id):
    """How many members a send now would reach (the segment's live count) and about how many are held out."""
    campaign = get_scoped_or_404(Campaign, campaign_id)
    if campaign.segment is not None:
        return service.preview(service.spec_of(campaign.segment.spec), campaign.merchant_id, utcnow()) | {
            k: v for k, v in service.preview(campaign, campaign.merchant_id, utcnow()).items() if k != "members"}
    return service.preview(campaign, campaign.merchant_id, utcnow())


@blp.route("/campaigns/<id:campaign_id>/send", methods=["POST"])
@requires(Permission.ANALYTICS)
@blp.arguments(schemas.SendIn)
@blp.response(200, schemas.SendOut)
def send_campaign(data, campaign_id):
    """Send now: freeze the audience and send the first batches; the scheduler sends the rest.
    Needs `confirm: true`. 409 `campaign_state` unless draft or scheduled (so a second send
    reaches no one twice)."""
    if not data["confirm"]:
        raise Unprocessable("Confirm the send.", error_code="not_confirmed")
    now = utcnow()
    campaign = service.lock_campaign(current_actor().merchant_id, campaign_id)
    audience = service.send_now(campaign, actor=current_actor(), now=now)
    db.session.commit()
    processed = service.send_pending(campaign.merchant_id, campaign.id, now=now, seconds=SEND_SECONDS)
    return {"campaign": db.session.get(Campaign, campaign.id, populate_existing=True), "audience": audience,
            "processed": processed}


@blp.route("/campaigns/<id:campaign_id>/cancel", methods=["POST"])
@requires(Permission.ANALYTICS)
@blp.response(200, schemas.CampaignOut)
def cancel_campaign(campaign_id):
    """A draft or scheduled campaign that will not be sent. 409 `campaign_state` otherwise."""
    campaign = service.lock_campaign(current_actor().merchant_id, campaign_id)
    service.cancel(campaign, actor=current_actor())
    db.session.commit()
    return campaign


@blp.route("/campaigns/<id:campaign_id>/pause", methods=["POST"])
@requires(Permission.ANALYTICS)
@blp.response(200, schemas.CampaignOut)
def pause_campaign(campaign_id):
    """Stop an automation (birthday, win-back) from making new sends."""
    campaign = service.lock_campaign(current_actor().merchant_id, campaign_id)
    service.pause(campaign, paused=True, actor=current_actor())
    db.session.commit()
    return campaign


@blp.route("/campaigns/<id:campaign_id>/resume", methods=["POST"])
@requires(Permission.ANALYTICS)
@blp.response(200, schemas.CampaignOut)
def resume_campaign(campaign_id):
    campaign = service.lock_campaign(current_actor().merchant_id, campaign_id)
    service.pause(campaign, paused=False, actor=current_actor())
    db.session.commit()
    return campaign


def funnel_body(funnel) -> dict:
    def group(g):
        return None if g is None else {
            "members": g.members, "visited": g.visited, "paid": g.paid, "revenue_cents": g.revenue_cents,
            "paid_rate_permille": g.paid_rate_permille, "revenue_per_member_cents": g.revenue_per_member_cents}

    return {"sent": group(funnel.sent), "opened": funnel.opened, "open_rate_permille": funnel.open_rate_permille,
            "coupons_issued": funnel.coupons_issued, "coupons_redeemed": funnel.coupons_redeemed,
            "coupon_cost_cents": funnel.coupon_cost_cents,
            "incremental_revenue_cents": funnel.incremental_revenue_cents, "roi_permille": funnel.roi_permille,
            "uplift_permille": funnel.uplift_permille, "holdout": group(funnel.holdout)}


@blp.route("/campaigns/<id:campaign_id>/funnel", methods=["GET"])
@requires(Permission.ANALYTICS)
@blp.response(200, schemas.FunnelOut)
def campaign_funnel(campaign_id):
    """Sent → opened → visited → paid, revenue, coupon cost and ROI, and the hold-out group."""
    return funnel_body(service.funnel(get_scoped_or_404(Campaign, campaign_id)))

