"""The shift summary printed when a cashier closes the till."""

from __future__ import annotations

from datetime import datetime

from tablerules.money import format_cny

from ..config import StoreInfo
from .models import ShiftSummary
from .ops import Op
from .page import Page, local_time

REPRINT_MARK = "重打 REPRINT"


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
    if reprint:
        page.text(REPRINT_MARK, align="center", bold=True, width=2, height=2)
    page.text(store.name, align="center", bold=True, width=2, height=2)
    page.text("交班报表 SHIFT SUMMARY", align="center", bold=True)
    page.rule()
    page.text(f"班次 Shift: {summary.shift_no}")
    page.text(f"收银 Cashier: {summary.cashier}")
    page.text(f"开始 Opened: {local_time(summary.opened_at, tz)}")
    page.text(f"结束 Closed: {local_time(summary.closed_at, tz)}")

    page.rule()
    page.row("订单数 Orders", str(summary.order_count))
    page.row("人数 Guests", str(summary.guest_count))
    page.row("营业额 Gross sales", format_cny(summary.gross_cents))
    page.row("优惠 Discounts", format_cny(-abs(summary.discount_cents)))
    if summary.refund_count or summary.refund_cents:
        page.row(f"退款 Refunds ({summary.refund_count})", format_cny(-abs(summary.refund_cents)))
    page.row("实收 Net", format_cny(summary.net_cents), bold=True)

    if summary.tenders:
        page.rule()
        page.text("收款方式 Tenders", bold=True)
        for tender in summary.tenders:
            page.row(f"{tender.label} ({tender.count})", format_cny(tender.amount_cents))

    if summary.top_up_count or summary.new_members:
        page.rule()
        page.row(f"充值 Top-ups ({summary.top_up_count})", format_cny(summary.top_up_cents))
        if summary.top_up_bonus_cents:
            page.row("赠送 Bonus credited", format_cny(summary.top_up_bonus_cents))
        page.row("新会员 New members", str(summary.new_members))

    page.rule()
    page.row("备用金 Opening float", format_cny(summary.opening_float_cents))
    if summary.cash_expected_cents is not None:
        page.row("应有现金 Cash expected", format_cny(summary.cash_expected_cents), bold=True)
    if summary.cash_counted_cents is not None:
        page.row("实点现金 Cash counted", format_cny(summary.cash_counted_cents))
        if summary.cash_expected_cents is not None:
            difference = summary.cash_counted_cents - summary.cash_expected_cents
            page.row("差额 Difference", format_cny(difference), bold=bool(difference))

    page.rule()
    page.text(f"打印 Printed {local_time(printed_at, tz, '%Y-%m-%d %H:%M:%S')}")
    page.blank()
    page.text("签字 Signature: ______________")
    page.cut()
    return page.ops
