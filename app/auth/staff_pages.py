"""The manager's staff pages: every account of the merchant, a new account, another role, and
deactivation after a confirmation. Writes go through `app.auth.service` (the API's rules: owners
manage everyone, managers their cashiers and kitchen staff; nobody deactivates themselves)."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext, lazy_gettext
from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional, Regexp

from app.auth import service
from app.auth.guard import current_actor
from app.auth.models import Staff
from app.auth.permissions import STORE_BOUND_ROLES, Permission, Role, can_manage_role
from app.db import begin_write, db, get_scoped_or_404, utcnow
from app.errors import APIError
from app.pages.auth import login_required
from app.tenants.models import Store

bp = Blueprint("staff_pages", __name__, url_prefix="/manage/staff")


class StaffForm(FlaskForm):
    username = StringField(lazy_gettext("Username"), validators=[DataRequired(), Regexp(
        r"^[A-Za-z0-9_.@-]{3,60}$", message=lazy_gettext("3 to 60 letters, digits and _ . @ -"))])
    display_name = StringField(lazy_gettext("Name"), validators=[Optional(), Length(max=60)])
    password = PasswordField(lazy_gettext("Password"), validators=[DataRequired(), Length(min=8, max=200)])
    role = SelectField(lazy_gettext("Role"), validate_choice=True)
    store_id = SelectField(lazy_gettext("Store"), coerce=int, validate_choice=True)


class RoleForm(FlaskForm):
    role = SelectField(lazy_gettext("Role"), validate_choice=True)
    store_id = SelectField(lazy_gettext("Store"), coerce=int, validate_choice=True)


class CardForm(FlaskForm):
    card_no = StringField(lazy_gettext("Staff card"), validators=[Optional(), Regexp(
        r"^[0-9A-Fa-f]{4,20}$", message=lazy_gettext("The number printed on the card, or as the reader gives it"))])


class ConfirmForm(FlaskForm):
    confirm = HiddenField()


def _stores() -> list[Store]:
    query = sa.select(Store).where(Store.merchant_id == g.staff.merchant_id).order_by(Store.id)
    if g.staff.store_id is not None:
        query = query.where(Store.id == g.staff.store_id)
    return list(db.session.scalars(query))


def _choose(form: StaffForm | RoleForm) -> None:
    form.role.choices = [SelectChoice(role.label, role.display) for role in Role
                         if can_manage_role(g.staff.role, role)]
    form.store_id.choices = [SelectChoice(0, gettext("— (owners and managers)"))] + [
        SelectChoice(s.id, s.name) for s in _stores()]


def _fail(form: FlaskForm, error: APIError) -> int:
    db.session.rollback()
    fields = (error.details or {}).get("fields", {})
    target = getattr(form, next(iter(fields), ""), None)
    if target is None and getattr(error, "error_code", "") == "username_taken" and hasattr(form, "username"):
        target = form.username
    if target is not None:
        target.errors = [*target.errors, str(error.description)]
    else:
        form.form_errors.append(str(error.description))
    return error.code or 422


def render_staff(form: StaffForm | None = None, status: int = 200, role_forms: dict | None = None,
                 card_forms: dict | None = None):
    query = sa.select(Staff).where(Staff.merchant_id == g.staff.merchant_id).order_by(
        Staff.is_active.desc(), Staff.role, Staff.id)
    accounts = db.session.scalars(query).all()
    if form is None:
        stores = _stores()
        form = StaffForm(formdata=None, role=Role.CASHIER.label, store_id=stores[0].id if stores else 0)
        _choose(form)
    role_forms = dict(role_forms or {})
    for account in accounts:
        if account.id not in role_forms and account.is_active and account.id != g.staff.id \
                and can_manage_role(g.staff.role, account.role):
            role_form = RoleForm(formdata=None, role=account.role.label, store_id=account.store_id or 0)
            _choose(role_form)
            role_forms[account.id] = role_form
    # A staff card: managers and owners approve a refund at the till by swiping theirs.
    card_forms = dict(card_forms or {})
    for account in accounts:
        if account.id not in card_forms and account.is_active and (
                account.id == g.staff.id or can_manage_role(g.staff.role, account.role)):
            card_forms[account.id] = CardForm(formdata=None, prefix=f"card-{account.id}")
    db.session.commit()
    return render_template("manage/staff/list.html", accounts=accounts, form=form, role_forms=role_forms,
                           card_forms=card_forms, store_bound=[r.label for r in STORE_BOUND_ROLES]), status


@bp.route("/")
@login_required(Permission.STAFF_MANAGE)
def staff_list():
    return render_staff()


@bp.route("/", methods=["POST"])
@login_required(Permission.STAFF_MANAGE)
def create():
    begin_write()
    form = StaffForm()
    _choose(form)
    if not form.validate_on_submit():
        db.session.rollback()
        return render_staff(form, 422)
    try:
        staff = service.create_staff(current_actor(), merchant_id=g.staff.merchant_id, username=form.username.data,
                                     password=form.password.data, role=Role.from_label(form.role.data),
                                     store_id=form.store_id.data or None,
                                     display_name=(form.display_name.data or "").strip())
    except APIError as error:
        return render_staff(form, _fail(form, error))
    db.session.commit()
    flash(gettext("Account %(name)s added as %(role)s.", name=staff.username, role=staff.role.display))
    return redirect(url_for(".staff_list", _anchor=f"staff-{staff.id}"))


@bp.route("/<id:staff_id>/role", methods=["POST"])
@login_required(Permission.STAFF_MANAGE)
def change_role(staff_id: int):
    begin_write()
    staff = get_scoped_or_404(Staff, staff_id, g.staff.merchant_id)
    form = RoleForm()
    _choose(form)
    if not form.validate_on_submit():
        db.session.rollback()
        return render_staff(status=422, role_forms={staff.id: form})
    try:
        service.change_role(current_actor(), staff, Role.from_label(form.role.data), form.store_id.data or None,
                            now=utcnow())
    except APIError as error:
        return render_staff(status=_fail(form, error), role_forms={staff.id: form})
    db.session.commit()
    flash(gettext("%(name)s is now %(role)s.", name=staff.display_name or staff.username, role=staff.role.display))
    return redirect(url_for(".staff_list", _anchor=f"staff-{staff.id}"))


@bp.route("/<id:staff_id>/card", methods=["POST"])
@login_required(Permission.STAFF_MANAGE)
def set_card(staff_id: int):
    """Give an account its staff card (the number on the card), or, left empty, take it away."""
    begin_write()
    staff = get_scoped_or_404(Staff, staff_id, g.staff.merchant_id)
    form = CardForm(prefix=f"card-{staff.id}")
    if not form.validate_on_submit():
        db.session.rollback()
        return render_staff(status=422, card_forms={staff.id: form})
    card_no = (form.card_no.data or "").strip() or None
    try:
        service.update_staff(current_actor(), staff, {"card_no": card_no}, now=utcnow())
    except APIError as error:
        return render_staff(status=_fail(form, error), card_forms={staff.id: form})
    db.session.commit()
    name = staff.display_name or staff.username
    flash(gettext("%(name)s's staff card is set.", name=name) if card_no
          else gettext("%(name)s has no staff card now.", name=name))
    return redirect(url_for(".staff_list", _anchor=f"staff-{staff.id}"))


@bp.route("/<id:staff_id>/deactivate", methods=["GET", "POST"])
@login_required(Permission.STAFF_MANAGE)
def deactivate(staff_id: int):
    """Two steps: a page that asks, then the confirmed post. The account stays for the audit
    trail; it can no longer log in and its tokens stop working at once."""
    if request.method == "POST":
        begin_write()
    staff = get_scoped_or_404(Staff, staff_id, g.staff.merchant_id)
    form = ConfirmForm()
    error_text, status = None, 200
    if request.method == "POST" and form.validate_on_submit() and form.confirm.data == "yes":
        try:
            service.deactivate_staff(current_actor(), staff, now=utcnow())
        except APIError as error:
            db.session.rollback()
            error_text, status = str(error.description), error.code or 422
        else:
            db.session.commit()
            flash(gettext("%(name)s can no longer log in.", name=staff.display_name or staff.username))
            return redirect(url_for(".staff_list"))
    elif request.method == "POST":
        db.session.rollback()
        error_text, status = gettext("Please confirm with the button below."), 400
    db.session.commit()
    return render_template("manage/staff/deactivate.html", account=staff, error=error_text), status
