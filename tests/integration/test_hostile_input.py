"""Hostile input on the HTTP API: ids out of range, strings longer than their columns, control
characters, and paging past the first page. Every answer is a 4xx JSON error (or a correct
page), never a 5xx, on SQLite and on PostgreSQL alike."""

from __future__ import annotations

import uuid
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from marshmallow import fields, validate

from app.api import ID_MAX, QueryIdList
from tests.factories import create_dish, create_member
from tests.routes import api_routes

try:  # the regular-expression parser moved in Python 3.11
    from re import _parser as sre_parse  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover
    import sre_parse  # type: ignore[no-redef]


def key() -> str:
    return uuid.uuid4().hex


def assert_error(response, status: int = 422) -> dict:
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True)[:300])
    assert response.is_json, response.get_data(as_text=True)[:300]
    error = response.get_json()["error"]
    assert set(error) == {"code", "message", "details"}
    return error


@pytest.fixture
def tenant(make):
    return make.tenant()


@pytest.fixture
def api(make, tenant):
    return make.api(tenant.owner)


def _open_order(make, tenant, api) -> dict:
    dish = create_dish(make, tenant, "剁椒鱼头", 12_800)
    response = api.post("/orders", json={"store_id": tenant.store.id, "idempotency_key": key(),
                                         "items": [{"dish_id": dish["id"], "qty": 1}]})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _input_schemas(app, location: str):
    """(route, schema) for every schema the API reads from `location`, each schema class once."""
    seen = set()
    for route in api_routes(app):
        for schema in route.schemas(location):
            if type(schema) not in seen:
                seen.add(type(schema))
                yield route, schema


