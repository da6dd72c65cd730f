"""The top-up slip (充值凭条) in exact bytes on python-escpos' Dummy printer, 58 and 80 mm, and its
reprint: the expected bytes are spelled out from the ESC/POS commands and GB18030 lines, and
the padded rows are checked against an independent width count."""

import unicodedata

import pytest
from escpos.printer import Dummy

from pos_agent.config import StoreInfo
from pos_agent.printing.documents import KINDS, build_ops, parse_document
from pos_agent.printing.render import render
from simulators.printer import decode

ESC, GS, FS, LF = b"\x1b", b"\x1d", b"\x1c", b"\n"
INIT, CHINESE = ESC + b"@", FS + b"&"
BOLD, NOT_BOLD = ESC + b"E\x01", ESC + b"E\x00"
LEFT, CENTER = ESC + b"a\x00", ESC + b"a\x01"
CUT = ESC + b"d\x06" + GS + b"V\x01"
DRAWER = ESC + b"p"


def size(width: int, height: int) -> bytes:
    return GS + b"!" + bytes([(width - 1) << 4 | (height - 1)])


def line(text: str) -> bytes:
    return text.encode("gb18030") + LF


def printed_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WFA" or ord(c) > 0x7F else 1 for c in text)


STORE = StoreInfo(name="老王面馆", address="上海市徐汇区漕溪北路88号", phone="021-55550188",
                  footer=("谢谢惠顾 Thank you",))
SLIP = {
    "kind": "topup", "document_id": "topup-41", "topup_no": "41", "topup_id": 41, "tender": "cash",
    "amount_cents": 50_000, "bonus_cents": 5_000, "rule": "充500送50", "rule_en": "top up 500, get 50 more",
    "member": {"name": "李雷", "phone": "139****1111", "member_no": "0000000007", "tier": "银卡",
               "points_balance": 120},
    "stored_value": {"principal_cents": 60_000, "bonus_cents": 5_000, "total_cents": 65_000},
    "topped_up_at": "2024-05-01T04:30:00+00:00", "cashier": "王芳", "store": {"name": "总店"},
}
ROWS_58 = {
    "paid": "充值 Paid               ￥500.00",
    "tender": "支付 Tender            现金 Cash",
    "bonus": "赠送 Bonus               ￥50.00",
    "credited": "到账 Credited           ￥550.00",
    "balance": "储值余额 Stored value   ￥650.00",
    "principal": "本金 Principal          ￥600.00",
    "bonus_balance": "赠送金 Bonus             ￥50.00",
    "points": "积分余额 Points balance      120",
}
ROWS_80 = {
    "paid": "充值 Paid                               ￥500.00",
    "tender": "支付 Tender                            现金 Cash",
    "bonus": "赠送 Bonus                               ￥50.00",
    "credited": "到账 Credited                           ￥550.00",
    "balance": "储值余额 Stored value                   ￥650.00",
    "principal": "本金 Principal                          ￥600.00",
    "bonus_balance": "赠送金 Bonus                             ￥50.00",
    "points": "积分余额 Points balance                      120",
}


def expected_slip(columns: int, rows: dict[str, str], *, reprint: bool = False) -> bytes:
    rule = "-" * columns
    head = [size(2, 2) + BOLD + CENTER + line("重打 REPRINT"), line("老王面馆")] if reprint else [
        size(2, 2) + BOLD + CENTER + line("老王面馆")]
    return b"".join([
        INIT, CHINESE, *head,
        size(1, 1) + NOT_BOLD + line("上海市徐汇区漕溪北路88号"),
        line("电话 Tel: 021-55550188"),
        line(""),
        BOLD + line("充值凭条 TOP-UP SLIP"),
        NOT_BOLD + LEFT + line(rule),
        line("单号 No.: 41"),
        line("时间 Time: 2024-05-01 12:30"),  # Shanghai time
        line("收银 Cashier: 王芳"),
        line(rule),
        line("会员 Member: 李雷 139****1111"),
        line("会员号 Member no.: 0000000007"),
        line("等级 Tier: 银卡"),
        line(rule),
        size(1, 2) + BOLD + line(rows["paid"]),
        size(1, 1) + NOT_BOLD + line(rows["tender"]),
        line(rows["bonus"]),
        line("活动 Offer: 充500送50"),
        BOLD + line(rows["credited"]),
        NOT_BOLD + line(rule),
        size(1, 2) + BOLD + line(rows["balance"]),
        size(1, 1) + NOT_BOLD + line(rows["principal"]),
        line(rows["bonus_balance"]),
        line(rows["points"]),
        line(rule),
        line("会员签字 Signature: __________"),
        line(""),
        CENTER + line("谢谢惠顾 Thank you"),
        line("打印 Printed 2024-05-01 12:31:05"),
        CUT,
    ])


def on_dummy(ops) -> bytes:
    printer = Dummy()
    render(ops, printer)
    return printer.output


@pytest.mark.parametrize(("columns", "rows"), [(32, ROWS_58), (48, ROWS_80)])
def test_the_top_up_slip_in_exact_bytes(columns, rows, fixed_clock):
    for text in rows.values():
        assert printed_width(text) == columns, text
    ops = build_ops(parse_document(SLIP), STORE, columns=columns, printed_at=fixed_clock())
    data = on_dummy(ops)
    assert data == expected_slip(columns, rows)
    assert DRAWER not in data  # the till opens the drawer itself, once per top-up


def test_a_reprinted_slip_says_so_at_the_top(fixed_clock):
    ops = build_ops(parse_document(SLIP), STORE, columns=48, printed_at=fixed_clock(), reprint=True)
    assert on_dummy(ops) == expected_slip(48, ROWS_80, reprint=True)
    marked = build_ops(parse_document({**SLIP, "is_reprint": True}), STORE, columns=48, printed_at=fixed_clock())
    assert on_dummy(marked) == expected_slip(48, ROWS_80, reprint=True)


def test_a_slip_without_a_rule_or_a_configured_header_uses_what_the_server_sent(fixed_clock):
    data = {**SLIP, "bonus_cents": 0, "rule": "", "rule_en": "", "tender": "wechat",
            "stored_value": {"principal_cents": 60_000, "bonus_cents": 0, "total_cents": 60_000}}
    data["member"] = {k: v for k, v in SLIP["member"].items() if k != "points_balance"}
    paper = decode(on_dummy(build_ops(parse_document(data), StoreInfo(name=""), columns=32,
                                      printed_at=fixed_clock())))
    assert paper.lines[0] == "总店" and paper.cuts == 1 and not paper.unknown
    assert "活动 Offer" not in paper.text and "积分余额" not in paper.text
    assert paper.lines[paper.lines.index("充值 Paid               ￥500.00") + 1] == "支付 Tender  微信支付 WeChat Pay"
    assert KINDS["topup"] == "receipt"
