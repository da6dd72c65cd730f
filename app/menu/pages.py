"""The manager's menu pages: categories, dishes (price, options, station, on or off the menu),
kitchen stations with their display names, and each store's sold-out switches. Every write goes
through `app.menu.service`, as the API's do; a refused change shows its reason on the form."""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext, lazy_gettext
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, HiddenField, IntegerField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, Regexp, ValidationError

from app.auth.guard import current_actor
from app.auth.permissions import Permission
from app.db import begin_write, db, get_scoped_or_404, utcnow
from app.errors import APIError
from app.extensions import csrf
from app.menu import photos, service
from app.menu.models import Category, Dish
from app.pages.auth import login_required
from app.tenants.models import Store
from tablerules.money import parse_yuan, to_yuan

bp = Blueprint("menu_pages", __name__, url_prefix="/manage/menu")
media_bp = Blueprint("media", __name__)  # the dishes' photos, for everyone (the diners' menu)

STATION_CODE = Regexp(r"^[a-z][a-z0-9_]{0,19}$", message=lazy_gettext(
    "A station code is lower-case letters, digits and _, starting with a letter."))
MAX_PRICE_CENTS = 10**9


def yuan_to_cents(form, field) -> None:
    try:
        cents = parse_yuan(field.data or "")
    except ValueError:
        raise ValidationError(gettext("Enter an amount in yuan, e.g. 38 or 12.50.")) from None
    if not 0 <= cents <= MAX_PRICE_CENTS:
        raise ValidationError(gettext("Enter an amount in yuan, e.g. 38 or 12.50."))
    field.cents = cents


class CategoryForm(FlaskForm):
    name = StringField(lazy_gettext("Category name"), validators=[DataRequired(), Length(max=40)])
    name_en = StringField(lazy_gettext("English name"), validators=[Optional(), Length(max=80)])
    sort_order = IntegerField(lazy_gettext("Order"), validators=[Optional(), NumberRange(-100_000, 100_000)])


class DishForm(FlaskForm):
    name = StringField(lazy_gettext("Dish name"), validators=[DataRequired(), Length(max=60)])
    name_en = StringField(lazy_gettext("English name"), validators=[Optional(), Length(max=120)])
    category = SelectField(lazy_gettext("Category"), validators=[DataRequired()])
    price_yuan = StringField(lazy_gettext("Price (yuan)"), validators=[InputRequired(), yuan_to_cents])
    unit = StringField(lazy_gettext("Unit"), default="份", validators=[DataRequired(), Length(max=10)])
    station = StringField(lazy_gettext("Kitchen station"), default="hot", validators=[DataRequired(), STATION_CODE])
    is_discountable = BooleanField(lazy_gettext("Member discounts apply"), default=True)
    is_active = BooleanField(lazy_gettext("On the menu"), default=True)

    def changes(self) -> dict:
        return {"name": self.name.data.strip(), "name_en": (self.name_en.data or "").strip(),
                "category": self.category.data, "price_cents": self.price_yuan.cents,
                "unit": self.unit.data.strip(), "station": self.station.data,
                "is_discountable": bool(self.is_discountable.data), "is_active": bool(self.is_active.data)}


class PhotoForm(FlaskForm):
    photo = FileField(lazy_gettext("Photo (JPEG, PNG or WebP)"))


class PhotoRemoveForm(FlaskForm):
    confirm = BooleanField(lazy_gettext("Yes, remove this photo: diners see the drawn plate again"),
                           validators=[DataRequired(lazy_gettext("Tick the box to remove the photo."))])


