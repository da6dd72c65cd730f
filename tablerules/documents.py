"""The one contract for what the server hands the on-site agent, and what the agent hands back.

Both ends build and read these types: the server builds every document through them
(`app.orders.documents`, `app.orders.shift`) and the agent parses with them before it prints
(`pos_agent.printing`). A contract test feeds the server's real event log to the agent's parser
and renderer.

- **Documents** (printed): `Receipt` (kind ``receipt``, or ``refund`` for a refund slip),
  `KitchenTicket` (kind ``kitchen_ticket``; mark ``new``, ``add`` 加菜, ``change`` 改单, ``cancel`` 退菜,
  ``rush`` 催菜)
  `ShiftSummary` (kind ``shift_summary``) and `TopUpSlip` (kind ``topup``, 充值凭条: the server
  builds it in its top-up answer, the till's agent prints it). Each carries ``document_id`` and ``version``, the
  agent's print-ledger key: the same document and version never prints twice, a changed one is
  a new version.
- **Sync payloads**: `StoreEvent`, the envelope ``{seq, kind, order_id, created_at, payload}``
  of the store event log (``GET /api/v1/stores/{id}/events`` and its SSE stream, see
  `event_from_sse`), whose payload is read by kind into the types above or `OrderSubmitted`,
  `OrderPaid`, `OrderRefunded`; and `TillSale`, a sale the till made, pushed by the agent.

One vocabulary: quantities are ``qty``, tenders ``{"type", "amount_cents"}``, money integer fen
(``*_cents``), times ISO 8601 text (UTC ``Z`` or an offset; naive means store-local). Orders
have no short number of their own yet, so ``order_no`` is the order's id as text and a
ticket's ``ticket_no`` is the ticket's id as text; the numeric ``order_id``/``ticket_id`` are
the server's references.

`from_dict` validates and raises `DocumentError` naming the first bad field by its path
(``items[2].qty: expected a whole number``); unknown keys are ignored, so either side may add
fields without breaking the other. ``contract`` is this module's `CONTRACT_VERSION`: it changes
only when a change would break an older reader, and a reader refuses a newer one rather than
print it wrong.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, ClassVar, Literal

from tablerules.pricing import BillStep
from tablerules.tenders import TenderType

CONTRACT_VERSION = 1

RECEIPT_KINDS: tuple[str, ...] = ("receipt", "refund")
DOCUMENT_KINDS: tuple[str, ...] = (*RECEIPT_KINDS, "kitchen_ticket", "shift_summary", "topup")
TICKET_MARKS: tuple[str, ...] = ("new", "add", "change", "cancel", "rush")
TICKET_STATUSES: tuple[str, ...] = ("open", "bumped", "cancelled")
SALE_TENDERS: tuple[str, ...] = tuple(TenderType.labels())

# The store event log's kinds, as the server names them.
EVENT_KINDS: tuple[str, ...] = (
    "ticket_new", "ticket_changed", "ticket_cancelled", "ticket_bumped", "ticket_recalled",
    "print_job", "cart_changed", "order_submitted", "order_paid", "order_refunded", "bill_pushed", "waiter_called",
    "device_status", "menu_changed", "member_changed", "table_changed", "cs_message",
    "bill_split_changed", "order_rushed", "waiter_acked",
)
TICKET_EVENTS = frozenset({"ticket_new", "ticket_changed", "ticket_cancelled", "ticket_bumped", "ticket_recalled"})
# What the agent puts on paper; a bumped or recalled ticket is the kitchen screen's business.
PRINTED_EVENTS = frozenset({"ticket_new", "ticket_changed", "ticket_cancelled", "order_rushed", "print_job"})

TicketMark = Literal["new", "add", "change", "cancel", "rush"]


class DocumentError(ValueError):
    """Data that does not follow the contract; ``field`` is the path of the first bad value."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.reason = message


class _Contract:
    """``to_dict`` for every contract type: JSON-ready, tuples as lists, nested types as dicts."""

    def to_dict(self) -> dict[str, Any]:
        return {name: _plain(getattr(self, name)) for name in _field_names(type(self))}


@functools.cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


_SCALARS = (str, int, float, type(None))


def _plain(value: Any) -> Any:
    # Every settlement and kitchen ticket turns its document into JSON: the common cases first.
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, _Contract):
        return value.to_dict()
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


# --- receipts and refund slips ----------------------------------------------------------------

