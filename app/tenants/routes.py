"""/api/v1/stores."""

from __future__ import annotations

from app.api import Blueprint
from app.auth import schemas
from app.auth.guard import current_actor, id_argument, requires
from app.auth.permissions import Permission
from app.db import db, get_scoped_or_404, scoped
from app.tenants import service
from app.tenants.models import Store

blp = Blueprint("stores", __name__, url_prefix="/api/v1", description="Stores of the merchant")

id_argument("store_id", Store)


@blp.route("/stores", methods=["GET"])
@requires(Permission.MENU_READ, devices=True)
@blp.response(200, schemas.StoreList)
def list_stores():
    return {"stores": db.session.scalars(scoped(Store).order_by(Store.id)).all()}


@blp.route("/stores", methods=["POST"])
@requires(Permission.STORES_MANAGE)
@blp.arguments(schemas.StoreIn)
@blp.response(201, schemas.StoreOut)
def create_store(data):
    store = service.create_store(current_actor(), **data)
    db.session.commit()
    return store


@blp.route("/stores/<id:store_id>", methods=["GET"])
@requires(Permission.MENU_READ, devices=True)
@blp.response(200, schemas.StoreOut)
def get_store(store_id):
    return get_scoped_or_404(Store, store_id)


@blp.route("/stores/<id:store_id>", methods=["PATCH"])
@requires(Permission.STORES_MANAGE)
@blp.arguments(schemas.StoreUpdate)
@blp.response(200, schemas.StoreOut)
def update_store(data, store_id):
    store = get_scoped_or_404(Store, store_id)
    service.update_store(store, actor=current_actor(), **data)
    db.session.commit()
    return store
