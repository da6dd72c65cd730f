"""The top-up slip (充值凭条): built once, in the top-up's answer, through the document contract
(`tablerules.documents.TopUpSlip`); the till's agent prints what the answer carries. A replayed
top-up answers the stored answer, so the same slip (the same ``document_id``) comes back and
the agent's print ledger prints it once."""

from __future__ import annotations

from datetime import datetime

from app.actor import Actor
from app.db import db
from app.members.models import Member
from app.members.service import TopUpResult
from app.tenants.models import Store
from tablerules import documents as contract
from tablerules.stored_value import rule_words


def masked_phone(phone: str) -> str:
    """139****1111: enough for the member to know it is theirs, not enough for anyone else."""
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 11 else phone


def topup_slip(member: Member, result: TopUpResult, *, tender: str, actor: Actor,
               now: datetime) -> contract.TopUpSlip:
    """The slip of a top-up just posted: `member` is the row after it (its balances include it)."""
    topup_id = result.entries[0].id
    store = db.session.get(Store, actor.store_id) if actor.store_id else None
    rule, rule_en = rule_words(result.rule) if result.rule is not None else ("", "")
    return contract.TopUpSlip(
        document_id=f"topup-{topup_id}",
        topup_no=str(topup_id),
        topup_id=topup_id,
        member=contract.MemberSummary(
            name=member.name, phone=masked_phone(member.phone), member_no=member.member_no,
            tier=member.tier.name if member.tier else "", points_balance=member.points),
        amount_cents=result.principal_cents,
        bonus_cents=result.bonus_cents,
        tender=tender,
        stored_value=contract.StoredValueBalance(
            principal_cents=member.principal_cents, bonus_cents=member.bonus_cents,
            total_cents=member.stored_value_cents),
        topped_up_at=now.isoformat(),
        rule=rule,
        rule_en=rule_en,
        cashier=actor.name,
        store=contract.StoreHeader(name=store.name, address=store.address or "", phone=store.phone or "")
        if store else None,
    )
