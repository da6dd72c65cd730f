"""/api/v1/members and the member-card rules."""

from __future__ import annotations

from flask import jsonify
from flask_babel import gettext

from app.api import Blueprint
from app.auth.guard import current_actor, id_argument, requires
from app.auth.permissions import Permission
from app.crm import service as crm
from app.db import db, get_scoped_or_404, utcnow
from app.errors import NotFound, Unprocessable
from app.idempotency import respond_once
from app.members import history, schemas, service, slips
from app.members.ledger import lock_member
from app.members.models import Account, Gender, LedgerEntry, Member, MemberCard
from app.payments import service as payments
from app.payments.models import TradeType
from app.payments.schemas import IntentOut, intent_json
from app.tenants.models import Store

blp = Blueprint("members", __name__, url_prefix="/api/v1", description="Members, cards, stored value and points")
_TOPUP_OUT, _ENTRY_OUT = schemas.TopUpOut(), schemas.EntryOut()  # built once (app.api.Blueprint)

id_argument("member_id", Member)
id_argument("card_id", MemberCard)
id_argument("topup_id", LedgerEntry)


def _stored_value(member: Member) -> dict:
    return {"total_cents": member.stored_value_cents, "principal_cents": member.principal_cents,
            "bonus_cents": member.bonus_cents}



# --- members ---------------------------------------------------------------------------------

@blp.route("/members", methods=["POST"])
@requires(Permission.MEMBERS_WRITE)
@blp.arguments(schemas.MemberCreate)
@blp.response(201, schemas.MemberOut)
def create_member(data):
    if data["source_store_id"] is not None:
        get_scoped_or_404(Store, data["source_store_id"])
    member = service.create_member(actor=current_actor(), gender=Gender[data.pop("gender").upper()], **data)
    crm.refresh_member(member, utcnow())  # hand tags, and a rule on the table that brought them
    db.session.commit()
    return member


@blp.route("/members", methods=["GET"])
@requires(Permission.MEMBERS_READ)
@blp.arguments(schemas.MemberSearch, location="query")
@blp.response(200, schemas.MemberList)
def search_members(query):
    """Search by phone, name or member number (prefix match on phone and number)."""
    members, total = service.search_members(query["q"], actor=current_actor(), limit=query["limit"],
                                            offset=query["offset"])
    return {"members": members, "total": total}


@blp.route("/members/lookup", methods=["GET"])
@requires(Permission.MEMBERS_READ)
@blp.arguments(schemas.MemberLookup, location="query")
@blp.response(200, schemas.MemberOut)
def lookup_member(query):
    """Find one member by phone, physical card, member number or the dynamic code on the phone."""
    if len(query) != 1:
        raise Unprocessable(gettext("Give exactly one of phone, card_no, member_no or code."),
                            error_code="one_lookup_key")
    (key, value), = query.items()
    actor = current_actor()
    if key == "card_no":
        return service.find_by_card(value, actor=actor)
    if key == "code":
        return service.find_by_code(value, utcnow(), consume=False, actor=actor)
    find = service.find_by_phone if key == "phone" else service.find_by_member_no
    member = find(value, actor=actor)
    if member is None:
        raise NotFound("member")
    return member


@blp.route("/members/<id:member_id>", methods=["GET"])
@requires(Permission.MEMBERS_READ)
@blp.response(200, schemas.MemberOut)
def get_member(member_id):
    return get_scoped_or_404(Member, member_id)


@blp.route("/members/<id:member_id>", methods=["PATCH"])
@requires(Permission.MEMBERS_WRITE)
@blp.arguments(schemas.MemberUpdate)
@blp.response(200, schemas.MemberOut)
def update_member(data, member_id):
    member = get_scoped_or_404(Member, member_id)
    if "gender" in data:
        data["gender"] = Gender[data["gender"].upper()]
    now = utcnow()
    service.update_member(member, data, now=now)
    if "tags" in data:
        crm.refresh_member(member, now)  # the tag index that searches read
    db.session.commit()
    return member


@blp.route("/members/<id:member_id>/ledger", methods=["GET"])
@requires(Permission.MEMBERS_READ)
@blp.arguments(schemas.LedgerQuery, location="query")
@blp.response(200, schemas.LedgerOut)
def member_ledger(query, member_id):
    """Newest first."""
    account = Account[query["account"].upper()] if "account" in query else None
    entries = service.ledger_entries(get_scoped_or_404(Member, member_id), account=account,
                                     before_id=query.get("before_id"), limit=query["limit"])
    return {"entries": entries}