class OptionGroupForm(FlaskForm):
    group_name = StringField(lazy_gettext("Option name"), validators=[DataRequired(), Length(max=30)])
    group_name_en = StringField(lazy_gettext("English name"), validators=[Optional(), Length(max=60)])
    is_required = BooleanField(lazy_gettext("The diner must choose"))
    max_choices = IntegerField(lazy_gettext("At most this many choices"), default=1,
                               validators=[InputRequired(), NumberRange(1, 30)])
    choices = TextAreaField(lazy_gettext("Choices, one a line: name, or name = extra price in yuan"),
                            validators=[DataRequired(), Length(max=2000)])

    def parsed_choices(self) -> list[dict]:
        choices = []
        for raw in (self.choices.data or "").splitlines():
            if not raw.strip():
                continue
            name, _, price = raw.partition("=")
            name = name.strip()
            if not name or len(name) > 30:
                raise ValidationError(gettext("Each choice needs a name of at most 30 characters."))
            try:
                cents = parse_yuan(price) if price.strip() else 0
            except ValueError:
                raise ValidationError(gettext("“%(line)s”: the extra price is not an amount in yuan.",
                                              line=raw.strip())) from None
            if not 0 <= cents <= MAX_PRICE_CENTS:
                raise ValidationError(gettext("“%(line)s”: the extra price is not an amount in yuan.",
                                              line=raw.strip()))
            choices.append({"name": name, "price_delta_cents": cents})
        names = [c["name"] for c in choices]
        if not choices or len(choices) > 30:
            raise ValidationError(gettext("Give between 1 and 30 choices."))
        if len(set(names)) != len(names):
            raise ValidationError(gettext("Each choice needs its own name."))
        if self.max_choices.data > len(choices):
            raise ValidationError(gettext("At most as many as there are choices."))
        return choices


class StationForm(FlaskForm):
    code = StringField(lazy_gettext("Code"), validators=[DataRequired(), STATION_CODE])
    name = StringField(lazy_gettext("Display name"), validators=[DataRequired(), Length(max=20)])
    name_en = StringField(lazy_gettext("English name"), validators=[Optional(), Length(max=40)])


class SoldOutForm(FlaskForm):
    store_id = HiddenField(validators=[DataRequired()])
    sold_out = HiddenField(validators=[DataRequired()])


def _store(store_id: str | int | None) -> Store | None:
    """The store whose sold-out switches the page shows: the one asked for, else the staff's, else
    the merchant's first."""
    merchant_id = g.staff.merchant_id
    if g.staff.store_id is not None:
        return get_scoped_or_404(Store, g.staff.store_id, merchant_id)
    if store_id is not None and str(store_id).isdigit() and 0 < int(store_id) < 2**31:
        return get_scoped_or_404(Store, int(store_id), merchant_id)
    return db.session.scalar(db.select(Store).where(Store.merchant_id == merchant_id).order_by(Store.id))


def _categories() -> list[Category]:
    return list(db.session.scalars(db.select(Category).where(Category.merchant_id == g.staff.merchant_id)
                                   .order_by(Category.sort_order, Category.id)))


def _fail(form: FlaskForm, error: APIError, field_names: dict[str, str] | None = None) -> int:
    """Show a refused change on the form: on the field it names, else above the form."""
    db.session.rollback()
    fields = (error.details or {}).get("fields", {})
    placed = False
    for name in fields:
        field = getattr(form, (field_names or {}).get(name, name), None)
        if field is not None:
            field.errors = [*field.errors, str(error.description)]
            placed = True
    if not placed:
        form.form_errors.append(str(error.description))
    return error.code or 422


# --- the menu ----------------------------------------------------------------------------------

@bp.route("/")
@login_required(Permission.MENU_MANAGE)
def menu():
    return render_menu()


def render_menu(category_form: CategoryForm | None = None, status: int = 200, editing: int | None = None,
                edit_form: CategoryForm | None = None):
    store = _store(request.args.get("store_id"))
    sections = service.store_menu(store, include_inactive=True) if store else []
    stations = {s.code: s for s in service.stations(g.staff.merchant_id)}
    stores = db.session.scalars(db.select(Store).where(Store.merchant_id == g.staff.merchant_id)
                                .order_by(Store.id)).all()
    categories = _categories()
    db.session.commit()
    return render_template("manage/menu/menu.html", store=store, stores=stores, sections=sections,
                           stations=stations, categories=categories, category_form=category_form or CategoryForm(
                               formdata=None), editing=editing, edit_form=edit_form,
                           sold_out_form=SoldOutForm(formdata=None), store_locked=g.staff.store_id is not None,
                           empty=[c for c in categories if c.id not in {s.id for s in sections}]), status


