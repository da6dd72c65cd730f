"""Who acts, where, and on whose behalf: passed by routes, jobs and sync batches to services.

Services never read `flask.g`: the route builds the actor from the authenticated caller
(`app.auth.guard.current_actor`), a scheduled job uses `Actor.system(merchant_id)`, and a sync
batch from an on-site agent passes the till's staff and device with the time the sale happened.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    merchant_id: int
    staff_id: int | None = None
    device_id: int | None = None
    store_id: int | None = None  # the store the staff member or device is bound to, if any
    name: str = ""  # what receipts and the shared cart show ("张三", "POS-1")
    ip: str | None = None

    @classmethod
    def system(cls, merchant_id: int, name: str = "system") -> Actor:
        """Scheduled jobs, payment notifications and other work no person started."""
        return cls(merchant_id=merchant_id, name=name)

    @classmethod
    def diner(cls, merchant_id: int, name: str = "", ip: str | None = None) -> Actor:
        """A diner at a table (signed table link, WeChat): no staff, no device."""
        return cls(merchant_id=merchant_id, name=name, ip=ip)

    def works_at(self, store_id: int) -> bool:
        """Store-bound staff and devices act in their own store only; owners, unbound managers
        and the system in every store of the merchant."""
        return self.store_id in (None, store_id)
