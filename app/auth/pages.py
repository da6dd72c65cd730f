"""Manager page: each store's on-site agents — last seen, online or not, queue depth, printers."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from flask import Blueprint, g, render_template
from flask_babel import lazy_gettext

from app.auth.models import Device
from app.auth.permissions import Permission
from app.db import db, utcnow
from app.pages.auth import login_required
from app.tenants.models import Store

bp = Blueprint("device_pages", __name__)

# An agent reports every 30 s (its `follow.report_interval_s`); silent for longer than this: offline.
ONLINE_WITHIN = timedelta(seconds=90)

PRINTER_ROLES = {"kitchen": lazy_gettext("Kitchen printer"), "receipt": lazy_gettext("Receipt printer")}
# What a printer's state reads as after its role: 后厨打印机缺纸 / Kitchen printer: out of paper.
PRINTER_STATES = {
    "online": lazy_gettext("working"),
    "paper_low": lazy_gettext("paper running low"),
    "paper_out": lazy_gettext("out of paper"),
    "cover_open": lazy_gettext("cover open"),
    "offline": lazy_gettext("offline"),
    "printer_error": lazy_gettext("fault"),
    "unreachable": lazy_gettext("cannot be reached"),
    "no_status_reply": lazy_gettext("not answering"),
    "unknown": lazy_gettext("state unknown"),
}
GOOD_STATES = frozenset({"online", "paper_low"})


@bp.app_template_filter("printer_text")
def printer_text(printer: dict) -> str:
    from flask_babel import gettext

    role = PRINTER_ROLES.get(printer.get("role", ""), lazy_gettext("Printer"))
    state = PRINTER_STATES.get(printer.get("state", ""), PRINTER_STATES["unknown"])
    return gettext("%(printer)s %(state)s", printer=role, state=state)


@bp.route("/manage/devices")
@login_required(Permission.DEVICES_MANAGE)
def device_list():
    """Every store of the merchant (a store's manager: their store) with its agents."""
    staff = g.staff
    stores = sa.select(Store).where(Store.merchant_id == staff.merchant_id).order_by(Store.id)
    if staff.store_id is not None:
        stores = stores.where(Store.id == staff.store_id)
    devices = db.session.scalars(sa.select(Device).where(Device.merchant_id == staff.merchant_id,
                                                         Device.revoked_at.is_(None)).order_by(Device.id)).all()
    now = utcnow()
    rows = []
    for store in db.session.scalars(stores):
        agents = []
        for device in (d for d in devices if d.store_id == store.id):
            status = device.status or {}
            printers = status.get("printers") or []
            agents.append({
                "device": device,
                "online": device.last_seen_at is not None and now - device.last_seen_at <= ONLINE_WITHIN,
                "outbox_pending": status.get("outbox_pending") or 0,
                "cursor": status.get("cursor"),
                "version": status.get("version") or "",
                "printers": printers,
                "alerts": [p for p in printers if p.get("state") not in GOOD_STATES],
            })
        rows.append({"store": store, "agents": agents})
    return render_template("manage/devices.html", rows=rows, good_states=GOOD_STATES)
