"""Tenders: how a bill is paid, and how a refund goes back over what paid it.

``plan_tenders`` is the one check of a settlement's tenders, wherever the money comes from (the
cashier's API, a payment code at the till, a WeChat Pay notification, an agent's sync batch):

- the tenders must cover the payable (``tenders_do_not_cover_total``);
- only cash may exceed it, and the excess is the change handed back (``tenders_exceed_total``
  when the non-cash tenders alone come to more than the payable);
- every tender is a positive amount (``invalid_tender``).

``wechat_remainder`` is what is left of a bill for WeChat Pay after the other tenders, the
amount of a QR-code or in-WeChat trade (``nothing_left_to_pay`` when they already cover it).
``plan_refund`` spreads a refund over the tenders in proportion to what each can still give
back. Amounts are integer fen; nothing here touches a database or a clock.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from tablerules.pricing import allocate

TENDERS_DO_NOT_COVER_TOTAL = "tenders_do_not_cover_total"
TENDERS_EXCEED_TOTAL = "tenders_exceed_total"
NOTHING_LEFT_TO_PAY = "nothing_left_to_pay"
ONE_WECHAT_TENDER = "one_wechat_tender"
INVALID_TENDER = "invalid_tender"
REFUND_EXCEEDS_PAID = "refund_exceeds_paid"


class TenderType(enum.IntEnum):
    """How money reaches the bill. The number is what the database stores; the label is what
    the API, receipts and the points rules say."""

    CASH = 1
    STORED_VALUE = 2
    WECHAT = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, value: TenderType | str) -> TenderType:
        """The tender type of an API label (``"cash"``); ValueError for anything else."""
        if isinstance(value, cls):
            return value
        if isinstance(value, str) and value.islower() and value.upper() in cls.__members__:
            return cls[value.upper()]
        raise ValueError(f"not a tender type: {value!r}")

    @classmethod
    def labels(cls) -> list[str]:
        return [member.label for member in cls]


class TenderLike(Protocol):
    @property
    def type(self) -> TenderType: ...

    @property
    def amount_cents(self) -> int: ...


@dataclass(frozen=True)
class Tender:
    type: TenderType
    amount_cents: int

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type.label, "amount_cents": self.amount_cents}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Tender:
        return cls(TenderType.parse(data["type"]), int(data["amount_cents"]))


class TenderError(Exception):
    """The tenders cannot pay this bill as given. ``code`` is the API error code."""

    def __init__(self, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = dict(details or {})


@dataclass(frozen=True)
class TenderPlan:
    """What each tender type hands over and what it pays of the bill (cash less the change)."""

    payable_cents: int
    handed: tuple[tuple[TenderType, int], ...]  # per type, in type order, only those used
    change_cents: int

    def handed_cents(self, tender: TenderType) -> int:
        return dict(self.handed).get(tender, 0)

    def applied_cents(self, tender: TenderType) -> int:
        """What `tender` pays of the bill: what it handed over, cash net of the change."""
        return self.handed_cents(tender) - (self.change_cents if tender is TenderType.CASH else 0)

    @property
    def tendered_cents(self) -> int:
        return sum(amount for _, amount in self.handed)

    @property
    def applied(self) -> tuple[tuple[TenderType, int], ...]:
        """Per type, what it paid of the bill; they add up to the payable."""
        return tuple((tender, self.applied_cents(tender)) for tender, _ in self.handed)

    def applied_by_label(self) -> list[tuple[str, int]]:
        """The applied amounts as the points rules read them (``("cash", 1200)``)."""
        return [(tender.label, cents) for tender, cents in self.applied]


def _totals(tenders: Iterable[TenderLike]) -> dict[TenderType, int]:
    totals: dict[TenderType, int] = {}
    for tender in tenders:
        kind = TenderType.parse(tender.type)
        if isinstance(tender.amount_cents, bool) or not isinstance(tender.amount_cents, int) \
                or tender.amount_cents <= 0:
            raise TenderError(INVALID_TENDER, "Every tender must be a positive amount.",
                              {"type": kind.label, "amount_cents": tender.amount_cents})
        totals[kind] = totals.get(kind, 0) + tender.amount_cents
    return totals


def plan_tenders(payable_cents: int, tenders: Iterable[TenderLike]) -> TenderPlan:
    """Check that `tenders` pay `payable_cents` and work out the change. Raises TenderError."""
    if payable_cents < 0:
        raise ValueError("payable_cents must be >= 0")
    totals = _totals(tenders)
    cash = totals.get(TenderType.CASH, 0)
    others = sum(amount for tender, amount in totals.items() if tender is not TenderType.CASH)
    if cash + others < payable_cents:
        raise TenderError(TENDERS_DO_NOT_COVER_TOTAL, "The tenders do not cover the total.",
                          {"payable_cents": payable_cents, "tendered_cents": cash + others})
    if others > payable_cents:
        # Only cash can give change: stored value and WeChat Pay must not exceed what is owed.
        raise TenderError(TENDERS_EXCEED_TOTAL, "Only cash may exceed the total.",
                          {"payable_cents": payable_cents, "non_cash_cents": others})
    return TenderPlan(payable_cents, tuple(sorted(totals.items())), cash + others - payable_cents)


def wechat_tender(tenders: Sequence[TenderLike]) -> TenderLike:
    """The one WeChat Pay tender of a settlement paid through WeChat Pay."""
    found = [t for t in tenders if TenderType.parse(t.type) is TenderType.WECHAT]
    if len(found) != 1:
        raise TenderError(ONE_WECHAT_TENDER, "Give exactly one WeChat tender.", {"wechat_tenders": len(found)})
    return found[0]


def wechat_remainder(payable_cents: int, others: Iterable[TenderLike], *, asked_cents: int | None = None) -> int:
    """What is left of the bill for WeChat Pay after the `others` tenders (no change is possible
    then). `asked_cents`, when the caller names the WeChat amount, must be exactly that."""
    totals = _totals(others)
    if TenderType.WECHAT in totals:
        raise TenderError(ONE_WECHAT_TENDER, "Give exactly one WeChat tender.", {"wechat_tenders": 2})
    amount = payable_cents - sum(totals.values())
    if amount <= 0:
        raise TenderError(NOTHING_LEFT_TO_PAY,
                          "The other tenders already cover the bill; nothing is left for WeChat Pay.",
                          {"payable_cents": payable_cents})
    if asked_cents is not None and asked_cents != amount:
        raise TenderError(TENDERS_DO_NOT_COVER_TOTAL,
                          "The WeChat tender must be what is left of the bill after the other tenders.",
                          {"payable_cents": payable_cents, "wechat_cents": amount})
    return amount


def plan_refund(amount_cents: int, refundable: Mapping[TenderType, int]) -> dict[TenderType, int]:
    """Spread a refund over the tenders in proportion to what each can still give back (largest
    remainder, ties to the earlier type); no tender gives back more than it holds."""
    tenders = sorted(refundable)
    weights = [refundable[t] for t in tenders]
    if amount_cents < 0 or any(w < 0 for w in weights):
        raise ValueError("amounts must be >= 0")
    if amount_cents > sum(weights):
        raise TenderError(REFUND_EXCEEDS_PAID, "More than was paid cannot be refunded.",
                          {"refund_cents": amount_cents, "refundable_cents": sum(weights)})
    return dict(zip(tenders, allocate(amount_cents, weights), strict=True))
