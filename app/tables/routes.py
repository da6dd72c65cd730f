"""/api/v1/stores/{id}/tables, /api/v1/tables/{id} and the table QR codes."""

from __future__ import annotations

from flask import Response

from app.api import Blueprint
from app.auth.guard import current_actor, id_argument, requires
from app.auth.permissions import Permission
from app.db import db, get_scoped_or_404, utcnow
from app.tables import qr, schemas, service
from app.tables.models import Area, DiningTable
from app.tenants.models import Store

blp = Blueprint("tables", __name__, url_prefix="/api/v1", description="Dining areas, tables and table QR codes")

id_argument("table_id", DiningTable)


def _ensure_qr_secret() -> None:
    # Table answers carry signed URLs: save the merchant's key before the first one is handed out.
    service.qr_secret(current_actor().merchant_id)
    db.session.commit()


@blp.route("/stores/<id:store_id>/tables", methods=["GET"])
@requires(Permission.MENU_READ, devices=True)
@blp.response(200, schemas.TableList)
def list_tables(store_id):
    """The store's areas and tables, each table with its state and QR URL."""
    _ensure_qr_secret()
    areas = db.session.scalars(db.select(Area).where(Area.store_id == store_id)
                               .order_by(Area.sort_order, Area.id)).all()
    tables = db.session.scalars(db.select(DiningTable).where(DiningTable.store_id == store_id)
                                .order_by(DiningTable.code)).all()
    return {"areas": areas, "tables": tables}


@blp.route("/stores/<id:store_id>/areas", methods=["POST"])
@requires(Permission.STORES_MANAGE)
@blp.arguments(schemas.AreaIn)
@blp.response(201, schemas.AreaOut)
def create_area(data, store_id):
    area = service.create_area(get_scoped_or_404(Store, store_id), actor=current_actor(), **data)
    db.session.commit()
    return area


@blp.route("/stores/<id:store_id>/tables", methods=["POST"])
@requires(Permission.STORES_MANAGE)
@blp.arguments(schemas.TableIn)
@blp.response(201, schemas.TableOut)
def create_table(data, store_id):
    table = service.create_table(get_scoped_or_404(Store, store_id), actor=current_actor(), **data)
    db.session.commit()
    return table


@blp.route("/stores/<id:store_id>/tables/qr-secret/rotate", methods=["POST"])
@requires(Permission.STORES_MANAGE)
@blp.arguments(schemas.RotateIn)
@blp.response(200, schemas.RotateOut)
def rotate_qr_secret(data, store_id):
    """Void every printed table QR code of the merchant (all stores) and sign new ones."""
    secret = service.rotate_qr_secret(actor=current_actor(), now=utcnow(), store_id=store_id)
    db.session.commit()
    return secret


@blp.route("/tables/<id:table_id>", methods=["GET"])
@requires(Permission.MENU_READ, devices=True)
@blp.response(200, schemas.TableOut)
def get_table(table_id):
    _ensure_qr_secret()
    return get_scoped_or_404(DiningTable, table_id)


@blp.route("/tables/<id:table_id>", methods=["PATCH"])
@requires(Permission.STORES_MANAGE)
@blp.arguments(schemas.TableUpdate)
@blp.response(200, schemas.TableOut)
def update_table(data, table_id):
    table = service.update_table(get_scoped_or_404(DiningTable, table_id), actor=current_actor(), **data)
    db.session.commit()
    return table


@blp.route("/tables/<id:table_id>/qr.svg", methods=["GET"])
@requires(Permission.STORES_MANAGE)
@blp.doc(responses={"200": {"description": "The table's QR code",
                            "content": {"image/svg+xml": {"schema": {"type": "string"}}}}})
def table_qr_svg(table_id):
    _ensure_qr_secret()
    table = get_scoped_or_404(DiningTable, table_id)
    return Response(qr.qr_svg(service.table_url(table)), mimetype="image/svg+xml",
                    headers={"Content-Disposition": f'inline; filename="table-{table.code}.svg"'})