@bp.route("/categories", methods=["POST"])
@login_required(Permission.MENU_MANAGE)
def create_category():
    begin_write()
    form = CategoryForm()
    if not form.validate_on_submit():
        db.session.rollback()
        return render_menu(form, 422)
    try:
        service.create_category(actor=current_actor(), name=form.name.data.strip(),
                                name_en=(form.name_en.data or "").strip(), sort_order=form.sort_order.data)
    except APIError as error:
        return render_menu(form, _fail(form, error))
    db.session.commit()
    flash(gettext("Category %(name)s added.", name=form.name.data.strip()))
    return redirect(url_for(".menu"))


@bp.route("/categories/<id:category_id>", methods=["GET", "POST"])
@login_required(Permission.MENU_MANAGE)
def edit_category(category_id: int):
    category = get_scoped_or_404(Category, category_id, g.staff.merchant_id)
    if request.method == "GET":
        form = CategoryForm(formdata=None, obj=category)
        return render_menu(editing=category.id, edit_form=form)
    begin_write()
    category = get_scoped_or_404(Category, category_id, g.staff.merchant_id)
    form = CategoryForm()
    if not form.validate_on_submit():
        db.session.rollback()
        return render_menu(status=422, editing=category.id, edit_form=form)
    changes = {"name": form.name.data.strip(), "name_en": (form.name_en.data or "").strip()}
    if form.sort_order.data is not None:
        changes["sort_order"] = form.sort_order.data
    try:
        service.update_category(category, actor=current_actor(), **changes)
    except APIError as error:
        return render_menu(status=_fail(form, error), editing=category.id, edit_form=form)
    db.session.commit()
    flash(gettext("Category %(name)s saved.", name=changes["name"]))
    return redirect(url_for(".menu"))


@bp.route("/dishes/<id:dish_id>/sold-out", methods=["POST"])
@login_required(Permission.MENU_MANAGE)
def sold_out(dish_id: int):
    """Mark a dish sold out (沽清) at a store, or back in stock: one button on the menu page."""
    begin_write()
    form = SoldOutForm()
    dish = get_scoped_or_404(Dish, dish_id, g.staff.merchant_id)
    if not form.validate_on_submit() or form.sold_out.data not in ("yes", "no"):
        db.session.rollback()
        flash(gettext("That did not work; please try again."))
        return redirect(url_for(".menu")), 303
    store = _store(form.store_id.data)
    if store is None:
        return redirect(url_for(".menu")), 303
    wanted = form.sold_out.data == "yes"
    service.set_sold_out(store, dish, wanted, actor=current_actor(), now=utcnow())
    db.session.commit()
    flash(gettext("%(dish)s is sold out at %(store)s.", dish=dish.name, store=store.name) if wanted else
          gettext("%(dish)s is back on sale at %(store)s.", dish=dish.name, store=store.name))
    return redirect(url_for(".menu", store_id=store.id, _anchor=f"dish-{dish.id}"))


# --- a dish ----------------------------------------------------------------------------------

def _dish_form(dish: Dish | None = None, formdata: bool = True) -> DishForm:
    form = DishForm() if formdata else DishForm(formdata=None)
    form.category.choices = [SelectChoice(c.name, c.name) for c in _categories()]
    if dish is not None and not formdata:
        form.name.data, form.name_en.data, form.unit.data = dish.name, dish.name_en, dish.unit
        form.category.data, form.price_yuan.data = dish.category.name, to_yuan(dish.price_cents)
        form.station.data, form.is_discountable.data, form.is_active.data = (dish.station, dish.is_discountable,
                                                                             dish.is_active)
    return form


