"""Fan acquisition: wheels and prizes, posters and their scans, the draw, the prize into the
member's wallet, red envelopes. Nothing here commits: pages do.

The draw, step by step (one transaction):
1. the play row is inserted first, keyed by (wheel, person, draw id): a replayed or concurrent
   twin of the same draw waits on the UNIQUE index and then finds the first one's play;
2. the person's counters move by one conditional UPDATE that refuses to pass the wheel's limits
   (total, per China day) — 409 and the play goes with the rollback;
3. the server rolls `secrets.randbelow(10000)` and `tablerules.fans.landing` names the prize;
4. a real prize takes one of its stock by `UPDATE … SET issued = issued + 1 WHERE issued < stock`;
   a lost race for the last one lands on 谢谢参与 instead;
5. a member's win is granted at once: coupon, points or stored-value bonus, each keyed by the
   play (`wheel-play:<id>`), so a prize reaches the wallet once whatever is retried. A winner who
   is not a member yet keeps the win pending until they join (`claim_pending`).

This module never imports a channel: a coupon's WeChat message comes from the coupon domain's
own event.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext

from app.actor import Actor
from app.audit.service import record
from app.coupons import service as coupons
from app.coupons.models import CouponSource, CouponTemplate, TemplateKind
from app.db import db, insert_unique
from app.errors import APIError, Conflict, Forbidden, NotFound, Unprocessable
from app.events.domain import DomainEvent, publish
from app.fans.models import (
    Audience,
    EnvelopeKind,
    EnvelopeShare,
    FanContact,
    FanPoster,
    FanScan,
    LuckyWheel,
    PrizeKind,
    RedEnvelope,
    WheelPlay,
    WheelPlayer,
    WheelPrize,
)
from app.members import service as members
from app.members.ledger import Move, Refs, lock_member, post
from app.members.models import Account, EntryKind, Member
from app.menu.models import Dish
from tablerules import fans as rules
from tablerules import members as member_rules
from tablerules.money import to_yuan_short

SCENE_PREFIX = "campaign_fan"  # 'campaign_…': a member who joins is attributed to the poster's code
_CODE_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
THANKS = "谢谢参与"
MAX_SEGMENTS = 12
_DRAW_ID = re.compile(r"[A-Za-z0-9_-]{16,40}")  # what the page makes (secrets.token_urlsafe)


def new_code(length: int = 10) -> str:
    return "".join(secrets.choice(_CODE_ALPHABET) for _ in range(length))


# --- wheels and prizes ------------------------------------------------------------------------------

WHEEL_FIELDS = ("name", "name_en", "audience", "starts_at", "ends_at", "per_person_total", "per_person_daily",
                "is_active")


def _prize_cost(merchant_id: int, kind: PrizeKind, values: dict[str, Any]) -> int:
    """What one prize costs the merchant, fixed when saved: a cash coupon's value, a free dish's
    price, a percent coupon's cap (0 when uncapped), points at their cash value, the bonus."""
    if kind is PrizeKind.COUPON:
        template = db.session.scalar(sa.select(CouponTemplate).where(
            CouponTemplate.merchant_id == merchant_id, CouponTemplate.id == values.get("coupon_template_id")))
        if template is None:
            raise NotFound("coupon_template")
        if template.kind is TemplateKind.CASH:
            return template.value_cents
        if template.kind is TemplateKind.FREE_DISH and template.dish_id is not None:
            dish = db.session.get(Dish, template.dish_id)
            return dish.price_cents if dish is not None else 0
        return template.cap_cents or 0
    if kind is PrizeKind.POINTS:
        return int(values.get("points") or 0) * members.settings_for(merchant_id).cents_per_point
    if kind is PrizeKind.BONUS:
        return int(values.get("bonus_cents") or 0)
    return 0


def _check_prize(kind: PrizeKind, values: dict[str, Any]) -> list[str]:
    problems = []
    if kind is PrizeKind.COUPON and not values.get("coupon_template_id"):
        problems.append("a coupon prize names its coupon")
    if kind is PrizeKind.POINTS and not (values.get("points") or 0) > 0:
        problems.append("a points prize gives at least 1 point")
    if kind is PrizeKind.BONUS and not (values.get("bonus_cents") or 0) > 0:
        problems.append("a bonus prize gives at least 1 fen")
    if not 0 <= (values.get("chance_bp") or 0) <= rules.BASIS_POINTS:
        problems.append("a chance is between 0% and 100%")
    if (values.get("stock") or 0) < 0:
        problems.append("stock cannot be negative")
    if not (values.get("label") or "").strip():
        problems.append("every prize has a label")
    return problems


