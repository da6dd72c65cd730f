"""The member's physical cards on the manager's member page: bind a new card, report one lost
(after a confirmation), replace a lost or damaged one by typing the new card's number.

The same service functions as the JSON API (`routes.py`) do the work, lock the member and write the
audit trail; the store's agents hear of it on the event log (`member_changed`) and their local
copies drop a lost card."""

from __future__ import annotations

from collections.abc import Callable

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext
from flask_wtf import FlaskForm

from app.actor import Actor
from app.auth.guard import current_actor
from app.auth.permissions import Permission
from app.db import db, get_scoped_or_404, utcnow
from app.errors import APIError, NotFound
from app.members import service
from app.members.forms import CardForm
from app.members.ledger import lock_member
from app.members.models import CARDS, CardEvent, CardStatus, Member, MemberCard
from app.members.pages import _labels, _start_write, bp, render_member_detail
from app.pages.auth import login_required


class ConfirmForm(FlaskForm):
    """Only the CSRF token: the confirmation is the post itself."""


def _held_card(member: Member, card_id: int) -> MemberCard:
    """The member's card, or the same 404 as a card of another member or merchant."""
    card = get_scoped_or_404(MemberCard, card_id)
    if card.member_id != member.id:
        raise NotFound("membercard")
    return card


def _changed(member_id: int, change: Callable[[Member, Actor], MemberCard],
             errors: list[str]) -> tuple[MemberCard | None, int]:
    """One change of a card, made on the locked member in this request's write transaction and
    committed: the card it answers, or None with the refusal's status and its words added to
    `errors` (rolled back, nothing changed)."""
    _start_write()
    actor = current_actor()
    try:
        card = change(lock_member(member_id, actor=actor), actor)
    except APIError as error:
        db.session.rollback()
        errors.append(str(error.description))
        return None, error.code
    db.session.commit()
    return card, 200


def _detail(member_id: int):
    return redirect(url_for(".member_detail", member_id=member_id, _anchor="cards"))


@bp.route("/<id:member_id>/cards", methods=["POST"])
@login_required(Permission.MEMBERS_WRITE)
def bind_card(member_id: int):
    get_scoped_or_404(Member, member_id)
    form = CardForm()
    if form.validate_on_submit():
        form.card_no.errors = []
        card, status = _changed(member_id, lambda member, actor: service.bind_card(
            member, form.card_no.data, actor=actor), form.card_no.errors)
        if card is not None:
            flash(gettext("Card %(no)s is bound to the member.", no=card.card_no))
            return _detail(member_id)
    else:
        db.session.rollback()
        status = 422
    member = get_scoped_or_404(Member, member_id)
    return render_member_detail(member, status=status, card_form=form)


@bp.route("/<id:member_id>/cards/<id:card_id>/lost", methods=["GET", "POST"])
@login_required(Permission.MEMBERS_WRITE)
def report_card_lost(member_id: int, card_id: int):
    """A confirmation first: a card reported lost stops working at once and cannot be restored."""
    member = get_scoped_or_404(Member, member_id)
    card = _held_card(member, card_id)
    form = ConfirmForm()
    status = 200
    if form.validate_on_submit():
        lost, status = _changed(member_id, lambda member, actor: service.report_card_lost(
            member, card_id, actor=actor, now=utcnow()), form.form_errors)
        if lost is not None:
            flash(gettext("Card %(no)s is reported lost; it no longer works.", no=lost.card_no))
            return _detail(member_id)
        member = get_scoped_or_404(Member, member_id)
        card = _held_card(member, card_id)
    db.session.commit()
    return render_template("manage/members/card_lost.html", member=member, card=card, form=form,
                           is_active=card.status is CardStatus.ACTIVE, **_labels()), status


@bp.route("/<id:member_id>/cards/<id:card_id>/replace", methods=["GET", "POST"])
@login_required(Permission.MEMBERS_WRITE)
def replace_card(member_id: int, card_id: int):
    """The new card's number typed in; the old card stops working, the balance stays."""
    member = get_scoped_or_404(Member, member_id)
    card = _held_card(member, card_id)
    form = CardForm()
    status = 200
    if form.is_submitted():
        if form.validate():
            form.card_no.errors = []
            new, status = _changed(member_id, lambda member, actor: service.replace_card(
                member, card_id, form.card_no.data, actor=actor, now=utcnow()), form.card_no.errors)
            if new is not None:
                flash(gettext("Card %(old)s is replaced by card %(new)s.", old=card.card_no, new=new.card_no))
                return _detail(member_id)
            member = get_scoped_or_404(Member, member_id)
            card = _held_card(member, card_id)
        else:
            status = 422
    db.session.commit()
    return render_template("manage/members/card_replace.html", member=member, card=card, form=form,
                           is_replaceable=CARDS.allows(card.status, CardEvent.REPLACE), **_labels()), status