def render_dish(dish: Dish | None, form: DishForm, option_form: OptionGroupForm | None = None, status: int = 200,
                photo_form: PhotoForm | None = None, remove_form: PhotoRemoveForm | None = None):
    stations = service.stations(g.staff.merchant_id)
    db.session.commit()
    return render_template("manage/menu/dish.html", dish=dish, form=form, stations=stations,
                           option_form=option_form or OptionGroupForm(formdata=None),
                           photo_form=photo_form or PhotoForm(formdata=None),
                           remove_form=remove_form or PhotoRemoveForm(formdata=None),
                           photo_limit_mb=photos.megabytes(current_app.config["DISH_PHOTO_MAX_BYTES"])), status


def _writing_dish(dish_id: int) -> Dish:
    """The dish, read again in a writer's transaction for the change that follows."""
    begin_write()
    return get_scoped_or_404(Dish, dish_id, g.staff.merchant_id)


def _refused(dish: Dish, status: int, **forms):
    """The dish's page again, nothing changed, with the refused form's reasons."""
    db.session.rollback()
    return render_dish(dish, _dish_form(dish, formdata=False), status=status, **forms)


@bp.route("/dishes/new", methods=["GET", "POST"])
@login_required(Permission.MENU_MANAGE)
def new_dish():
    if request.method == "GET":
        form = _dish_form(formdata=False)
        if not form.category.choices:
            flash(gettext("Add a category first."))
            return redirect(url_for(".menu"))
        return render_dish(None, form)
    begin_write()
    form = _dish_form()
    if not form.validate_on_submit():
        db.session.rollback()
        return render_dish(None, form, status=422)
    changes = form.changes()
    changes.pop("is_active")
    try:
        dish = service.create_dish(actor=current_actor(), **changes)
    except APIError as error:
        return render_dish(None, form, status=_fail(form, error, {"price_cents": "price_yuan"}))
    db.session.commit()
    flash(gettext("Dish %(name)s added.", name=dish.name))
    return redirect(url_for(".edit_dish", dish_id=dish.id))


@bp.route("/dishes/<id:dish_id>", methods=["GET", "POST"])
@login_required(Permission.MENU_MANAGE)
def edit_dish(dish_id: int):
    dish = get_scoped_or_404(Dish, dish_id, g.staff.merchant_id)
    if request.method == "GET":
        return render_dish(dish, _dish_form(dish, formdata=False))
    begin_write()
    dish = get_scoped_or_404(Dish, dish_id, g.staff.merchant_id)
    form = _dish_form(dish)
    if not form.validate_on_submit():
        db.session.rollback()
        return render_dish(dish, form, status=422)
    try:
        service.update_dish(dish, actor=current_actor(), **form.changes())
    except APIError as error:
        return render_dish(dish, form, status=_fail(form, error, {"price_cents": "price_yuan"}))
    db.session.commit()
    flash(gettext("Dish %(name)s saved.", name=dish.name))
    return redirect(url_for(".edit_dish", dish_id=dish.id))


@bp.route("/dishes/<id:dish_id>/options", methods=["POST"])
@login_required(Permission.MENU_MANAGE)
def add_options(dish_id: int):
    dish = _writing_dish(dish_id)
    option_form = OptionGroupForm()
    choices = None
    if option_form.validate_on_submit():
        try:
            choices = option_form.parsed_choices()
        except ValidationError as error:
            option_form.choices.errors = [*option_form.choices.errors, str(error)]
    if choices is None:
        return _refused(dish, 422, option_form=option_form)
    try:
        service.add_option_group(dish, actor=current_actor(), name=option_form.group_name.data.strip(),
                                 name_en=(option_form.group_name_en.data or "").strip(), choices=choices,
                                 is_required=bool(option_form.is_required.data),
                                 max_choices=option_form.max_choices.data)
    except APIError as error:
        status = _fail(option_form, error, {"name": "group_name"})
        return render_dish(dish, _dish_form(dish, formdata=False), option_form, status)
    db.session.commit()
    flash(gettext("Options %(name)s added.", name=option_form.group_name.data.strip()))
    return redirect(url_for(".edit_dish", dish_id=dish.id))