@dataclass(frozen=True)
class StoreHeader(_Contract):
    name: str
    address: str = ""
    phone: str = ""

    @classmethod
    def from_dict(cls, data: Any, path: str = "") -> StoreHeader:
        r = _Reader(data, path)
        return cls(name=r.text("name"), address=r.text("address", ""), phone=r.text("phone", ""))


@dataclass(frozen=True)
class ReceiptItem(_Contract):
    name: str
    qty: int
    amount_cents: int  # the line's total before bill-level discounts
    unit_price_cents: int | None = None
    name_en: str = ""
    unit: str = ""
    options: tuple[str, ...] = ()
    note: str = ""

    @classmethod
    def from_dict(cls, data: Any, path: str = "") -> ReceiptItem:
        r = _Reader(data, path)
        return cls(
            name=r.text("name"),
            qty=r.integer("qty", minimum=1),
            amount_cents=r.cents("amount_cents"),
            unit_price_cents=r.optional_int("unit_price_cents"),
            name_en=r.text("name_en", ""),
            unit=r.text("unit", ""),
            options=r.texts("options"),
            note=r.text("note", ""),
        )


@dataclass(frozen=True)
class PricingStep(_Contract):
    """One step of the priced bill (subtotal, tier discount, coupon, points, rounding...).

    ``label`` is the Chinese text, ``label_en`` the English; both empty means the printer's
    own words for ``kind``. Reductions are negative.
    """

    kind: str
    amount_cents: int
    label: str = ""
    label_en: str = ""

    @classmethod
    def from_dict(cls, data: Any, path: str = "") -> PricingStep:
        r = _Reader(data, path)
        return cls(kind=r.text("kind"), amount_cents=r.cents("amount_cents"), label=r.text("label", ""),
                   label_en=r.text("label_en", ""))


def steps_from_bill(steps: Iterable[BillStep]) -> tuple[PricingStep, ...]:
    """A priced bill's steps (`tablerules.pricing.PricedBill.steps`) as a receipt prints them.

    The bill's closing ``payable`` step is left out: a receipt prints the payable itself.
    """
    return tuple(PricingStep(kind=s.kind, amount_cents=s.amount_cents, label=s.label_zh, label_en=s.label_en)
                 for s in steps if s.kind != "payable")


@dataclass(frozen=True)
class TenderLine(_Contract):
    """Money handed over by one tender (cash before change); ``label`` empty = the printer's words."""

    type: str
    amount_cents: int
    label: str = ""
    reference: str = ""

    @classmethod
    def from_dict(cls, data: Any, path: str = "", *, types: tuple[str, ...] | None = None,
                  minimum: int = 0) -> TenderLine:
        r = _Reader(data, path)
        return cls(
            type=r.choice("type", types) if types else r.text("type"),
            amount_cents=r.cents("amount_cents", minimum=minimum),
            label=r.text("label", ""),
            reference=r.text("reference", ""),
        )


@dataclass(frozen=True)
class MemberSummary(_Contract):
    """The member's standing after this bill, as the server computed it."""

    name: str = ""
    phone: str = ""  # masked by the sender
    member_no: str = ""
    tier: str = ""
    points_earned: int = 0
    points_redeemed: int = 0
    points_balance: int | None = None
    balance_cents: int | None = None

    @classmethod
    def from_dict(cls, data: Any, path: str = "") -> MemberSummary:
        r = _Reader(data, path)
        return cls(
            name=r.text("name", ""),
            phone=r.text("phone", ""),
            member_no=r.text("member_no", ""),
            tier=r.text("tier", ""),
            points_earned=r.integer("points_earned", 0),
            points_redeemed=r.integer("points_redeemed", 0, minimum=0),
            points_balance=r.optional_int("points_balance"),
            balance_cents=r.optional_int("balance_cents"),
        )


