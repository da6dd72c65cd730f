"""Print latency: from "print this receipt" to the last byte arriving at the (virtual) printer.

Runs the agent's real path — parse the document, lay it out, render ESC/POS, record the job in
the SQLite print ledger, connect over TCP, ask the printer's status (DLE EOT), send, mark printed —
against the virtual network printer on localhost, one job after another, and reports percentiles.

    .venv/bin/python bench/print_latency.py [--count 500] [--width 80]

What it does not include: the physical printer's own printing speed (a thermal printer takes
roughly 0.5–2 s to print an 80 mm receipt) and a real network; it measures the agent's overhead.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

from pos_agent.config import parse_config
from pos_agent.printing.adapter import PrinterAdapter
from pos_agent.printing.ledger import PrintLedger
from pos_agent.printing.spooler import PrintRequest, PrintSpooler
from simulators.printer import VirtualPrinter


def receipt(number: int) -> dict:
    items = [
        ("红烧牛肉面", 2, 5600, ["加辣", "大碗"]),
        ("宫保鸡丁", 1, 3800, ["微辣"]),
        ("Kung Pao Chicken (extra spicy, no peanuts please)", 1, 4200, []),
        ("𠮷祥馄饨（鲜虾）特大份", 1, 1800, []),
        ("拍黄瓜", 1, 1200, []),
        ("米饭", 4, 800, []),
        ("酸梅汤", 2, 1600, ["少冰"]),
        ("青岛啤酒", 3, 2400, []),
    ]
    subtotal = sum(amount for _, _, amount, _ in items)
    discount = -subtotal // 10
    payable = subtotal + discount
    return {
        "kind": "receipt",
        "document_id": f"bench-{number}",
        "order_no": f"20240501-{number:04d}",
        "table": "A12",
        "guests": 4,
        "cashier": "王芳",
        "paid_at": "2024-05-01T04:30:00Z",
        "items": [
            {"name": name, "qty": q, "amount_cents": amount, "options": opts, "note": "不要香菜" if q > 1 else ""}
            for name, q, amount, opts in items
        ],
        "steps": [
            {"kind": "subtotal", "amount_cents": subtotal},
            {"kind": "tier_discount", "label": "会员折扣 9折", "amount_cents": discount},
        ],
        "payable_cents": payable,
        "tenders": [{"type": "wechat", "amount_cents": payable, "reference": "4200001234"}],
        "member": {"name": "李雷", "phone": "138****1234", "tier": "金卡 Gold", "points_earned": payable // 100,
                   "points_balance": 1296, "balance_cents": 52000},
    }  # fmt: skip


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=500, help="receipts to time")
    parser.add_argument("--warmup", type=int, default=20, help="receipts printed first and not timed")
    parser.add_argument("--width", type=int, choices=[58, 80], default=80, help="paper width in mm")
    parser.add_argument(
        "--memory-ledger", action="store_true", help="keep the ledger in memory (leaves out the disk's fsync time)"
    )
    args = parser.parse_args()

    total = args.warmup + args.count
    with VirtualPrinter(port=0, name="front", keep=total) as printer, tempfile.TemporaryDirectory() as tmp:
        config = parse_config(
            {
                "store_id": "bench",
                "server_url": "http://127.0.0.1:5000",
                "device_token": "bench",
                "store": {"name": "老王面馆", "address": "上海市徐汇区漕溪北路88号", "footer": ["谢谢惠顾"]},
                "printers": [
                    {
                        "name": "front",
                        "type": "network",
                        "address": f"127.0.0.1:{printer.port}",
                        "role": "receipt",
                        "profile": "TM-T20II",
                        "paper_width_mm": args.width,
                    }
                ],
            }
        )
        ledger = PrintLedger(":memory:" if args.memory_ledger else Path(tmp) / "ledger.sqlite3")
        spooler = PrintSpooler(config, ledger, {"front": PrinterAdapter(config.printers[0])})
        to_last_byte: list[float] = []
        submit_call: list[float] = []
        sizes: list[int] = []
        try:
            for i in range(total):
                request = PrintRequest(document_id=f"bench-{i}", version=1, kind="receipt", document=receipt(i))
                started = time.perf_counter()
                [outcome] = spooler.submit(request)
                returned = time.perf_counter()
                job = printer.wait_for_jobs(i + 1)[-1]
                if outcome.job.state != "printed":
                    raise SystemExit(f"job {i} not printed: {outcome.job.error_message}")
                if i >= args.warmup:
                    to_last_byte.append((job.last_byte_at - started) * 1000)
                    submit_call.append((returned - started) * 1000)
                    sizes.append(len(job.data))
        finally:
            ledger.close()
        if len(printer.jobs) != total:
            raise SystemExit(f"expected {total} jobs at the printer, got {len(printer.jobs)}")

    ledger_kind = "in-memory ledger" if args.memory_ledger else "ledger on disk"
    print(
        f"# print latency, {args.count} receipts of {statistics.mean(sizes):.0f} bytes, {args.width} mm paper, "
        f"{ledger_kind}"
    )
    python = f"{platform.python_implementation()} {platform.python_version()}"
    print(f"# {python}, {os.cpu_count()} CPU(s), {platform.machine()}")
    print("| measure | p50 ms | p90 ms | p99 ms | max ms |")
    print("|---|---|---|---|---|")
    for name, values in [("request → last byte at printer", to_last_byte), ("submit() call returns", submit_call)]:
        cells = [percentile(values, p) for p in (50, 90, 99)] + [max(values)]
        print(f"| {name} | " + " | ".join(f"{v:.2f}" for v in cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
