"""/api/v1: a store's customer-service inbox — conversations, their messages, staff replies
(through WeChat's customer-service message API, after commit) and assignment."""

from __future__ import annotations

from app.api import Blueprint
from app.auth.guard import current_actor, id_argument, requires
from app.auth.permissions import Permission
from app.db import db, utcnow
from app.inbox import schemas, service
from app.inbox.models import Conversation
from tablerules import service_window as window

blp = Blueprint("inbox", __name__, url_prefix="/api/v1", description="Customer-service inbox (多客服)")

id_argument("conversation_id", Conversation)


def _out(conversation: Conversation) -> dict:
    now = utcnow()
    return {**{c: getattr(conversation, c) for c in (
        "id", "store_id", "openid", "member_id", "assigned_staff_id", "unread_count", "last_message_at",
        "last_inbound_at", "last_preview")},
        "reply_until": window.reply_deadline(conversation.last_inbound_at),
        "can_reply": window.can_reply(conversation.last_inbound_at, now)}


@blp.route("/stores/<id:store_id>/inbox", methods=["GET"])
@requires(Permission.CS_INBOX)
@blp.response(200, schemas.ConversationList)
def list_conversations(store_id):
    """The store's conversations, latest message first (at most 100), and its unread total."""
    actor = current_actor()
    rows = service.conversations(store_id, actor)
    return {"conversations": [_out(c) for c in rows], "unread": service.unread_total(store_id, actor.merchant_id)}


@blp.route("/inbox/conversations/<id:conversation_id>/messages", methods=["GET"])
@requires(Permission.CS_INBOX)
@blp.response(200, schemas.MessageList)
def conversation_messages(conversation_id):
    """Oldest first (the latest 200)."""
    conversation = service.get_conversation(conversation_id, current_actor())
    return {"conversation": _out(conversation), "messages": service.messages(conversation)}


@blp.route("/inbox/conversations/<id:conversation_id>/replies", methods=["POST"])
@requires(Permission.CS_INBOX)
@blp.arguments(schemas.ReplyIn)
@blp.response(201, schemas.MessageOut)
def reply(data, conversation_id):
    """A text answer, sent as a customer-service message after commit. 409 `reply_window_closed`
    once 48 hours have passed since the follower's last message; the same `idempotency_key` again
    answers the same reply (200)."""
    message, created = service.reply(conversation_id, data["text"], key=data["idempotency_key"],
                                     actor=current_actor(), now=utcnow())
    db.session.commit()
    return message, 201 if created else 200


@blp.route("/inbox/conversations/<id:conversation_id>/assignee", methods=["PUT"])
@requires(Permission.CS_INBOX)
@blp.arguments(schemas.AssignIn)
@blp.response(200, schemas.ConversationOut)
def assign(data, conversation_id):
    """Hand the conversation to a colleague of its store (`staff_id`), or to nobody (null)."""
    conversation = service.assign(conversation_id, data["staff_id"], actor=current_actor())
    db.session.commit()
    return _out(conversation)
