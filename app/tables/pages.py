"""Pages: the printable QR sheet of a store. (The diner's landing page behind a table QR code
signs the diner in through WeChat first: `app.diner.pages.menu`.)"""

from __future__ import annotations

from flask import Blueprint, render_template
from markupsafe import Markup

from app.auth.permissions import Permission
from app.db import db, get_scoped_or_404
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