@dataclass(frozen=True)
class Receipt(_Contract):
    """The customer receipt — an unpaid bill when it has no tenders — or, with kind ``refund``,
    the refund slip (``refunded_cents`` is what this refund paid back)."""

    document_id: str
    order_no: str
    items: tuple[ReceiptItem, ...]
    payable_cents: int
    kind: Literal["receipt", "refund"] = "receipt"
    version: int = 1
    contract: int = CONTRACT_VERSION
    order_id: int | None = None
    steps: tuple[PricingStep, ...] = ()
    tenders: tuple[TenderLine, ...] = ()
    change_cents: int = 0
    table: str = ""
    guests: int | None = None
    cashier: str = ""
    paid_at: str = ""
    member: MemberSummary | None = None
    store: StoreHeader | None = None
    payment_qr: str = ""  # WeChat Pay NATIVE code_url of an unpaid bill
    signup_url: str = ""
    note: str = ""
    refunded_cents: int | None = None
    refunded_at: str = ""
    reason: str = ""
    is_reprint: bool = False
    client_order_id: str = ""  # the till's id of a sale made through the on-site agent

    @property
    def is_paid(self) -> bool:
        return bool(self.tenders)

    @property
    def is_refund(self) -> bool:
        return self.kind == "refund"

    @property
    def has_cash(self) -> bool:
        return any(t.type == "cash" for t in self.tenders)

    @classmethod
    def from_dict(cls, data: Any) -> Receipt:
        r = _Reader(data, "")
        kind = r.choice("kind", RECEIPT_KINDS)
        member = r.optional_mapping("member")
        store = r.optional_mapping("store")
        refunded = r.optional_int("refunded_cents", minimum=1)
        if kind == "refund" and refunded is None:
            raise DocumentError("refunded_cents", "required")
        return cls(
            kind=kind,  # type: ignore[arg-type]
            document_id=r.text("document_id"),
            version=r.integer("version", 1, minimum=1),
            contract=r.contract(),
            order_no=r.text("order_no"),
            order_id=r.optional_int("order_id", minimum=1),
            items=tuple(ReceiptItem.from_dict(i.data, i.path) for i in r.mappings("items", required=True)),
            payable_cents=r.cents("payable_cents"),
            steps=tuple(PricingStep.from_dict(s.data, s.path) for s in r.mappings("steps")),
            tenders=tuple(TenderLine.from_dict(t.data, t.path) for t in r.mappings("tenders")),
            change_cents=r.cents("change_cents", 0, minimum=0),
            table=r.text("table", ""),
            guests=r.optional_int("guests", minimum=0),
            cashier=r.text("cashier", ""),
            paid_at=r.time("paid_at", ""),
            member=MemberSummary.from_dict(member.data, member.path) if member else None,
            store=StoreHeader.from_dict(store.data, store.path) if store else None,
            payment_qr=r.text("payment_qr", ""),
            signup_url=r.text("signup_url", ""),
            note=r.text("note", ""),
            refunded_cents=refunded,
            refunded_at=r.time("refunded_at", ""),
            reason=r.text("reason", ""),
            is_reprint=r.boolean("is_reprint"),
            client_order_id=r.text("client_order_id", ""),
        )


# --- kitchen tickets ----------------------------------------------------------------------------

@dataclass(frozen=True)
class OrderItem(_Contract):
    """One dish line of an order as the kitchen and the till see it."""

    name: str
    qty: int
    station: str
    line_id: int | None = None
    dish_id: int | None = None
    name_en: str = ""
    station_name: str = ""
    unit: str = ""
    options: tuple[str, ...] = ()
    note: str = ""
    unit_price_cents: int | None = None
    added_by: str = ""  # the diner or staff member who picked it
    status: str = ""  # submitted | cooking | done | cancelled
    was_qty: int | None = None  # on a change (改单): the quantity the kitchen had before

    @property
    def is_cancelled(self) -> bool:
        return self.status == "cancelled"

    @property
    def is_changed(self) -> bool:
        return self.was_qty is not None and self.was_qty != self.qty and not self.is_cancelled

    @classmethod
    def from_dict(cls, data: Any, path: str = "", *, station: str = "") -> OrderItem:
        r = _Reader(data, path)
        return cls(
            name=r.text("name"),
            qty=r.integer("qty", minimum=1),
            station=r.text("station", station or _MISSING),
            line_id=r.optional_int("line_id", minimum=1),
            dish_id=r.optional_int("dish_id", minimum=1),
            name_en=r.text("name_en", ""),
            station_name=r.text("station_name", ""),
            unit=r.text("unit", ""),
            options=r.texts("options"),
            note=r.text("note", ""),
            unit_price_cents=r.optional_int("unit_price_cents", minimum=0),
            added_by=r.text("added_by", ""),
            status=r.text("status", ""),
            was_qty=r.optional_int("was_qty", minimum=1),
        )


