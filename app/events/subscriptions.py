"""The dispatch table: which channel handles which domain event (and outbox kind).

Filled once at app start by `create_app`; registering is idempotent, so several apps in one
process (tests) share one table.
"""

from __future__ import annotations

from app.events import domain
from app.outbox import service as outbox


def register_all() -> None:
    from app.wechat import notify

    domain.reset()
    outbox.register(notify.TEMPLATE_MESSAGE, notify.deliver_template)
