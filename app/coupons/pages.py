"""The manager's coupon pages: the templates (list, create, edit, switch off), and the coupons
section of a member's page with its issue form.

Views parse and authorise, then call the same service functions as the JSON API; what a template
may say and what a coupon is worth come from there. Forms are in `forms.py`.
"""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import format_date, get_locale, gettext, lazy_gettext, ngettext

from app.auth.guard import current_actor
from app.auth.permissions import Permission
from app.coupons import schemas, service
from app.coupons.forms import CouponTemplateForm, IssueCouponForm, first_day, last_day, new_key
from app.coupons.models import Coupon, CouponSource, CouponStatus, CouponTemplate, TemplateKind
from app.db import begin_write, db, get_scoped_or_404, scoped, utcnow
from app.errors import APIError
from app.idempotency import run_once
from app.members.models import Member
from app.members.pages import add_member_section, render_member_detail
from app.menu.models import Category, Dish
from app.pages.auth import can, login_required
from tablerules import coupons as rules

bp = Blueprint("coupon_pages", __name__, url_prefix="/manage")

STATE_LABELS = {
    CouponStatus.ISSUED: lazy_gettext("Available"),
    CouponStatus.REDEEMED: lazy_gettext("Used"),
    CouponStatus.EXPIRED: lazy_gettext("Expired"),
    CouponStatus.TRANSFERRED: lazy_gettext("Passed on"),
}
SOURCE_LABELS = {
    CouponSource.MANUAL: lazy_gettext("Issued by staff"),
    CouponSource.CAMPAIGN: lazy_gettext("Campaign"),
    CouponSource.BIRTHDAY: lazy_gettext("Birthday"),
    CouponSource.WIN_BACK: lazy_gettext("Welcome back"),
    CouponSource.TRANSFER: lazy_gettext("Received from another member"),
}


# --- what templates show -----------------------------------------------------------------------

def _english() -> bool:
    return get_locale().language == "en"


def _local(name: str, name_en: str) -> str:
    return name_en if name_en and _english() else name


@bp.app_template_global()
def coupon_name(template: CouponTemplate) -> str:
    return _local(template.name, template.name_en)


@bp.app_template_global()
def coupon_terms(template: CouponTemplate, dishes: dict[int, Dish] | None = None) -> str:
    """What the template gives, in words ('满100减20', '8.8折券（最高减50元）'), with the free dish's name."""
    label = service.terms(template)
    text = label.en if _english() else label.zh
    dish = (dishes or {}).get(template.dish_id) if template.kind is TemplateKind.FREE_DISH else None
    if dish is not None:
        return gettext("%(terms)s: %(dish)s", terms=text, dish=_local(dish.name, dish.name_en))
    return text


@bp.app_template_global()
def coupon_scope(template: CouponTemplate, categories: dict[int, Category], dishes: dict[int, Dish]) -> str:
    """'Only: 热菜、剁椒鱼头' for a scoped template; '' for the whole bill or a free dish."""
    names = [_local(categories[i].name, categories[i].name_en) for i in template.category_ids or []
             if i in categories]
    names += [_local(dishes[i].name, dishes[i].name_en) for i in template.dish_ids or [] if i in dishes]
    return gettext("Only: %(names)s", names=(", " if _english() else "、").join(names)) if names else ""


@bp.app_template_global()
def coupon_validity(template: CouponTemplate) -> list[str]:
    """The template's validity in words, one line per part: days after issue, and the window."""
    lines = []
    if template.valid_days:
        lines.append(ngettext("%(num)s day after issue", "%(num)s days after issue", template.valid_days))
    first = format_date(first_day(template.valid_from), "yyyy-MM-dd") if template.valid_from else None
    last = format_date(last_day(template.valid_until), "yyyy-MM-dd") if template.valid_until else None
    if first and last:
        lines.append(gettext("%(first)s to %(last)s", first=first, last=last))
    elif first:
        lines.append(gettext("From %(first)s", first=first))
    elif last:
        lines.append(gettext("Until %(last)s", last=last))
    return lines


@bp.app_template_global()
def coupon_has_ended(template: CouponTemplate) -> bool:
    """Whether the template's window is over, so none can be issued (a template the rules cannot
    read any more, its free dish deleted, counts as ended too)."""
    try:
        return not rules.can_issue(service.template_rule(template), 0, utcnow())
    except APIError:
        return True


