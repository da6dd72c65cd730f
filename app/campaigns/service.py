"""Segments and campaigns: save a filter, count it, create a campaign, send it in resumable
batches, run the birthday and win-back automations, and measure the funnel.

Sending (see `models` for the delivery rows):

1. `start()` (now, or by the scheduler at `scheduled_at`) moves the campaign to `sending` and,
   in the same transaction, makes one pending delivery row per member of the segment with one
   INSERT … SELECT (the ON CONFLICT of the UNIQUE (campaign_id, member_id) skips a member who
   already has one). The audience is frozen from then on.
2. `send_batch()` takes the next `batch_size` pending rows, in one transaction: decides the
   hold-out members, issues the coupons (`coupons.service.issue_to_many`), publishes one
   CAMPAIGN_MESSAGE domain event per member (the outbox holds it until the quiet hours end) and
   marks the rows processed — only rows still pending, by a conditional UPDATE. A kill anywhere in
   the batch rolls all of it back; what was committed is never done again (delivery row
   processed, coupon event keys and outbox keys UNIQUE).
3. When no pending row is left the campaign is `sent`.

Nothing here calls WeChat: the message goes out from the outbox through the subscriber the
WeChat channel registers for CAMPAIGN_MESSAGE.
"""

from __future__ import annotations

import logging
import time as clock
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext
from itsdangerous import BadSignature, URLSafeSerializer

from app.actor import Actor
from app.audit.service import record
from app.campaigns import segments as segment_sql
from app.campaigns.models import Campaign, CampaignDelivery, CampaignStatus, Segment, Trigger
from app.coupons import service as coupons
from app.coupons.models import Coupon, CouponSource, CouponStatus, CouponTemplate
from app.db import begin_write, db
from app.errors import APIError, Conflict, NotFound, Unprocessable
from app.events.domain import DomainEvent, publish_many
from app.members.models import Member
from app.orders.models import Order
from app.orders.state import OrderStatus
from tablerules import campaigns as rules
from tablerules.campaigns import LOCAL_OFFSET, QuietHours
from tablerules.segments import InvalidSpec, SegmentSpec, parse_spec

log = logging.getLogger(__name__)

BATCH_SIZE = 500
OPEN_SALT = "campaign-open"


# --- segments ---------------------------------------------------------------------------------

def spec_of(data: Any) -> SegmentSpec:
    try:
        return parse_spec(data or {})
    except InvalidSpec as error:
        raise Unprocessable(gettext("This segment's filter is not valid."), error_code="invalid_segment",
                            details={"fields": error.problems}) from None


def check_refs(merchant_id: int, spec: SegmentSpec) -> None:
    """Tiers and stores named by the filter must be the merchant's (404 otherwise)."""
    from app.members.models import Tier
    from app.tenants.models import Store

    for model, ids, what in ((Tier, spec.tier_ids, "tier"), (Store, spec.source_store_ids, "store")):
        if ids:
            found = set(db.session.scalars(sa.select(model.id).where(model.merchant_id == merchant_id,
                                                                     model.id.in_(ids))))
            if found != set(ids):
                raise NotFound(what)


def count_members(merchant_id: int, spec: SegmentSpec, now: datetime) -> int:
    """The segment's live size: one COUNT statement."""
    check_refs(merchant_id, spec)
    return segment_sql.count(spec, merchant_id, now)


def segment_members(merchant_id: int, spec: SegmentSpec, now: datetime, *, after_id: int = 0,
                    limit: int = 50) -> list[dict]:
    """A page of the segment's members as dicts (sums as ints: PostgreSQL answers them as Decimal)."""
    scope = segment_sql.scope_for(merchant_id, spec, now)
    rows = db.session.execute(segment_sql.members_query(spec, scope, after_id=after_id, limit=limit))
    return [{**row._mapping, "spend_cents": int(row.spend_cents), "stored_value_cents": int(row.stored_value_cents)}
            for row in rows]


def _name_taken(merchant_id: int, name: str, segment_id: int | None = None) -> bool:
    query = sa.select(Segment.id).where(Segment.merchant_id == merchant_id, Segment.name == name)
    if segment_id is not None:
        query = query.where(Segment.id != segment_id)
    return db.session.scalar(query) is not None


