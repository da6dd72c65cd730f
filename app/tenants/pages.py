"""Pages: a store's ordering settings, for the manager."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext, lazy_gettext
from flask_wtf import FlaskForm
from wtforms import BooleanField

from app.auth.guard import current_actor
from app.auth.permissions import Permission
from app.db import db, get_scoped_or_404
from app.pages.auth import login_required
from app.tenants import service
from app.tenants.models import Store

bp = Blueprint("store_pages", __name__)


class OrderingForm(FlaskForm):
    diner_orders_need_confirmation = BooleanField(
        lazy_gettext("Diners' orders wait for a waiter's confirmation before they reach the kitchen"))


@bp.route("/manage/stores/<id:store_id>/ordering", methods=["GET", "POST"])
@login_required(Permission.STORES_MANAGE)
def ordering(store_id: int):
    """How the diners' orders from the table's phones reach the kitchen."""
    store = get_scoped_or_404(Store, store_id)
    form = OrderingForm(data={"diner_orders_need_confirmation": store.is_waiter_confirm})
    if form.validate_on_submit():
        wanted = bool(form.diner_orders_need_confirmation.data)
        if wanted != store.is_waiter_confirm:
            service.update_store(store, actor=current_actor(), is_waiter_confirm=wanted)
            db.session.commit()
        flash(gettext("Saved."))
        return redirect(url_for("store_pages.ordering", store_id=store.id))
    return render_template("manage/store_ordering.html", store=store, form=form), 400 if form.errors else 200
