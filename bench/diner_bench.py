"""The diner's phone: the menu page with 200 dishes, and a cart change reaching every phone.

Builds a merchant with a 200-dish menu (10 categories, specs on every fourth dish) and T tables
in a fresh database, then measures in-process (the app's test client, so each request runs the
whole page: the table token check, the menu query, the template):

- the menu page `/t/<token>`: bytes of HTML, gzip-compressed bytes, and the bytes of the
  page's own CSS and JavaScript (photos are lazy and not counted); server time p50/p99 over
  --requests renders;
- a cart change → every phone at the table: P phones at each of T tables hold the table's
  stream (`/t/<token>/stream`) in threads; one phone per table adds a dish; the time from the
  add request's start to each phone reading its `cart` message, p50/p99 over --rounds rounds.

    .venv/bin/python bench/diner_bench.py                       # SQLite in /tmp
    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/tableloop_bench \\
        .venv/bin/python bench/diner_bench.py --tables 50 --phones 6

Figures only: nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import gzip
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def _app(url: str):
    from flask_migrate import upgrade

    from app import create_app
    from config.settings import _sqlalchemy_url

    app = create_app({"SQLALCHEMY_DATABASE_URI": _sqlalchemy_url(url), "WTF_CSRF_ENABLED": True})
    with app.app_context():
        upgrade()
    return app


def _seed(app, tables: int) -> tuple[list[str], int]:
    from app.auth.service import create_tenant
    from app.db import db
    from app.menu.models import Category, Dish, OptionChoice, OptionGroup
    from app.tables.models import DiningTable
    from app.tables.service import qr_secret, table_token

    with app.app_context():
        merchant, store, _owner = create_tenant(merchant_name="压测餐厅", owner_username="bench_owner",
                                                password="bench-password-1", store_name="压测店")
        categories = [Category(merchant_id=merchant.id, name=f"分类{i}", name_en=f"Category {i}", sort_order=i)
                      for i in range(10)]
        db.session.add_all(categories)
        first_dish = None
        for i in range(200):
            dish = Dish(merchant_id=merchant.id, category=categories[i % 10], name=f"招牌菜{i:03d}号",
                        name_en=f"House dish {i}", price_cents=1800 + i * 10, sort_order=i)
            if i % 4 == 0:
                dish.option_groups.append(OptionGroup(
                    merchant_id=merchant.id, name="辣度", is_required=True, max_choices=1,
                    choices=[OptionChoice(merchant_id=merchant.id, name=n) for n in ("不辣", "微辣", "中辣")]))
            db.session.add(dish)
            if i == 1:
                first_dish = dish
        rows = [DiningTable(merchant_id=merchant.id, store_id=store.id, code=f"T{i:02d}", seats=6)
                for i in range(tables)]
        db.session.add_all(rows)
        qr_secret(merchant.id)
        db.session.commit()
        tokens = [table_token(row) for row in rows]
        dish_id = first_dish.id
        db.session.remove()
    return tokens, dish_id


def _menu(app, token: str, requests: int) -> None:
    client = app.test_client()
    page = client.get(f"/t/{token}")
    html = page.get_data()
    assets = sum(len((ROOT / "app" / "static" / name).read_bytes())
                 for name in ("app.css", "diner/menu.css", "diner/menu.js"))
    assets_gz = sum(len(gzip.compress((ROOT / "app" / "static" / name).read_bytes()))
                    for name in ("app.css", "diner/menu.css", "diner/menu.js"))
    times = []
    for _ in range(requests):
        start = time.perf_counter()
        assert client.get(f"/t/{token}").status_code == 200
        times.append((time.perf_counter() - start) * 1000)
    print(f"menu page, 200 dishes: HTML {len(html) / 1024:.1f} KB ({len(gzip.compress(html)) / 1024:.1f} KB gzip), "
          f"CSS+JS {assets / 1024:.1f} KB ({assets_gz / 1024:.1f} KB gzip); first load without photos "
          f"{(len(gzip.compress(html)) + assets_gz) / 1024:.1f} KB gzip")
    print(f"menu page server time over {requests}: p50 {statistics.median(times):.1f} ms, "
          f"p99 {_percentile(times, .99):.1f} ms")


def _csrf(client, token: str) -> str:
    import re

    return re.search(r'data-csrf="([^"]+)"', client.get(f"/t/{token}").get_data(as_text=True)).group(1)


def _streams(app, tokens: list[str], dish_id: int, phones: int, rounds: int) -> None:
    arrivals: dict[tuple[int, int], float] = {}
    lock = threading.Lock()
    ready = threading.Barrier(len(tokens) * phones + 1)
    stop = threading.Event()

    def phone(table_index: int, phone_index: int) -> None:
        response = app.test_client().get(f"/t/{tokens[table_index]}/stream")
        ready.wait()
        seen = 0
        for chunk in response.response:
            text = chunk.decode() if isinstance(chunk, bytes) else chunk
            if "event: cart" in text:
                seen += 1
                with lock:
                    arrivals[(table_index, phone_index, seen)] = time.perf_counter()
            if stop.is_set() or seen >= rounds:
                break
        response.close()

    threads = [threading.Thread(target=phone, args=(t, p), daemon=True)
               for t in range(len(tokens)) for p in range(phones)]
    for thread in threads:
        thread.start()
    ready.wait()
    time.sleep(0.5)
    adders = [(app.test_client(), token) for token in tokens]
    headers = [{"X-CSRFToken": _csrf(client, token)} for client, token in adders]
    latencies = []
    for round_no in range(1, rounds + 1):
        sent = {}
        for index, (client, token) in enumerate(adders):
            sent[index] = time.perf_counter()  # from the phone's tap: the add's own time included
            answer = client.post(f"/t/{token}/cart/lines", json={"dish_id": dish_id, "qty": 1}, headers=headers[index])
            assert answer.status_code == 201, answer.get_json()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with lock:
                if all((t, p, round_no) in arrivals for t in range(len(tokens)) for p in range(phones)):
                    break
            time.sleep(0.005)
        with lock:
            for t in range(len(tokens)):
                for p in range(phones):
                    if (t, p, round_no) in arrivals:
                        latencies.append((arrivals[(t, p, round_no)] - sent[t]) * 1000)
    stop.set()
    missing = len(tokens) * phones * rounds - len(latencies)
    print(f"cart change → every phone, {len(tokens)} tables × {phones} phones, {rounds} rounds: "
          f"p50 {statistics.median(latencies):.0f} ms, p99 {_percentile(latencies, .99):.0f} ms, "
          f"missing {missing}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, default=10)
    parser.add_argument("--phones", type=int, default=3)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    url = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{tempfile.mkdtemp()}/diner-bench.sqlite3"
    app = _app(url)
    tokens, dish_id = _seed(app, args.tables)
    _menu(app, tokens[0], args.requests)
    _streams(app, tokens, dish_id, args.phones, args.rounds)


if __name__ == "__main__":
    main()
