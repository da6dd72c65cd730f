"""Member tags on the manager's pages: the tags section of a member's page (hand tags added and
removed, rule tags shown), the tag rules, and the members who carry a tag.

Views parse and authorise, then call `app.crm.service` — the same functions as the JSON API.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext, lazy_gettext

from app.auth.guard import current_actor
from app.auth.permissions import Permission
from app.crm import service
from app.crm.models import TagRule, TagSource
from app.db import begin_write, db, get_scoped_or_404, utcnow
from app.errors import APIError
from app.members.models import Member
from app.members.pages import add_member_section
from app.pages.auth import can, login_required
from tablerules.money import format_cny

bp = Blueprint("crm_pages", __name__, url_prefix="/manage/members")

KIND_LABELS = {
    "spend": lazy_gettext("Spent at least … in the last … days"),
    "dish": lazy_gettext("Ordered a dish at least … times"),
    "source_table": lazy_gettext("Came from the QR code of table …"),
    "visits": lazy_gettext("Visited at least … times in the last … days"),
}


def _start_write() -> None:
    db.session.commit()
    begin_write()


@bp.app_template_global()
def tag_rule_text(rule: TagRule) -> str:
    p = rule.params or {}
    if rule.kind == "spend":
        return gettext("Spent at least %(amount)s in the last %(days)s days", amount=format_cny(p["min_cents"]),
                       days=p["days"])
    if rule.kind == "dish":
        if p.get("days"):
            return gettext("Ordered %(dish)s at least %(n)s times in the last %(days)s days", dish=p["dish"],
                           n=p["min_count"], days=p["days"])
        return gettext("Ordered %(dish)s at least %(n)s times", dish=p["dish"], n=p["min_count"])
    if rule.kind == "source_table":
        return gettext("Came from the QR code of table %(table)s", table=p["table"])
    if rule.kind == "visits":
        return gettext("Visited at least %(n)s times in the last %(days)s days", n=p["min_visits"], days=p["days"])
    return rule.kind


def tags_section(member: Member) -> tuple[str, dict]:
    return "manage/crm/_member_tags.html", {"tags": service.tags_of(member), "may_edit": can(Permission.MEMBERS_WRITE)}


@bp.record_once
def _add_to_member_page(state) -> None:
    add_member_section(state.app, "tags", tags_section)


@bp.route("/<id:member_id>/tags", methods=["POST"])
@login_required(Permission.MEMBERS_WRITE)
def edit_member_tags(member_id: int):
    _start_write()
    member = get_scoped_or_404(Member, member_id)
    now = utcnow()
    try:
        if request.form.get("remove"):
            service.remove_hand_tag(member, request.form["remove"], now=now)
        else:
            service.add_hand_tag(member, request.form.get("tag", ""), now=now)
        db.session.commit()
    except APIError as error:
        db.session.rollback()
        flash(str(error.description))
    return redirect(url_for("member_pages.member_detail", member_id=member_id) + "#tags")


def _yuan_to_cents(text: str) -> int | None:
    try:
        value = round(float(text) * 100)
    except ValueError:
        return None
    return value if 0 < value <= 10**11 else None


def _params(kind: str, form) -> dict:
    def number(name: str):
        value = form.get(name, "").strip()
        return int(value) if value.isdigit() else None

    if kind == "spend":
        return {"min_cents": _yuan_to_cents(form.get("min_yuan", "")), "days": number("days")}
    if kind == "dish":
        return {"dish": form.get("dish", ""), "min_count": number("min_count"), "days": number("days") or 0}
    if kind == "source_table":
        return {"table": form.get("table", "")}
    return {"min_visits": number("min_visits"), "days": number("days")}


@bp.route("/tag-rules", methods=["GET", "POST"])
@login_required(Permission.MEMBERS_READ)
def tag_rules():
    status = 200
    if request.method == "POST":
        if not can(Permission.MEMBERS_CONFIG):
            from app.errors import Forbidden

            raise Forbidden()
        _start_write()
        actor, now, action = current_actor(), utcnow(), request.form.get("action", "")
        try:
            if action == "delete":
                service.delete_rule(request.form.get("id", 0, type=int), actor=actor, now=now)
                flash(gettext("Rule deleted; the tags it alone gave are gone."))
            elif action == "apply":
                service.apply_rules_now(actor=actor, now=now)
                flash(gettext("Every member was checked against the rules."))
            else:
                kind = request.form.get("kind", "")
                service.create_rule(actor=actor, name=request.form.get("name", ""), tag=request.form.get("tag", ""),
                                    kind=kind, params=_params(kind, request.form), now=now)
                db.session.flush()
                service.apply_rules_now(actor=actor, now=now)
                flash(gettext("Rule added; every member was checked against it."))
            db.session.commit()
            return redirect(url_for(".tag_rules"))
        except APIError as error:
            db.session.rollback()
            if error.code == 404:
                raise
            flash(str(error.description))
            status = error.code or 400
    merchant_id = g.staff.merchant_id
    return render_template("manage/crm/tag_rules.html", rules=service.rules_of(merchant_id),
                           tags=service.all_tags(merchant_id), kinds=KIND_LABELS), status


@bp.route("/tagged")
@login_required(Permission.MEMBERS_READ)
def tagged():
    tag = request.args.get("tag", "")[:20].strip()
    source = {"hand": TagSource.HAND, "rule": TagSource.RULE}.get(request.args.get("source", ""))
    members = list(db.session.scalars(sa.select(Member).where(
        Member.id.in_(service.members_with_tag(g.staff.merchant_id, tag, source))).order_by(Member.member_no)
        .limit(500))) if tag else []
    return render_template("manage/crm/tagged.html", tag=tag, members=members,
                           tags=service.all_tags(g.staff.merchant_id))
