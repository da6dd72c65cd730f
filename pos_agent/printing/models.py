"""The documents the agent prints, as plain data, and their reading from JSON.

Money is integer fen (``*_cents``), times are ISO 8601 strings (UTC with ``Z`` or an offset, or
naive store-local time). Each ``from_dict`` reports the first bad field by its path, e.g.
``items[2].quantity: expected a whole number``, so the local print endpoint can answer 422.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

TicketMark = Literal["new", "add", "cancel"]
TICKET_MARKS: tuple[str, ...] = ("new", "add", "cancel")

TENDER_LABELS: dict[str, str] = {
    "cash": "现金 Cash",
    "stored_value": "储值 Stored value",
    "wechat": "微信支付 WeChat Pay",
    "alipay": "支付宝 Alipay",
    "bank_card": "银行卡 Bank card",
    "points": "积分 Points",
    "other": "其他 Other",
}

STEP_LABELS: dict[str, str] = {
    "subtotal": "小计 Subtotal",
    "tier_discount": "会员折扣 Member discount",
    "coupon": "优惠券 Coupon",
    "points": "积分抵扣 Points",
    "rounding": "抹零 Rounding",
    "service_charge": "服务费 Service charge",
}


class DocumentError(ValueError):
    """A document that cannot be printed; ``field`` is the path of the first bad value."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.reason = message


@dataclass(frozen=True)
class ReceiptItem:
    name: str
    quantity: int
    amount_cents: int
    unit_price_cents: int | None = None
    unit: str = ""
    options: tuple[str, ...] = ()
    note: str = ""


@dataclass(frozen=True)
class PricingStep:
    """One line of the priced bill (subtotal, tier discount, coupon, points, rounding...)."""

    kind: str
    label: str
    amount_cents: int


@dataclass(frozen=True)
class Tender:
    kind: str
    label: str
    amount_cents: int
    reference: str = ""


@dataclass(frozen=True)
class MemberSummary:
    """The member's standing after this bill, as the server computed it."""

    name: str = ""
    phone: str = ""
    tier: str = ""
    points_earned: int = 0
    points_redeemed: int = 0
    points_balance: int | None = None
    balance_cents: int | None = None


@dataclass(frozen=True)
class Receipt:
    order_no: str
    items: tuple[ReceiptItem, ...]
    payable_cents: int
    steps: tuple[PricingStep, ...] = ()
    tenders: tuple[Tender, ...] = ()
    change_cents: int = 0
    table: str = ""
    guests: int | None = None
    cashier: str = ""
    closed_at: str = ""
    member: MemberSummary | None = None
    payment_qr: str = ""
    signup_url: str = ""
    note: str = ""

    @property
    def is_paid(self) -> bool:
        return bool(self.tenders)

    @property
    def has_cash(self) -> bool:
        return any(t.kind == "cash" for t in self.tenders)

    @classmethod
    def from_dict(cls, data: Any) -> Receipt:
        r = _Reader(data, "")
        member_data = r.optional_mapping("member")
        receipt = cls(
            order_no=r.text("order_no"),
            items=tuple(_receipt_item(i) for i in r.mappings("items", required=True)),
            payable_cents=r.cents("payable_cents"),
            steps=tuple(_step(s) for s in r.mappings("steps")),
            tenders=tuple(_tender(t) for t in r.mappings("tenders")),
            change_cents=r.cents("change_cents", 0, minimum=0),
            table=r.text("table", ""),
            guests=r.optional_int("guests", minimum=0),
            cashier=r.text("cashier", ""),
            closed_at=r.time("closed_at", ""),
            member=_member(member_data) if member_data is not None else None,
            payment_qr=r.text("payment_qr", ""),
            signup_url=r.text("signup_url", ""),
            note=r.text("note", ""),
        )
        return receipt


@dataclass(frozen=True)
class TicketItem:
    name: str
    quantity: int
    station: str
    station_name: str = ""
    unit: str = ""
    options: tuple[str, ...] = ()
    note: str = ""


@dataclass(frozen=True)
class KitchenTicket:
    ticket_no: str
    table: str
    ordered_at: str
    items: tuple[TicketItem, ...]
    mark: TicketMark = "new"
    guests: int | None = None
    waiter: str = ""
    note: str = ""

    @classmethod
    def from_dict(cls, data: Any) -> KitchenTicket:
        r = _Reader(data, "")
        return cls(
            ticket_no=r.text("ticket_no"),
            table=r.text("table"),
            ordered_at=r.time("ordered_at"),
            items=tuple(_ticket_item(i) for i in r.mappings("items", required=True)),
            mark=r.choice("mark", TICKET_MARKS, "new"),  # type: ignore[arg-type]
            guests=r.optional_int("guests", minimum=0),
            waiter=r.text("waiter", ""),
            note=r.text("note", ""),
        )


@dataclass(frozen=True)
class TenderTotal:
    kind: str
    label: str
    count: int
    amount_cents: int


