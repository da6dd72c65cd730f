"""Exact bytes: documents rendered on python-escpos' Dummy printer, against ESC/POS written out here.

The expected bytes are spelled out from the ESC/POS command definitions and GB18030-encoded
lines, not produced by the code under test; the padded lines are also checked against an
independent width count, so a layout regression cannot slip into the expectation unnoticed.
"""

import unicodedata

import pytest
from escpos import constants
from escpos.printer import Dummy

from pos_agent.config import StoreInfo
from pos_agent.printing.adapter import PrinterAdapter
from pos_agent.printing.documents import build_ops, parse_document
from pos_agent.printing.ops import QR, Cut, Drawer, Feed, Line
from pos_agent.printing.render import RenderOptions, render

# --- ESC/POS, from the command reference ---------------------------------------------------------
ESC, GS, FS, LF = b"\x1b", b"\x1d", b"\x1c", b"\n"
INIT = ESC + b"@"  # initialise printer
CHINESE = FS + b"&"  # select Kanji (Chinese) character mode
BOLD, NOT_BOLD = ESC + b"E\x01", ESC + b"E\x00"
LEFT, CENTER = ESC + b"a\x00", ESC + b"a\x01"
DRAWER = ESC + b"p\x00" + bytes([50, 50])  # pulse pin 2: 50 x 2 ms on, 50 x 2 ms off
CUT = ESC + b"d\x06" + GS + b"V\x01"  # feed 6 lines, then partial cut
FULL_CUT = ESC + b"d\x06" + GS + b"V\x00"


def size(width: int, height: int) -> bytes:
    """GS ! n: character width in the high nibble, height in the low nibble (both minus one)."""
    return GS + b"!" + bytes([(width - 1) << 4 | (height - 1)])


def line(text: str) -> bytes:
    return text.encode("gb18030") + LF


def qr(content: str, module: int = 6) -> bytes:
    """GS ( k, symbol 49 (QR): model 2, module size, error correction M, store data, print."""
    data = content.encode("ascii")
    return (
        GS
        + b"(k"
        + b"\x04\x00"
        + b"1A"
        + b"2\x00"  # fn 65: model 2
        + GS
        + b"(k"
        + b"\x03\x00"
        + b"1C"
        + bytes([module])  # fn 67: module size
        + GS
        + b"(k"
        + b"\x03\x00"
        + b"1E"
        + b"1"  # fn 69: error correction M (49)
        + GS
        + b"(k"
        + (len(data) + 3).to_bytes(2, "little")
        + b"1P0"
        + data  # fn 80: store
        + GS
        + b"(k"
        + b"\x03\x00"
        + b"1Q0"  # fn 81: print
    )


def test_our_constants_agree_with_python_escpos():
    assert constants.HW_INIT == INIT
    assert constants.TXT_STYLE["bold"][True] == BOLD
    assert constants.TXT_STYLE["align"]["center"] == CENTER
    assert constants.CD_KICK_2 == DRAWER
    assert constants.PAPER_PART_CUT == GS + b"V\x01"


def printed_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WFA" or ord(c) > 0x7F else 1 for c in text)


STORE = StoreInfo(
    name="老王面馆",
    address="上海市徐汇区漕溪北路88号",
    phone="021-55550188",
    footer=("谢谢惠顾 Thank you",),
    signup_url="https://tableloop.example/m/join?s=001",
)


def on_dummy(ops, **options) -> bytes:
    printer = Dummy()
    render(ops, printer, RenderOptions(**options))
    return printer.output


def check_rows(expected_lines: list[str], columns: int) -> None:
    for text in expected_lines:
        assert printed_width(text) == columns, (text, printed_width(text))


# --- receipts --------------------------------------------------------------------------------------

RECEIPT_ROWS_58 = [
    "品名 Item           数量    金额",
    "红烧牛肉面             2 ￥56.00",
    "𠮷祥馄饨（鲜虾）特     1 ￥18.00",  # a rare (four-byte GB18030) character, a name that wraps
    "小计 Subtotal            ￥74.00",
    "会员折扣 9折             -￥7.40",
    "抹零 Rounding            -￥0.60",
    "应付 Payable             ￥66.00",
    "现金 Cash               ￥100.00",
    "找零 Change              ￥34.00",
    "本次积分 Points earned       +66",
    "积分余额 Points balance     1296",
    "储值余额 Stored value   ￥520.00",
]

RECEIPT_ROWS_80 = [
    "品名 Item                           数量    金额",
    "红烧牛肉面                             2 ￥56.00",
    "𠮷祥馄饨（鲜虾）特大份                 1 ￥18.00",
    "小计 Subtotal                            ￥74.00",
    "会员折扣 9折                             -￥7.40",
    "抹零 Rounding                            -￥0.60",
    "应付 Payable                             ￥66.00",
    "现金 Cash                               ￥100.00",
    "找零 Change                              ￥34.00",
    "本次积分 Points earned                       +66",
    "积分余额 Points balance                     1296",
    "储值余额 Stored value                   ￥520.00",
]