@dataclass(frozen=True)
class KitchenTicket(_Contract):
    """Dishes sent to the kitchen. ``mark``: ``new`` (the order's first send), ``add`` (加菜, a
    later send), ``change`` (改单: dishes taken off or fewer of them — the whole ticket as a new
    version, a cancelled item's ``status`` is ``cancelled``, a reduced one carries ``was_qty``),
    ``cancel`` (退菜: nothing is left to cook on the ticket; ``reason`` says why), ``rush`` (催菜:
    the unserved dishes of an order the diners are waiting for, ``rushed_at`` when, ``rush_no``
    how many times). ``station`` is the ticket's; an item may name its own, and the agent
    routes each item to the printer serving its station."""

    document_id: str
    ticket_no: str
    order_no: str
    created_at: str
    items: tuple[OrderItem, ...]
    kind: Literal["kitchen_ticket"] = "kitchen_ticket"
    version: int = 1
    contract: int = CONTRACT_VERSION
    mark: TicketMark = "new"
    status: str = "open"
    station: str = ""
    table: str = ""
    ticket_id: int | None = None
    order_id: int | None = None
    guests: int | None = None
    waiter: str = ""
    note: str = ""
    reason: str = ""
    is_reprint: bool = False
    client_order_id: str = ""  # the till's id of a sale made through the on-site agent
    rushed_at: str = ""  # 催菜: when the diners asked
    rush_no: int = 0  # 催菜: the how-many-th rush of the order
    ticket_ids: tuple[int, ...] = ()  # 催菜: the order's tickets still open in the kitchen

    @classmethod
    def from_dict(cls, data: Any) -> KitchenTicket:
        r = _Reader(data, "")
        r.choice("kind", ("kitchen_ticket",))
        station = r.text("station", "")
        return cls(
            document_id=r.text("document_id"),
            version=r.integer("version", 1, minimum=1),
            contract=r.contract(),
            ticket_no=r.text("ticket_no"),
            order_no=r.text("order_no"),
            created_at=r.time("created_at"),
            items=tuple(OrderItem.from_dict(i.data, i.path, station=station)
                        for i in r.mappings("items", required=True)),
            mark=r.choice("mark", TICKET_MARKS, "new"),  # type: ignore[arg-type]
            status=r.choice("status", TICKET_STATUSES, "open"),
            station=station,
            table=r.text("table", ""),
            ticket_id=r.optional_int("ticket_id", minimum=1),
            order_id=r.optional_int("order_id", minimum=1),
            guests=r.optional_int("guests", minimum=0),
            waiter=r.text("waiter", ""),
            note=r.text("note", ""),
            reason=r.text("reason", ""),
            is_reprint=r.boolean("is_reprint"),
            client_order_id=r.text("client_order_id", ""),
            rushed_at=r.time("rushed_at", ""),
            rush_no=r.integer("rush_no", 0, minimum=0),
            ticket_ids=r.ids("ticket_ids"),
        )


# --- shift summary ------------------------------------------------------------------------------

@dataclass(frozen=True)
class TenderAmount(_Contract):
    type: str
    amount_cents: int


@dataclass(frozen=True)
class ShiftSummary(_Contract):
    """A cashier's shift at close: what came in and went out by tender, and the cash that should
    be in the drawer. Per-tender amounts travel as JSON objects (``{"cash": 8800}``), the same
    shape as the server's ``/shifts/current`` summary. ``gross_cents``, ``discount_cents``,
    ``guest_count``, ``new_members`` and ``topup_bonus_cents`` are printed when present."""

    document_id: str
    shift_no: str
    cashier: str
    opened_at: str
    closed_at: str
    sales_count: int  # payments taken: one per tender of a settlement
    sales_cents: int  # what the sales brought in (payable, change already given back)
    kind: Literal["shift_summary"] = "shift_summary"
    version: int = 1
    contract: int = CONTRACT_VERSION
    sales_by_tender: tuple[TenderAmount, ...] = ()
    refunds_cents: int = 0
    refunds_by_tender: tuple[TenderAmount, ...] = ()
    topups_by_tender: tuple[TenderAmount, ...] = ()
    cashouts_cents: int = 0
    voids: int = 0  # lines taken off open orders
    void_cents: int = 0
    opening_float_cents: int = 0
    expected_cash_cents: int | None = None
    counted_cash_cents: int | None = None
    difference_cents: int | None = None  # counted - expected
    gross_cents: int | None = None
    discount_cents: int | None = None
    guest_count: int | None = None
    new_members: int | None = None
    topup_bonus_cents: int | None = None
    is_reprint: bool = False

    _BY_TENDER: ClassVar[tuple[str, ...]] = ("sales_by_tender", "refunds_by_tender", "topups_by_tender")

    @property
    def net_cents(self) -> int:
        return self.sales_cents - self.refunds_cents

    @property
    def topups_cents(self) -> int:
        return sum(t.amount_cents for t in self.topups_by_tender)

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        for name in self._BY_TENDER:
            data[name] = {t.type: t.amount_cents for t in getattr(self, name)}
        return data

    @classmethod
    def from_dict(cls, data: Any) -> ShiftSummary:
        r = _Reader(data, "")
        r.choice("kind", ("shift_summary",))
        return cls(
            document_id=r.text("document_id"),
            version=r.integer("version", 1, minimum=1),
            contract=r.contract(),
            shift_no=r.text("shift_no"),
            cashier=r.text("cashier"),
            opened_at=r.time("opened_at"),
            closed_at=r.time("closed_at"),
            sales_count=r.integer("sales_count", minimum=0),
            sales_cents=r.cents("sales_cents"),
            sales_by_tender=r.by_tender("sales_by_tender"),
            refunds_cents=r.cents("refunds_cents", 0, minimum=0),
            refunds_by_tender=r.by_tender("refunds_by_tender"),
            topups_by_tender=r.by_tender("topups_by_tender"),
            cashouts_cents=r.cents("cashouts_cents", 0, minimum=0),
            voids=r.integer("voids", 0, minimum=0),
            void_cents=r.cents("void_cents", 0, minimum=0),
            opening_float_cents=r.cents("opening_float_cents", 0, minimum=0),
            expected_cash_cents=r.optional_int("expected_cash_cents"),
            counted_cash_cents=r.optional_int("counted_cash_cents", minimum=0),
            difference_cents=r.optional_int("difference_cents"),
            gross_cents=r.optional_int("gross_cents"),
            discount_cents=r.optional_int("discount_cents"),
            guest_count=r.optional_int("guest_count", minimum=0),
            new_members=r.optional_int("new_members", minimum=0),
            topup_bonus_cents=r.optional_int("topup_bonus_cents", minimum=0),
            is_reprint=r.boolean("is_reprint"),
        )