def _invalid(problems: list[str]) -> Unprocessable:
    return Unprocessable(gettext("This lucky wheel is not valid."), error_code="invalid_wheel",
                         details={"problems": problems})


def _check_wheel(values: dict[str, Any], prizes: list[dict[str, Any]]) -> None:
    problems = []
    if not (values.get("name") or "").strip():
        problems.append("the wheel has a name")
    if values.get("starts_at") and values.get("ends_at") and values["starts_at"] >= values["ends_at"]:
        problems.append("the wheel ends after it starts")
    for name in ("per_person_total", "per_person_daily"):
        if values.get(name) is not None and values[name] < 1:
            problems.append(f"{name} is at least 1")
    for prize in prizes:
        problems += _check_prize(PrizeKind(prize["kind"]), prize)
    try:
        rules.check_odds([rules.PrizeOdds(i, p.get("chance_bp") or 0) for i, p in enumerate(prizes)])
    except ValueError as error:
        problems.append(str(error))
    if not prizes:
        problems.append("a wheel has at least one prize")
    if len(prizes) > MAX_SEGMENTS:
        problems.append(f"a wheel has at most {MAX_SEGMENTS} segments")
    if problems:
        raise _invalid(problems)


def _with_thanks(prizes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every wheel has a 谢谢参与 segment: where a roll past every prize (or a sold-out one) lands."""
    if any(PrizeKind(p["kind"]) is PrizeKind.NOTHING for p in prizes):
        return prizes
    rest = rules.BASIS_POINTS - sum(p.get("chance_bp") or 0 for p in prizes)
    return [*prizes, {"kind": PrizeKind.NOTHING, "label": THANKS, "label_en": "Better luck next time",
                      "chance_bp": max(rest, 0), "stock": 0}]


def _prize_row(merchant_id: int, position: int, values: dict[str, Any]) -> WheelPrize:
    kind = PrizeKind(values["kind"])
    return WheelPrize(
        merchant_id=merchant_id, position=position, kind=kind, label=values["label"].strip()[:30],
        label_en=(values.get("label_en") or "").strip()[:60],
        coupon_template_id=values.get("coupon_template_id") if kind is PrizeKind.COUPON else None,
        points=values.get("points") or 0 if kind is PrizeKind.POINTS else 0,
        bonus_cents=values.get("bonus_cents") or 0 if kind is PrizeKind.BONUS else 0,
        chance_bp=values.get("chance_bp") or 0, stock=0 if kind is PrizeKind.NOTHING else values.get("stock") or 0,
        cost_cents=_prize_cost(merchant_id, kind, values))


def create_wheel(*, actor: Actor, prizes: list[dict[str, Any]], **values: Any) -> LuckyWheel:
    """A wheel with its prizes in segment order (a 谢谢参与 segment is added when none is given).
    422 `invalid_wheel` with the problems; 404 for a coupon template of another merchant."""
    values = {name: value for name, value in values.items() if name in WHEEL_FIELDS}
    values["audience"] = Audience(values.get("audience") or Audience.ANYONE)
    prizes = _with_thanks([dict(p) for p in prizes])
    _check_wheel(values, prizes)
    wheel = LuckyWheel(merchant_id=actor.merchant_id, code=new_code(), **values)
    db.session.add(wheel)
    db.session.flush()
    for position, prize in enumerate(prizes):
        row = _prize_row(actor.merchant_id, position, prize)
        row.wheel_id = wheel.id
        db.session.add(row)
    db.session.flush()
    record("lucky_wheel.create", wheel, actor=actor, name=wheel.name, prizes=len(prizes))
    return wheel


def update_wheel(wheel: LuckyWheel, *, actor: Actor, prizes: list[dict[str, Any]] | None = None,
                 **values: Any) -> LuckyWheel:
    """Change the wheel's schedule, limits, audience, name or switch; and each prize's label,
    chance and stock (never below what it already gave). A prize that gave something keeps its
    kind and value; new segments may be added at the end."""
    values = {name: value for name, value in values.items() if name in WHEEL_FIELDS}
    merged = {name: getattr(wheel, name) for name in WHEEL_FIELDS} | values
    existing = list(wheel.prizes)
    wanted = _with_thanks([dict(p) for p in (prizes if prizes is not None else [
        {"kind": p.kind, "label": p.label, "label_en": p.label_en, "coupon_template_id": p.coupon_template_id,
         "points": p.points, "bonus_cents": p.bonus_cents, "chance_bp": p.chance_bp, "stock": p.stock}
        for p in existing])])
    _check_wheel(merged, wanted)
    problems = []
    for row, prize in zip(existing, wanted, strict=False):
        kind = PrizeKind(prize["kind"])
        same = (kind is row.kind and prize.get("coupon_template_id") == row.coupon_template_id
                and (prize.get("points") or 0) == row.points and (prize.get("bonus_cents") or 0) == row.bonus_cents)
        if row.issued and not same:
            problems.append(f"prize {row.position + 1} already gave {row.issued}: what it is cannot change")
        if kind is not PrizeKind.NOTHING and (prize.get("stock") or 0) < row.issued:
            problems.append(f"prize {row.position + 1}: stock cannot be below the {row.issued} already given")
    if len(wanted) < len(existing):
        problems.append("segments cannot be removed; set a segment's chance to 0 instead")
    if problems:
        raise _invalid(problems)
    for name, value in values.items():
        setattr(wheel, name, value)
    for position, prize in enumerate(wanted):
        fresh = _prize_row(wheel.merchant_id, position, prize)
        if position < len(existing):
            row = existing[position]
            for name in ("kind", "label", "label_en", "coupon_template_id", "points", "bonus_cents", "chance_bp",
                         "stock", "cost_cents"):
                setattr(row, name, getattr(fresh, name))
        else:
            fresh.wheel_id = wheel.id
            db.session.add(fresh)
    db.session.flush()
    db.session.expire(wheel, ["prizes"])
    record("lucky_wheel.update", wheel, actor=actor, fields=sorted(values), prizes=len(wanted))
    return wheel


def wheel_of(merchant_id: int, wheel_id: int) -> LuckyWheel:
    wheel = db.session.scalar(sa.select(LuckyWheel).where(LuckyWheel.merchant_id == merchant_id,
                                                          LuckyWheel.id == wheel_id))
    if wheel is None:
        raise NotFound("lucky_wheel")
    return wheel


def wheel_by_code(code: str) -> LuckyWheel | None:
    if not code or len(code) > 16:
        return None
    return db.session.scalar(sa.select(LuckyWheel).where(LuckyWheel.code == code))


def wheels_of(merchant_id: int) -> list[LuckyWheel]:
    return list(db.session.scalars(sa.select(LuckyWheel).where(LuckyWheel.merchant_id == merchant_id)
                                   .order_by(LuckyWheel.id.desc())))


# --- posters and scans ----------------------------------------------------------------------------------

def create_poster(*, actor: Actor, name: str, headline: str = "", wheel_id: int | None = None,
                  envelope_id: int | None = None, store_id: int | None = None) -> FanPoster:
    """A poster whose scene QR code leads to a wheel or a red envelope of the actor's merchant."""
    if (wheel_id is None) == (envelope_id is None):
        raise Unprocessable(gettext("A poster leads to one lucky wheel or one red envelope."),
                            error_code="invalid_poster")
    if not name.strip():
        raise Unprocessable(gettext("The poster needs a name."), error_code="invalid_poster")
    if wheel_id is not None:
        wheel_of(actor.merchant_id, wheel_id)
    if envelope_id is not None:
        envelope_of(actor.merchant_id, envelope_id)
    poster = FanPoster(merchant_id=actor.merchant_id, name=name.strip()[:60], headline=headline.strip()[:60],
                       scene=SCENE_PREFIX + new_code(12), wheel_id=wheel_id, envelope_id=envelope_id,
                       store_id=store_id)
    db.session.add(poster)
    db.session.flush()
    record("fan_poster.create", poster, actor=actor, name=poster.name, scene=poster.scene)
    return poster


def posters_of(merchant_id: int) -> list[FanPoster]:
    return list(db.session.scalars(sa.select(FanPoster).where(FanPoster.merchant_id == merchant_id)
                                   .order_by(FanPoster.id.desc())))


def poster_of(merchant_id: int, poster_id: int) -> FanPoster:
    poster = db.session.scalar(sa.select(FanPoster).where(FanPoster.merchant_id == merchant_id,
                                                          FanPoster.id == poster_id))
    if poster is None:
        raise NotFound("fan_poster")
    return poster


def poster_for_scene(merchant_id: int, scene: str | None) -> FanPoster | None:
    if not scene or not scene.startswith(SCENE_PREFIX):
        return None
    return db.session.scalar(sa.select(FanPoster).where(FanPoster.merchant_id == merchant_id,
                                                        FanPoster.scene == scene[:64]))


def record_scan(merchant_id: int, openid: str, scene: str | None, *, is_follow: bool, event_key: str,
                now: datetime) -> FanPoster | None:
    """A subscribe/SCAN event with a scene: the poster it names (None if it is no poster of ours),
    with the scan counted for its funnel once, however often WeChat sends the same event
    (`event_key`: who, when and what, as WeChat stamped it)."""
    poster = poster_for_scene(merchant_id, scene)
    if poster is None:
        return None
    insert_unique(FanScan(merchant_id=merchant_id, poster_id=poster.id, openid=openid[:64], is_follow=is_follow,
                          event_key=event_key[:100], created_at=now))
    return poster


# --- the draw ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DrawResult:
    play: WheelPlay
    prize: WheelPrize  # the segment it landed on (a 谢谢参与 segment for no prize)
    is_win: bool
    is_granted: bool
    grant_problem: str | None = None  # why a win could not reach the wallet yet


def _refused(reason: str) -> Conflict:
    messages = {
        rules.TOTAL_LIMIT: gettext("You have used all your spins on this wheel."),
        rules.DAILY_LIMIT: gettext("You have used today's spins. Come back tomorrow!"),
        "wheel_closed": gettext("This lucky wheel is not running now."),
    }
    return Conflict(messages[reason], error_code=reason)


def may_play(wheel: LuckyWheel, *, member: Member | None, is_follower: bool, now: datetime,
             openid: str | None = None) -> None:
    """403/409 with the reason a person may not spin now (schedule, switch, audience)."""
    if not wheel.is_active or not rules.is_open(wheel.starts_at, wheel.ends_at, now):
        raise _refused("wheel_closed")
    if wheel.audience is Audience.PHONE and member is None and (openid is None
                                                                or contact_phone(wheel.merchant_id, openid) is None):
        raise Forbidden(gettext("Leave your mobile number to spin the wheel."), error_code="phone_required")
    if wheel.audience is Audience.FOLLOWERS and not is_follower:
        raise Forbidden(gettext("Follow our official account to spin the wheel."), error_code="followers_only")
    if wheel.audience is Audience.MEMBERS and member is None:
        raise Forbidden(gettext("Join as a member to spin the wheel."), error_code="members_only")


def contact_phone(merchant_id: int, openid: str) -> str | None:
    """The mobile number this diner gave to play (None: none given)."""
    return db.session.scalar(sa.select(FanContact.phone).where(FanContact.merchant_id == merchant_id,
                                                               FanContact.openid == openid))


def give_phone(merchant_id: int, openid: str, phone: str, *, now: datetime) -> str:
    """Keep the number a diner gives to play (a second one replaces the first); 422 for one that
    is not a mainland mobile number."""
    phone = phone.strip()
    if not member_rules.is_phone(phone):
        raise Unprocessable(gettext("Please enter your mobile number (digits only)."), error_code="invalid_phone",
                            details={"fields": {"phone": ["Not a mobile number."]}})
    contact = FanContact(merchant_id=merchant_id, openid=openid, phone=phone, created_at=now)
    if not insert_unique(contact):
        db.session.execute(sa.update(FanContact).where(FanContact.merchant_id == merchant_id,
                                                       FanContact.openid == openid).values(phone=phone))
    return phone


def plays_left(wheel: LuckyWheel, openid: str, now: datetime) -> int | None:
    """How many more spins this person has now (None: no limit)."""
    player = _player(wheel.id, openid)
    today = rules.china_day(now)
    total = player.plays if player else 0
    day_plays = player.day_plays if player and player.day == today else 0
    left = []
    if wheel.per_person_total is not None:
        left.append(wheel.per_person_total - total)
    if wheel.per_person_daily is not None:
        left.append(wheel.per_person_daily - day_plays)
    return max(min(left), 0) if left else None


def _player(wheel_id: int, openid: str) -> WheelPlayer | None:
    return db.session.scalar(sa.select(WheelPlayer).where(WheelPlayer.wheel_id == wheel_id,
                                                          WheelPlayer.openid == openid))


def _count_play(wheel: LuckyWheel, openid: str, now: datetime) -> None:
    """One more play for this person, or 409 with the limit it would pass: a single conditional
    UPDATE of their counters, so concurrent spins of one person cannot pass the limits."""
    if _player(wheel.id, openid) is None:
        insert_unique(WheelPlayer(merchant_id=wheel.merchant_id, wheel_id=wheel.id, openid=openid))
    today = rules.china_day(now)
    is_today = WheelPlayer.day == today
    stmt = sa.update(WheelPlayer).where(WheelPlayer.wheel_id == wheel.id, WheelPlayer.openid == openid)
    if wheel.per_person_total is not None:
        stmt = stmt.where(WheelPlayer.plays < wheel.per_person_total)
    if wheel.per_person_daily is not None:
        stmt = stmt.where(sa.or_(WheelPlayer.day.is_(None), WheelPlayer.day != today,
                                 WheelPlayer.day_plays < wheel.per_person_daily))
    result = db.session.execute(stmt.values(
        plays=WheelPlayer.plays + 1, day=today,
        day_plays=sa.case((is_today, WheelPlayer.day_plays + 1), else_=1),
    ).execution_options(synchronize_session=False))
    if result.rowcount != 1:
        player = _player(wheel.id, openid)
        db.session.refresh(player)
        reason = rules.refusal(rules.Limits(wheel.per_person_total, wheel.per_person_daily), player.plays,
                               player.day_plays if player.day == today else 0)
        raise _refused(reason or rules.TOTAL_LIMIT)


def _take_one(prize: WheelPrize) -> bool:
    """One of the prize's stock, if any is left: the conditional UPDATE is the whole guard."""
    result = db.session.execute(
        sa.update(WheelPrize).where(WheelPrize.id == prize.id, WheelPrize.issued < WheelPrize.stock)
        .values(issued=WheelPrize.issued + 1).execution_options(synchronize_session=False))
    db.session.expire(prize, ["issued"])
    return result.rowcount == 1


def _thanks_segment(wheel: LuckyWheel) -> WheelPrize:
    return next(p for p in wheel.prizes if p.kind is PrizeKind.NOTHING)


def _existing_play(wheel_id: int, openid: str, draw_id: str) -> WheelPlay | None:
    return db.session.scalar(sa.select(WheelPlay).where(WheelPlay.wheel_id == wheel_id, WheelPlay.openid == openid,
                                                        WheelPlay.draw_id == draw_id))


def _result(wheel: LuckyWheel, play: WheelPlay, problem: str | None = None) -> DrawResult:
    prize = play.prize if play.prize is not None else _thanks_segment(wheel)
    is_win = prize.kind is not PrizeKind.NOTHING
    return DrawResult(play, prize, is_win, play.granted_at is not None, problem)


def is_draw_id(text: str) -> bool:
    return bool(_DRAW_ID.fullmatch(text))


def draw(wheel: LuckyWheel, *, openid: str, draw_id: str, member: Member | None, is_follower: bool,
         poster_id: int | None, now: datetime, actor: Actor) -> DrawResult:
    """One spin, decided here. The same `draw_id` again (also concurrently) answers the first
    spin's result and changes nothing. 409 `play_limit_reached` / `daily_limit_reached` /
    `wheel_closed`; 403 `followers_only` / `members_only`."""
    if not isinstance(draw_id, str) or not _DRAW_ID.fullmatch(draw_id):
        raise Unprocessable(gettext("This spin is not valid; please reload the page."), error_code="invalid_draw")
    replay = _existing_play(wheel.id, openid, draw_id)
    if replay is not None:
        return _result(wheel, replay)
    may_play(wheel, member=member, is_follower=is_follower, now=now, openid=openid)
    if member is not None:
        # Locks in one order: the member first (the play's foreign key and the grant both touch
        # that row), then the person's counters, then the prize.
        member = lock_member(member.id, actor=actor)
    play = WheelPlay(merchant_id=wheel.merchant_id, wheel_id=wheel.id, openid=openid, draw_id=draw_id,
                     poster_id=poster_id, roll=secrets.randbelow(rules.BASIS_POINTS),
                     member_id=member.id if member is not None else None, created_at=now)
    if not insert_unique(play):  # a twin of this draw got in first: its result is the answer
        replay = _existing_play(wheel.id, openid, draw_id)
        if replay is None:  # pragma: no cover - the twin rolled back
            raise Conflict(gettext("Please try again."), error_code="retry")
        return _result(wheel, replay)
    _count_play(wheel, openid, now)
    prizes = list(wheel.prizes)
    odds = [rules.PrizeOdds(p.id, p.chance_bp, p.kind is PrizeKind.NOTHING or p.issued < p.stock) for p in prizes]
    landed = rules.landing(odds, play.roll)
    prize = next((p for p in prizes if p.id == landed), None)
    if prize is not None and prize.kind is not PrizeKind.NOTHING and not _take_one(prize):
        prize = None  # the last one went to someone else a moment ago
    play.prize_id = (prize or _thanks_segment(wheel)).id
    db.session.flush()
    db.session.refresh(play, ["prize"])
    problem = None
    if member is not None and play.prize.kind is not PrizeKind.NOTHING:
        problem = _grant_safely(play, member, now=now, actor=actor)
    return _result(wheel, play, problem)


def _grant_safely(play: WheelPlay, member: Member, *, now: datetime, actor: Actor) -> str | None:
    """Grant inside a savepoint: a refusal (a coupon's own per-member limit, say) leaves the win
    pending and names the reason, without undoing the spin."""
    try:
        with db.session.begin_nested():
            grant(play, member, now=now, actor=actor)
    except APIError as error:
        db.session.expire(play)
        return str(error.description)
    return None


def grant(play: WheelPlay, member: Member, *, now: datetime, actor: Actor) -> WheelPlay:
    """The play's prize into `member`'s wallet, once: the play is claimed by a conditional UPDATE
    (`granted_at IS NULL`), and the coupon / ledger rows are keyed by the play."""
    if member.merchant_id != play.merchant_id:
        raise NotFound("member")
    prize = play.prize
    if prize is None or prize.kind is PrizeKind.NOTHING:
        return play
    lock_member(member.id, actor=actor)
    claimed = db.session.execute(sa.update(WheelPlay).where(WheelPlay.id == play.id, WheelPlay.granted_at.is_(None))
                                 .values(granted_at=now, member_id=member.id)
                                 .execution_options(synchronize_session=False))
    db.session.expire(play, ["granted_at", "member_id"])
    if claimed.rowcount != 1:
        return play  # granted already (a retry, a second tab)
    key = f"wheel-play:{play.id}"
    if prize.kind is PrizeKind.COUPON:
        coupon = coupons.issue_coupon(prize.coupon_template_id, member.id, key=key, source=CouponSource.CAMPAIGN,
                                      now=now, actor=actor)
        play.coupon_id = coupon.id
    elif prize.kind is PrizeKind.POINTS:
        lot = members.earn_points(lock_member(member.id, actor=actor), prize.points, key=key, now=now,
                                  refs=Refs(), note="lucky wheel prize", actor=actor)
        _tell(member, Account.POINTS, prize.points, lot.entry_id, "幸运大转盘奖品", now)
    elif prize.kind is PrizeKind.BONUS:
        (entry,) = post(lock_member(member.id, actor=actor), key,
                        [Move(Account.BONUS, EntryKind.ADJUST, prize.bonus_cents, "lucky wheel prize")], actor=actor)
        _tell(member, Account.BONUS, prize.bonus_cents, entry.id, "幸运大转盘奖品", now)
    db.session.flush()
    return play


def _tell(member: Member, account: Account, delta: int, entry_id: int, note: str, now: datetime) -> None:
    """The member hears of a prize on their card (the channels subscribe to these events; the
    note is what the WeChat message says, and its readers read Chinese)."""
    ref = f"ledger:{entry_id}"
    db.session.refresh(member, ["principal_cents", "bonus_cents", "points"])
    if account is Account.POINTS:
        publish(member.merchant_id, DomainEvent.POINTS_CHANGED, f"{member.id}:{ref}",
                {"member_id": member.id, "delta": delta, "balance": member.points, "reason": "prize", "note": note,
                 "ref": ref}, now=now)
    else:
        publish(member.merchant_id, DomainEvent.STORED_VALUE_CHANGED, f"{member.id}:{ref}",
                {"member_id": member.id, "delta_cents": delta, "balance_cents": member.stored_value_cents,
                 "reason": "prize", "note": note, "ref": ref}, now=now)


def pending_wins(merchant_id: int, openid: str) -> list[WheelPlay]:
    return list(db.session.scalars(
        sa.select(WheelPlay).join(WheelPrize, WheelPrize.id == WheelPlay.prize_id).where(
            WheelPlay.merchant_id == merchant_id, WheelPlay.openid == openid, WheelPlay.granted_at.is_(None),
            WheelPrize.kind != PrizeKind.NOTHING).order_by(WheelPlay.id)))


def claim_pending(merchant_id: int, openid: str, member: Member, *, now: datetime, actor: Actor) -> list[str]:
    """A winner who joined: every pending win of theirs into the wallet. Answers the problems of
    any that could not be granted (they stay pending)."""
    problems = []
    for play in pending_wins(merchant_id, openid):
        problem = _grant_safely(play, member, now=now, actor=actor)
        if problem:
            problems.append(problem)
    return problems


def plays_of(merchant_id: int, openid: str, limit: int = 20) -> list[WheelPlay]:
    return list(db.session.scalars(sa.select(WheelPlay).where(
        WheelPlay.merchant_id == merchant_id, WheelPlay.openid == openid).order_by(WheelPlay.id.desc()).limit(limit)))


# --- red envelopes ----------------------------------------------------------------------------------------

def fund_envelope(*, actor: Actor, name: str, pool_cents: int, shares: int, ends_at: datetime | None = None,
                  kind: EnvelopeKind = EnvelopeKind.BONUS, coupon_valid_days: int | None = None) -> RedEnvelope:
    """A pool split now, at random, into `shares` amounts summing to it. Paid as stored-value
    bonus, or as cash vouchers valid `coupon_valid_days` after the grab: one coupon template per
    distinct amount is made here ("周末红包 ¥3.21"), so the coupon pages count them too."""
    kind = EnvelopeKind(kind)
    if not name.strip():
        raise Unprocessable(gettext("The red envelope needs a name."), error_code="invalid_envelope")
    if not 1 <= shares <= 500 or not shares <= pool_cents <= 100_000_000:
        raise Unprocessable(gettext("A red envelope has 1 to 500 shares of at least ¥0.01 each."),
                            error_code="invalid_envelope")
    if kind is EnvelopeKind.COUPON and not 1 <= (coupon_valid_days or 0) <= 3650:
        raise Unprocessable(gettext("Vouchers from a red envelope need a validity of 1 to 3650 days."),
                            error_code="invalid_envelope")
    envelope = RedEnvelope(merchant_id=actor.merchant_id, code=new_code(), name=name.strip()[:60], kind=kind,
                           pool_cents=pool_cents, shares=shares, ends_at=ends_at,
                           coupon_valid_days=coupon_valid_days if kind is EnvelopeKind.COUPON else None)
    db.session.add(envelope)
    db.session.flush()
    templates: dict[int, int] = {}
    for position, amount in enumerate(rules.split_pool(pool_cents, shares, secrets.randbelow)):
        if kind is EnvelopeKind.COUPON and amount not in templates:
            label = to_yuan_short(amount)
            templates[amount] = coupons.create_template(
                actor=actor, name=f"{envelope.name[:48]} ¥{label}", name_en=f"Red envelope ¥{label}", kind="cash",
                value_cents=amount, valid_days=coupon_valid_days).id
        db.session.add(EnvelopeShare(merchant_id=actor.merchant_id, envelope_id=envelope.id, position=position,
                                     amount_cents=amount, coupon_template_id=templates.get(amount)))
    db.session.flush()
    record("red_envelope.fund", envelope, actor=actor, pool_cents=pool_cents, shares=shares, kind=kind.label)
    return envelope


def envelope_of(merchant_id: int, envelope_id: int) -> RedEnvelope:
    envelope = db.session.scalar(sa.select(RedEnvelope).where(RedEnvelope.merchant_id == merchant_id,
                                                              RedEnvelope.id == envelope_id))
    if envelope is None:
        raise NotFound("red_envelope")
    return envelope


def envelope_by_code(code: str) -> RedEnvelope | None:
    if not code or len(code) > 16:
        return None
    return db.session.scalar(sa.select(RedEnvelope).where(RedEnvelope.code == code))


def envelopes_of(merchant_id: int) -> list[RedEnvelope]:
    return list(db.session.scalars(sa.select(RedEnvelope).where(RedEnvelope.merchant_id == merchant_id)
                                   .order_by(RedEnvelope.id.desc())))


def shares_of(envelope: RedEnvelope) -> list[EnvelopeShare]:
    return list(db.session.scalars(sa.select(EnvelopeShare).where(EnvelopeShare.envelope_id == envelope.id)
                                   .order_by(EnvelopeShare.grabbed_at, EnvelopeShare.position)))


def share_of(envelope: RedEnvelope, member_id: int) -> EnvelopeShare | None:
    return db.session.scalar(sa.select(EnvelopeShare).where(EnvelopeShare.envelope_id == envelope.id,
                                                            EnvelopeShare.member_id == member_id))


def grab(envelope: RedEnvelope, member: Member, *, now: datetime, actor: Actor) -> EnvelopeShare:
    """The member's share of the envelope (the one they grabbed before, if any): a free share is
    claimed by a conditional UPDATE, UNIQUE (envelope, member) keeps it to one per person, and the
    bonus is posted (or the voucher issued) keyed by the share. 409 `envelope_empty` /
    `envelope_ended`. The member row is locked first, as the draw does: the share's foreign key
    and the posting both touch it, and two taps of one person then simply queue."""
    if member.merchant_id != envelope.merchant_id:
        raise NotFound("member")
    member = lock_member(member.id, actor=actor)
    mine = share_of(envelope, member.id)
    if mine is not None:
        return mine
    if envelope.ends_at is not None and now >= envelope.ends_at:
        raise Conflict(gettext("This red envelope has ended."), error_code="envelope_ended")
    for _attempt in range(envelope.shares + 1):
        free = db.session.scalar(sa.select(EnvelopeShare.id).where(
            EnvelopeShare.envelope_id == envelope.id, EnvelopeShare.member_id.is_(None))
            .order_by(EnvelopeShare.position).limit(1))
        if free is None:
            raise Conflict(gettext("Too late: every share of this red envelope has been grabbed."),
                           error_code="envelope_empty")
        try:
            with db.session.begin_nested():
                taken = db.session.execute(
                    sa.update(EnvelopeShare).where(EnvelopeShare.id == free, EnvelopeShare.member_id.is_(None))
                    .values(member_id=member.id, grabbed_at=now).execution_options(synchronize_session=False))
        except sa.exc.IntegrityError:  # the same person's twin grab got a share first
            mine = share_of(envelope, member.id)
            if mine is None:  # pragma: no cover - the twin rolled back
                raise Conflict(gettext("Please try again."), error_code="retry") from None
            return mine
        if taken.rowcount == 1:
            share = db.session.get(EnvelopeShare, free, populate_existing=True)
            key = f"red-envelope-share:{share.id}"
            if envelope.kind is EnvelopeKind.COUPON:
                coupon = coupons.issue_coupon(share.coupon_template_id, member.id, key=key,
                                              source=CouponSource.CAMPAIGN, now=now, actor=actor)
                share.coupon_id = coupon.id
                db.session.flush()
            else:
                (entry,) = post(member, key, [Move(Account.BONUS, EntryKind.ADJUST, share.amount_cents,
                                                   "red envelope")], actor=actor)
                _tell(member, Account.BONUS, share.amount_cents, entry.id, "拼手气红包", now)
            return share
    raise Conflict(gettext("Please try again."), error_code="retry")  # pragma: no cover