def expected_receipt(columns: int, rows: list[str]) -> bytes:
    rule = "-" * columns
    r = dict(
        zip(
            [
                "head",
                "noodles",
                "wonton",
                "subtotal",
                "discount",
                "rounding",
                "payable",
                "cash",
                "change",
                "earned",
                "points",
                "balance",
            ],
            rows,
            strict=True,
        )
    )
    item_lines = [line(r["noodles"]), line("  @￥28.00 / 加辣"), line("  备注 Note: 不要香菜"), line(r["wonton"])]
    if columns == 32:
        item_lines.append(line("大份"))
    return b"".join(
        [
            INIT,
            CHINESE,
            DRAWER,
            size(2, 2) + BOLD + CENTER + line("老王面馆"),
            size(1, 1) + NOT_BOLD + line("上海市徐汇区漕溪北路88号"),
            line("电话 Tel: 021-55550188"),
            line(""),
            BOLD + line("结账单 RECEIPT"),
            NOT_BOLD + LEFT + line(rule),
            line("单号 Order: 20240501-0012"),
            line("桌号 Table: A12   人数 Guests: 4"),
            line("时间 Time: 2024-05-01 12:30"),
            line("收银 Cashier: 王芳"),
            line(rule),
            BOLD + line(r["head"]),
            NOT_BOLD,
            *item_lines,
            line(rule),
            line(r["subtotal"]),
            line(r["discount"]),
            line(r["rounding"]),
            size(1, 2) + BOLD + line(r["payable"]),
            size(1, 1) + NOT_BOLD + line(rule),
            line(r["cash"]),
            line(r["change"]),
            line(rule),
            line("会员 Member: 李雷 138****1234"),
            line("等级 Tier: 金卡 Gold"),
            line(r["earned"]),
            line(r["points"]),
            line(r["balance"]),
            line(rule),
            CENTER + line("谢谢惠顾 Thank you"),
            line("打印 Printed 2024-05-01 12:31:05"),
            CUT,
        ]
    )


@pytest.mark.parametrize(("columns", "rows"), [(32, RECEIPT_ROWS_58), (48, RECEIPT_ROWS_80)])
def test_chinese_receipt_exact_bytes(columns, rows, receipt_data, fixed_clock):
    check_rows(rows, columns)
    ops = build_ops(
        parse_document(receipt_data), STORE, columns=columns, printed_at=fixed_clock(), open_drawer=True
    )
    assert on_dummy(ops) == expected_receipt(columns, rows)


BILL_58 = {
    "head": "品名 Item           数量    金额",
    "items": [
        "Kung Pao Chicken       1 ￥42.00",
        "(extra spicy, no",  # an English name wraps at word boundaries
        "peanuts please)",
        "Rice                   2  ￥6.00",
    ],
    "subtotal": "小计 Subtotal            ￥48.00",
    "payable": "应付 Payable             ￥48.00",
    "caption": ["微信扫码支付 Scan to pay with", "WeChat"],
}
BILL_80 = {
    "head": "品名 Item                           数量    金额",
    "items": [
        "Kung Pao Chicken (extra spicy, no      1 ￥42.00",
        "peanuts please)",
        "Rice                                   2  ￥6.00",
    ],
    "subtotal": "小计 Subtotal                            ￥48.00",
    "payable": "应付 Payable                             ￥48.00",
    "caption": ["微信扫码支付 Scan to pay with WeChat"],
}


@pytest.mark.parametrize(("columns", "bill"), [(32, BILL_58), (48, BILL_80)])
def test_english_bill_with_pay_qr_exact_bytes(columns, bill, bill_data, fixed_clock):
    check_rows([bill["head"], bill["items"][0], bill["items"][-1], bill["subtotal"], bill["payable"]], columns)
    rule = "-" * columns
    expected = b"".join(
        [
            INIT,
            CHINESE,
            size(2, 2) + BOLD + CENTER + line("老王面馆"),
            size(1, 1) + NOT_BOLD + line("上海市徐汇区漕溪北路88号"),
            line("电话 Tel: 021-55550188"),
            line(""),
            BOLD + line("账单 BILL"),
            NOT_BOLD + LEFT + line(rule),
            line("单号 Order: B-7"),
            line("桌号 Table: T3"),
            line(rule),
            BOLD + line(bill["head"]),
            NOT_BOLD,
            *(line(text) for text in bill["items"]),
            line(rule),
            line(bill["subtotal"]),
            size(1, 2) + BOLD + line(bill["payable"]),
            size(1, 1) + NOT_BOLD + line(rule),
            BOLD + CENTER,
            *(line(text) for text in bill["caption"]),
            qr("weixin://wxpay/bizpayurl?pr=Qx7Yz9A"),
            NOT_BOLD + line("应付 Payable ￥48.00"),
            LEFT + line(rule),
            CENTER + line("谢谢惠顾 Thank you"),
            line("打印 Printed 2024-05-01 12:31:05"),
            CUT,
        ]
    )
    ops = build_ops(parse_document(bill_data), STORE, columns=columns, printed_at=fixed_clock())
    assert on_dummy(ops) == expected


