"""Pages: the printable QR sheet of a store. (The diner's landing page behind a table QR code
signs the diner in through WeChat first: `app.diner.pages.menu`.)"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext, lazy_gettext
from flask_wtf import FlaskForm
from markupsafe import Markup
from wtforms import BooleanField, IntegerField, SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, Regexp

from app.auth.guard import current_actor
from app.auth.permissions import Permission
from app.db import begin_write, db, get_scoped_or_404
from app.errors import APIError
from app.pages.auth import login_required
from app.tables import qr, service
from app.tables.models import Area, DiningTable
from app.tenants.models import Store

bp = Blueprint("tables_pages", __name__)


@bp.app_template_global()
def localized(name: str, name_en: str = "") -> str:
    """The English name on English pages when there is one; the Chinese name otherwise."""
    from flask_babel import get_locale

    return name_en if name_en and get_locale().language == "en" else name


@bp.route("/manage/stores/<id:store_id>/qr-sheet")
@login_required(Permission.STORES_MANAGE)
def qr_sheet(store_id: int):
    """A4 sheet of table cards (store, table, seats, QR code) to print and cut."""
    store = get_scoped_or_404(Store, store_id)
    service.qr_secret(store.merchant_id)
    db.session.commit()  # the key the printed codes are signed with must be saved first
    tables = db.session.scalars(
        db.select(DiningTable).outerjoin(DiningTable.area)
        .where(DiningTable.store_id == store.id, DiningTable.is_active.is_(True))
        .order_by(Area.sort_order.nulls_last(), DiningTable.code)).all()
    cards = [{"table": table, "qr": Markup(qr.qr_svg(service.table_url(table)))} for table in tables]
    return render_template("manage/qr_sheet.html", store=store, cards=cards)


# --- the tables and areas of a store ------------------------------------------------------------

TABLE_CODE_RULE = Regexp(r"^[0-9A-Za-z][0-9A-Za-z_-]{0,9}$", message=lazy_gettext(
    "A table code is up to 10 letters, digits, - and _ (e.g. A01)."))


class AreaForm(FlaskForm):
    name = StringField(lazy_gettext("Area"), validators=[DataRequired(), Length(max=30)])
    name_en = StringField(lazy_gettext("English name"), validators=[Optional(), Length(max=60)])


class TableForm(FlaskForm):
    code = StringField(lazy_gettext("Table code"), validators=[DataRequired(), TABLE_CODE_RULE])
    seats = IntegerField(lazy_gettext("Seats"), default=4, validators=[InputRequired(), NumberRange(1, 99)])
    area_id = SelectField(lazy_gettext("Area"), coerce=int, validate_choice=True)
    is_active = BooleanField(lazy_gettext("In use"), default=True)


def _table_form(store: Store, table: DiningTable | None = None, formdata: bool = True) -> TableForm:
    form = TableForm() if formdata else TableForm(formdata=None, obj=table, area_id=(table and table.area_id) or 0)
    form.area_id.choices = [SelectChoice(0, gettext("No area"))] + [
        SelectChoice(area.id, localized(area.name, area.name_en)) for area in _areas(store)]
    return form


def _areas(store: Store) -> list[Area]:
    return list(db.session.scalars(db.select(Area).where(Area.store_id == store.id)
                                   .order_by(Area.sort_order, Area.id)))


def _refused(form: FlaskForm, error: APIError, field: str) -> int:
    db.session.rollback()
    fields = (error.details or {}).get("fields", {})
    target = getattr(form, next(iter(fields), field), None) or getattr(form, field)
    target.errors = [*target.errors, str(error.description)]
    return error.code or 422


def render_tables(store: Store, *, area_form: AreaForm | None = None, table_form: TableForm | None = None,
                  editing: int | None = None, edit_form: TableForm | None = None, status: int = 200):
    tables = db.session.scalars(
        db.select(DiningTable).outerjoin(DiningTable.area).where(DiningTable.store_id == store.id)
        .order_by(Area.sort_order.nulls_first(), DiningTable.code)).all()
    areas = _areas(store)
    db.session.commit()
    return render_template("manage/tables.html", store=store, tables=tables, areas=areas,
                           area_form=area_form or AreaForm(formdata=None),
                           table_form=table_form or _table_form(store, formdata=False), editing=editing,
                           edit_form=edit_form), status


@bp.route("/manage/stores/<id:store_id>/tables")
@login_required(Permission.STORES_MANAGE)
def tables(store_id: int):
    """A store's floor: its areas and tables, each editable in place; the QR sheet one click away."""
    store = get_scoped_or_404(Store, store_id)
    editing = request.args.get("edit", type=int)
    if editing is not None:
        table = db.session.scalar(db.select(DiningTable).where(DiningTable.id == editing,
                                                               DiningTable.store_id == store.id))
        if table is None:
            abort(404)
        return render_tables(store, editing=table.id, edit_form=_table_form(store, table, formdata=False))
    return render_tables(store)


@bp.route("/manage/stores/<id:store_id>/areas", methods=["POST"])
@login_required(Permission.STORES_MANAGE)
def add_area(store_id: int):
    begin_write()
    store = get_scoped_or_404(Store, store_id)
    form = AreaForm()
    if not form.validate_on_submit():
        db.session.rollback()
        return render_tables(store, area_form=form, status=422)
    try:
        service.create_area(store, actor=current_actor(), name=form.name.data.strip(),
                            name_en=(form.name_en.data or "").strip())
    except APIError as error:
        return render_tables(store, area_form=form, status=_refused(form, error, "name"))
    db.session.commit()
    flash(gettext("Area %(name)s added.", name=form.name.data.strip()))
    return redirect(url_for("tables_pages.tables", store_id=store.id))


@bp.route("/manage/stores/<id:store_id>/tables", methods=["POST"])
@login_required(Permission.STORES_MANAGE)
def add_table(store_id: int):
    begin_write()
    store = get_scoped_or_404(Store, store_id)
    form = _table_form(store)
    if not form.validate_on_submit():
        db.session.rollback()
        return render_tables(store, table_form=form, status=422)
    try:
        service.create_table(store, actor=current_actor(), code=form.code.data, seats=form.seats.data,
                             area_id=form.area_id.data or None)
    except APIError as error:
        return render_tables(store, table_form=form, status=_refused(form, error, "code"))
    db.session.commit()
    flash(gettext("Table %(code)s added.", code=form.code.data))
    return redirect(url_for("tables_pages.tables", store_id=store.id))


@bp.route("/manage/tables/<id:table_id>", methods=["POST"])
@login_required(Permission.STORES_MANAGE)
def edit_table(table_id: int):
    begin_write()
    table = get_scoped_or_404(DiningTable, table_id)
    store = table.store
    form = _table_form(store)
    if not form.validate_on_submit():
        db.session.rollback()
        return render_tables(store, editing=table.id, edit_form=form, status=422)
    try:
        service.update_table(table, actor=current_actor(), code=form.code.data, seats=form.seats.data,
                             area_id=form.area_id.data or None, is_active=bool(form.is_active.data))
    except APIError as error:
        return render_tables(store, editing=table.id, edit_form=form, status=_refused(form, error, "code"))
    db.session.commit()
    flash(gettext("Table %(code)s saved.", code=table.code))
    return redirect(url_for("tables_pages.tables", store_id=store.id, _anchor=f"table-{table.id}"))
