"""The shift summary printed when a cashier closes the till."""

from __future__ import annotations

from datetime import datetime

from tablerules.documents import ShiftSummary, TenderAmount
from tablerules.money import format_cny

from ..config import StoreInfo
from .ops import Op
from .page import Page, local_time
from .receipt import TENDER_LABELS


def build_shift_summary(
    summary: ShiftSummary,
    store: StoreInfo,
    *,
    columns: int,
    printed_at: datetime,
    reprint: bool = False,
) -> list[Op]:
    page = Page(columns)
    tz = store.timezone
    if reprint or summary.is_reprint:
        page.reprint_banner()
    page.text(store.name, align="center", bold=True, width=2, height=2)
    page.text("交班报表 SHIFT SUMMARY", align="center", bold=True)
    page.rule()
    page.text(f"班次 Shift: {summary.shift_no}")
    page.text(f"收银 Cashier: {summary.cashier}")
    page.text(f"开始 Opened: {local_time(summary.opened_at, tz)}")
    page.text(f"结束 Closed: {local_time(summary.closed_at, tz)}")

    page.rule()
    page.row("收款笔数 Payments", str(summary.sales_count))
    if summary.guest_count is not None:
        page.row("人数 Guests", str(summary.guest_count))
    if summary.gross_cents is not None:
        page.row("营业额 Gross sales", format_cny(summary.gross_cents))
    if summary.discount_cents is not None:
        page.row("优惠 Discounts", format_cny(-abs(summary.discount_cents)))
    page.row("销售 Sales", format_cny(summary.sales_cents))
    if summary.refunds_cents:
        page.row("退款 Refunds", format_cny(-summary.refunds_cents))
    page.row("实收 Net", format_cny(summary.net_cents), bold=True)

    _by_tender(page, "收款方式 Tenders", summary.sales_by_tender)
    _by_tender(page, "退款方式 Refunded to", summary.refunds_by_tender, sign=-1)

    if summary.topups_by_tender or summary.cashouts_cents or summary.new_members:
        page.rule()
        for topup in summary.topups_by_tender:
            page.row(f"充值 Top-up {_tender(topup.type)}", format_cny(topup.amount_cents))
        if summary.topup_bonus_cents:
            page.row("赠送 Bonus credited", format_cny(summary.topup_bonus_cents))
        if summary.cashouts_cents:
            page.row("退储值 Cash-outs", format_cny(-summary.cashouts_cents))
        if summary.new_members is not None:
            page.row("新会员 New members", str(summary.new_members))

    if summary.voids:
        page.rule()
        page.row(f"退菜 Voided dishes ({summary.voids})", format_cny(summary.void_cents))

    page.rule()
    page.row("备用金 Opening float", format_cny(summary.opening_float_cents))
    if summary.expected_cash_cents is not None:
        page.row("应有现金 Cash expected", format_cny(summary.expected_cash_cents), bold=True)
    if summary.counted_cash_cents is not None:
        page.row("实点现金 Cash counted", format_cny(summary.counted_cash_cents))
        difference = summary.difference_cents
        if difference is None and summary.expected_cash_cents is not None:
            difference = summary.counted_cash_cents - summary.expected_cash_cents
        if difference is not None:
            page.row("差额 Difference", format_cny(difference), bold=bool(difference))

    page.rule()
    page.text(f"打印 Printed {local_time(printed_at, tz, '%Y-%m-%d %H:%M:%S')}")
    page.blank()
    page.text("签字 Signature: ______________")
    page.cut()
    return page.ops


def _tender(kind: str) -> str:
    return TENDER_LABELS.get(kind, kind)


def _by_tender(page: Page, title: str, amounts: tuple[TenderAmount, ...], sign: int = 1) -> None:
    if not amounts:
        return
    page.rule()
    page.text(title, bold=True)
    for amount in amounts:
        page.row(_tender(amount.type), format_cny(sign * amount.amount_cents))
