"""The bill as charged: what a settlement took, kept with the order for receipts and refunds.

A settlement prices the bill (``tablerules.pricing``), plans its tenders
(``tablerules.tenders``) and records here everything a later refund must give back exactly: how
stored value was drawn (principal / bonus), the points it earned and under which terms, and a
snapshot of the member as the receipt shows them. Refunds read this value, never a re-pricing.

``to_dict`` is the JSON kept on the order (and answered by the API); ``from_dict`` reads it
back. A bill is never edited: a refund is recorded beside it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tablerules.points import PointsEarnRule
from tablerules.pricing import LineAllocation, PricedBill
from tablerules.stored_value import StoredValueSplit
from tablerules.tenders import Tender


@dataclass(frozen=True)
class MemberSnapshot:
    """The member as the receipt shows them, balances after the settlement."""

    id: int
    member_no: str
    name: str
    tier: str
    points: int
    stored_value_cents: int

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "member_no": self.member_no, "name": self.name, "tier": self.tier,
                "points": self.points, "stored_value_cents": self.stored_value_cents}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MemberSnapshot:
        return cls(data["id"], data["member_no"], data["name"], data["tier"], data["points"],
                   data["stored_value_cents"])


@dataclass(frozen=True)
class EarnTerms:
    """The points rule and tier multiplier the order earned under (a refund reverses with them,
    whatever the rules are by then)."""

    rule: PointsEarnRule
    multiplier_percent: int

    def to_dict(self) -> dict[str, Any]:
        return {"points_per_yuan": self.rule.points_per_yuan, "earning_tenders": sorted(self.rule.earning_tenders),
                "multiplier_percent": self.multiplier_percent}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EarnTerms:
        return cls(PointsEarnRule(data["points_per_yuan"], frozenset(data["earning_tenders"])),
                   data["multiplier_percent"])


@dataclass(frozen=True)
class ChargedBill:
    priced: PricedBill
    tenders: tuple[Tender, ...]  # as the settlement gave them
    change_cents: int
    stored_value_split: StoredValueSplit | None  # how the stored-value tender was drawn
    points_earned: int
    earn: EarnTerms | None  # None without a member
    member: MemberSnapshot | None

    @property
    def payable_cents(self) -> int:
        return self.priced.payable_cents

    @property
    def coupon_ids_used(self) -> tuple[int, ...]:
        return tuple(c for c in self.priced.coupon_ids_used if c is not None)

    def allocation(self, line_id: int) -> LineAllocation:
        for allocation in self.priced.line_allocations:
            if allocation.line_id == line_id:
                return allocation
        raise KeyError(line_id)

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.priced.to_dict(),
            "tenders": [tender.to_dict() for tender in self.tenders],
            "change_cents": self.change_cents,
            "stored_value_split": self.stored_value_split._asdict() if self.stored_value_split else None,
            "points_earned": self.points_earned,
            "earn": self.earn.to_dict() if self.earn else None,
            "member": self.member.to_dict() if self.member else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ChargedBill:
        split = data.get("stored_value_split")
        return cls(
            priced=PricedBill.from_dict(dict(data)),
            tenders=tuple(Tender.from_dict(t) for t in data["tenders"]),
            change_cents=data["change_cents"],
            stored_value_split=StoredValueSplit(split["principal_cents"], split["bonus_cents"]) if split else None,
            points_earned=data["points_earned"],
            earn=EarnTerms.from_dict(data["earn"]) if data.get("earn") else None,
            member=MemberSnapshot.from_dict(data["member"]) if data.get("member") else None,
        )


def line_refund_cents(net_cents: int, qty: int, refunded_qty: int, refund_qty: int) -> int:
    """What refunding `refund_qty` more of a line costing `net_cents` for `qty` gives back, when
    `refunded_qty` were refunded before. Cumulative floors: refunding a line bit by bit adds up
    to exactly its net amount."""
    if not 0 <= refunded_qty <= refunded_qty + refund_qty <= qty or refund_qty < 0:
        raise ValueError(f"cannot refund {refund_qty} of {qty} with {refunded_qty} refunded")
    return net_cents * (refunded_qty + refund_qty) // qty - net_cents * refunded_qty // qty