# --- top-up slips -------------------------------------------------------------------------------

@dataclass(frozen=True)
class StoredValueBalance(_Contract):
    """The member's stored value after a movement: principal (money paid in) and bonus."""

    principal_cents: int
    bonus_cents: int
    total_cents: int

    @classmethod
    def from_dict(cls, data: Any, path: str = "") -> StoredValueBalance:
        r = _Reader(data, path)
        principal, bonus = r.cents("principal_cents", minimum=0), r.cents("bonus_cents", minimum=0)
        total = r.cents("total_cents", minimum=0)
        if total != principal + bonus:
            raise DocumentError(r._key("total_cents"), "must be principal_cents + bonus_cents")
        return cls(principal_cents=principal, bonus_cents=bonus, total_cents=total)


@dataclass(frozen=True)
class TopUpSlip(_Contract):
    """The top-up slip (充值凭条) handed to the member: what they paid and by which tender, the
    bonus the merchant's rule added (``rule``, its words: "充500送50"; empty when no rule was met)
    and their stored value after it. ``member.phone`` is masked by the sender; ``topup_no`` is
    the server's top-up id as text."""

    document_id: str
    topup_no: str
    member: MemberSummary
    amount_cents: int
    bonus_cents: int
    tender: str
    stored_value: StoredValueBalance
    topped_up_at: str
    kind: Literal["topup"] = "topup"
    version: int = 1
    contract: int = CONTRACT_VERSION
    topup_id: int | None = None
    rule: str = ""
    rule_en: str = ""
    cashier: str = ""
    store: StoreHeader | None = None
    is_reprint: bool = False

    @property
    def credited_cents(self) -> int:
        return self.amount_cents + self.bonus_cents

    @classmethod
    def from_dict(cls, data: Any) -> TopUpSlip:
        r = _Reader(data, "")
        r.choice("kind", ("topup",))
        member = r.optional_mapping("member")
        if member is None:
            raise DocumentError("member", "required")
        balance = r.optional_mapping("stored_value")
        if balance is None:
            raise DocumentError("stored_value", "required")
        store = r.optional_mapping("store")
        return cls(
            document_id=r.text("document_id"),
            version=r.integer("version", 1, minimum=1),
            contract=r.contract(),
            topup_no=r.text("topup_no"),
            topup_id=r.optional_int("topup_id", minimum=1),
            member=MemberSummary.from_dict(member.data, member.path),
            amount_cents=r.cents("amount_cents", minimum=1),
            bonus_cents=r.cents("bonus_cents", 0, minimum=0),
            tender=r.text("tender"),
            stored_value=StoredValueBalance.from_dict(balance.data, balance.path),
            topped_up_at=r.time("topped_up_at"),
            rule=r.text("rule", ""),
            rule_en=r.text("rule_en", ""),
            cashier=r.text("cashier", ""),
            store=StoreHeader.from_dict(store.data, store.path) if store else None,
            is_reprint=r.boolean("is_reprint"),
        )


