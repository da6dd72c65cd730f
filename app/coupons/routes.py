"""/api/v1/coupon-templates, a member's coupons, transfer and the till's code look-up."""

from __future__ import annotations

from flask_babel import gettext

from app.api import Blueprint
from app.auth.guard import current_actor, id_argument, requires
from app.auth.permissions import Permission
from app.coupons import schemas, service
from app.coupons.models import Coupon, CouponSource, CouponStatus, CouponTemplate
from app.db import db, get_scoped_or_404, scoped, utcnow
from app.errors import NotFound, Unprocessable
from app.idempotency import respond_once
from app.members import service as members
from app.members.models import Member

blp = Blueprint("coupons", __name__, url_prefix="/api/v1", description="Coupon templates, issued coupons, transfer")
_COUPON_OUT, _TRANSFER_OUT = schemas.CouponOut(), schemas.CouponTransferOut()  # built once (app.api.Blueprint)

id_argument("coupon_template_id", CouponTemplate)
id_argument("coupon_id", Coupon)



# --- templates -------------------------------------------------------------------------------

@blp.route("/coupon-templates", methods=["GET"])
@requires(Permission.MEMBERS_READ)
@blp.response(200, schemas.CouponTemplateList)
def list_templates():
    """Newest first."""
    return {"templates": db.session.scalars(scoped(CouponTemplate).order_by(CouponTemplate.id.desc())).all()}


@blp.route("/coupon-templates", methods=["POST"])
@requires(Permission.MEMBERS_CONFIG)
@blp.arguments(schemas.CouponTemplateIn)
@blp.response(201, schemas.CouponTemplateOut)
def create_template(data):
    """A cash voucher, a percent-off coupon or a free dish; 422 `invalid_coupon_template` lists
    what contradicts."""
    template = service.create_template(actor=current_actor(), **data)
    db.session.commit()
    return template


@blp.route("/coupon-templates/<id:coupon_template_id>", methods=["GET"])
@requires(Permission.MEMBERS_READ)
@blp.response(200, schemas.CouponTemplateOut)
def get_template(coupon_template_id):
    return get_scoped_or_404(CouponTemplate, coupon_template_id)


@blp.route("/coupon-templates/<id:coupon_template_id>", methods=["PATCH"])
@requires(Permission.MEMBERS_CONFIG)
@blp.arguments(schemas.CouponTemplateUpdate)
@blp.response(200, schemas.CouponTemplateOut)
def update_template(data, coupon_template_id):
    """Change a template (audited). Once it has issued a coupon, what the coupon is worth is
    frozen (409 `template_in_use`); name, validity for new issues, limits and switches are not."""
    template = service.update_template(get_scoped_or_404(CouponTemplate, coupon_template_id), actor=current_actor(),
                                       **data)
    db.session.commit()
    return template


# --- a member's coupons ----------------------------------------------------------------------

@blp.route("/members/<id:member_id>/coupons", methods=["POST"])
@requires(Permission.MEMBERS_WRITE)
@blp.arguments(schemas.CouponIssueIn)
@blp.alt_response(201, schema=schemas.CouponOut, description="Issued (also the replay of the same key)")
def issue_coupon(data, member_id):
    """Give the member a coupon of a template (audited). 409 `per_member_limit`,
    `template_ended`, `template_inactive`."""

    def work():
        coupon = service.issue_coupon(data["template_id"], member_id, key=data["idempotency_key"],
                                      source=CouponSource.MANUAL, now=utcnow(), actor=current_actor())
        return _COUPON_OUT.dump(coupon), 201

    return respond_once("coupon_issue", data["idempotency_key"], {"member_id": member_id, **data}, work)


@blp.route("/members/<id:member_id>/coupons", methods=["GET"])
@requires(Permission.MEMBERS_READ)
@blp.arguments(schemas.CouponQuery, location="query")
@blp.response(200, schemas.CouponList)
def member_coupons(query, member_id):
    """Newest first; `state` filters (issued, redeemed, expired, transferred)."""
    state = CouponStatus.from_label(query["state"]) if "state" in query else None
    return {"coupons": service.member_coupons(get_scoped_or_404(Member, member_id), state, query["limit"])}


# --- one coupon ------------------------------------------------------------------------------

@blp.route("/coupons/lookup", methods=["GET"])
@requires(Permission.MEMBERS_READ)
@blp.arguments(schemas.CouponLookupQuery, location="query")
@blp.response(200, schemas.CouponOut)
def lookup_coupon(query):
    """The till scanner: a code starting with 'CP' is a coupon."""
    return service.find_by_code(query["code"], actor=current_actor())


@blp.route("/coupons/<id:coupon_id>", methods=["GET"])
@requires(Permission.MEMBERS_READ)
@blp.response(200, schemas.CouponDetail)
def get_coupon(coupon_id):
    """The coupon with its ledger (issue, redeem, restore, expire, transfer_out / transfer_in)."""
    return get_scoped_or_404(Coupon, coupon_id)


@blp.route("/coupons/<id:coupon_id>/transfer", methods=["POST"])
@requires(Permission.MEMBERS_WRITE)
@blp.arguments(schemas.CouponTransferIn)
@blp.alt_response(201, schema=schemas.CouponTransferOut, description="Transferred (also the replay of the same key)")
def transfer_coupon(data, coupon_id):
    """Pass the coupon to another member of the merchant, by id or phone. The holder's coupon
    becomes `transferred`; the receiver gets a new one. 409 `not_transferable`, `chain_limit`,
    `not_active`, `expired`; 422 `same_member`."""
    if ("to_member_id" in data) == ("to_phone" in data):
        raise Unprocessable(gettext("Give exactly one of to_member_id or to_phone."), error_code="one_receiver")

    def work():
        actor = current_actor()
        coupon = get_scoped_or_404(Coupon, coupon_id)
        if "to_member_id" in data:
            receiver = get_scoped_or_404(Member, data["to_member_id"])
        else:
            receiver = members.find_by_phone(data["to_phone"], actor=actor)
            if receiver is None:
                raise NotFound("member")
        sent, received = service.transfer_coupon(coupon.id, coupon.member_id, receiver.id,
                                                 key=data["idempotency_key"], now=utcnow(), actor=actor)
        return _TRANSFER_OUT.dump({"sent": sent, "received": received}), 201

    return respond_once("coupon_transfer", data["idempotency_key"], {"coupon_id": coupon_id, **data}, work)
