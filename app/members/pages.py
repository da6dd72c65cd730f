"""The manager's member pages: list and search, a member's card and ledger, manual adjustments,
and the editors of tiers, points and top-up rules.

Views parse and authorise, then call the same service functions as the JSON API; every rule and
every amount comes from there. Forms (and their text-to-number reading) are in `forms.py`.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, Flask, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import get_locale, gettext, lazy_gettext

from app.auth.guard import current_actor
from app.auth.models import Staff
from app.auth.permissions import Permission
from app.db import begin_write, db, get_scoped_or_404, scoped, utcnow
from app.errors import APIError
from app.idempotency import run_once
from app.members import history, schemas, service
from app.members.forms import (
    AdjustmentForm,
    CardForm,
    PointsSettingsForm,
    TiersForm,
    TopUpRulesForm,
    factor_text,
)
from app.members.models import Account, CardStatus, EntryKind, Member, Tier, TopUpRule
from app.pages.auth import login_required
from app.tenants.models import Store
from tablerules.money import format_cny, to_yuan, to_yuan_short, zhe
from tablerules.tiers import REVIEW_NOT_REQUALIFIED, SINGLE_TOPUP_REACHED, SPEND_12M_REACHED

bp = Blueprint("member_pages", __name__, url_prefix="/manage/members")

PAGE_SIZE = 20
LEDGER_PAGE_SIZE = 50
MAX_PAGE = 100_000

ACCOUNT_LABELS = {
    Account.PRINCIPAL: lazy_gettext("Principal"),
    Account.BONUS: lazy_gettext("Bonus"),
    Account.POINTS: lazy_gettext("Points"),
}
KIND_LABELS = {
    EntryKind.TOPUP: lazy_gettext("Top-up"),
    EntryKind.TOPUP_REFUND: lazy_gettext("Top-up refunded"),
    EntryKind.SPEND: lazy_gettext("Paid a bill"),
    EntryKind.SPEND_REFUND: lazy_gettext("Bill refunded"),
    EntryKind.CASHOUT: lazy_gettext("Cash-out"),
    EntryKind.BONUS_FORFEIT: lazy_gettext("Bonus forfeited by a cash-out"),
    EntryKind.ADJUST: lazy_gettext("Manual adjustment"),
    EntryKind.POINTS_EARN: lazy_gettext("Points earned"),
    EntryKind.POINTS_REDEEM: lazy_gettext("Points used"),
    EntryKind.POINTS_EXPIRE: lazy_gettext("Points expired"),
    EntryKind.POINTS_EARN_REVERSAL: lazy_gettext("Points taken back by a refund"),
    EntryKind.POINTS_REDEEM_RETURN: lazy_gettext("Points given back by a refund"),
}
CARD_STATUS_LABELS = {
    CardStatus.ACTIVE: lazy_gettext("In use"),
    CardStatus.LOST: lazy_gettext("Reported lost"),
    CardStatus.UNBOUND: lazy_gettext("Unbound"),
    CardStatus.REPLACED: lazy_gettext("Replaced"),
}
TENDER_LABELS = {  # what a top-up entry's note records: how the money came in
    "cash": lazy_gettext("Cash"),
    "wechat": lazy_gettext("WeChat Pay"),
}
TIER_REASON_LABELS = {
    SPEND_12M_REACHED: lazy_gettext("12-month spend reached the threshold"),
    SINGLE_TOPUP_REACHED: lazy_gettext("A single top-up reached the threshold"),
    REVIEW_NOT_REQUALIFIED: lazy_gettext("Scheduled review"),
}


# --- what templates show -----------------------------------------------------------------------

@bp.app_template_filter("cny")
def cny(cents: int) -> str:
    return format_cny(cents)


@bp.app_template_global()
def tier_name(tier: Tier | None) -> str:
    if tier is None:
        return "—"
    return tier.name_en if tier.name_en and get_locale().language == "en" else tier.name


@bp.app_template_global()
def tier_discount(percent_off: int) -> str:
    """12 -> '8.8折' (and '8.8折 (12% off)' in English)."""
    if percent_off == 0:
        return gettext("No discount")
    return gettext("%(zhe)s折 (%(off)s%% off)", zhe=zhe(percent_off), off=percent_off)


@bp.app_template_global()
def points_factor(percent: int) -> str:
    return factor_text(percent)


@bp.app_template_global()
def topup_rule_label(rule: TopUpRule) -> str:
    """'充100送20', or '每充100送20' for a rule that repeats."""
    amounts = {"min": to_yuan_short(rule.min_cents), "bonus": to_yuan_short(rule.bonus_cents)}
    if rule.is_repeat:
        return gettext("Every ￥%(min)s topped up gets ￥%(bonus)s", **amounts)
    return gettext("Top up ￥%(min)s, get ￥%(bonus)s", **amounts)


@bp.app_template_global()
def signed_amount(account: Account, delta: int) -> str:
    """A ledger movement as shown: '+￥20.00' / '-￥5.00' for money, '+120' / '-30' for points."""
    if account is Account.POINTS:
        return f"{delta:+d}"
    return ("+" if delta > 0 else "") + format_cny(delta)


@bp.app_template_global()
def account_balance(account: Account, value: int) -> str:
    return str(value) if account is Account.POINTS else format_cny(value)


def _labels() -> dict:
    return {"account_labels": ACCOUNT_LABELS, "kind_labels": KIND_LABELS, "tender_labels": TENDER_LABELS,
            "card_status_labels": CARD_STATUS_LABELS, "tier_reason_labels": TIER_REASON_LABELS}


def _store_names() -> dict[int, str]:
    return {store.id: store.name for store in db.session.scalars(scoped(Store))}


def _start_write() -> None:
    """End the read that loaded the staff member and start this request's write transaction
    (SQLite: BEGIN IMMEDIATE, so concurrent writers queue instead of failing)."""
    db.session.commit()
    begin_write()


def tier_chart(counts: list[tuple[Tier, int]]) -> dict:
    """A small horizontal bar chart of members per tier (sizes in SVG units)."""
    label_width, bar_width, row_height = 110, 300, 26
    largest = max((count for _tier, count in counts), default=0) or 1
    rows = [{"tier": tier, "count": count, "y": index * row_height,
             "width": max(2, bar_width * count // largest) if count else 0}
            for index, (tier, count) in enumerate(counts)]
    total = sum(count for _tier, count in counts)
    return {"rows": rows, "total": total, "label_width": label_width, "bar_width": bar_width,
            "row_height": row_height, "height": len(rows) * row_height,
            "width": label_width + bar_width + 90}


# --- members -----------------------------------------------------------------------------------

@bp.route("/")
@login_required(Permission.MEMBERS_READ)
def member_list():
    text = request.args.get("q", "")[:60]
    page = min(max(request.args.get("page", 1, type=int), 1), MAX_PAGE)
    actor = current_actor()
    members, total = service.search_members(text, actor=actor, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    counts = service.members_per_tier(actor.merchant_id)
    db.session.commit()  # the first visit saves the default tiers
    pages = max(1, -(-total // PAGE_SIZE))
    return render_template("manage/members/list.html", members=members, total=total, q=text, page=page,
                           pages=pages, chart=tier_chart(counts), stores=_store_names())


# Sections other domains add to a member's page (coupons: `app.coupons.pages`), by name: a function
# of the member returning (template, context). Those domains depend on members, so they register
# here when their blueprint is, instead of members importing them.
SECTIONS = "tableloop_member_sections"
Section = Callable[[Member], tuple[str, dict]]


def add_member_section(app: Flask, name: str, section: Section) -> None:
    app.extensions.setdefault(SECTIONS, {})[name] = section


@bp.route("/<id:member_id>")
@login_required(Permission.MEMBERS_READ)
def member_detail(member_id: int):
    return render_member_detail(get_scoped_or_404(Member, member_id))


def render_member_detail(member: Member, status: int = 200, card_form: CardForm | None = None,
                         **posted: tuple[str, dict]):
    """The member's page. A section whose form was posted with errors comes in `posted`, by name,
    to be shown as posted rather than afresh (the card number typed to bind: `card_form`)."""
    sections = [posted[name] if name in posted else section(member)
                for name, section in current_app.extensions.get(SECTIONS, {}).items()]
    before = request.args.get("before", type=int)
    entries = service.ledger_entries(member, before_id=before if before and before > 0 else None,
                                     limit=LEDGER_PAGE_SIZE + 1)
    older = entries[LEDGER_PAGE_SIZE - 1].id if len(entries) > LEDGER_PAGE_SIZE else None
    entries = entries[:LEDGER_PAGE_SIZE]
    staff_ids = {entry.staff_id for entry in entries if entry.staff_id}
    staff = {s.id: s.display_name or s.username
             for s in db.session.scalars(scoped(Staff).where(Staff.id.in_(staff_ids)))} if staff_ids else {}
    tiers = {tier.id: tier for tier in service.tiers_of(member.merchant_id)}
    db.session.commit()
    return render_template("manage/members/detail.html", member=member, entries=entries, older=older,
                           newest=before is not None, visits=history.visits(member, limit=20),
                           tier_changes=service.tier_changes(member), tiers=tiers, stores=_store_names(),
                           staff_names=staff, sections=sections, card_form=card_form or CardForm(),
                           held_states=(CardStatus.ACTIVE, CardStatus.LOST), **_labels()), status


@bp.route("/<id:member_id>/adjust", methods=["GET", "POST"])
@login_required(Permission.MEMBERS_ADJUST)
def adjust(member_id: int):
    """Two steps: the form, then a summary to confirm; only the confirmed post changes anything."""
    if request.method == "POST":
        _start_write()
    member = get_scoped_or_404(Member, member_id)
    form = AdjustmentForm()
    context = {"member": member, "form": form, **_labels()}
    if not form.validate_on_submit():
        return render_template("manage/members/adjust.html", **context), 422 if form.errors else 200
    if request.form.get("edit"):  # "change" on the summary: back to the filled-in form, same key
        db.session.rollback()
        return render_template("manage/members/adjust.html", **context)
    if form.confirm.data != "yes":
        db.session.rollback()
        return render_template("manage/members/adjust_confirm.html", account=form.account_value,
                               delta=form.delta_value, **context)

    key, reason, account, delta = form.idempotency_key.data, form.reason.data.strip(), form.account_value, \
        form.delta_value
    applied = []

    def work():
        entry = service.adjust(member.id, account, delta, key=key, reason=reason, actor=current_actor(),
                               now=utcnow())
        applied.append(entry)
        return schemas.EntryOut().dump(entry), 201

    try:
        run_once(g.merchant_id, key, "adjust", {"member_id": member.id, "account": account.label, "delta": delta,
                                               "reason": reason, "idempotency_key": key}, work)
    except APIError as error:
        db.session.rollback()
        member = get_scoped_or_404(Member, member_id)
        if error.error_code == "idempotency_key_reused":
            form.form_errors.append(gettext("This form was already used for another adjustment. Check the "
                                            "ledger, then make the change again here."))
            form.idempotency_key.data = AdjustmentForm.new_key()
        else:
            form.delta.errors = [str(error.description)]
        form.confirm.data = ""
        return render_template("manage/members/adjust.html", **{**context, "member": member}), error.code
    if applied:
        flash(gettext("Adjusted %(account)s by %(change)s.", account=ACCOUNT_LABELS[account],
                      change=signed_amount(account, delta)))
    else:
        flash(gettext("This adjustment had already been made; it was not applied twice."))
    return redirect(url_for(".member_detail", member_id=member.id))


# --- rules -------------------------------------------------------------------------------------

def _tier_row(tier: Tier) -> dict:
    return {"name": tier.name, "name_en": tier.name_en, "rank": tier.rank,
            "discount": zhe(tier.discount_percent) if tier.discount_percent else "",
            "multiplier": factor_text(tier.points_multiplier_percent),
            "spend_threshold": to_yuan(tier.spend_threshold_cents) if tier.spend_threshold_cents is not None else "",
            "topup_threshold": to_yuan(tier.topup_threshold_cents) if tier.topup_threshold_cents is not None else ""}


def _refusal(form, error: APIError, kept_rows: list[int]) -> None:
    """Put the service's refusal beside the row it is about, or above the table."""
    index, rank = error.details.get("index"), error.details.get("rank")
    row = None
    if isinstance(index, int) and 0 <= index < len(kept_rows):
        row = form.rows[kept_rows[index]]
    elif rank is not None:
        row = next((r for r in form.rows if r.form.rank.data == rank), None)
    if row is None:
        form.form_errors.append(str(error.description))
    else:
        row.form.form_errors.append(str(error.description))