def create_segment(name: str, spec: SegmentSpec, *, actor: Actor, now: datetime) -> Segment:
    name = name.strip()
    if not name:
        raise Unprocessable(gettext("Give the segment a name."), error_code="invalid_segment",
                            details={"fields": {"name": "required"}})
    check_refs(actor.merchant_id, spec)
    if _name_taken(actor.merchant_id, name):
        raise Conflict(gettext("A segment with this name exists already."), error_code="segment_name_taken")
    segment = Segment(merchant_id=actor.merchant_id, name=name, spec=spec.to_dict(), created_by_id=actor.staff_id,
                      created_at=now)
    db.session.add(segment)
    db.session.flush()
    record("segment.create", segment, actor=actor, name=name, spec=segment.spec)
    return segment


def update_segment(segment: Segment, *, name: str | None, spec: SegmentSpec | None, actor: Actor,
                   now: datetime) -> Segment:
    if name is not None:
        name = name.strip()
        if not name:
            raise Unprocessable(gettext("Give the segment a name."), error_code="invalid_segment",
                                details={"fields": {"name": "required"}})
        if _name_taken(segment.merchant_id, name, segment.id):
            raise Conflict(gettext("A segment with this name exists already."), error_code="segment_name_taken")
        segment.name = name
    if spec is not None:
        check_refs(segment.merchant_id, spec)
        segment.spec = spec.to_dict()
    segment.updated_at = now
    record("segment.update", segment, actor=actor, name=segment.name, spec=segment.spec)
    return segment


def delete_segment(segment: Segment, *, actor: Actor) -> None:
    record("segment.delete", segment, actor=actor, name=segment.name)
    db.session.delete(segment)


# --- campaigns --------------------------------------------------------------------------------

@dataclass(frozen=True)
class CampaignDraft:
    name: str
    segment_id: int | None = None
    coupon_template_id: int | None = None
    message_title: str = ""
    message_body: str = ""
    holdout_percent: int = 0
    quiet_start: time | None = None
    quiet_end: time | None = None
    window_days: int = 14
    scheduled_at: datetime | None = None  # None: a draft to send by hand
    trigger: Trigger = Trigger.ONCE
    spec: dict | None = None  # automations: an extra filter (no segment needed)


def _minutes(value: time | None) -> int | None:
    return None if value is None else value.hour * 60 + value.minute


