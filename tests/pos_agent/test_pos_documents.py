"""Documents as data: what each one says, laid out for 32 and 48 columns (no printer involved)."""

import pytest

from pos_agent.config import StoreInfo, parse_config
from pos_agent.printing import layout
from pos_agent.printing.documents import build_ops, parse_document, route_kitchen_ticket
from pos_agent.printing.ops import QR, Cut, Drawer, Line, as_text
from tablerules.documents import DocumentError

STORE = StoreInfo(
    name="老王面馆",
    address="上海市徐汇区漕溪北路88号",
    phone="021-55550188",
    footer=("谢谢惠顾 Thank you",),
    signup_url="https://tableloop.example/m/join?s=001",
)


def lines_of(ops):
    return [op.text for op in ops if isinstance(op, Line)]


@pytest.mark.parametrize("columns", [32, 48])
def test_every_line_fits_the_paper(columns, receipt_data, bill_data, ticket_data, shift_data, fixed_clock):
    for data in [receipt_data, bill_data, ticket_data, shift_data]:
        ops = build_ops(parse_document(data), STORE, columns=columns, printed_at=fixed_clock(), reprint=True)
        for op in ops:
            if isinstance(op, Line):
                assert layout.text_width(op.text) * op.width <= columns, op


def test_receipt_shows_items_pricing_steps_tenders_change_and_member(receipt_data, fixed_clock):
    ops = build_ops(
        parse_document(receipt_data), STORE, columns=32, printed_at=fixed_clock(), open_drawer=True
    )
    text = as_text(ops)
    assert isinstance(ops[0], Drawer) and isinstance(ops[-1], Cut)
    for expected in [
        "老王面馆",
        "结账单 RECEIPT",
        "单号 Order: 20240501-0012",
        "桌号 Table: A12   人数 Guests: 4",
        "时间 Time: 2024-05-01 12:30",  # UTC 04:30 shown in Shanghai time
        "红烧牛肉面             2 ￥56.00",
        "  @￥28.00 / 加辣",
        "  备注 Note: 不要香菜",
        "小计 Subtotal            ￥74.00",
        "会员折扣 9折             -￥7.40",
        "抹零 Rounding            -￥0.60",
        "应付 Payable             ￥66.00",
        "现金 Cash               ￥100.00",
        "找零 Change              ￥34.00",
        "等级 Tier: 金卡 Gold",
        "本次积分 Points earned       +66",
        "积分余额 Points balance     1296",
        "储值余额 Stored value   ￥520.00",
        "打印 Printed 2024-05-01 12:31:05",
    ]:
        assert expected in text.splitlines(), expected
    payable = next(op for op in ops if isinstance(op, Line) and op.text.startswith("应付"))
    assert payable.bold and payable.height == 2
    # A member's receipt has no sign-up QR.
    assert not [op for op in ops if isinstance(op, QR)]


def test_unpaid_bill_prints_the_native_pay_qr(bill_data, fixed_clock):
    ops = build_ops(parse_document(bill_data), STORE, columns=48, printed_at=fixed_clock())
    assert [op.content for op in ops if isinstance(op, QR)] == ["weixin://wxpay/bizpayurl?pr=Qx7Yz9A"]
    assert "账单 BILL" in lines_of(ops)
    assert "微信扫码支付 Scan to pay with WeChat" in lines_of(ops)


def test_paid_receipt_of_a_non_member_invites_to_join(receipt_data, fixed_clock):
    del receipt_data["member"]
    ops = build_ops(parse_document(receipt_data), STORE, columns=48, printed_at=fixed_clock())
    assert [op.content for op in ops if isinstance(op, QR)] == [STORE.signup_url]
    assert "扫码成为会员 积分当钱花" in lines_of(ops)


def test_reprinted_receipt_says_so_in_large_type(receipt_data, fixed_clock):
    ops = build_ops(parse_document(receipt_data), STORE, columns=32, printed_at=fixed_clock(), reprint=True)
    first = ops[0]
    assert isinstance(first, Line) and first.text == "重打 REPRINT" and (first.width, first.height) == (2, 2)


def test_kitchen_ticket_is_large_grouped_by_station_and_marked(ticket_data, fixed_clock):
    ops = build_ops(
        parse_document(ticket_data), STORE, columns=32, printed_at=fixed_clock(), reprint=True
    )
    lines = lines_of(ops)
    assert lines[:3] == ["重打 REPRINT", "加菜 ADD", "桌号 A12"]
    assert lines[-2:] == ["重打 REPRINT", "加菜 ADD"]  # both ends of the ticket
    assert lines.index("【热菜】") < lines.index("宫保鸡丁 x2") < lines.index("【凉菜】") < lines.index("拍黄瓜 x1")
    dish = next(op for op in ops if isinstance(op, Line) and op.text == "宫保鸡丁 x2")
    assert (dish.width, dish.height, dish.bold) == (2, 2, True)
    assert "  备注: 不要花生" in lines
    assert "下单 Ordered 2024-05-01 12:30" in lines


def test_cancel_ticket_marks_each_dish(ticket_data, fixed_clock):
    ticket_data["mark"] = "cancel"
    lines = lines_of(
        build_ops(parse_document(ticket_data), STORE, columns=48, printed_at=fixed_clock())
    )
    assert lines[0] == "退菜 CANCEL"
    assert "退 宫保鸡丁 x2" in lines