Document = Receipt | KitchenTicket | ShiftSummary | TopUpSlip


def parse_document(data: Any, kind: str | None = None) -> Document:
    """Any printed document, by its ``kind`` (or ``kind`` given beside it, as the agent's local
    print call allows); the two must agree when both are there."""
    if not isinstance(data, Mapping):
        raise DocumentError("", "expected an object")
    if kind is not None and data.get("kind") is None:
        data = {**data, "kind": kind}
    found = data.get("kind")
    if found not in DOCUMENT_KINDS:
        raise DocumentError("kind", f"must be one of {', '.join(DOCUMENT_KINDS)}")
    if kind is not None and found != kind:
        raise DocumentError("kind", f"the document says {found}, not {kind}")
    if found in RECEIPT_KINDS:
        return Receipt.from_dict(data)
    if found == "kitchen_ticket":
        return KitchenTicket.from_dict(data)
    if found == "topup":
        return TopUpSlip.from_dict(data)
    return ShiftSummary.from_dict(data)


# --- the store event log ------------------------------------------------------------------------

@dataclass(frozen=True)
class OrderSubmitted(_Contract):
    """Diners' picks waiting for the waiter's confirmation (event ``order_submitted``)."""

    order_id: int
    items: tuple[OrderItem, ...]
    table: str = ""

    @classmethod
    def from_dict(cls, data: Any, path: str = "") -> OrderSubmitted:
        r = _Reader(data, path)
        return cls(order_id=r.integer("order_id", minimum=1), table=r.text("table", ""),
                   items=tuple(OrderItem.from_dict(i.data, i.path) for i in r.mappings("items", required=True)))


@dataclass(frozen=True)
class OrderPaid(_Contract):
    order_id: int
    payable_cents: int
    table: str = ""

    @classmethod
    def from_dict(cls, data: Any, path: str = "") -> OrderPaid:
        r = _Reader(data, path)
        return cls(order_id=r.integer("order_id", minimum=1), payable_cents=r.cents("payable_cents", minimum=0),
                   table=r.text("table", ""))


@dataclass(frozen=True)
class RefundedLine(_Contract):
    line_id: int
    qty: int


@dataclass(frozen=True)
class OrderRefunded(_Contract):
    """A refund of a paid order; no ``lines`` means the whole order."""

    order_id: int
    refunded_cents: int
    total_refunded_cents: int
    table: str = ""
    reason: str = ""
    lines: tuple[RefundedLine, ...] = ()

    @classmethod
    def from_dict(cls, data: Any, path: str = "") -> OrderRefunded:
        r = _Reader(data, path)
        return cls(
            order_id=r.integer("order_id", minimum=1),
            refunded_cents=r.cents("refunded_cents", minimum=1),
            total_refunded_cents=r.cents("total_refunded_cents", minimum=1),
            table=r.text("table", ""),
            reason=r.text("reason", ""),
            lines=tuple(RefundedLine(line_id=line.integer("line_id", minimum=1), qty=line.integer("qty", minimum=1))
                        for line in r.mappings("lines")),
        )


Payload = Document | OrderSubmitted | OrderPaid | OrderRefunded


@dataclass(frozen=True)
class StoreEvent(_Contract):
    """One entry of the store event log, as ``GET /api/v1/stores/{id}/events`` and its SSE stream
    give it. ``payload`` is kept as sent; ``body`` is the payload read by kind (None for kinds the
    agent has no use for, and for kinds newer than this contract, which a reader skips)."""

    seq: int
    kind: str
    created_at: str
    payload: Mapping[str, Any]
    order_id: int | None = None
    body: Payload | None = field(default=None, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "kind": self.kind, "order_id": self.order_id, "created_at": self.created_at,
                "payload": _plain(self.payload)}

    @property
    def is_printed(self) -> bool:
        return self.kind in PRINTED_EVENTS

    def document(self) -> Document | None:
        """The document the agent prints for this event, if it prints one."""
        if self.is_printed and isinstance(self.body, Receipt | KitchenTicket | ShiftSummary | TopUpSlip):
            return self.body
        return None

    @classmethod
    def from_dict(cls, data: Any) -> StoreEvent:
        r = _Reader(data, "")
        kind = r.text("kind")
        payload = r.optional_mapping("payload")
        if payload is None:
            raise DocumentError("payload", "required")
        return cls(seq=r.integer("seq", minimum=1), kind=kind, order_id=r.optional_int("order_id", minimum=1),
                   created_at=r.time("created_at"), payload=dict(payload.data), body=_read_body(kind, payload))


