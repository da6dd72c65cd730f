"""The diner's menu page keeps its rendered dishes per store and menu version: every change of the
menu (a price, a new dish, a sold-out flag) moves the version, so the next page shows it at once;
each table's page still links its own photos."""

from __future__ import annotations

import json

import sqlalchemy as sa

from tests.factories import create_dish, create_table


def _token(table: dict) -> str:
    return table["qr_url"].rsplit("/t/", 1)[1]


def _version(make, merchant_id: int) -> int:
    from app.menu.models import MenuVersion

    make.db.session.commit()
    return make.db.session.scalar(sa.select(MenuVersion.version).where(MenuVersion.merchant_id == merchant_id)) or 0


def test_menu_changes_show_at_once_and_photos_keep_their_tables_token(make):
    tenant = make.tenant()
    api = make.api(tenant.owner)
    a01, a02 = create_table(make, tenant, "A01"), create_table(make, tenant, "A02")
    fish = create_dish(make, tenant, "剁椒鱼头", 12_800)
    merchant = tenant.merchant.id
    start = _version(make, merchant)
    assert start >= 1  # the dish made it move

    first = make.client.get(f"/t/{_token(a01)}").get_data(as_text=True)
    assert "剁椒鱼头" in first and "￥128.00" in first
    assert f"/t/{_token(a01)}/photos/{fish['id']}.svg" in first and "__table_token__" not in first
    other = make.client.get(f"/t/{_token(a02)}").get_data(as_text=True)  # the same rendering, its own token
    assert f"/t/{_token(a02)}/photos/{fish['id']}.svg" in other and _token(a01) not in other

    assert api.patch(f"/menu/dishes/{fish['id']}", json={"price_cents": 13_800}).status_code == 200
    assert _version(make, merchant) > start
    assert "￥138.00" in make.client.get(f"/t/{_token(a01)}").get_data(as_text=True)

    create_dish(make, tenant, "米饭", 300, category="主食")
    assert "米饭" in make.client.get(f"/t/{_token(a01)}").get_data(as_text=True)

    before = _version(make, merchant)
    sold = api.request("PUT", f"/stores/{tenant.store.id}/sold-out/{fish['id']}", json={"is_sold_out": True})
    assert sold.status_code == 200, sold.get_json()
    after = _version(make, merchant)
    assert after > before
    page = make.client.get(f"/t/{_token(a01)}").get_data(as_text=True)
    assert 'class="dish sold-out"' in page

    # Another merchant's menu changes do not move this one's version.
    other_tenant = make.tenant()
    create_dish(make, other_tenant, "别家菜", 1_000)
    assert _version(make, merchant) == after


def test_a_menu_page_reads_the_table_and_the_stores_state_in_few_statements(make):
    """A table's menu page, once the store's dishes are rendered: the token's key, the table and
    its store in one statement; the menu version, the WeChat account and the store log's cursor in
    another; the table's session. The page's script data still lists every dish for sale."""
    tenant = make.tenant()
    a01 = create_table(make, tenant, "A01")
    fish = create_dish(make, tenant, "剁椒鱼头 <辣>", 12_800)
    rice = create_dish(make, tenant, "米饭", 300)
    assert make.client.get(f"/t/{_token(a01)}").status_code == 200  # renders the dishes once
    statements: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany):
        statements.append(" ".join(statement.split()))

    engine = make.db.engine
    sa.event.listen(engine, "before_cursor_execute", seen)
    try:
        page = make.client.get(f"/t/{_token(a01)}")
    finally:
        sa.event.remove(engine, "before_cursor_execute", seen)
    assert page.status_code == 200
    reads = [s for s in statements if s.startswith("SELECT") and s != "SELECT 1"]
    assert len(reads) <= 3, "\n".join(reads)
    assert sum(" FROM dining_table " in s + " " or " JOIN dining_table " in s for s in reads) == 1

    html = page.get_data(as_text=True)
    data = html.split('id="menu-data"', 1)[1].split(">", 1)[1].split("</script>", 1)[0]
    assert "<辣>" not in data  # escaped inside the script element, as `tojson` does
    script = json.loads(data)
    assert {d["id"]: d["name"] for d in script["dishes"]} == {fish["id"]: "剁椒鱼头 <辣>", rice["id"]: "米饭"}
    assert script["text"]["you"]



def test_the_menu_pages_script_words_follow_each_requests_language(make):
    """The script's words are kept per language: a Chinese page after an English one (and back)
    still speaks its own."""
    tenant = make.tenant()
    a01 = create_table(make, tenant, "A01")
    create_dish(make, tenant, "米饭", 300)

    def words(language: str) -> dict:
        html = make.client.get(f"/t/{_token(a01)}", headers={"Accept-Language": language}).get_data(as_text=True)
        return json.loads(html.split('id="menu-data"', 1)[1].split(">", 1)[1].split("</script>", 1)[0])["text"]

    english, chinese = words("en"), words("zh-CN")
    assert english["you"] == "you" and english["states"]["cooking"] == "Cooking"
    assert chinese["you"] != "you" and chinese["states"]["cooking"] != "Cooking"
    assert words("en") == english and words("zh-CN") == chinese