def _dishes() -> dict[int, Dish]:
    return {dish.id: dish for dish in db.session.scalars(scoped(Dish))}


def _start_write() -> None:
    """End the read that loaded the staff member and start this request's write transaction."""
    db.session.commit()
    begin_write()


# --- templates ---------------------------------------------------------------------------------

@bp.route("/coupons/")
@login_required(Permission.MEMBERS_READ)
def template_list():
    templates = db.session.scalars(scoped(CouponTemplate).order_by(
        CouponTemplate.is_active.desc(), CouponTemplate.id.desc())).all()
    counts = service.template_counts(g.merchant_id, utcnow())
    categories = {category.id: category for category in db.session.scalars(scoped(Category))}
    page = render_template("manage/coupons/list.html", templates=templates, counts=counts,
                           empty=service.TemplateCounts(), dishes=_dishes(), categories=categories)
    db.session.commit()
    return page


def _editor_form() -> CouponTemplateForm:
    form = CouponTemplateForm()
    categories = db.session.scalars(scoped(Category).order_by(Category.sort_order, Category.id)).all()
    dishes = db.session.scalars(scoped(Dish).order_by(Dish.sort_order, Dish.id)).all()
    form.set_menu(categories, dishes)
    return form


def _render_editor(form: CouponTemplateForm, template: CouponTemplate | None = None, status: int = 200):
    counts = service.template_counts(g.merchant_id, utcnow()).get(template.id) if template else None
    return render_template("manage/coupons/edit.html", form=form, template=template,
                           counts=counts or service.TemplateCounts()), status


@bp.route("/coupons/new", methods=["GET", "POST"])
@login_required(Permission.MEMBERS_CONFIG)
def create_template():
    if request.method == "POST":
        _start_write()
    form = _editor_form()
    if request.method == "GET":
        form.idempotency_key.data = new_key()  # one key per form: a double submit creates one template
    if not form.validate_on_submit():
        db.session.rollback()
        return _render_editor(form, status=422 if form.errors else 200)
    values = form.values()
    key = form.idempotency_key.data or new_key()
    created: list[CouponTemplate] = []

    def work():
        template = service.create_template(actor=current_actor(), **values)
        created.append(template)
        return schemas.CouponTemplateOut().dump(template), 201

    try:
        body, _status = run_once(g.merchant_id, key, "coupon_template_page", {"idempotency_key": key, **values}, work)
    except APIError as error:
        db.session.rollback()
        if error.error_code == "idempotency_key_reused":  # the browser's back button, a change, a resend
            form.form_errors.append(gettext("This form was already used to save a coupon. Check the list of "
                                            "coupons, then save again here to add another."))
            form.idempotency_key.data = new_key()
        else:
            form.show_refusal(error)
        return _render_editor(form, status=error.code or 422)
    if created:
        flash(gettext("The coupon “%(name)s” is saved.", name=values["name"]))
    else:
        flash(gettext("This coupon had already been saved; it was not saved twice."))
    return redirect(url_for(".template_list", _anchor=f"template-{body['id']}"))


@bp.route("/coupons/<id:coupon_template_id>/edit", methods=["GET", "POST"])
@login_required(Permission.MEMBERS_CONFIG)
def edit_template(coupon_template_id: int):
    if request.method == "POST":
        _start_write()
    template = get_scoped_or_404(CouponTemplate, coupon_template_id)
    form = _editor_form()
    if request.method == "GET":
        form.fill(template)
        page = _render_editor(form, template)
        db.session.commit()
        return page
    if not form.validate():
        db.session.rollback()
        return _render_editor(form, get_scoped_or_404(CouponTemplate, coupon_template_id), 422)
    try:
        service.update_template(template, actor=current_actor(), **form.values(saved=template))
    except APIError as error:
        db.session.rollback()
        form.show_refusal(error)
        return _render_editor(form, get_scoped_or_404(CouponTemplate, coupon_template_id), error.code or 422)
    db.session.commit()
    flash(gettext("The coupon “%(name)s” is saved.", name=template.name))
    return redirect(url_for(".template_list", _anchor=f"template-{template.id}"))


