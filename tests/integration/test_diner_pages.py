"""The diner's phone behind a table's signed QR link: the menu, the shared cart, sending, the
waiter call and the table's own live stream — scoped to that one table."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from app.tables.models import DiningTable
from app.tables.service import table_token
from tests.factories import create_dish, create_table


def _token(make, table: dict) -> str:
    return table["qr_url"].rsplit("/t/", 1)[1]


def _csrf(html: str) -> str:
    return re.search(r'data-csrf="([^"]+)"', html).group(1)


@pytest.fixture
def shop(make, db):
    tenant = make.tenant()
    table = create_table(make, tenant, "A01")
    fish = create_dish(make, tenant, "剁椒鱼头", 12_800)
    rice = create_dish(make, tenant, "米饭", 200, category="主食")
    return tenant, table, _token(make, table), fish, rice


def test_smoke(shop, make):
    tenant, table, token, fish, rice = shop
    page = make.client.get(f"/t/{token}")
    assert page.status_code == 200, page.get_data(as_text=True)[:2000]
    html = page.get_data(as_text=True)
    print(html[:6000])