@dataclass(frozen=True)
class ShiftSummary:
    shift_no: str
    cashier: str
    opened_at: str
    closed_at: str
    order_count: int
    guest_count: int
    gross_cents: int
    discount_cents: int
    net_cents: int
    tenders: tuple[TenderTotal, ...] = ()
    refund_count: int = 0
    refund_cents: int = 0
    top_up_count: int = 0
    top_up_cents: int = 0
    top_up_bonus_cents: int = 0
    new_members: int = 0
    opening_float_cents: int = 0
    cash_expected_cents: int | None = None
    cash_counted_cents: int | None = None

    @classmethod
    def from_dict(cls, data: Any) -> ShiftSummary:
        r = _Reader(data, "")
        return cls(
            shift_no=r.text("shift_no"),
            cashier=r.text("cashier"),
            opened_at=r.time("opened_at"),
            closed_at=r.time("closed_at"),
            order_count=r.integer("order_count", minimum=0),
            guest_count=r.integer("guest_count", 0, minimum=0),
            gross_cents=r.cents("gross_cents"),
            discount_cents=r.cents("discount_cents", 0),
            net_cents=r.cents("net_cents"),
            tenders=tuple(_tender_total(t) for t in r.mappings("tenders")),
            refund_count=r.integer("refund_count", 0, minimum=0),
            refund_cents=r.cents("refund_cents", 0),
            top_up_count=r.integer("top_up_count", 0, minimum=0),
            top_up_cents=r.cents("top_up_cents", 0),
            top_up_bonus_cents=r.cents("top_up_bonus_cents", 0),
            new_members=r.integer("new_members", 0, minimum=0),
            opening_float_cents=r.cents("opening_float_cents", 0, minimum=0),
            cash_expected_cents=r.optional_int("cash_expected_cents"),
            cash_counted_cents=r.optional_int("cash_counted_cents"),
        )


def _receipt_item(r: _Reader) -> ReceiptItem:
    return ReceiptItem(
        name=r.text("name"),
        quantity=r.integer("quantity", minimum=1),
        amount_cents=r.cents("amount_cents"),
        unit_price_cents=r.optional_int("unit_price_cents"),
        unit=r.text("unit", ""),
        options=r.texts("options"),
        note=r.text("note", ""),
    )


def _step(r: _Reader) -> PricingStep:
    kind = r.text("kind", "adjustment")
    return PricingStep(
        kind=kind,
        label=r.text("label", STEP_LABELS.get(kind, "")) or kind,
        amount_cents=r.cents("amount_cents"),
    )


def _tender(r: _Reader) -> Tender:
    kind = r.text("kind")
    return Tender(
        kind=kind,
        label=r.text("label", TENDER_LABELS.get(kind, kind)),
        amount_cents=r.cents("amount_cents"),
        reference=r.text("reference", ""),
    )


def _tender_total(r: _Reader) -> TenderTotal:
    kind = r.text("kind")
    return TenderTotal(
        kind=kind,
        label=r.text("label", TENDER_LABELS.get(kind, kind)),
        count=r.integer("count", 0, minimum=0),
        amount_cents=r.cents("amount_cents"),
    )


def _member(r: _Reader) -> MemberSummary:
    return MemberSummary(
        name=r.text("name", ""),
        phone=r.text("phone", ""),
        tier=r.text("tier", ""),
        points_earned=r.integer("points_earned", 0),
        points_redeemed=r.integer("points_redeemed", 0, minimum=0),
        points_balance=r.optional_int("points_balance"),
        balance_cents=r.optional_int("balance_cents"),
    )


def _ticket_item(r: _Reader) -> TicketItem:
    return TicketItem(
        name=r.text("name"),
        quantity=r.integer("quantity", minimum=1),
        station=r.text("station"),
        station_name=r.text("station_name", ""),
        unit=r.text("unit", ""),
        options=r.texts("options"),
        note=r.text("note", ""),
    )


_MISSING = object()


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
        if isinstance(value, bool) or not isinstance(value, int):
            raise DocumentError(self._key(name), "expected a whole number")
        if minimum is not None and value < minimum:
            raise DocumentError(self._key(name), f"must be at least {minimum}")
        if abs(value) > 10**12:
            raise DocumentError(self._key(name), "out of range")
        return value

    def cents(self, name: str, default: Any = _MISSING, minimum: int | None = None) -> int:
        # Money arrives as integer fen; a float here means someone sent yuan.
        return self.integer(name, default, minimum)

    def optional_int(self, name: str, minimum: int | None = None) -> int | None:
        if self.data.get(name) is None:
            return None
        return self.integer(name, minimum=minimum)

    def choice(self, name: str, choices: tuple[str, ...], default: str) -> str:
        value = self.text(name, default)
        if value not in choices:
            raise DocumentError(self._key(name), f"must be one of {', '.join(choices)}")
        return value

    def time(self, name: str, default: Any = _MISSING) -> str:
        value = self.text(name, default)
        if value:
            try:
                datetime.fromisoformat(value)
            except ValueError as exc:
                raise DocumentError(self._key(name), "expected an ISO 8601 time") from exc
        return value

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
