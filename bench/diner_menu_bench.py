"""The diner's menu page with 200 dishes: its size and its server time.

Builds a merchant with a 200-dish menu (10 categories, specs on every fourth dish) and a few
tables in a fresh database, then measures in-process (the app's test client, so each request runs
the whole page: the table token check, the menu version, the table's cart, the template):

- bytes of the first load without photos: the HTML, and the page's own CSS and JavaScript, raw
  and gzip-compressed (photos are lazy and not counted);
- the process's CPU time per load (the test client's share included), which depends far less on
  the machine's other load than the server time does;
- server time p50/p99 over --requests renders of the page as tables' phones load it (the store's
  rendered dishes kept per menu version), and the same after a menu change each time (the
  dishes rendered again: what the first phone after a change pays).

    .venv/bin/python bench/diner_menu_bench.py                       # SQLite in /tmp
    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/tableloop_bench \\
        .venv/bin/python bench/diner_menu_bench.py

Figures only: nothing here asserts a speed. Targets: p99 ≤ 20 ms, first load ≤ 60 KB.
"""

from __future__ import annotations

import argparse
import gzip
import os
import statistics
import tempfile
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
    from app.db import db
    from app.menu.models import Category, Dish, OptionChoice, OptionGroup
    from app.onboarding import create_tenant
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


CPU: list[float] = []  # the process's CPU ms of each load timed by `_timed`, last call only


def _timed(client, tokens: list[str], requests: int, before=None) -> list[float]:
    times = []
    CPU.clear()
    for index in range(requests):
        if before is not None:
            before(index)
        start, cpu = time.perf_counter(), time.process_time()
        assert client.get(f"/t/{tokens[index % len(tokens)]}").status_code == 200
        times.append((time.perf_counter() - start) * 1000)
        CPU.append((time.process_time() - cpu) * 1000)
    return times


def _change_price(app, dish_id: int):
    def change(index: int) -> None:
        from app.db import db
        from app.menu.models import Dish

        with app.app_context():
            db.session.get(Dish, dish_id).price_cents = 2_000 + index
            db.session.commit()
            db.session.remove()
    return change


def _menu(app, tokens: list[str], dish_id: int, requests: int) -> None:
    token = tokens[0]
    client = app.test_client()
    page = client.get(f"/t/{token}")
    html = page.get_data()
    assets = sum(len((ROOT / "app" / "static" / name).read_bytes())
                 for name in ("app.css", "diner/menu.css", "diner/menu.js"))
    assets_gz = sum(len(gzip.compress((ROOT / "app" / "static" / name).read_bytes()))
                    for name in ("app.css", "diner/menu.css", "diner/menu.js"))
    load = os.getloadavg()[0]
    times = _timed(client, tokens, requests)
    cpu = list(CPU)
    print(f"menu page, 200 dishes: HTML {len(html) / 1024:.1f} KB ({len(gzip.compress(html)) / 1024:.1f} KB gzip), "
          f"CSS+JS {assets / 1024:.1f} KB ({assets_gz / 1024:.1f} KB gzip); first load without photos "
          f"{(len(gzip.compress(html)) + assets_gz) / 1024:.1f} KB gzip")
    print(f"menu page server time over {requests} loads at {len(tokens)} tables: "
          f"p50 {statistics.median(times):.1f} ms, "
          f"p99 {_percentile(times, .99):.1f} ms; CPU per load p50 {statistics.median(cpu):.1f} ms, "
          f"mean {statistics.mean(cpu):.1f} ms (load average {load:.1f} → {os.getloadavg()[0]:.1f})")
    cold = _timed(client, tokens, max(20, requests // 5), _change_price(app, dish_id))
    print(f"menu page right after a menu change ({len(cold)} changes): p50 {statistics.median(cold):.1f} ms, "
          f"p99 {_percentile(cold, .99):.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, default=10)
    parser.add_argument("--requests", type=int, default=500)
    args = parser.parse_args()
    url = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{tempfile.mkdtemp()}/diner-bench.sqlite3"
    app = _app(url)
    tokens, dish_id = _seed(app, args.tables)
    _menu(app, tokens, dish_id, args.requests)


if __name__ == "__main__":
    main()
