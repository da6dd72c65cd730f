"""The top-up slip (充值凭条) handed to the member: what they paid, the bonus the rule added, and
the stored value they now hold. It never opens the cash drawer: the till opens it once per
top-up itself, when the money is taken."""

from __future__ import annotations

from datetime import datetime

from tablerules.documents import TopUpSlip
from tablerules.money import format_cny

from ..config import StoreInfo
from .ops import Op
from .page import Page, local_time
from .receipt import TENDER_LABELS, store_header


def build_topup_slip(
    slip: TopUpSlip,
    store: StoreInfo,
    *,
    columns: int,
    printed_at: datetime,
    reprint: bool = False,
) -> list[Op]:
    page = Page(columns)
    if reprint or slip.is_reprint:
        page.reprint_banner()
    store_header(page, store, slip.store)
    page.text("充值凭条 TOP-UP SLIP", align="center", bold=True)
    page.rule()
    page.text(f"单号 No.: {slip.topup_no}")
    page.text(f"时间 Time: {local_time(slip.topped_up_at, store.timezone)}")
    if slip.cashier:
        page.text(f"收银 Cashier: {slip.cashier}")

    page.rule()
    member = slip.member
    who = " ".join(part for part in (member.name, member.phone) if part)
    page.text(f"会员 Member: {who}" if who else "会员 Member")
    if member.member_no:
        page.text(f"会员号 Member no.: {member.member_no}")
    if member.tier:
        page.text(f"等级 Tier: {member.tier}")

    page.rule()
    page.row("充值 Paid", format_cny(slip.amount_cents), bold=True, height=2)
    page.row("支付 Tender", TENDER_LABELS.get(slip.tender, slip.tender))
    page.row("赠送 Bonus", format_cny(slip.bonus_cents))
    if slip.rule:
        page.text(f"活动 Offer: {slip.rule}")
    page.row("到账 Credited", format_cny(slip.credited_cents), bold=True)

    page.rule()
    balance = slip.stored_value
    page.row("储值余额 Stored value", format_cny(balance.total_cents), bold=True, height=2)
    page.row("本金 Principal", format_cny(balance.principal_cents))
    page.row("赠送金 Bonus", format_cny(balance.bonus_cents))
    if member.points_balance is not None:
        page.row("积分余额 Points balance", str(member.points_balance))

    page.rule()
    page.text("会员签字 Signature: __________")
    page.blank()
    for line in store.footer:
        page.text(line, align="center")
    page.text(f"打印 Printed {local_time(printed_at, store.timezone, '%Y-%m-%d %H:%M:%S')}", align="center")
    page.cut()
    return page.ops
