"""Customer-service messages (客服消息): staff replies from the inbox, sent after commit.

The inbox (`app.inbox.service.reply`) queues an outbox row of kind `inbox.cs_text` beside the
reply; the outbox worker calls `deliver_text` outside any transaction. WeChat's refusals that a
retry cannot change (the 48-hour window closed: 45015; not a follower: 43004; unknown openid:
40003) end the row as failed, and the inbox shows it.
"""

from __future__ import annotations

from wechatpy.exceptions import WeChatClientException

from app.outbox import service as outbox
from app.outbox.models import OutboxMessage
from app.wechat.client import official_account
from app.wechat.notify import settings_for

REFUSED_FOR_GOOD = frozenset({40003, 43004, 45015, 45047, 48001})


def deliver_text(message: OutboxMessage) -> None:
    """{openid, text, message_id}: one text message to the follower."""
    settings = settings_for(message.merchant_id)
    if settings is None:
        raise outbox.PermanentFailure("the merchant has no WeChat account any more")
    payload = message.payload
    try:
        official_account(settings).message.send_text(payload["openid"], payload["text"])
    except WeChatClientException as error:
        if error.errcode in REFUSED_FOR_GOOD:
            raise outbox.PermanentFailure(f"WeChat {error.errcode}: {error.errmsg}") from None
        raise
