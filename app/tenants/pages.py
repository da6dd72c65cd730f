"""Pages: a store's settings for the manager — name and contact, how diners' orders reach the
kitchen (straight away or after a waiter's confirmation), rounding of the payable (抹零) and the
stored value a member may spend while the store's agent is offline."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext, lazy_gettext
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional, Regexp, ValidationError

from app.auth.guard import current_actor
from app.auth.permissions import Permission
from app.db import begin_write, db, get_scoped_or_404
from app.errors import APIError
from app.pages.auth import login_required
from app.tenants import service
from app.tenants.models import Store
from tablerules.money import parse_yuan, to_yuan

bp = Blueprint("store_pages", __name__)

MAX_ALLOWANCE_CENTS = 10**9
ROUNDING = [SelectChoice("none", lazy_gettext("No rounding")),
            SelectChoice("to_jiao", lazy_gettext("Round down to whole jiao (0.10)")),
            SelectChoice("to_yuan", lazy_gettext("Round down to whole yuan"))]


class OrderingForm(FlaskForm):
    diner_orders_need_confirmation = BooleanField(
        lazy_gettext("Diners' orders wait for a waiter's confirmation before they reach the kitchen"))


def _allowance(form, field) -> None:
    try:
        cents = parse_yuan(field.data or "")
    except ValueError:
        raise ValidationError(gettext("Enter an amount in yuan, e.g. 200 or 50.50.")) from None
    if not 0 <= cents <= MAX_ALLOWANCE_CENTS:
        raise ValidationError(gettext("Enter an amount in yuan, e.g. 200 or 50.50."))
    field.cents = cents


class StoreForm(FlaskForm):
    name = StringField(lazy_gettext("Store name"), validators=[
        DataRequired(), Length(max=100), Regexp(r"^(?!.*\]\]>)", message=lazy_gettext('Must not contain "]]>".'))])
    address = StringField(lazy_gettext("Address"), validators=[Optional(), Length(max=200)])
    phone = StringField(lazy_gettext("Phone"), validators=[Optional(), Length(max=30)])
    rounding = SelectField(lazy_gettext("Rounding of the bill (抹零)"), choices=ROUNDING, validate_choice=True)
    offline_allowance_yuan = StringField(lazy_gettext("Stored value a member may spend while the till is offline "
                                                      "(yuan)"), validators=[DataRequired(), _allowance])

    def changes(self) -> dict:
        return {"name": self.name.data.strip(), "address": (self.address.data or "").strip(),
                "phone": (self.phone.data or "").strip(), "rounding": self.rounding.data,
                "offline_allowance_cents": self.offline_allowance_yuan.cents}


def _store_form(store: Store) -> StoreForm:
    return StoreForm(formdata=None, data={"name": store.name, "address": store.address, "phone": store.phone,
                                          "rounding": store.rounding,
                                          "offline_allowance_yuan": to_yuan(store.offline_allowance_cents)})


def render_settings(store: Store, *, form: StoreForm | None = None, ordering: OrderingForm | None = None,
                    status: int = 200):
    ordering = ordering or OrderingForm(formdata=None,
                                        data={"diner_orders_need_confirmation": store.is_waiter_confirm})
    page = render_template("manage/store_settings.html", store=store, form=form or _store_form(store),
                           ordering=ordering)
    db.session.commit()
    return page, status


@bp.route("/manage/stores/<id:store_id>/settings", methods=["GET", "POST"])
@login_required(Permission.STORES_MANAGE)
def settings(store_id: int):
    """The store's settings page; this form saves its name, contact, rounding and offline allowance."""
    if request.method == "GET":
        return render_settings(get_scoped_or_404(Store, store_id))
    begin_write()
    store = get_scoped_or_404(Store, store_id)
    form = StoreForm()
    if not form.validate_on_submit():
        db.session.rollback()
        return render_settings(store, form=form, status=422)
    changes = {key: value for key, value in form.changes().items() if getattr(store, key) != value}
    if changes:
        try:
            service.update_store(store, actor=current_actor(), **changes)
        except APIError as error:
            db.session.rollback()
            form.name.errors = [*form.name.errors, str(error.description)]
            return render_settings(get_scoped_or_404(Store, store_id), form=form, status=error.code or 422)
        db.session.commit()
    flash(gettext("Saved."))
    return redirect(url_for("store_pages.settings", store_id=store_id))


@bp.route("/manage/stores/<id:store_id>/ordering", methods=["GET", "POST"])
@login_required(Permission.STORES_MANAGE)
def ordering(store_id: int):
    """How the diners' orders from the table's phones reach the kitchen (a part of the settings
    page; this address shows the whole page)."""
    store = get_scoped_or_404(Store, store_id)
    if request.method == "GET":
        return render_settings(store)
    form = OrderingForm()
    if form.validate_on_submit():
        wanted = bool(form.diner_orders_need_confirmation.data)
        if wanted != store.is_waiter_confirm:
            service.update_store(store, actor=current_actor(), is_waiter_confirm=wanted)
            db.session.commit()
        flash(gettext("Saved."))
        return redirect(url_for("store_pages.settings", store_id=store.id))
    return render_settings(store, ordering=form, status=400)
