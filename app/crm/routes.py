"""/api/v1: a member's tags (hand tags set, rule tags read), the tags in use and who carries one,
and the manager's tag rules."""

from __future__ import annotations

import sqlalchemy as sa

from app.api import Blueprint
from app.auth.guard import current_actor, id_argument, requires
from app.auth.permissions import Permission
from app.crm import schemas, service
from app.crm.models import TagRule, TagSource
from app.db import db, get_scoped_or_404, utcnow
from app.members.models import Member

blp = Blueprint("crm", __name__, url_prefix="/api/v1", description="Member tags by hand and by rule")

id_argument("tag_rule_id", TagRule)


def _member_tags(member: Member) -> dict:
    return {"member_id": member.id, "hand": sorted(member.tags or []), "tags": service.tags_of(member)}


@blp.route("/members/<id:member_id>/tags", methods=["GET"])
@requires(Permission.MEMBERS_READ)
@blp.response(200, schemas.MemberTagsOut)
def member_tags(member_id):
    """Hand tags and rule tags (each with the rules that give it)."""
    return _member_tags(get_scoped_or_404(Member, member_id))


@blp.route("/members/<id:member_id>/tags", methods=["PUT"])
@requires(Permission.MEMBERS_WRITE)
@blp.arguments(schemas.HandTagsIn)
@blp.response(200, schemas.MemberTagsOut)
def set_member_tags(data, member_id):
    """Replace the member's hand tags (sending the same list twice changes nothing); rule tags
    stay as the rules give them."""
    member = get_scoped_or_404(Member, member_id)
    service.set_hand_tags(member, data["tags"], now=utcnow())
    db.session.commit()
    return _member_tags(member)


@blp.route("/tags", methods=["GET"])
@requires(Permission.MEMBERS_READ)
@blp.response(200, schemas.TagList)
def list_tags():
    """Every tag in use, with how many members carry it, most used first."""
    return {"tags": [{"tag": tag, "members": n} for tag, n in service.all_tags(current_actor().merchant_id)]}


@blp.route("/tags/members", methods=["GET"])
@requires(Permission.MEMBERS_READ)
@blp.arguments(schemas.TagMembersQuery, location="query")
@blp.response(200, schemas.TagMembersOut)
def tag_members(query):
    """The members carrying `tag` (`source`: only hand or only rule tags), by member number; at
    most 500."""
    source = TagSource[query["source"].upper()] if query["source"] else None
    ids = service.members_with_tag(current_actor().merchant_id, query["tag"], source)
    members = db.session.scalars(sa.select(Member).where(Member.id.in_(ids)).order_by(Member.member_no).limit(500))
    return {"tag": query["tag"], "members": list(members)}


@blp.route("/tag-rules", methods=["GET"])
@requires(Permission.MEMBERS_READ)
@blp.response(200, schemas.TagRuleList)
def list_rules():
    return {"rules": service.rules_of(current_actor().merchant_id)}


@blp.route("/tag-rules", methods=["POST"])
@requires(Permission.MEMBERS_CONFIG)
@blp.arguments(schemas.TagRuleIn)
@blp.response(201, schemas.TagRuleOut)
def create_rule(data):
    """A rule (kinds: spend {min_cents, days}, dish {dish, min_count, days?}, source_table {table},
    visits {min_visits, days}); its name is unique (the same rule posted twice: 409
    `rule_exists`). Every member is evaluated against the rules at once."""
    now = utcnow()
    actor = current_actor()
    rule = service.create_rule(actor=actor, now=now, **data)
    db.session.flush()
    rule_id = rule.id
    service.apply_rules_now(actor=actor, now=now)
    db.session.commit()
    return db.session.get(TagRule, rule_id)


@blp.route("/tag-rules/<id:tag_rule_id>", methods=["DELETE"])
@requires(Permission.MEMBERS_CONFIG)
@blp.response(204)
def delete_rule(tag_rule_id):
    """The rule goes, and the tag it alone gave goes with it."""
    service.delete_rule(tag_rule_id, actor=current_actor(), now=utcnow())
    db.session.commit()