def test_adapter_renders_the_same_bytes_for_a_qr_capable_profile(bill_data, fixed_clock, tmp_path):
    from pos_agent.config import PrinterConfig

    adapter = PrinterAdapter(
        PrinterConfig(name="p", type="file", address=str(tmp_path / "lp0"), role="receipt", profile="TM-T20II")
    )
    ops = build_ops(parse_document(bill_data), STORE, columns=48, printed_at=fixed_clock())
    assert adapter.render(ops) == on_dummy(ops)


# --- kitchen tickets -------------------------------------------------------------------------------


def test_chinese_kitchen_ticket_58mm_exact_bytes(ticket_data, fixed_clock):
    rule = "=" * 32
    expected = b"".join(
        [
            INIT,
            CHINESE,
            size(2, 2) + BOLD + CENTER + line("加菜 ADD"),
            LEFT + line("桌号 A12"),
            size(1, 1) + NOT_BOLD + line("单号 No. 0012   人数 Guests 4"),
            line("下单 Ordered 2024-05-01 12:30"),
            line(rule),
            size(1, 2) + BOLD + line("【热菜】"),
            size(2, 2) + line("宫保鸡丁 x2"),
            size(1, 2) + NOT_BOLD + line("  微辣"),
            BOLD + line("  备注: 不要花生"),
            size(1, 1) + NOT_BOLD + line(rule),
            size(1, 2) + BOLD + line("【凉菜】"),
            size(2, 2) + line("拍黄瓜 x1"),
            size(1, 1) + NOT_BOLD + line(rule),
            line("服务员 Waiter: 小王"),
            line("打印 Printed 12:31:05"),
            size(2, 2) + BOLD + CENTER + line("加菜 ADD"),
            CUT,
        ]
    )
    ops = build_ops(parse_document(ticket_data), STORE, columns=32, printed_at=fixed_clock())
    assert on_dummy(ops) == expected


def test_english_reprinted_kitchen_ticket_80mm_exact_bytes(fixed_clock):
    ticket = {
        "kind": "kitchen_ticket",
        "document_id": "ticket-88",
        "ticket_no": "88",
        "order_no": "88",
        "table": "T3",
        "created_at": "2024-05-01T12:30:00+08:00",
        "items": [
            {
                "name": "Dan Dan Noodles with chili oil and crushed peanuts",
                "qty": 1,
                "station": "wok",
                "options": ["no MSG", "extra spicy"],
            },
            {"name": "Mapo Tofu", "qty": 2, "station": "wok", "note": "龘 table, allergy: sesame"},
        ],
    }
    rule = "=" * 48
    expected = b"".join(
        [
            INIT,
            CHINESE,
            size(2, 2) + BOLD + CENTER + line("重打 REPRINT"),
            LEFT + line("桌号 T3"),
            size(1, 1) + NOT_BOLD + line("单号 No. 88"),
            line("下单 Ordered 2024-05-01 12:30"),
            line(rule),
            size(1, 2) + BOLD + line("【wok】"),
            # Double width: 24 columns per line, so the long name breaks between words.
            size(2, 2) + line("Dan Dan Noodles with") + line("chili oil and crushed") + line("peanuts x1"),
            size(1, 2) + NOT_BOLD + line("  no MSG / extra spicy"),
            size(2, 2) + BOLD + line("Mapo Tofu x2"),
            size(1, 2) + line("  备注: 龘 table, allergy: sesame"),
            size(1, 1) + NOT_BOLD + line(rule),
            line("打印 Printed 12:31:05"),
            size(2, 2) + BOLD + CENTER + line("重打 REPRINT"),
            CUT,
        ]
    )
    ops = build_ops(parse_document(ticket), STORE, columns=48, printed_at=fixed_clock(), reprint=True)
    assert on_dummy(ops) == expected


# --- the renderer's own rules ----------------------------------------------------------------------


def test_yen_sign_and_rare_characters_are_sent_as_gb18030_not_question_marks():
    output = on_dummy([Line("￥12.00 𠮷 龘 㵘")])
    assert output == INIT + CHINESE + b"\xa3\xa412.00 \x954\xb25 \xfd\x93 \x821\xe07" + LF
    assert b"?" not in output


def test_options_full_cut_no_chinese_mode_text_qr_and_feed():
    output = on_dummy(
        [Drawer(pin=5), QR("https://t.example/j"), Feed(3), Cut()], chinese_mode=False, cut="full", qr="text"
    )
    assert output == (
        INIT + ESC + b"p\x01" + bytes([50, 50]) + CENTER + line("https://t.example/j") + ESC + b"d\x03" + FULL_CUT
    )


def test_cut_none_only_feeds_past_the_tear_bar():
    assert on_dummy([Cut()], cut="none") == INIT + CHINESE + ESC + b"d\x04"


def test_styles_are_sent_only_when_they_change():
    output = on_dummy([Line("a", bold=True), Line("b", bold=True), Line("c")])
    assert output == INIT + CHINESE + BOLD + line("a") + line("b") + NOT_BOLD + line("c")
