"""The manager's audit log page: newest first, a page at a time (`before_id`), filtered by who
did it and by kind — the same reading as GET /api/v1/audit."""

from __future__ import annotations

import json

import sqlalchemy as sa
from flask import Blueprint, g, render_template, request
from flask_babel import lazy_gettext

from app.audit import service
from app.audit.models import AuditEntry
from app.auth.models import Device, Staff
from app.auth.permissions import Permission
from app.db import db
from app.pages.auth import login_required
from app.tenants.models import Store

bp = Blueprint("audit_pages", __name__)

PAGE_SIZE = 50
MAX_ID = 2**31 - 1

# What the common kinds read as; any other shows its code.
KINDS = {
    "dish.create": lazy_gettext("Dish added"), "dish.update": lazy_gettext("Dish changed"),
    "dish.price_change": lazy_gettext("Price changed"), "dish.sold_out": lazy_gettext("Dish sold out"),
    "dish.back_in_stock": lazy_gettext("Dish back on sale"), "dish.option_group_add": lazy_gettext("Options added"),
    "category.create": lazy_gettext("Category added"), "category.update": lazy_gettext("Category changed"),
    "station.create": lazy_gettext("Station named"), "station.update": lazy_gettext("Station renamed"),
    "staff.create": lazy_gettext("Account added"), "staff.deactivate": lazy_gettext("Account deactivated"),
    "staff.role_change": lazy_gettext("Role changed"), "staff.password_reset": lazy_gettext("Password reset"),
    "staff.lockout": lazy_gettext("Login locked"), "staff.unlock": lazy_gettext("Login unlocked"),
    "store.create": lazy_gettext("Store added"), "store.update": lazy_gettext("Store settings changed"),
    "table.create": lazy_gettext("Table added"), "table.update": lazy_gettext("Table changed"),
    "area.create": lazy_gettext("Area added"), "table_qr.rotate": lazy_gettext("Table QR codes renewed"),
    "order.refund": lazy_gettext("Order refunded"), "order.void_line": lazy_gettext("Dish voided"),
    "member.adjust": lazy_gettext("Balance corrected"), "member.join": lazy_gettext("Member joined"),
    "device.create": lazy_gettext("Agent registered"), "device.revoke": lazy_gettext("Agent revoked"),
}


def _int_arg(name: str) -> int | None:
    raw = request.args.get(name, "")
    return int(raw) if raw.isdigit() and 0 < int(raw) <= MAX_ID else None


@bp.app_template_filter("audit_kind")
def audit_kind(action: str) -> str:
    return str(KINDS.get(action, action))


@bp.app_template_filter("audit_details")
def audit_details(details: dict | None) -> str:
    return json.dumps(details or {}, ensure_ascii=False, sort_keys=True, default=str)[:400]


def _object_names(merchant_id: int, rows: list[AuditEntry]) -> dict[tuple[str, int], str]:
    """What the entries' dishes, staff, stores, categories and tables are called (one query per
    kind of object on the page)."""
    from app.menu.models import Category, Dish
    from app.tables.models import DiningTable

    models = {"dish": (Dish, Dish.name), "staff": (Staff, Staff.username), "store": (Store, Store.name),
              "category": (Category, Category.name), "diningtable": (DiningTable, DiningTable.code)}
    names: dict[tuple[str, int], str] = {}
    for kind, (model, column) in models.items():
        ids = {e.object_id for e in rows if e.object_type == kind and e.object_id is not None}
        if ids:
            for object_id, name in db.session.execute(sa.select(model.id, column).where(
                    model.merchant_id == merchant_id, model.id.in_(ids))):
                names[(kind, object_id)] = name
    return names


@bp.route("/manage/audit")
@login_required(Permission.AUDIT_READ)
def audit_log():
    merchant_id = g.staff.merchant_id
    before_id, staff_id = _int_arg("before_id"), _int_arg("staff_id")
    action = request.args.get("action", "")[:60] or None
    rows: list[AuditEntry] = db.session.scalars(service.entries(
        merchant_id, limit=PAGE_SIZE + 1, before_id=before_id, staff_id=staff_id, action=action)).all()
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    people = db.session.scalars(sa.select(Staff).where(Staff.merchant_id == merchant_id).order_by(Staff.id)).all()
    devices = dict(db.session.execute(sa.select(Device.id, Device.name).where(
        Device.merchant_id == merchant_id)).all())
    stores = dict(db.session.execute(sa.select(Store.id, Store.name).where(
        Store.merchant_id == merchant_id)).all())
    kinds = service.kinds(merchant_id)
    objects = _object_names(merchant_id, rows)
    db.session.commit()
    return render_template("manage/audit.html", rows=rows, more=more, people=people,
                           names={p.id: p.display_name or p.username for p in people}, devices=devices, stores=stores,
                           kinds=kinds, objects=objects, staff_id=staff_id, action=action, before_id=before_id,
                           older=rows[-1].id if more else None)