def _read_body(kind: str, payload: _Reader) -> Payload | None:
    try:
        if kind in TICKET_EVENTS or kind == "order_rushed":
            return KitchenTicket.from_dict(payload.data)
        if kind == "print_job":
            return parse_document(payload.data)
        if kind == "order_submitted":
            return OrderSubmitted.from_dict(payload.data)
        if kind == "order_paid":
            return OrderPaid.from_dict(payload.data)
        if kind == "order_refunded":
            return OrderRefunded.from_dict(payload.data)
    except DocumentError as exc:
        raise DocumentError(f"payload.{exc.field}" if exc.field else "payload", exc.reason) from None
    return None


def event_from_sse(message: str) -> StoreEvent | None:
    """One Server-Sent Events message of the store stream (``id``, ``event``, ``data`` lines).

    Comments (the heartbeat) and ``retry:`` answer None. The ``id`` is the event's seq and the
    SSE event name its kind; both must agree with the JSON in ``data``.
    """
    values: dict[str, str] = {}
    data: list[str] = []
    for line in message.splitlines():
        if not line or line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            data.append(value)
        else:
            values[name] = value
    if not data:
        return None
    try:
        decoded = json.loads("\n".join(data))
    except ValueError:
        raise DocumentError("data", "expected JSON") from None
    event = StoreEvent.from_dict(decoded)
    if "id" in values and values["id"] != str(event.seq):
        raise DocumentError("id", f"{values['id']} is not the event's seq {event.seq}")
    if "event" in values and values["event"] != event.kind:
        raise DocumentError("event", f"{values['event']} is not the event's kind {event.kind}")
    return event


# --- what the till hands back -------------------------------------------------------------------

@dataclass(frozen=True)
class SaleItem(_Contract):
    dish_id: int
    qty: int
    option_ids: tuple[int, ...] = ()
    note: str = ""


@dataclass(frozen=True)
class ActorRef(_Contract):
    """Who made the sale at the till: the server applies it as this staff member and device."""

    staff_id: int | None = None
    device_id: int | None = None
    name: str = ""


@dataclass(frozen=True)
class TillSale(_Contract):
    """A sale the till made (an order with its settlement), pushed by the agent — at once when
    online, from its outbox after an outage. ``idempotency_key`` makes a replay change nothing;
    ``occurred_at`` is when it happened at the till (with its UTC offset), not when it arrived;
    ``payable_cents`` is what the till charged, for the server to check against its own price."""

    client_order_id: str
    order_no: str
    items: tuple[SaleItem, ...]
    tenders: tuple[TenderLine, ...]
    idempotency_key: str
    occurred_at: str
    actor: ActorRef
    contract: int = CONTRACT_VERSION
    table: str = ""
    member_id: int | None = None
    points: int = 0
    coupon_ids: tuple[int, ...] = ()
    payable_cents: int | None = None

    @classmethod
    def from_dict(cls, data: Any) -> TillSale:
        r = _Reader(data, "")
        client_order_id = r.text("client_order_id")
        try:
            uuid.UUID(client_order_id)
        except ValueError:
            raise DocumentError("client_order_id", "expected a UUID") from None
        key = r.text("idempotency_key")
        if not 8 <= len(key) <= 100:
            raise DocumentError("idempotency_key", "must be 8 to 100 characters")
        actor = r.optional_mapping("actor")
        if actor is None:
            raise DocumentError("actor", "required")
        return cls(
            client_order_id=client_order_id,
            order_no=r.text("order_no"),
            contract=r.contract(),
            table=r.text("table", ""),
            items=tuple(SaleItem(dish_id=i.integer("dish_id", minimum=1), qty=i.integer("qty", minimum=1),
                                 option_ids=i.ids("option_ids"), note=i.text("note", ""))
                        for i in r.mappings("items", required=True)),
            member_id=r.optional_int("member_id", minimum=1),
            points=r.integer("points", 0, minimum=0),
            coupon_ids=r.ids("coupon_ids"),
            tenders=tuple(TenderLine.from_dict(t.data, t.path, types=SALE_TENDERS, minimum=1)
                          for t in r.mappings("tenders", required=True)),
            payable_cents=r.optional_int("payable_cents", minimum=0),
            idempotency_key=key,
            occurred_at=r.time("occurred_at", aware=True),
            actor=ActorRef(staff_id=actor.optional_int("staff_id", minimum=1),
                           device_id=actor.optional_int("device_id", minimum=1), name=actor.text("name", "")),
        )