def _kept(form) -> list[int]:
    return [i for i, row in enumerate(form.rows) if not row.form.remove.data and not row.form.is_blank]


@bp.route("/tiers", methods=["GET", "POST"])
@login_required(Permission.MEMBERS_CONFIG)
def tiers():
    if request.method == "POST":
        _start_write()
        form = TiersForm()
        if form.validate():
            try:
                service.set_tiers(form.wanted(), actor=current_actor())
            except APIError as error:
                db.session.rollback()
                _refusal(form, error, _kept(form))
            else:
                db.session.commit()
                flash(gettext("The tiers are saved."))
                return redirect(url_for(".tiers"))
        return render_template("manage/members/tiers.html", form=form), 422
    rows = [_tier_row(tier) for tier in service.tiers_of(current_actor().merchant_id)]
    db.session.commit()
    return render_template("manage/members/tiers.html", form=TiersForm(data={"rows": [*rows, {}]}))


@bp.route("/topup-rules", methods=["GET", "POST"])
@login_required(Permission.MEMBERS_CONFIG)
def topup_rules():
    if request.method == "POST":
        _start_write()
        form = TopUpRulesForm()
        if form.validate():
            try:
                service.set_topup_rules(form.wanted(), actor=current_actor())
            except APIError as error:
                db.session.rollback()
                _refusal(form, error, _kept(form))
            else:
                db.session.commit()
                flash(gettext("The top-up rules are saved."))
                return redirect(url_for(".topup_rules"))
        return render_template("manage/members/topup_rules.html", form=form,
                               saved=service.topup_rule_rows(current_actor().merchant_id)), 422
    saved = service.topup_rule_rows(current_actor().merchant_id)
    rows = [{"min_yuan": to_yuan(rule.min_cents), "bonus_yuan": to_yuan(rule.bonus_cents),
             "is_repeat": rule.is_repeat} for rule in saved]
    db.session.commit()
    return render_template("manage/members/topup_rules.html", saved=saved,
                           form=TopUpRulesForm(data={"rows": [*rows, {}, {}]}))


@bp.route("/points", methods=["GET", "POST"])
@login_required(Permission.MEMBERS_CONFIG)
def points_settings():
    if request.method == "POST":
        _start_write()
        form = PointsSettingsForm()
        if form.validate():
            try:
                service.update_settings(form.changes(), actor=current_actor())
            except APIError as error:
                db.session.rollback()
                form.form_errors.append(str(error.description))
            else:
                db.session.commit()
                flash(gettext("The points rules are saved."))
                return redirect(url_for(".points_settings"))
        return render_template("manage/members/points.html", form=form), 422
    form = PointsSettingsForm()
    form.fill(service.settings_for(current_actor().merchant_id))
    db.session.commit()
    return render_template("manage/members/points.html", form=form)