@blp.route("/members/<id:member_id>/visits", methods=["GET"])
@requires(Permission.MEMBERS_READ)
@blp.response(200, schemas.VisitList)
def member_visits(member_id):
    """The consumption history: each paid visit with items, tenders, points and stored value."""
    return {"visits": history.visits(get_scoped_or_404(Member, member_id))}


# --- stored value ----------------------------------------------------------------------------

@blp.route("/members/<id:member_id>/topups", methods=["POST"])
@requires(Permission.MONEY)
@blp.arguments(schemas.TopUpIn)
@blp.alt_response(201, schema=schemas.TopUpOut, description="Topped up (also the replay of the same key)")
@blp.alt_response(202, schema=IntentOut, description="WeChat Pay NATIVE / JSAPI: the trade to pay; the card is "
                                                     "credited when WeChat Pay notifies the payment")
def top_up(data, member_id):
    """Top up stored value; top-up rules add the bonus, a large top-up may lift the tier.

    Tender `wechat` with the `auth_code` on the member's phone charges it at the till and credits
    the card at once; with `trade_type` NATIVE (or JSAPI and `openid`) it answers 202 with the trade
    to pay, and the card is credited when WeChat Pay confirms the payment."""
    payload = {"member_id": member_id, **data}

    def answer(result: service.TopUpResult) -> tuple[dict, int]:
        member = db.session.get(Member, member_id)
        body = _TOPUP_OUT.dump({
            "topup_id": result.entries[0].id, "principal_cents": result.principal_cents,
            "bonus_cents": result.bonus_cents, "stored_value": _stored_value(member), "tier": member.tier})
        # The slip travels in the answer, so a replay of the key answers the same slip.
        body["slip"] = slips.topup_slip(member, result, tender=data["tender"], actor=current_actor(),
                                        now=utcnow()).to_dict()
        return body, 201

    if data["tender"] == "wechat" and data.get("auth_code"):
        body, status = payments.top_up_with_code(
            member_id, data["amount_cents"], auth_code=data["auth_code"], actor=current_actor(),
            key=data["idempotency_key"], payload=payload, store_id=_store_id(), now=utcnow(), answer=answer)
        response = jsonify(body)
        response.status_code = status
        return response
    if data["tender"] == "wechat":
        opened = payments.open_topup_payment(
            member_id, data["amount_cents"], trade_type=TradeType[data["trade_type"]], actor=current_actor(),
            key=data["idempotency_key"], payload=payload, store_id=_store_id(), now=utcnow(),
            openid=data.get("openid"))
        response = jsonify(intent_json(opened))
        response.status_code = 202
        return response

    def work():
        return answer(service.top_up(member_id, data["amount_cents"], key=data["idempotency_key"],
                                     tender=data["tender"], now=utcnow(), store_id=_store_id(),
                                     actor=current_actor()))

    return respond_once("topup", data["idempotency_key"], payload, work)


@blp.route("/members/<id:member_id>/topups/<id:topup_id>/refund", methods=["POST"])
@requires(Permission.MONEY)
@blp.arguments(schemas.ReasonIn)
@blp.alt_response(200, schema=schemas.StoredValueOut)
def refund_topup(data, member_id, topup_id):
    """Give back a whole top-up (principal and its bonus) while it is still on the card."""

    def work():
        service.refund_topup(member_id, topup_id, key=data["idempotency_key"], reason=data["reason"],
                             actor=current_actor())
        return _stored_value(db.session.get(Member, member_id)), 200

    return respond_once("topup_refund", data["idempotency_key"],
                        {"member_id": member_id, "topup_id": topup_id, **data}, work)


@blp.route("/members/<id:member_id>/cashouts", methods=["POST"])
@requires(Permission.MONEY)
@blp.arguments(schemas.CashOutIn)
@blp.alt_response(200, schema=schemas.CashOutOut)
def cash_out(data, member_id):
    """Pay principal out in cash; the bonus goes with it in proportion."""

    def work():
        result = service.cash_out(member_id, key=data["idempotency_key"], amount_cents=data["amount_cents"],
                                  reason=data["reason"], actor=current_actor())
        member = db.session.get(Member, member_id)
        return {"paid_cents": result.paid_cents, "bonus_forfeited_cents": result.bonus_forfeited_cents,
                "stored_value": _stored_value(member)}, 200

    return respond_once("cashout", data["idempotency_key"], {"member_id": member_id, **data}, work)