def _leaf_fields(schema, prefix: str = ""):
    """(dotted name, field) for every field, nested schemas and lists opened."""
    for name, field in schema.fields.items():
        inner = field.inner if isinstance(field, fields.List) else field
        if isinstance(inner, fields.Nested):
            yield from _leaf_fields(inner.schema, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", field


def _is_id_name(name: str) -> bool:
    leaf = name.rsplit(".", 1)[-1]
    return leaf.endswith("_id") or leaf.endswith("_ids")


# --- 1. every id is a positive 32-bit integer, wherever it is sent -------------------------------

def _ranges(field) -> list[tuple]:
    return [(v.min, v.max) for v in field.validators if isinstance(v, validate.Range)]


def test_every_id_field_of_every_input_schema_is_range_checked(app):
    unchecked = []
    for location in ("json", "query"):
        for _route, schema in _input_schemas(app, location):
            for name, field in _leaf_fields(schema):
                if not _is_id_name(name) or isinstance(field, fields.UUID):  # a till's client_order_id
                    continue
                if field.metadata.get("external_id"):
                    continue  # an id another system issues as text (WeChat's mch_id) is no row id
                inner = field.inner if isinstance(field, fields.List) else field
                ok = isinstance(inner, QueryIdList) or (
                    isinstance(inner, fields.Integer) and (1, ID_MAX) in _ranges(inner))
                if not ok:
                    unchecked.append(f"{type(schema).__name__}.{name} ({location})")
    assert unchecked == []


def test_an_id_past_32_bits_in_a_bill_query_is_422_as_in_a_settle_body(make, tenant, api):
    order = _open_order(make, tenant, api)
    member = create_member(make, tenant)
    for coupon_ids in ("2147483648", "1,2147483648", "0", "99999999999999999999"):
        response = api.get(f"/orders/{order['id']}/bill?member_id={member['id']}&coupon_ids={coupon_ids}")
        error = assert_error(response)
        assert "coupon_ids" in error["details"]["fields"], error
    response = api.post(f"/orders/{order['id']}/settle", json={
        "member_id": member["id"], "coupon_ids": [2147483648], "idempotency_key": key(),
        "tenders": [{"type": "cash", "amount_cents": 12_800}]})
    assert_error(response)
    # Ids inside the range are still read, and a bill without coupons still prices.
    response = api.get(f"/orders/{order['id']}/bill?member_id={member['id']}&coupon_ids=")
    assert response.status_code == 200, response.get_json()
    assert api.get(f"/orders/{order['id']}").get_json()["status"] == "open"


def test_an_id_past_32_bits_is_422_in_every_query_and_body(app, api):
    too_big = str(ID_MAX + 1)
    for location in ("query", "json"):
        for route, schema in _input_schemas(app, location):
            url = route.url(**{arg: 1 for arg in route.id_args})
            for name, field in schema.fields.items():
                if not _is_id_name(name):
                    continue
                if location == "query":
                    response = api.request(route.method, f"{url}?{name}={too_big}")
                else:
                    value = [int(too_big)] if isinstance(field, fields.List) else int(too_big)
                    response = api.request(route.method, url, json={name: value})
                assert response.status_code < 500, (route.endpoint, name, response.get_data(as_text=True)[:200])
                if response.status_code == 422:
                    assert name in str(response.get_json()["error"]["details"]), (route.endpoint, name)


# --- 2. no schema lets through more than its column holds ----------------------------------------

# Which table an input schema writes, and the fields whose column has another name or table.
SCHEMA_TABLES = {
    "StaffCreate": "staff", "StaffUpdate": "staff", "DeviceCreate": "device",
    "StoreIn": "store", "StoreUpdate": "store",
    "MemberCreate": "member", "MemberUpdate": "member", "CardIn": "member_card",
    "TiersIn": "tier", "SettingsSchema": "member_settings",
    "CategoryIn": "menu_category", "DishIn": "dish", "DishUpdate": "dish", "StationIn": "kitchen_station",
    "OptionGroupIn": "dish_option_group", "AreaIn": "table_area",
    "TableIn": "dining_table", "TableUpdate": "dining_table",
    "OrderCreate": "customer_order", "CartAdd": "cart_line",
    "CouponTemplateIn": "coupon_template", "CouponTemplateUpdate": "coupon_template",
    "WeChatSettingsIn": "wechat_settings", "TagRuleIn": "tag_rule", "CategoryUpdate": "menu_category",
    "SegmentIn": "segment", "SegmentUpdate": "segment", "CampaignIn": "campaign",
}
KEY_COLUMNS = ["idempotency_record.key", "customer_order.idempotency_key", "payment_intent.idempotency_key",
               "ledger_entry.idempotency_key", "coupon_event.idempotency_key"]
FIELD_COLUMNS = {
    "idempotency_key": KEY_COLUMNS,
    "openid": ["payment_intent.openid", "member.openid"],
    "tenders.openid": ["payment_intent.openid"],
    "reason": ["ledger_entry.note", "payment.reason", "payment_refund.reason", "order_line.void_reason",
               "tier_change.reason"],
    "to_phone": ["member.phone"],
    "DishIn.category": ["menu_category.name"], "DishUpdate.category": ["menu_category.name"],
    "OptionGroupIn.choices.name": ["dish_option_choice.name"],
    "OptionGroupIn.choices.name_en": ["dish_option_choice.name_en"],
    "OrderCreate.table": ["customer_order.table_code", "kitchen_ticket.table_code"],
    "items.note": ["order_line.note", "cart_line.note"],
    "CartAdd.diner": ["cart_line.added_by", "order_line.added_by"],
    "TiersIn.tiers.name": ["tier.name"], "TiersIn.tiers.name_en": ["tier.name_en"],
    "HandTagsIn.tags": ["member_tag.tag"],
}
# Strings that are read but never stored as they are (a password is hashed, a name is looked up).
NOT_STORED = {"TokenRequest.username", "TokenRequest.password", "StaffCreate.password", "StaffUpdate.password",
              "TopUpIn.auth_code", "SettleIn.tenders.auth_code", "TillSettleIn.tenders.auth_code",
              "MemberCreate.tags", "MemberUpdate.tags",
              "DishIn.image_url", "DishUpdate.image_url",
              # tender types are choices stored as numbers
              "SettleIn.tenders.type", "WeChatPayIn.tenders.type", "TillSettleIn.tenders.type",
              # an agent's report is kept whole in the device's JSON status (each string bounded)
              "DeviceStatusIn.printers.name", "DeviceStatusIn.printers.role", "DeviceStatusIn.printers.state",
              "DeviceStatusIn.printers.message", "DeviceStatusIn.printers.stations", "DeviceStatusIn.version",
              # a tag rule's parameters are kept whole in its JSON params (each string bounded)
              "TagRuleIn.params.dish", "TagRuleIn.params.table",
              # a reply's text goes to a TEXT column: no length to outgrow
              "ReplyIn.text",
              # a segment's filter is kept whole in its JSON spec (each string bounded); quiet hours
              # ("22:00") are stored as minutes of the day
              "SegmentIn.spec.tags", "SegmentIn.spec.source_campaigns", "CountIn.spec.tags",
              "CountIn.spec.source_campaigns", "SegmentUpdate.spec.tags", "SegmentUpdate.spec.source_campaigns",
              "CampaignIn.spec.tags", "CampaignIn.spec.source_campaigns", "CampaignIn.quiet_start",
              "CampaignIn.quiet_end",
              # a swiped staff card is looked up (staff.card_no), never written
              "CardApprovalIn.card_nos"}


def _max_length(field) -> float:
    """The longest string the field's validators accept (inf when nothing bounds it)."""
    longest = float("inf")
    for v in field.validators:
        if isinstance(v, validate.Length) and v.max is not None:
            longest = min(longest, v.max)
        elif isinstance(v, validate.Equal) and isinstance(v.comparable, str):
            longest = min(longest, len(v.comparable))
        elif isinstance(v, validate.OneOf):
            longest = min(longest, max(len(str(c)) for c in v.choices))
        elif isinstance(v, validate.Regexp):
            width = sre_parse.parse(v.regex.pattern).getwidth()[1]
            if width < sre_parse.MAXREPEAT:
                longest = min(longest, width)
    return longest


def _string_columns(app) -> dict[str, int | None]:
    from app.extensions import db

    with app.app_context():
        # An encrypted secret's column holds its Fernet token; what must fit is the plain value.
        return {f"{t.name}.{c.name}": getattr(c.type, "plain_length", None) or c.type.length
                for t in db.metadata.tables.values() for c in t.columns
                if isinstance(c.type, sa.String) or hasattr(c.type, "plain_length")}


def test_every_string_field_fits_its_column(app):
    columns = _string_columns(app)
    too_long, unmapped = [], []
    for _route, schema in _input_schemas(app, "json"):
        schema_name = type(schema).__name__
        for name, field in _leaf_fields(schema):
            inner = field.inner if isinstance(field, fields.List) else field
            if not isinstance(inner, fields.String) or f"{schema_name}.{name}" in NOT_STORED:
                continue
            leaf = name.rsplit(".", 1)[-1]
            targets = (FIELD_COLUMNS.get(f"{schema_name}.{name}") or FIELD_COLUMNS.get(name)
                       or FIELD_COLUMNS.get(leaf))
            if targets is None and schema_name in SCHEMA_TABLES:
                candidate = f"{SCHEMA_TABLES[schema_name]}.{leaf}"
                targets = [candidate] if candidate in columns else None
            if targets is None:
                # Choices (a role, a tender type) are short words stored as numbers.
                if not any(isinstance(v, validate.OneOf) for v in inner.validators) \
                        and not hasattr(inner, "enum_choices"):
                    unmapped.append(f"{schema_name}.{name}")
                continue
            longest = _max_length(inner)
            for target in targets:
                assert target in columns, f"{schema_name}.{name} maps to unknown column {target}"
                if columns[target] is not None and longest > columns[target]:
                    too_long.append(f"{schema_name}.{name} takes {longest}, {target} holds {columns[target]}")
    assert too_long == []
    assert unmapped == [], "map these fields to their columns (or list them as NOT_STORED)"


def test_a_phone_longer_than_its_column_is_422(api):
    for phone in ("+11111111111111111111", "1" * 21):
        error = assert_error(api.post("/members", json={"phone": phone, "name": "x"}))
        assert "phone" in error["details"]["fields"]
    assert api.post("/members", json={"phone": "+1111111111111111111", "name": "x"}).status_code == 201
    assert api.post("/members", json={"phone": "1" * 20, "name": "y"}).status_code == 201
    assert api.get("/members").get_json()["total"] == 2


def _app_with_a_failing_route(app, path: str):
    """A second app on the same database with one route that fails in the database as an
    unforeseen bug would: after a commit (the caller's staff row now expired), a flush violates
    NOT NULL, and the error handler then needs the session (the caller's locale) again."""
    from app import create_app
    from app.auth.guard import requires
    from app.auth.permissions import Permission
    from app.extensions import db
    from app.tenants.models import Merchant
    from config.settings import TestingConfig

    class Config(TestingConfig):
        SQLALCHEMY_DATABASE_URI = app.config["SQLALCHEMY_DATABASE_URI"]

    broken = create_app(Config)

    @requires(Permission.MEMBERS_READ)
    def fail():
        db.session.commit()
        db.session.add(Merchant(name=None))
        db.session.flush()
        return {}

    broken.add_url_rule(path, "broken_route", fail, methods=["GET"])
    return broken


@pytest.mark.parametrize("path", ["/api/v1/broken", "/broken"])
def test_a_500_after_a_failed_flush_still_answers_the_error_shape(app, make, tenant, path):
    broken = _app_with_a_failing_route(app, path)
    try:
        with broken.test_client() as client:
            headers = {"Authorization": f"Bearer {make.token(tenant.owner)}", "Accept": "text/html"}
            if not path.startswith("/api"):
                with client.session_transaction() as cookie:  # a page: the staff member logged in
                    cookie["staff_id"] = tenant.owner.id
            response = client.get(path, headers=headers)
        assert response.status_code == 500
        if path.startswith("/api"):
            assert assert_error(response, 500)["code"] == "internal_error"
        else:
            assert response.mimetype == "text/html"
    finally:
        with broken.app_context():
            from app.extensions import db as broken_db

            broken_db.session.remove()
            broken_db.engine.dispose()


# --- 3. control characters are refused everywhere ------------------------------------------------

BAD_CHARACTERS = ["\x00", "\x01", "\x08", "\x0b", "\x1b", "\x1f", "\x7f", "\x80", "\x85", "\x9f", "\ufffe", "\uffff"]


@pytest.mark.parametrize("char", BAD_CHARACTERS)
def test_control_characters_in_a_query_string_are_422(api, char):
    assert_error(api.get(f"/members?q={quote('13' + char)}"))
    assert_error(api.get(f"/members/lookup?card_no={quote('ab' + char)}"))
    assert_error(api.get(f"/members?unknown={quote(char)}"))


@pytest.mark.parametrize("char", BAD_CHARACTERS)
def test_control_characters_in_json_bodies_are_422_and_change_nothing(make, tenant, api, char):
    error = assert_error(api.post("/members", json={"phone": "13800000001", "name": f"张{char}三"}))
    assert "name" in error["details"]["fields"]
    assert_error(api.post("/members", json={"phone": "13800000001", "name": "张三", "tags": [f"a{char}"]}))
    assert_error(api.post("/members", json={"phone": "13800000001", "name": "张三", "notes": f"a{char}b"}))
    assert api.get("/members").get_json()["total"] == 0
    dish = create_dish(make, tenant, "鱼", 1_000)
    response = api.post("/orders", json={"store_id": tenant.store.id, "idempotency_key": key(),
                                         "items": [{"dish_id": dish["id"], "qty": 1, "note": f"少{char}辣"}]})
    assert_error(response)
    assert api.get("/orders").get_json()["orders"] == []


@pytest.mark.parametrize("char", ["\t", "\n", "\r"])
def test_line_breaks_only_in_multi_line_text(api, char):
    assert_error(api.post("/members", json={"phone": "13800000002", "name": f"张{char}三"}))
    assert_error(api.get(f"/members?q={quote('张' + char)}"))
    response = api.post("/members", json={"phone": "13800000002", "name": "张三", "notes": f"爱吃辣{char}不吃葱"})
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["notes"] == f"爱吃辣{char}不吃葱"


def test_a_nul_in_a_search_is_422_not_a_database_error(api):
    error = assert_error(api.get("/members?q=%00"))
    assert error["details"]["fields"]["q"]


# --- 7. every list pages, and every entry comes exactly once ---------------------------------------

def test_a_long_ledger_reads_page_by_page_exactly_once(make, tenant, api):
    member = create_member(make, tenant)
    for amount in range(1, 66):
        response = api.post(f"/members/{member['id']}/topups", json={
            "amount_cents": amount * 100, "tender": "cash", "idempotency_key": key()})
        assert response.status_code == 201, response.get_json()
    everything = api.get(f"/members/{member['id']}/ledger?limit=1000").get_json()["entries"]
    assert len(everything) >= 65
    pages, before = [], None
    while True:
        url = f"/members/{member['id']}/ledger?limit=7" + (f"&before_id={before}" if before else "")
        response = api.get(url)
        assert response.status_code == 200, response.get_json()
        page = response.get_json()["entries"]
        if not page:
            break
        assert len(page) <= 7
        pages.append(page)
        before = page[-1]["id"]
    read = [entry["id"] for page in pages for entry in page]
    assert read == [entry["id"] for entry in everything]
    assert len(set(read)) == len(read)
    assert len(pages) == -(-len(everything) // 7)


def _read_newest_first_by_before_id(api, path: str, items: str, size: int) -> list[int]:
    """Every id of a newest-first list, page by page with `before_id`."""
    read, before = [], None
    while True:
        separator = "&" if "?" in path else "?"
        response = api.get(f"{path}{separator}limit={size}" + (f"&before_id={before}" if before else ""))
        assert response.status_code == 200, response.get_json()
        page = [entry["id"] for entry in response.get_json()[items]]
        if not page:
            return read
        assert len(page) <= size and page == sorted(page, reverse=True)
        read += page
        before = page[-1]


@pytest.mark.parametrize(("path", "items", "size"), [("/orders", "orders", 4), ("/audit", "entries", 1)])
def test_the_order_list_and_the_audit_log_read_page_by_page_exactly_once(make, tenant, api, path, items, size):
    dish = create_dish(make, tenant, "米饭", 200)
    for _ in range(17):
        _open_order_with(api, tenant, dish)
    everything = [entry["id"] for entry in api.get(f"{path}?limit=200").get_json()[items]]
    assert len(everything) > size  # several pages
    read = _read_newest_first_by_before_id(api, path, items, size)
    assert read == everything and len(set(read)) == len(read)


def test_the_member_list_reads_page_by_page_exactly_once(make, tenant, api):
    for n in range(23):
        create_member(make, tenant, phone=f"1390000{n:04d}")
    total = api.get("/members").get_json()["total"]
    assert total == 23
    read = []
    for offset in range(0, 30, 5):
        body = api.get(f"/members?limit=5&offset={offset}").get_json()
        assert body["total"] == 23
        read += [m["id"] for m in body["members"]]
    assert len(read) == 23 and len(set(read)) == 23


def test_the_event_log_reads_after_its_cursor_exactly_once(make, tenant, api):
    for n in range(12):
        create_dish(make, tenant, f"菜{n}", 1_000 + n)
    order_ids = [_open_order_with(api, tenant, create_dish(make, tenant, f"汤{n}", 500)) for n in range(4)]
    assert len(order_ids) == 4
    path = f"/stores/{tenant.store.id}/events"
    device, token = make.device(tenant)
    device_api = make.api(token=token)
    everything = device_api.get(f"{path}?limit=1000").get_json()["events"]
    assert everything, "placing orders appends store events"
    read, after = [], 0
    while True:
        body = device_api.get(f"{path}?limit=3&after={after}").get_json()
        if not body["events"]:
            break
        read += [e["seq"] for e in body["events"]]
        after = body["last_seq"]
    assert read == [e["seq"] for e in everything]


def _open_order_with(api, tenant, dish) -> int:
    response = api.post("/orders", json={"store_id": tenant.store.id, "idempotency_key": key(),
                                         "items": [{"dish_id": dish["id"], "qty": 1}]})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def test_an_unknown_cursor_is_refused_clearly(make, tenant, api):
    member = create_member(make, tenant)
    for bad in ("abc", "0", "-1", str(ID_MAX + 1), "1.5"):
        error = assert_error(api.get(f"/members/{member['id']}/ledger?before_id={bad}"))
        assert "before_id" in error["details"]["fields"]


def test_a_member_asked_about_before_joining_is_not_found(make, tenant, api):
    """Found by the API fuzzing: the member's scores as of a date before the member existed."""
    member = create_member(make, tenant)
    error = assert_error(api.get(f"/analytics/members/{member['id']}?as_of=2000-01-01T00:00:00Z"), 404)
    assert error["code"] == "not_found"
    assert api.get(f"/analytics/members/{member['id']}").status_code == 200