# --- the dish's photo ---------------------------------------------------------------------------

@bp.route("/dishes/<id:dish_id>/photo", methods=["POST"])
@csrf.exempt  # checked by the form below, after the size: a photo too large is not read at all
@login_required(Permission.MENU_MANAGE)
def upload_photo(dish_id: int):
    """The dish's photo, uploaded (it replaces the one before); the diners' menu shows it at once."""
    limit = current_app.config["DISH_PHOTO_MAX_BYTES"]
    if (request.content_length or 0) > limit + 64 * 1024:  # not read at all: the form's other fields are small
        dish = get_scoped_or_404(Dish, dish_id, g.staff.merchant_id)
        form = PhotoForm(formdata=None)
        form.photo.errors = [str(photos.too_large(limit).description)]
        return render_dish(dish, _dish_form(dish, formdata=False), status=413, photo_form=form)
    csrf.protect()  # as every other page's POST, once the size is known to be reasonable
    dish = _writing_dish(dish_id)
    form = PhotoForm()
    if not form.validate_on_submit():
        return _refused(dish, 400, photo_form=form)
    upload = form.photo.data
    data = upload.read(limit + 1) if upload else b""
    try:
        photos.set_photo(dish, data, actor=current_actor(), max_bytes=limit)
    except APIError as error:
        form.photo.errors = [str(error.description)]
        return _refused(dish, error.code or 422, photo_form=form)
    db.session.commit()
    flash(gettext("Photo saved: diners see it on the menu now."))
    return redirect(url_for(".edit_dish", dish_id=dish.id))


@bp.route("/dishes/<id:dish_id>/photo/remove", methods=["POST"])
@login_required(Permission.MENU_MANAGE)
def remove_photo(dish_id: int):
    """Back to the drawn plate, once the manager ticked the box."""
    dish = _writing_dish(dish_id)
    form = PhotoRemoveForm()
    if not form.validate_on_submit():
        return _refused(dish, 422, remove_form=form)
    photos.remove_photo(dish, actor=current_actor())
    db.session.commit()
    flash(gettext("Photo removed."))
    return redirect(url_for(".edit_dish", dish_id=dish.id))


@media_bp.route("/media/dishes/<id:photo_id>-<digest>.<ext>")
def dish_photo(photo_id: int, digest: str, ext: str):
    """A dish's photo, for anyone (its address changes with the photo, so it is kept a year)."""
    photo = photos.served(photo_id, digest)
    db.session.commit()
    if photo is None or photos.EXTENSIONS[photo.content_type] != ext:
        abort(404)
    return Response(photo.data, mimetype=photo.content_type,
                    headers={"Cache-Control": "public, max-age=31536000, immutable"})


# --- stations ----------------------------------------------------------------------------------

@bp.route("/stations", methods=["GET", "POST"])
@login_required(Permission.MENU_MANAGE)
def stations():
    """Each kitchen station's display name: what the kitchen display, tickets and pages show."""
    form = StationForm() if request.method == "POST" else StationForm(formdata=None)
    status = 200
    if request.method == "POST":
        begin_write()
        if form.validate_on_submit():
            try:
                service.set_station(form.code.data, actor=current_actor(), name=form.name.data.strip(),
                                    name_en=(form.name_en.data or "").strip())
            except APIError as error:
                status = _fail(form, error)
            else:
                db.session.commit()
                flash(gettext("Station %(code)s saved.", code=form.code.data))
                return redirect(url_for(".stations"))
        else:
            db.session.rollback()
            status = 422
    rows = service.stations(g.staff.merchant_id)
    db.session.commit()
    return render_template("manage/menu/stations.html", rows=rows, form=form), status
