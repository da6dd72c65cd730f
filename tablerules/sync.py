"""The sync contract between the on-site agent and the server: one schema both ends import.

The agent pushes what the till did — orders, settlements, whole sales — as a **batch** of
**operations** to ``POST /api/v1/sync/batches``; the server answers one **result** per
operation. A batch has its own ``batch_key`` and every operation its own ``key``: the server
applies each operation at most once and answers a replayed batch (or a replayed operation in a
new batch) exactly as the first time.

Operations (``op``):

- ``order``: an order opened at the till (``client_order_id``, ``items``, ``table``);
- ``settle``: that order settled (``member_id``, ``tenders``, ``idempotency_key``);
- ``sale``: both at once — what an outage leaves in the outbox;
- ``add``: 加菜, more dishes (``items``) on an order already opened by an ``order`` op of the same
  ``client_order_id`` — a till adds them offline to an order only it has yet; each addition is
  its own operation (keyed by its ``idempotency_key``), so an order op whose answer was lost is
  never sent again with other items.

``priced`` is what the till showed (line prices, tier discount, rounding, payable): the server
honours it and flags for the manager what differs from its own price. ``allowance`` is the
member's offline stored-value allowance the server signed and the agent kept; it comes back with
an offline stored-value tender so the server can check what the agent was allowed.
``printed_at_source`` says the agent already printed the kitchen tickets and the receipt.

Standard library only: the agent imports this module, and so does the server.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from tablerules.documents import CONTRACT_VERSION, SALE_TENDERS, DocumentError, SaleItem, TenderLine, _Contract, _Reader

OPS: tuple[str, ...] = ("order", "settle", "sale", "add")
RESULT_STATUSES: tuple[str, ...] = ("applied", "duplicate", "refused")
ROUNDINGS: tuple[str, ...] = ("none", "to_jiao", "to_yuan")
MAX_OPERATIONS = 200

Op = Literal["order", "settle", "sale", "add"]


def _uuid(r: _Reader, name: str) -> str:
    value = r.text(name)
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise DocumentError(r._key(name), "expected a UUID") from None


def _key(r: _Reader, name: str) -> str:
    value = r.text(name)
    if not 8 <= len(value) <= 100:
        raise DocumentError(r._key(name), "must be 8 to 100 characters")
    return value


# --- the offline allowance ------------------------------------------------------------------------

@dataclass(frozen=True)
class Allowance(_Contract):
    """How much stored value a member may spend at one store while it is offline: the store's
    ``offline_allowance_cents``, never more than the balance the server saw at ``issued_at``.
    Signed by the server (HMAC-SHA256 of `message()`); only the server holds the secret."""

    member_id: int
    store_id: int
    allowance_cents: int
    balance_cents: int
    issued_at: str
    signature: str = ""

    def message(self) -> bytes:
        return (f"tableloop-offline-allowance:v1|{self.member_id}|{self.store_id}|{self.allowance_cents}|"
                f"{self.balance_cents}|{self.issued_at}").encode()

    def signed(self, secret: bytes) -> Allowance:
        digest = hmac.new(secret, self.message(), hashlib.sha256).hexdigest()
        return Allowance(self.member_id, self.store_id, self.allowance_cents, self.balance_cents, self.issued_at,
                         digest)

    def verify(self, secret: bytes) -> bool:
        expected = hmac.new(secret, self.message(), hashlib.sha256).hexdigest()
        return bool(self.signature) and hmac.compare_digest(expected, self.signature)

    @classmethod
    def from_dict(cls, data: Any, path: str = "") -> Allowance:
        r = _Reader(data, path)
        return cls(
            member_id=r.integer("member_id", minimum=1),
            store_id=r.integer("store_id", minimum=1),
            allowance_cents=r.cents("allowance_cents", minimum=0),
            balance_cents=r.cents("balance_cents", minimum=0),
            issued_at=r.time("issued_at", aware=True),
            signature=r.text("signature", ""),
        )


def allowance_cents(store_setting_cents: int, stored_value_cents: int) -> int:
    """The offline allowance rule: the store's setting, never more than the balance."""
    return max(0, min(store_setting_cents, stored_value_cents))


# --- what the till showed ---------------------------------------------------------------------------

@dataclass(frozen=True)
class PricedLine(_Contract):
    dish_id: int
    qty: int
    unit_price_cents: int
    name: str = ""


@dataclass(frozen=True)
class Priced(_Contract):
    """The bill as the till priced it from its local copy."""

    lines: tuple[PricedLine, ...]
    subtotal_cents: int
    payable_cents: int | None = None
    discount_cents: int = 0
    tier_name: str = ""
    tier_discount_percent: int = 0
    rounding: str = "none"

    @classmethod
    def from_dict(cls, data: Any, path: str = "") -> Priced:
        r = _Reader(data, path)
        return cls(
            lines=tuple(PricedLine(dish_id=i.integer("dish_id", minimum=1), qty=i.integer("qty", minimum=1),
                                   unit_price_cents=i.cents("unit_price_cents", minimum=0), name=i.text("name", ""))
                        for i in r.mappings("lines", required=True)),
            subtotal_cents=r.cents("subtotal_cents", minimum=0),
            payable_cents=r.optional_int("payable_cents", minimum=0),
            discount_cents=r.cents("discount_cents", 0, minimum=0),
            tier_name=r.text("tier_name", ""),
            tier_discount_percent=_percent(r, "tier_discount_percent"),
            rounding=r.choice("rounding", ROUNDINGS, "none"),
        )