def quiet_hours(campaign: Campaign) -> QuietHours | None:
    if campaign.quiet_start_minute is None or campaign.quiet_end_minute is None:
        return None
    return QuietHours(time(campaign.quiet_start_minute // 60, campaign.quiet_start_minute % 60),
                      time(campaign.quiet_end_minute // 60, campaign.quiet_end_minute % 60))


def _problem(field: str, message: str) -> Unprocessable:
    return Unprocessable(message, error_code="invalid_campaign", details={"fields": {field: message}})


def _check_template(merchant_id: int, template_id: int, now: datetime) -> CouponTemplate:
    template = db.session.scalar(sa.select(CouponTemplate).where(CouponTemplate.merchant_id == merchant_id,
                                                                 CouponTemplate.id == template_id))
    if template is None:
        raise NotFound("coupon_template")
    if not template.is_active:
        raise Conflict(gettext("This coupon template is switched off."), error_code="template_inactive")
    if template.valid_until is not None and template.valid_until <= now:
        raise coupons.refusal("template_ended")
    return template


def create_campaign(draft: CampaignDraft, *, actor: Actor, now: datetime, key: str | None = None) -> Campaign:
    """A campaign (draft or scheduled) or an automation (active). 422 `invalid_campaign` naming the
    field; 404 for a segment or coupon template of another merchant. The same `key` again answers
    the campaign it made."""
    merchant_id = actor.merchant_id
    if key:
        existing = db.session.scalar(sa.select(Campaign).where(Campaign.merchant_id == merchant_id,
                                                               Campaign.idempotency_key == key))
        if existing is not None:
            return existing
    name = draft.name.strip()
    if not name or len(name) > 60:
        raise _problem("name", gettext("Give the campaign a name (at most 60 characters)."))
    if draft.coupon_template_id is None and not draft.message_title.strip():
        raise _problem("message_title", gettext("A campaign sends a coupon, a message or both."))
    if not 0 <= draft.holdout_percent <= rules.MAX_HOLDOUT_PERCENT:
        raise _problem("holdout_percent", gettext("The hold-out share is 0 to 50 percent."))
    if not 1 <= draft.window_days <= 90:
        raise _problem("window_days", gettext("The measuring window is 1 to 90 days."))
    if (draft.quiet_start is None) != (draft.quiet_end is None) or (
            draft.quiet_start is not None and draft.quiet_start == draft.quiet_end):
        raise _problem("quiet_start", gettext("Quiet hours need a start and a different end."))
    if draft.scheduled_at is not None and draft.scheduled_at < now - timedelta(minutes=1):
        raise _problem("scheduled_at", gettext("The sending time is in the past."))
    segment = None
    if draft.trigger is Trigger.ONCE:
        if draft.segment_id is None:
            raise _problem("segment_id", gettext("Choose the segment to send to."))
        segment = db.session.scalar(sa.select(Segment).where(Segment.merchant_id == merchant_id,
                                                             Segment.id == draft.segment_id))
        if segment is None:
            raise NotFound("segment")
    spec = spec_of(draft.spec) if draft.spec is not None else (spec_of(segment.spec) if segment else SegmentSpec())
    if draft.coupon_template_id is not None:
        _check_template(merchant_id, draft.coupon_template_id, now)
    if draft.trigger is Trigger.ONCE:
        status = CampaignStatus.SCHEDULED if draft.scheduled_at is not None else CampaignStatus.DRAFT
    else:
        status = CampaignStatus.ACTIVE
    campaign = Campaign(
        merchant_id=merchant_id, name=name, trigger=draft.trigger, status=status,
        segment_id=segment.id if segment else None, spec=spec.to_dict(),
        coupon_template_id=draft.coupon_template_id, message_title=draft.message_title.strip()[:60],
        message_body=draft.message_body.strip()[:200], holdout_percent=draft.holdout_percent,
        quiet_start_minute=_minutes(draft.quiet_start), quiet_end_minute=_minutes(draft.quiet_end),
        window_days=draft.window_days, scheduled_at=draft.scheduled_at, idempotency_key=key,
        created_by_id=actor.staff_id, created_at=now)
    db.session.add(campaign)
    db.session.flush()
    record("campaign.create", campaign, actor=actor, name=name, trigger=draft.trigger.label,
           segment_id=campaign.segment_id, coupon_template_id=campaign.coupon_template_id,
           scheduled_at=draft.scheduled_at.isoformat() if draft.scheduled_at else None)
    return campaign


def _move(campaign: Campaign, event: rules.Event) -> None:
    try:
        after = rules.transition(campaign.status.rule, event)
    except rules.IllegalTransition:
        raise Conflict(gettext("This campaign cannot do that in its current state."),
                       error_code="campaign_state", details={"status": campaign.status.label}) from None
    moved = db.session.execute(sa.update(Campaign).where(Campaign.id == campaign.id,
                                                         Campaign.status == campaign.status)
                               .values(status=CampaignStatus.from_label(after))
                               .execution_options(synchronize_session=False)).rowcount
    if moved != 1:
        raise Conflict(gettext("This campaign was just changed; please try again."), error_code="campaign_changed")
    db.session.expire(campaign, ["status"])


def lock_campaign(merchant_id: int, campaign_id: int) -> Campaign:
    campaign = db.session.scalars(sa.select(Campaign).where(Campaign.merchant_id == merchant_id,
                                                            Campaign.id == campaign_id)
                                  .with_for_update().execution_options(populate_existing=True)).one_or_none()
    if campaign is None:
        raise NotFound("campaign")
    return campaign


def preview(campaign_or_spec: Campaign | SegmentSpec, merchant_id: int, now: datetime) -> dict:
    """What a send now would reach: members, and about how many of them are held out."""
    spec = campaign_or_spec if isinstance(campaign_or_spec, SegmentSpec) else spec_of(campaign_or_spec.spec)
    total = count_members(merchant_id, spec, now)
    percent = 0 if isinstance(campaign_or_spec, SegmentSpec) else campaign_or_spec.holdout_percent
    holdout = total * percent // 100
    return {"members": total, "holdout_about": holdout, "to_send_about": total - holdout}


def _audience_conditions(campaign: Campaign) -> list[sa.ColumnElement[bool]]:
    """Win-back: leave out members this automation already reached since they were last seen."""
    if campaign.parent_id is None or campaign.trigger is not Trigger.WIN_BACK:
        return []
    earlier = sa.orm.aliased(CampaignDelivery)
    sibling = sa.orm.aliased(Campaign)
    last_paid = sa.select(sa.func.max(Order.paid_at)).where(
        Order.member_id == Member.id, Order.status == OrderStatus.PAID).scalar_subquery()
    return [~sa.exists(sa.select(1).select_from(earlier).join(sibling, sibling.id == earlier.campaign_id).where(
        earlier.member_id == Member.id, sibling.parent_id == campaign.parent_id, sibling.id != campaign.id,
        earlier.created_at > sa.func.coalesce(last_paid, Member.created_at)))]


def start(campaign: Campaign, *, actor: Actor, now: datetime) -> int:
    """Begin sending: freeze the audience as pending delivery rows (one statement). Answers the
    audience size. 409 `campaign_state` unless draft or scheduled."""
    _move(campaign, rules.Event.START)
    spec = spec_of(campaign.spec)
    if campaign.segment_id is not None and campaign.segment is not None:
        spec = spec_of(campaign.segment.spec)  # the segment as it is now
    if campaign.coupon_template_id is not None:
        _check_template(campaign.merchant_id, campaign.coupon_template_id, now)
    scope = segment_sql.scope_for(campaign.merchant_id, spec, now)
    ids = segment_sql.ids_query(spec, scope, extra=_audience_conditions(campaign)).subquery("audience")
    table = CampaignDelivery.__table__
    rows = sa.select(sa.literal(campaign.merchant_id), sa.literal(campaign.id), ids.c.id, sa.false(),
                     sa.false(), sa.literal(now, type_=table.c.created_at.type)).where(sa.true())  # SQLite
    # needs a WHERE before ON CONFLICT in INSERT … SELECT (else it reads ON as a join)
    if db.session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    statement = insert(table).from_select(
        ["merchant_id", "campaign_id", "member_id", "is_holdout", "has_message", "created_at"], rows
    ).on_conflict_do_nothing(index_elements=[table.c.campaign_id, table.c.member_id])
    db.session.execute(statement)
    audience = db.session.scalar(sa.select(sa.func.count()).select_from(CampaignDelivery).where(
        CampaignDelivery.campaign_id == campaign.id))
    campaign.spec = spec.to_dict()
    campaign.audience_count = audience
    campaign.started_at = now
    record("campaign.start", campaign, actor=actor, audience=audience)
    return audience


def cancel(campaign: Campaign, *, actor: Actor) -> None:
    _move(campaign, rules.Event.CANCEL)
    record("campaign.cancel", campaign, actor=actor)


def pause(campaign: Campaign, *, paused: bool, actor: Actor) -> None:
    _move(campaign, rules.Event.PAUSE if paused else rules.Event.RESUME)
    record("campaign.pause" if paused else "campaign.resume", campaign, actor=actor)


def _source(campaign: Campaign) -> CouponSource:
    return {Trigger.BIRTHDAY: CouponSource.BIRTHDAY, Trigger.WIN_BACK: CouponSource.WIN_BACK}.get(
        campaign.trigger, CouponSource.CAMPAIGN)


def send_batch(merchant_id: int, campaign_id: int, *, now: datetime, batch_size: int = BATCH_SIZE,
               before_commit: Callable[[int], None] | None = None) -> int:
    """Process the next pending deliveries of a sending campaign in ONE transaction, and commit.
    Answers how many rows it processed (0: nothing left, and the campaign is then `sent`).
    `before_commit(n)` runs just before the commit (the tests kill the batch there)."""
    begin_write()
    campaign = lock_campaign(merchant_id, campaign_id)
    if campaign.status is not CampaignStatus.SENDING:
        db.session.commit()
        return 0
    actor = Actor.system(merchant_id)
    pending = db.session.execute(sa.select(CampaignDelivery.id, CampaignDelivery.member_id).where(
        CampaignDelivery.campaign_id == campaign.id, CampaignDelivery.processed_at.is_(None))
        .order_by(CampaignDelivery.id).limit(batch_size)).all()
    if not pending:
        _move(campaign, rules.Event.FINISH)
        campaign.finished_at = now
        db.session.commit()
        return 0
    seed = f"{campaign.merchant_id}:{campaign.id}"
    held = {row.id for row in pending if rules.is_held_out(seed, row.member_id, campaign.holdout_percent)}
    reached = [row for row in pending if row.id not in held]
    made: dict[int, int] = {}
    if campaign.coupon_template_id is not None and reached:
        made = coupons.issue_to_many(campaign.coupon_template_id, [row.member_id for row in reached],
                                     key=f"campaign:{campaign.id}", source=_source(campaign), now=now, actor=actor,
                                     announce=not campaign.message_title,
                                     # these rows are still pending: no coupon was committed for them
                                     look_for_replays=False)
    release = rules.release_at(now, quiet_hours(campaign))
    if campaign.message_title and reached:
        publish_many(merchant_id, DomainEvent.CAMPAIGN_MESSAGE,
                     [(f"{campaign.id}:{row.member_id}",
                       {"campaign_id": campaign.id, "member_id": row.member_id, "delivery_id": row.id})
                      for row in reached], now=release)
    table = CampaignDelivery.__table__
    ids = [row.id for row in pending]
    is_held = table.c.id.in_(held) if held else sa.false()
    done = db.session.execute(sa.update(table).where(table.c.id.in_(ids), table.c.processed_at.is_(None))
                              .values(processed_at=now, is_holdout=is_held,
                                      has_message=sa.not_(is_held) if campaign.message_title else sa.false(),
                                      release_at=release)).rowcount
    if done != len(ids):  # pragma: no cover - the campaign row lock serialises batches
        raise Conflict(gettext("Another sender processed these deliveries."), error_code="campaign_changed")
    if made:  # one UPDATE … FROM for the batch's coupons
        coupon = Coupon.__table__
        db.session.execute(sa.update(table).where(
            table.c.campaign_id == campaign.id, table.c.member_id == coupon.c.member_id,
            coupon.c.id.in_(list(made.values()))).values(coupon_id=coupon.c.id))
    campaign.sent_count += len(reached)
    campaign.holdout_count += len(held)
    if before_commit is not None:
        before_commit(len(pending))
    db.session.commit()
    return len(pending)


def send_pending(merchant_id: int, campaign_id: int, *, now: datetime, batch_size: int = BATCH_SIZE,
                 seconds: float | None = None, before_commit: Callable[[int], None] | None = None) -> int:
    """Run batches until the campaign is sent (or `seconds` have passed). Answers rows processed."""
    began, total = clock.monotonic(), 0
    while True:
        done = send_batch(merchant_id, campaign_id, now=now, batch_size=batch_size, before_commit=before_commit)
        total += done
        if done == 0 or (seconds is not None and clock.monotonic() - began > seconds):
            return total


def send_now(campaign: Campaign, *, actor: Actor, now: datetime) -> int:
    """Start a draft or scheduled campaign at once (the caller commits); the scheduler's
    `run_due` (or `send_pending`) does the batches."""
    campaign.scheduled_at = now
    return start(campaign, actor=actor, now=now)


def run_due(now: datetime, *, actor: Actor, seconds: float = 50) -> int:
    """The scheduler's minute job for one merchant: start the scheduled campaigns that are due,
    then send what is pending (within `seconds`). Answers rows processed."""
    merchant_id = actor.merchant_id
    due = db.session.scalars(sa.select(Campaign.id).where(
        Campaign.merchant_id == merchant_id, Campaign.status == CampaignStatus.SCHEDULED,
        Campaign.scheduled_at <= now).order_by(Campaign.id)).all()
    for campaign_id in due:
        begin_write()
        try:
            start(lock_campaign(merchant_id, campaign_id), actor=actor, now=now)
            db.session.commit()
        except APIError as refused:  # e.g. its coupon template was switched off: the others still go
            db.session.rollback()
            log.warning("campaign %s of merchant %s not started: %s", campaign_id, merchant_id, refused.description)
    db.session.commit()
    sending = db.session.scalars(sa.select(Campaign.id).where(
        Campaign.merchant_id == merchant_id, Campaign.status == CampaignStatus.SENDING).order_by(Campaign.id)).all()
    began, total = clock.monotonic(), 0
    for campaign_id in sending:
        left = seconds - (clock.monotonic() - began)
        if left <= 0:
            break
        total += send_pending(merchant_id, campaign_id, now=now, seconds=left)
    return total


# --- automations ----------------------------------------------------------------------------

def period_of(campaign: Campaign, now: datetime) -> str:
    local = now + LOCAL_OFFSET
    return local.strftime("%Y-%m") if campaign.trigger is Trigger.BIRTHDAY else local.strftime("%Y-%m-%d")


def run_automations(now: datetime, *, actor: Actor) -> list[int]:
    """For each active automation, the campaign of this period (birthday: this month's
    birthdays, once a month; win-back: the members now 沉睡, once a day, each member once per
    dormant spell), made and started once (UNIQUE parent + period). Answers the campaigns
    started; the minute job sends them."""
    merchant_id = actor.merchant_id
    started = []
    automations = db.session.scalars(sa.select(Campaign).where(
        Campaign.merchant_id == merchant_id, Campaign.status == CampaignStatus.ACTIVE,
        Campaign.trigger != Trigger.ONCE).order_by(Campaign.id)).all()
    for automation in automations:
        period = period_of(automation, now)
        if db.session.scalar(sa.select(Campaign.id).where(Campaign.parent_id == automation.id,
                                                          Campaign.period == period)) is not None:
            continue
        spec = dict(automation.spec or {})
        if automation.trigger is Trigger.BIRTHDAY:
            spec["birthday_months"] = [(now + LOCAL_OFFSET).month]
        else:
            spec["layers"] = ["dormant"]
        begin_write()
        child = Campaign(
            merchant_id=merchant_id, name=f"{automation.name} {period}"[:60], trigger=automation.trigger,
            status=CampaignStatus.DRAFT, spec=spec_of(spec).to_dict(),
            coupon_template_id=automation.coupon_template_id, message_title=automation.message_title,
            message_body=automation.message_body, holdout_percent=automation.holdout_percent,
            quiet_start_minute=automation.quiet_start_minute, quiet_end_minute=automation.quiet_end_minute,
            window_days=automation.window_days, parent_id=automation.id, period=period, created_at=now)
        db.session.add(child)
        db.session.flush()
        start(child, actor=actor, now=now)
        db.session.commit()
        started.append(child.id)
    return started


# --- the tracked link -------------------------------------------------------------------------

def _signer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=OPEN_SALT)


def open_token(delivery_id: int) -> str:
    return _signer().dumps(delivery_id)


def open_url(delivery_id: int) -> str:
    """The link in the campaign's message: opening it records the open, then shows the card."""
    return f"{current_app.config['PUBLIC_BASE_URL'].rstrip('/')}/c/{open_token(delivery_id)}"


def record_open(token: str, now: datetime) -> CampaignDelivery | None:
    """The delivery the signed `token` names, its first open recorded (later opens change nothing);
    None for a token that is not ours."""
    try:
        delivery_id = _signer().loads(token)
    except BadSignature:
        return None
    if not isinstance(delivery_id, int):
        return None
    begin_write()
    db.session.execute(sa.update(CampaignDelivery).where(
        CampaignDelivery.id == delivery_id, CampaignDelivery.opened_at.is_(None),
        CampaignDelivery.is_holdout.is_(False), CampaignDelivery.processed_at.is_not(None))
        .values(opened_at=now).execution_options(synchronize_session=False))
    delivery = db.session.get(CampaignDelivery, delivery_id)
    db.session.commit()
    return delivery


# --- the funnel -------------------------------------------------------------------------------

def _window(campaign: Campaign) -> tuple[datetime, datetime] | None:
    if campaign.started_at is None:
        return None
    return campaign.started_at, campaign.started_at + timedelta(days=campaign.window_days)


def funnel(campaign: Campaign) -> rules.Funnel:
    """Sent → opened → visited → paid, revenue and coupon cost, and the hold-out group measured the
    same way: a member visited when an order of theirs (not voided) was opened after their
    delivery was processed and within the campaign's window; paid when such an order is paid
    and not refunded in full; revenue is what those orders kept."""
    d = CampaignDelivery
    base = [d.campaign_id == campaign.id, d.processed_at.is_not(None)]
    window = _window(campaign)
    groups: dict[bool, dict[str, int]] = {False: {}, True: {}}
    for holdout, members, opened in db.session.execute(
            sa.select(d.is_holdout, sa.func.count(), sa.func.count(d.opened_at)).where(*base).group_by(d.is_holdout)):
        groups[bool(holdout)].update(members=members, opened=opened)
    if window is not None:
        start, end = window
        visited = (sa.select(d.is_holdout, sa.func.count(sa.distinct(d.member_id)))
                   .join(Order, sa.and_(Order.member_id == d.member_id, Order.merchant_id == campaign.merchant_id))
                   .where(*base, Order.status != OrderStatus.VOIDED, Order.created_at >= d.processed_at,
                          Order.created_at < end)
                   .group_by(d.is_holdout))
        for holdout, count in db.session.execute(visited):
            groups[bool(holdout)]["visited"] = count
        paid = (sa.select(d.is_holdout, sa.func.count(sa.distinct(d.member_id)),
                          sa.func.coalesce(sa.func.sum(Order.paid_cents - Order.refunded_cents), 0))
                .join(Order, sa.and_(Order.member_id == d.member_id, Order.merchant_id == campaign.merchant_id))
                .where(*base, Order.status == OrderStatus.PAID, Order.paid_at >= d.processed_at,
                       Order.paid_at < end, Order.created_at >= d.processed_at)
                .group_by(d.is_holdout))
        for holdout, count, revenue in db.session.execute(paid):
            groups[bool(holdout)].update(paid=count, revenue_cents=int(revenue))
        del start

    def figures(values: dict[str, int]) -> rules.GroupFigures:
        return rules.GroupFigures(values.get("members", 0), values.get("visited", 0), values.get("paid", 0),
                                  values.get("revenue_cents", 0))

    issued = db.session.scalar(sa.select(sa.func.count(d.coupon_id)).where(*base)) or 0
    redeemed = db.session.execute(sa.select(Coupon.id, Order.bill).join(d, d.coupon_id == Coupon.id)
                                  .join(Order, Order.id == Coupon.redeemed_order_id)
                                  .where(*base, Coupon.state == CouponStatus.REDEEMED)).all()
    cost = 0
    for coupon_id, bill in redeemed:
        steps = (bill or {}).get("lines") or []  # the priced bill's steps (ChargedBill.to_dict)
        cost += sum(-step["amount_cents"] for step in steps
                    if step.get("kind") == "coupon" and step.get("ref") == coupon_id)
    holdout = figures(groups[True]) if campaign.holdout_percent else None
    return rules.Funnel(sent=figures(groups[False]), opened=groups[False].get("opened", 0),
                        coupons_issued=issued, coupons_redeemed=len(redeemed), coupon_cost_cents=cost,
                        holdout=holdout)


def to_utc(day_and_time: datetime) -> datetime:
    """A naive Beijing wall-clock time (a form's) as an aware UTC moment."""
    return (day_and_time - LOCAL_OFFSET).replace(tzinfo=UTC)
