"""The customer receipt: how the total was reached, how it was paid, and where the member stands.
The refund slip is the same receipt with what was paid back, and why."""

from __future__ import annotations

from datetime import datetime

from tablerules.documents import MemberSummary, PricingStep, Receipt, ReceiptItem, StoreHeader, TenderLine
from tablerules.money import format_cny

from ..config import StoreInfo
from . import layout
from .ops import Op
from .page import Page, local_time

# The printer's own words for tenders and pricing steps that arrive without a label.
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


def build_receipt(
    receipt: Receipt,
    store: StoreInfo,
    *,
    columns: int,
    printed_at: datetime,
    reprint: bool = False,
    open_drawer: bool = False,
) -> list[Op]:
    page = Page(columns)
    if open_drawer:
        # First, so the drawer is open while the paper is still printing.
        page.drawer()
    if reprint or receipt.is_reprint:
        page.reprint_banner()
    _header(page, store, receipt)
    _items(page, receipt.items)
    _totals(page, receipt)
    if receipt.is_refund:
        _refund(page, receipt)
    if receipt.member is not None:
        _member(page, receipt.member)
    if receipt.note:
        page.rule()
        page.text(f"备注 Note: {receipt.note}")
    _qr(page, receipt, store)
    page.rule()
    for line in store.footer:
        page.text(line, align="center")
    page.text(f"打印 Printed {local_time(printed_at, store.timezone, '%Y-%m-%d %H:%M:%S')}", align="center")
    page.cut()
    return page.ops


def store_header(page: Page, store: StoreInfo, sent: StoreHeader | None) -> None:
    """The store's name, address and phone at the top of a slip: the agent's configured header
    wins; the one the server sent fills what the configuration leaves out."""
    address = store.address or (sent.address if sent else "")
    phone = store.phone or (sent.phone if sent else "")
    page.text(store.name or (sent.name if sent else ""), align="center", bold=True, width=2, height=2)
    if address:
        page.text(address, align="center")
    if phone:
        page.text(f"电话 Tel: {phone}", align="center")
    page.blank()


def _header(page: Page, store: StoreInfo, receipt: Receipt) -> None:
    store_header(page, store, receipt.store)
    title = "退款单 REFUND" if receipt.is_refund else "结账单 RECEIPT" if receipt.is_paid else "账单 BILL"
    page.text(title, align="center", bold=True)
    page.rule()
    page.text(f"单号 Order: {receipt.order_no}")
    if receipt.table:
        guests = f"   人数 Guests: {receipt.guests}" if receipt.guests else ""
        page.text(f"桌号 Table: {receipt.table}{guests}")
    at = receipt.refunded_at if receipt.is_refund else receipt.paid_at
    if at:
        page.text(f"时间 Time: {local_time(at, store.timezone)}")
    if receipt.cashier:
        page.text(f"收银 Cashier: {receipt.cashier}")


def _items(page: Page, items: tuple[ReceiptItem, ...]) -> None:
    quantities = [f"{item.qty}{item.unit}" for item in items]
    amounts = [format_cny(item.amount_cents) for item in items]
    # Columns as wide as the widest value, so a ￥12,345.00 line never breaks the table.
    widths = [
        max(layout.text_width("数量"), *(layout.text_width(q) for q in quantities)),
        max(layout.text_width("金额"), *(layout.text_width(a) for a in amounts)),
    ]
    page.rule()
    page.table_row("品名 Item", ["数量", "金额"], widths, bold=True)
    for item, quantity, amount in zip(items, quantities, amounts, strict=True):
        page.table_row(item.name, [quantity, amount], widths)
        details = []
        if item.unit_price_cents is not None and item.qty > 1:
            details.append(f"@{format_cny(item.unit_price_cents)}")
        details.extend(item.options)
        if details:
            page.indented(" / ".join(details))
        if item.note:
            page.indented(f"备注 Note: {item.note}")


def _totals(page: Page, receipt: Receipt) -> None:
    page.rule()
    for step in receipt.steps:
        page.row(step_label(step), format_cny(step.amount_cents))
    page.row("应付 Payable", format_cny(receipt.payable_cents), bold=True, height=2)
    if not receipt.tenders:
        return
    page.rule()
    for tender in receipt.tenders:
        label = tender_label(tender)
        page.row(f"{label} {tender.reference}" if tender.reference else label, format_cny(tender.amount_cents))
    if receipt.change_cents or receipt.has_cash:
        page.row("找零 Change", format_cny(receipt.change_cents))


def step_label(step: PricingStep) -> str:
    if step.label or step.label_en:
        return " ".join(part for part in (step.label, step.label_en) if part)
    return STEP_LABELS.get(step.kind, step.kind)


def tender_label(tender: TenderLine) -> str:
    return tender.label or TENDER_LABELS.get(tender.type, tender.type)


def _refund(page: Page, receipt: Receipt) -> None:
    page.rule()
    page.row("退款 Refund", format_cny(-(receipt.refunded_cents or 0)), bold=True, height=2)
    if receipt.reason:
        page.text(f"原因 Reason: {receipt.reason}")


def _member(page: Page, member: MemberSummary) -> None:
    page.rule()
    who = " ".join(part for part in (member.name, member.phone or member.member_no) if part)
    page.text(f"会员 Member: {who}" if who else "会员 Member")
    if member.tier:
        page.text(f"等级 Tier: {member.tier}")
    if member.points_earned:
        page.row("本次积分 Points earned", f"{member.points_earned:+d}")
    if member.points_redeemed:
        page.row("积分使用 Points used", f"-{member.points_redeemed}")
    if member.points_balance is not None:
        page.row("积分余额 Points balance", str(member.points_balance))
    if member.balance_cents is not None:
        page.row("储值余额 Stored value", format_cny(member.balance_cents))


def _qr(page: Page, receipt: Receipt, store: StoreInfo) -> None:
    if receipt.payment_qr and not receipt.is_paid:
        page.rule()
        page.text("微信扫码支付 Scan to pay with WeChat", align="center", bold=True)
        page.qr(receipt.payment_qr)
        page.text(f"应付 Payable {format_cny(receipt.payable_cents)}", align="center")
        return
    signup = receipt.signup_url or store.signup_url
    if receipt.member is None and signup and not receipt.is_refund:
        page.rule()
        page.text("扫码成为会员 积分当钱花", align="center", bold=True)
        page.text("Scan to join and earn points", align="center")
        page.qr(signup)