def _percent(r: _Reader, name: str) -> int:
    value = r.integer(name, 0, minimum=0)
    if value > 100:
        raise DocumentError(r._key(name), "must be at most 100")
    return value


# --- operations and batches -------------------------------------------------------------------------

@dataclass(frozen=True)
class SyncOperation(_Contract):
    op: str
    key: str
    client_order_id: str
    occurred_at: str
    staff_id: int | None = None
    order_no: str = ""
    table: str = ""
    items: tuple[SaleItem, ...] = ()
    member_id: int | None = None
    tenders: tuple[TenderLine, ...] = ()
    idempotency_key: str = ""
    priced: Priced | None = None
    allowance: Allowance | None = None
    printed_at_source: bool = False

    @property
    def opens_order(self) -> bool:
        return self.op in ("order", "sale")

    @property
    def settles(self) -> bool:
        return self.op in ("settle", "sale")

    @property
    def adds_items(self) -> bool:
        return self.op == "add"

    @classmethod
    def from_dict(cls, data: Any, path: str = "") -> SyncOperation:
        r = _Reader(data, path)
        op = r.choice("op", OPS)
        has_items, settles = op in ("order", "sale", "add"), op in ("settle", "sale")
        items = tuple(SaleItem(dish_id=i.integer("dish_id", minimum=1), qty=i.integer("qty", minimum=1),
                               option_ids=i.ids("option_ids"), note=i.text("note", ""))
                      for i in r.mappings("items", required=has_items))
        tenders = tuple(TenderLine.from_dict(t.data, t.path, types=SALE_TENDERS, minimum=1)
                        for t in r.mappings("tenders", required=settles))
        priced = r.optional_mapping("priced")
        allowance = r.optional_mapping("allowance")
        return cls(
            op=op,
            key=_key(r, "key"),
            client_order_id=_uuid(r, "client_order_id"),
            occurred_at=r.time("occurred_at", aware=True),
            staff_id=r.optional_int("staff_id", minimum=1),
            order_no=r.text("order_no", ""),
            table=r.text("table", ""),
            items=items if has_items else (),
            member_id=r.optional_int("member_id", minimum=1) if settles else None,
            tenders=tenders if settles else (),
            idempotency_key=_key(r, "idempotency_key") if settles else r.text("idempotency_key", ""),
            priced=Priced.from_dict(priced.data, priced.path) if priced is not None else None,
            allowance=Allowance.from_dict(allowance.data, allowance.path) if allowance is not None else None,
            printed_at_source=r.boolean("printed_at_source", False),
        )


@dataclass(frozen=True)
class SyncBatch(_Contract):
    batch_key: str
    operations: tuple[SyncOperation, ...]
    contract: int = CONTRACT_VERSION

    @classmethod
    def from_dict(cls, data: Any) -> SyncBatch:
        r = _Reader(data, "")
        ops = r.mappings("operations", required=True)
        if len(ops) > MAX_OPERATIONS:
            raise DocumentError("operations", f"at most {MAX_OPERATIONS} operations per batch")
        operations = tuple(SyncOperation.from_dict(o.data, o.path) for o in ops)
        keys = [o.key for o in operations]
        if len(set(keys)) != len(keys):
            raise DocumentError("operations", "every operation needs its own key")
        return cls(batch_key=_key(r, "batch_key"), operations=operations, contract=r.contract())


# --- the server's answer ----------------------------------------------------------------------------

@dataclass(frozen=True)
class OperationResult(_Contract):
    """``applied`` the first time, ``duplicate`` when the operation (or its order) was already
    on the server — the same ``order`` either way — ``refused`` with ``error`` when it cannot be
    applied at all (the manager sees it among the flags). ``flags`` name what the server
    honoured although it differs from its own view: ``price_changed``, ``sold_out``,
    ``payable_changed``, ``member_debt``."""

    key: str
    status: str
    order: dict | None = None
    error: dict | None = None
    flags: tuple[str, ...] = ()

    @property
    def done(self) -> bool:
        return self.status in RESULT_STATUSES

    @classmethod
    def from_dict(cls, data: Any, path: str = "") -> OperationResult:
        r = _Reader(data, path)
        order = data.get("order") if isinstance(data, dict) else None
        error = data.get("error") if isinstance(data, dict) else None
        if order is not None and not isinstance(order, dict):
            raise DocumentError(r._key("order"), "expected an object")
        if error is not None and not isinstance(error, dict):
            raise DocumentError(r._key("error"), "expected an object")
        return cls(key=r.text("key"), status=r.choice("status", RESULT_STATUSES), order=order, error=error,
                   flags=r.texts("flags"))


@dataclass(frozen=True)
class SyncResult(_Contract):
    batch_key: str
    results: tuple[OperationResult, ...]

    @classmethod
    def from_dict(cls, data: Any) -> SyncResult:
        r = _Reader(data, "")
        return cls(batch_key=r.text("batch_key"),
                   results=tuple(OperationResult.from_dict(x.data, x.path) for x in r.mappings("results")))

    def by_key(self) -> dict[str, OperationResult]:
        return {result.key: result for result in self.results}


# --- events of synced sales -------------------------------------------------------------------------

def printed_at_source(payload: Any) -> bool:
    """Whether a store event's payload (a kitchen ticket, a print job) belongs to a till's offline
    sale whose agent already printed it: the event-log follower skips those."""
    return isinstance(payload, dict) and payload.get("printed_at_source") is True