@bp.route("/coupons/<id:coupon_template_id>/switch", methods=["POST"])
@login_required(Permission.MEMBERS_CONFIG)
def switch_template(coupon_template_id: int):
    """Switching off asks first (the summary says what it means); switching on does not."""
    _start_write()
    template = get_scoped_or_404(CouponTemplate, coupon_template_id)
    turn_on = request.form.get("is_active") == "1"
    if not turn_on and request.form.get("confirm") != "yes":
        counts = service.template_counts(g.merchant_id, utcnow()).get(template.id) or service.TemplateCounts()
        page = render_template("manage/coupons/switch_off.html", template=template, counts=counts,
                               dishes=_dishes())
        db.session.rollback()
        return page
    service.update_template(template, actor=current_actor(), is_active=turn_on)
    db.session.commit()
    if turn_on:
        flash(gettext("“%(name)s” is switched on: it can be issued again.", name=template.name))
    else:
        flash(gettext("“%(name)s” is switched off: no more can be issued. Coupons members hold stay usable "
                      "until they expire.", name=template.name))
    return redirect(url_for(".template_list", _anchor=f"template-{template.id}"))


# --- a member's coupons --------------------------------------------------------------------------

def _issue_form(form: IssueCouponForm | None = None) -> IssueCouponForm:
    form = form or IssueCouponForm()
    templates = db.session.scalars(scoped(CouponTemplate).where(CouponTemplate.is_active.is_(True))
                                   .order_by(CouponTemplate.name, CouponTemplate.id)).all()
    dishes = _dishes()
    form.template_id.choices = [(None, gettext("Choose a coupon")),
                                *[(t.id, f"{coupon_name(t)} · {coupon_terms(t, dishes)}") for t in templates
                                  if not coupon_has_ended(t)]]
    return form


def _shown_state(coupon: Coupon, now: datetime) -> CouponStatus:
    # `expires_at` is exclusive; until the expiry job runs, a lapsed coupon is still stored as issued.
    if coupon.state is CouponStatus.ISSUED and now >= coupon.expires_at:
        return CouponStatus.EXPIRED
    return coupon.state


def coupons_section(member: Member, form: IssueCouponForm | None = None) -> tuple[str, dict]:
    """The coupons part of a member's page: what they hold and had, and the issue form."""
    coupons = service.member_coupons(member)
    now = utcnow()
    linked = {c.transferred_from_id for c in coupons} | {c.transferred_to_id for c in coupons}
    context = {
        "coupons": coupons,
        "states": {coupon.id: _shown_state(coupon, now) for coupon in coupons},
        "holders": service.holders(member.merchant_id, linked - {None}),
        "dishes": _dishes(),
        "state_labels": STATE_LABELS,
        "source_labels": SOURCE_LABELS,
        "issue_form": _issue_form(form) if can(Permission.MEMBERS_WRITE) else None,
    }
    return "manage/coupons/_member_coupons.html", context


@bp.record_once
def _add_to_member_page(state) -> None:
    add_member_section(state.app, "coupons", coupons_section)


@bp.route("/members/<id:member_id>/coupons", methods=["POST"])
@login_required(Permission.MEMBERS_WRITE)
def issue(member_id: int):
    _start_write()
    member = get_scoped_or_404(Member, member_id)
    form = _issue_form()
    if not form.validate_on_submit():
        db.session.rollback()
        return render_member_detail(member, 422, coupons=coupons_section(member, form))
    template_id, key = form.template_id.data, form.idempotency_key.data
    issued: list[Coupon] = []

    def work():
        coupon = service.issue_coupon(template_id, member.id, key=key, source=CouponSource.MANUAL, now=utcnow(),
                                      actor=current_actor())
        issued.append(coupon)
        return schemas.CouponOut().dump(coupon), 201

    try:
        body, _status = run_once(g.merchant_id, key, "coupon_issue",
                                 {"member_id": member.id, "template_id": template_id, "idempotency_key": key}, work)
    except APIError as error:
        db.session.rollback()
        member = get_scoped_or_404(Member, member_id)
        if error.error_code == "idempotency_key_reused":  # the browser's back button, a change, a resend
            form.template_id.errors = [gettext("This form was already used to issue another coupon. Check the "
                                               "member's coupons, then issue again here.")]
            form.idempotency_key.data = new_key()
        else:
            form.template_id.errors = [str(error.description)]
        return render_member_detail(member, error.code or 409, coupons=coupons_section(member, form))
    if issued:
        flash(gettext("Issued “%(name)s” to %(member)s, code %(code)s.", name=body["template"]["name"],
                      member=member.name, code=body["code"]))
    else:
        flash(gettext("This coupon had already been issued; it was not issued twice."))
    return redirect(url_for("member_pages.member_detail", member_id=member.id, _anchor="coupons"))