def test_long_dish_name_on_a_ticket_wraps_in_large_type(ticket_data, fixed_clock):
    ticket_data["items"][0]["name"] = "秘制红烧肉配东北大米饭加卤蛋"
    ops = build_ops(parse_document(ticket_data), STORE, columns=32, printed_at=fixed_clock())
    big = [op.text for op in ops if isinstance(op, Line) and op.width == 2 and "秘制" in op.text]
    assert big == ["秘制红烧肉配东北"]
    assert "大米饭加卤蛋 x2" in lines_of(ops)


def test_shift_summary(shift_data, fixed_clock):
    text = as_text(build_ops(parse_document(shift_data), STORE, columns=32, printed_at=fixed_clock()))
    for expected in [
        "交班报表 SHIFT SUMMARY",
        "收款笔数 Payments             52",
        "营业额 Gross sales    ￥12345.00",
        "优惠 Discounts         -￥456.00",
        "销售 Sales            ￥11889.00",
        "退款 Refunds            -￥50.00",
        "实收 Net              ￥11839.00",
        "现金 Cash              ￥2050.00",
        "微信支付 WeChat Pay    ￥9839.00",
        "现金 Cash               -￥50.00",  # refunded to
        "充值 Top-up 现金 Cash  ￥3000.00",
        "退储值 Cash-outs       -￥100.00",
        "新会员 New members             7",
        "退菜 Voided dishes (2)   ￥76.00",
        "应有现金 Cash expected ￥5400.00",
        "实点现金 Cash counted  ￥5390.00",
        "差额 Difference         -￥10.00",
    ]:
        assert expected in text.splitlines(), expected


def test_shift_summary_leaves_out_what_the_server_does_not_count(shift_data, fixed_clock):
    for name in ("guest_count", "gross_cents", "discount_cents", "new_members", "topup_bonus_cents"):
        del shift_data[name]
    lines = as_text(build_ops(parse_document(shift_data), STORE, columns=32, printed_at=fixed_clock())).splitlines()
    assert not [line for line in lines if line.startswith(("人数", "营业额", "优惠", "新会员", "赠送"))]
    assert "实收 Net              ￥11839.00" in lines


def test_refund_slip_says_what_was_paid_back_and_why(receipt_data, fixed_clock):
    refund = {**receipt_data, "kind": "refund", "document_id": "refund-12-1", "refunded_cents": 6600,
              "refunded_at": "2024-05-01T05:00:00Z", "reason": "菜品质量问题"}
    ops = build_ops(parse_document(refund), STORE, columns=32, printed_at=fixed_clock())
    lines = lines_of(ops)
    assert "退款单 REFUND" in lines and "结账单 RECEIPT" not in lines
    assert "时间 Time: 2024-05-01 13:00" in lines  # when the refund was made
    refunded = next(op for op in ops if isinstance(op, Line) and op.text.startswith("退款 Refund"))
    assert refunded.text == "退款 Refund             -￥66.00" and refunded.bold
    assert "原因 Reason: 菜品质量问题" in lines
    assert not [op for op in ops if isinstance(op, QR)]


def test_steps_from_the_server_print_in_both_languages(receipt_data, fixed_clock):
    receipt_data["steps"] = [
        {"kind": "subtotal", "label": "小计", "label_en": "Subtotal", "amount_cents": 7400},
        {"kind": "rounding", "label": "抹零", "label_en": "Rounding (to yuan)", "amount_cents": -60},
    ]
    lines = lines_of(build_ops(parse_document(receipt_data), STORE, columns=48, printed_at=fixed_clock()))
    assert "小计 Subtotal                            ￥74.00" in lines
    assert "抹零 Rounding (to yuan)                  -￥0.60" in lines


def test_kitchen_routing_by_station(tmp_path, ticket_data):
    config = parse_config(
        {
            "store_id": "s",
            "server_url": "http://x",
            "device_token": "t",
            "store": {"name": "店"},
            "printers": [
                {"name": "front", "type": "file", "address": str(tmp_path / "a"), "role": "receipt"},
                {
                    "name": "hot",
                    "type": "file",
                    "address": str(tmp_path / "b"),
                    "role": "kitchen",
                    "stations": ["hot", "wok"],
                },
                {
                    "name": "cold",
                    "type": "file",
                    "address": str(tmp_path / "c"),
                    "role": "kitchen",
                    "stations": ["cold"],
                },
            ],
        }
    )
    ticket_data["items"].append({"name": "酸梅汤", "qty": 1, "station": "drinks"})
    routed = route_kitchen_ticket(parse_document(ticket_data), config.printers)
    assert [(p.name, [i.name for i in t.items]) for p, t in routed] == [
        ("hot", ["宫保鸡丁", "酸梅汤"]),  # drinks has no printer: the first kitchen printer takes it
        ("cold", ["拍黄瓜"]),
    ]


@pytest.mark.parametrize(
    ("kind", "change", "field"),
    [
        ("receipt", {"items": []}, "items"),
        ("receipt", {"payable_cents": 66.0}, "payable_cents"),
        ("receipt", {"items": [{"name": "面", "qty": 0, "amount_cents": 1}]}, "items[0].qty"),
        ("receipt", {"paid_at": "yesterday"}, "paid_at"),
        ("receipt", {"kind": "refund"}, "refunded_cents"),
        ("receipt", {"kind": "menu"}, "kind"),
        ("kitchen_ticket", {"mark": "urgent"}, "mark"),
        ("kitchen_ticket", {"items": [{"name": "面", "qty": 1}]}, "items[0].station"),
        ("kitchen_ticket", {"order_no": ""}, "order_no"),
    ],
)
def test_bad_documents_name_the_field(kind, change, field, receipt_data, ticket_data):
    data = {**(receipt_data if kind == "receipt" else ticket_data), **change}
    with pytest.raises(DocumentError) as info:
        parse_document(data)
    assert info.value.field == field
