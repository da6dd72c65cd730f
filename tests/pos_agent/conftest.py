"""Fixtures for the on-site agent: a virtual printer on an ephemeral port, configs, a fixed clock."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pos_agent.config import AgentConfig, PrinterConfig, parse_config
from simulators.printer import VirtualPrinter

FIXED_NOW = datetime(2024, 5, 1, 4, 31, 5, tzinfo=UTC)  # 12:31:05 in Shanghai


@pytest.fixture
def virtual_printer() -> Iterator[VirtualPrinter]:
    with VirtualPrinter(port=0, name="front") as printer:
        yield printer


@pytest.fixture
def kitchen_printer() -> Iterator[VirtualPrinter]:
    with VirtualPrinter(port=0, name="kitchen") as printer:
        yield printer


def _printer_config(printer: VirtualPrinter, **overrides: Any) -> PrinterConfig:
    values: dict[str, Any] = {
        "name": printer.name,
        "type": "network",
        "address": f"127.0.0.1:{printer.port}",
        "role": "receipt",
        "paper_width_mm": 80,
        "columns": 48,
        "profile": "TM-T20II",
        "timeout_s": 2.0,
    }
    values.update(overrides)
    return PrinterConfig(**values)


def agent_config_data(tmp_path: Path, printers: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "store_id": "store-001",
        "server_url": "http://127.0.0.1:5000",
        "device_token": "test-token",
        "data_dir": str(tmp_path / "agent"),
        "http": {"host": "127.0.0.1", "port": 0},
        "retry_interval_s": 0.1,
        "store": {
            "name": "老王面馆",
            "address": "上海市徐汇区漕溪北路88号",
            "phone": "021-55550188",
            "footer": ["谢谢惠顾 Thank you"],
            "signup_url": "https://tableloop.example/m/join?s=001",
        },
        "printers": printers,
    }
    data.update(extra)
    return data


@pytest.fixture
def printer_config() -> Callable[..., PrinterConfig]:
    """``printer_config(virtual_printer, paper_width_mm=58, ...)`` -> a network PrinterConfig."""
    return _printer_config


@pytest.fixture
def make_agent_config(tmp_path: Path) -> Callable[..., AgentConfig]:
    def make(printers: list[dict[str, Any]], **extra: Any) -> AgentConfig:
        return parse_config(agent_config_data(tmp_path, printers, **extra))

    return make


@pytest.fixture
def fixed_clock() -> Callable[[], datetime]:
    return lambda: FIXED_NOW


# --- sample documents (plain JSON-like dicts, as the server sends them) ---------------------------


@pytest.fixture
def receipt_data() -> dict[str, Any]:
    return {
        "kind": "receipt",
        "document_id": "receipt-12",
        "order_no": "20240501-0012",
        "table": "A12",
        "guests": 4,
        "cashier": "王芳",
        "paid_at": "2024-05-01T04:30:00Z",
        "items": [
            {
                "name": "红烧牛肉面",
                "qty": 2,
                "amount_cents": 5600,
                "unit_price_cents": 2800,
                "options": ["加辣"],
                "note": "不要香菜",
            },
            {"name": "𠮷祥馄饨（鲜虾）特大份", "qty": 1, "amount_cents": 1800},
        ],
        "steps": [
            {"kind": "subtotal", "amount_cents": 7400},
            {"kind": "tier_discount", "label": "会员折扣 9折", "amount_cents": -740},
            {"kind": "rounding", "amount_cents": -60},
        ],
        "payable_cents": 6600,
        "tenders": [{"type": "cash", "amount_cents": 10000}],
        "change_cents": 3400,
        "member": {
            "name": "李雷",
            "phone": "138****1234",
            "tier": "金卡 Gold",
            "points_earned": 66,
            "points_balance": 1296,
            "balance_cents": 52000,
        },
    }


@pytest.fixture
def bill_data() -> dict[str, Any]:
    """An unpaid English bill with a WeChat Pay NATIVE QR code."""
    return {
        "kind": "receipt",
        "document_id": "bill-7",
        "order_no": "B-7",
        "table": "T3",
        "items": [
            {"name": "Kung Pao Chicken (extra spicy, no peanuts please)", "qty": 1, "amount_cents": 4200},
            {"name": "Rice", "qty": 2, "amount_cents": 600},
        ],
        "steps": [{"kind": "subtotal", "amount_cents": 4800}],
        "payable_cents": 4800,
        "payment_qr": "weixin://wxpay/bizpayurl?pr=Qx7Yz9A",
    }


@pytest.fixture
def ticket_data() -> dict[str, Any]:
    return {
        "kind": "kitchen_ticket",
        "document_id": "ticket-31",
        "ticket_no": "31",
        "order_no": "0012",
        "table": "A12",
        "guests": 4,
        "created_at": "2024-05-01T04:30:00Z",
        "mark": "add",
        "waiter": "小王",
        "items": [
            {
                "name": "宫保鸡丁",
                "qty": 2,
                "station": "hot",
                "station_name": "热菜",
                "options": ["微辣"],
                "note": "不要花生",
            },
            {"name": "拍黄瓜", "qty": 1, "station": "cold", "station_name": "凉菜"},
        ],
    }


@pytest.fixture
def shift_data() -> dict[str, Any]:
    return {
        "kind": "shift_summary",
        "document_id": "shift-1",
        "shift_no": "S-20240501-1",
        "cashier": "王芳",
        "opened_at": "2024-05-01T01:00:00Z",
        "closed_at": "2024-05-01T09:00:00Z",
        "sales_count": 52,
        "guest_count": 140,
        "gross_cents": 1234500,
        "discount_cents": 45600,
        "sales_cents": 1188900,
        "refunds_cents": 5000,
        "sales_by_tender": {"cash": 205000, "wechat": 983900},
        "refunds_by_tender": {"cash": 5000},
        "topups_by_tender": {"cash": 300000},
        "topup_bonus_cents": 60000,
        "cashouts_cents": 10000,
        "voids": 2,
        "void_cents": 7600,
        "new_members": 7,
        "opening_float_cents": 50000,
        "expected_cash_cents": 540000,
        "counted_cash_cents": 539000,
        "difference_cents": -1000,
    }