# --- reading JSON -------------------------------------------------------------------------------

_MISSING: Any = object()


class _Reader:
    """Typed access to one JSON object, naming the path of whatever is wrong."""

    def __init__(self, data: Any, path: str) -> None:
        if not isinstance(data, Mapping):
            raise DocumentError(path, "expected an object")
        self.data = data
        self.path = path

    def _key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def _get(self, name: str, default: Any) -> Any:
        value = self.data.get(name)
        if value is None:
            if default is _MISSING:
                raise DocumentError(self._key(name), "required")
            return default
        return value

    def text(self, name: str, default: Any = _MISSING) -> str:
        value = self._get(name, default)
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise DocumentError(self._key(name), "expected text")
        value = str(value).strip()
        if default is _MISSING and not value:
            raise DocumentError(self._key(name), "must not be empty")
        if len(value) > 2000:
            raise DocumentError(self._key(name), "too long")
        return value

    def texts(self, name: str) -> tuple[str, ...]:
        value = self._get(name, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise DocumentError(self._key(name), "expected a list of text")
        return tuple(v.strip() for v in value if v.strip())

    def integer(self, name: str, default: Any = _MISSING, minimum: int | None = None) -> int:
        value = self._get(name, default)
        # Money arrives as integer fen: a float here means someone sent yuan.
        if isinstance(value, bool) or not isinstance(value, int):
            raise DocumentError(self._key(name), "expected a whole number")
        if minimum is not None and value < minimum:
            raise DocumentError(self._key(name), f"must be at least {minimum}")
        if abs(value) > 10**12:
            raise DocumentError(self._key(name), "out of range")
        return value

    cents = integer

    def optional_int(self, name: str, minimum: int | None = None) -> int | None:
        if self.data.get(name) is None:
            return None
        return self.integer(name, minimum=minimum)

    def ids(self, name: str) -> tuple[int, ...]:
        value = self._get(name, [])
        if not isinstance(value, list) or len(value) > 100:
            raise DocumentError(self._key(name), "expected a list of ids")
        for i, v in enumerate(value):
            if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 2**63:
                raise DocumentError(f"{self._key(name)}[{i}]", "expected an id")
        return tuple(value)

    def boolean(self, name: str, default: bool = False) -> bool:
        value = self._get(name, default)
        if not isinstance(value, bool):
            raise DocumentError(self._key(name), "expected true or false")
        return value

    def choice(self, name: str, choices: tuple[str, ...], default: Any = _MISSING) -> str:
        value = self.text(name, default)
        if value not in choices:
            raise DocumentError(self._key(name), f"must be one of {', '.join(choices)}")
        return value

    def contract(self) -> int:
        value = self.integer("contract", CONTRACT_VERSION, minimum=1)
        if value > CONTRACT_VERSION:
            raise DocumentError(self._key("contract"),
                                f"contract {value} is newer than this reader's {CONTRACT_VERSION}; update it")
        return value

    def time(self, name: str, default: Any = _MISSING, *, aware: bool = False) -> str:
        value = self.text(name, default)
        if value:
            try:
                moment = datetime.fromisoformat(value)
            except ValueError as exc:
                raise DocumentError(self._key(name), "expected an ISO 8601 time") from exc
            if aware and moment.utcoffset() is None:
                raise DocumentError(self._key(name), "expected a time with its UTC offset")
        return value

    def by_tender(self, name: str) -> tuple[TenderAmount, ...]:
        value = self._get(name, {})
        if not isinstance(value, Mapping):
            raise DocumentError(self._key(name), "expected an object of amounts by tender")
        reader = _Reader(value, self._key(name))
        return tuple(TenderAmount(type=str(tender), amount_cents=reader.cents(str(tender)))
                     for tender in value)

    def optional_mapping(self, name: str) -> _Reader | None:
        value = self.data.get(name)
        return None if value is None else _Reader(value, self._key(name))

    def mappings(self, name: str, required: bool = False) -> list[_Reader]:
        value = self._get(name, _MISSING if required else [])
        if not isinstance(value, list):
            raise DocumentError(self._key(name), "expected a list")
        if required and not value:
            raise DocumentError(self._key(name), "must not be empty")
        if len(value) > 500:
            raise DocumentError(self._key(name), "too many entries")
        return [_Reader(item, f"{self._key(name)}[{i}]") for i, item in enumerate(value)]