@blp.route("/members/<id:member_id>/adjustments", methods=["POST"])
@requires(Permission.MEMBERS_ADJUST)
@blp.arguments(schemas.AdjustIn)
@blp.alt_response(201, schema=schemas.EntryOut)
def adjust(data, member_id):
    """A manager's manual correction of principal, bonus or points, with a reason (audited)."""

    def work():
        entry = service.adjust(member_id, Account[data["account"].upper()], data["delta"],
                               key=data["idempotency_key"], reason=data["reason"], actor=current_actor(),
                               now=utcnow())
        return _ENTRY_OUT.dump(entry), 201

    return respond_once("adjust", data["idempotency_key"], {"member_id": member_id, **data}, work)


def _store_id() -> int | None:
    return current_actor().store_id


# --- cards -----------------------------------------------------------------------------------

@blp.route("/members/<id:member_id>/cards", methods=["POST"])
@requires(Permission.MEMBERS_WRITE)
@blp.arguments(schemas.CardIn)
@blp.response(201, schemas.CardOut)
def bind_card(data, member_id):
    card = service.bind_card(get_scoped_or_404(Member, member_id), data["card_no"], actor=current_actor())
    db.session.commit()
    return card


@blp.route("/members/<id:member_id>/cards/<id:card_id>/lost", methods=["POST"])
@requires(Permission.MEMBERS_WRITE)
@blp.response(200, schemas.CardOut)
def report_lost(member_id, card_id):
    actor = current_actor()
    card = service.report_card_lost(lock_member(member_id, actor=actor), card_id, actor=actor, now=utcnow())
    db.session.commit()
    return card


@blp.route("/members/<id:member_id>/cards/<id:card_id>/replace", methods=["POST"])
@requires(Permission.MEMBERS_WRITE)
@blp.arguments(schemas.CardIn)
@blp.response(201, schemas.CardOut)
def replace_card(data, member_id, card_id):
    actor = current_actor()
    card = service.replace_card(lock_member(member_id, actor=actor), card_id, data["card_no"], actor=actor,
                                now=utcnow())
    db.session.commit()
    return card


@blp.route("/members/<id:member_id>/cards/<id:card_id>", methods=["DELETE"])
@requires(Permission.MEMBERS_WRITE)
@blp.response(200, schemas.CardOut)
def unbind_card(member_id, card_id):
    actor = current_actor()
    card = service.unbind_card(lock_member(member_id, actor=actor), card_id, actor=actor, now=utcnow())
    db.session.commit()
    return card


# --- rules -----------------------------------------------------------------------------------

@blp.route("/member-tiers", methods=["GET"])
@requires(Permission.MEMBERS_READ)
@blp.response(200, schemas.TierList)
def list_tiers():
    tiers = service.tiers_of(current_actor().merchant_id)
    db.session.commit()
    return {"tiers": tiers}


@blp.route("/member-tiers", methods=["PUT"])
@requires(Permission.MEMBERS_CONFIG)
@blp.arguments(schemas.TiersIn)
@blp.response(200, schemas.TierList)
def replace_tiers(data):
    """Set the tier table. Tiers are matched by rank; members keep their tier row."""
    tiers = service.set_tiers(data["tiers"], actor=current_actor())
    db.session.commit()
    return {"tiers": tiers}


@blp.route("/member-settings", methods=["GET"])
@requires(Permission.MEMBERS_READ)
@blp.response(200, schemas.SettingsSchema)
def get_settings():
    settings = service.settings_for(current_actor().merchant_id)
    db.session.commit()
    return settings


@blp.route("/member-settings", methods=["PATCH"])
@requires(Permission.MEMBERS_CONFIG)
@blp.arguments(schemas.SettingsSchema)
@blp.response(200, schemas.SettingsSchema)
def update_settings(data):
    settings = service.update_settings(data, actor=current_actor())
    db.session.commit()
    return settings


@blp.route("/topup-rules", methods=["GET"])
@requires(Permission.MEMBERS_READ)
@blp.response(200, schemas.TopUpRules)
def get_topup_rules():
    rows = service.topup_rule_rows(current_actor().merchant_id)
    db.session.commit()
    return {"rules": rows}


@blp.route("/topup-rules", methods=["PUT"])
@requires(Permission.MEMBERS_CONFIG)
@blp.arguments(schemas.TopUpRules)
@blp.response(200, schemas.TopUpRules)
def set_topup_rules(data):
    rows = service.set_topup_rules(data["rules"], actor=current_actor())
    db.session.commit()
    return {"rules": rows}


