"""The whole HTTP API fuzzed from its own OpenAPI document (/api/openapi.json) with schemathesis.

Every operation of the document gets requests generated from its schemas (valid ones and
deliberately invalid ones), sent in-process to the real app on a real database (SQLite, or
PostgreSQL with TEST_DATABASE_URL) seeded with the demo restaurant plus members, cards,
coupons, orders, carts, a device and a WeChat Pay intent. Ids in paths, query strings and
bodies are mostly swapped for ids of rows that exist, so requests reach real rows rather than
only 404s. Each answer must be:

- no server error (nothing >= 500), and
- what the document says: a documented status code, its content type and its JSON schema.

Requests carry the demo owner's bearer token, so every staff route is reachable.

Budgets (hypothesis examples per operation, in its random phase):
    FUZZ_PROFILE=short (default, run by `make test`): a few examples, a fixed seed;
    FUZZ_PROFILE=long: many more examples, a new seed each run (printed at the end);
    FUZZ_EXAMPLES=N overrides the count of either; FUZZ_SEED=N fixes the seed.
"""

from __future__ import annotations

import itertools
import os
import random
import re
import zlib
from typing import Any

import pytest
import schemathesis
import sqlalchemy as sa
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.sql_support import sql_writes

# Each operation gets the coverage phase (boundary values of every parameter and field: the
# largest id, the longest name, an empty list, ...) and then random requests (hypothesis), both
# valid and invalid. The short run keeps the coverage phase to valid requests (the invalid ones
# are the same few marshmallow refusals over and over); the long run does everything.
PROFILES = {
    "short": {"examples": 10, "seed": 20261129, "coverage": "positive"},
    "long": {"examples": 300, "seed": None, "coverage": "all"},
}
PROFILE = os.environ.get("FUZZ_PROFILE", "short")
if PROFILE not in PROFILES:
    raise ValueError(f"FUZZ_PROFILE must be one of {sorted(PROFILES)}, not {PROFILE!r}")
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES") or PROFILES[PROFILE]["examples"])
# A run is repeated by its seed (printed at the end of the output).
SEED = int(os.environ.get("FUZZ_SEED") or PROFILES[PROFILE]["seed"] or random.SystemRandom().randrange(2**32))

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def _openapi_document() -> dict:
    """The document as the app serves it; building the app touches no database."""
    from app import create_app
    from config.settings import TestingConfig

    class DocumentOnly(TestingConfig):
        SQLALCHEMY_DATABASE_URI = "sqlite://"

    response = create_app(DocumentOnly).test_client().get("/api/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def _config() -> schemathesis.Config:
    generation: dict[str, Any] = {"mode": "all", "max-examples": EXAMPLES}
    data: dict[str, Any] = {
        "generation": generation,
        "phases": {"coverage": {"generation": {"mode": PROFILES[PROFILE]["coverage"]}}},
    }
    if PROFILE == "short":
        # Methods a path does not have are answered 405 by the router, before any of our code.
        data["phases"]["coverage"]["unexpected-methods"] = []
    data["seed"] = SEED
    generation["deterministic"] = True
    return schemathesis.Config.from_dict(data)


schema = schemathesis.openapi.from_dict(_openapi_document(), config=_config())


# --- real ids fed into the generated requests ----------------------------------------------------

POOLS: dict[str, list[Any]] = {}  # what each id name may be swapped for, refreshed before each operation

# Id names that are not the guard's path arguments (app.auth.guard.ID_ARGUMENTS), by model.
_ALIASES = {
    "line": "CartLine", "intent": "PaymentIntent", "template_id": "CouponTemplate",
    "to_member_id": "Member", "source_store_id": "Store", "area_id": "Area", "option_ids": "OptionChoice",
    "dish_ids": "Dish", "category_ids": "Category", "coupon_ids": "Coupon", "line_ids": "OrderLine",
    "before_id": "LedgerEntry", "object_id": "Member",
}
# Text the API looks rows up by.
_TEXT_KEYS = {"token", "phone", "card_no", "member_no", "code", "table"}


_draws = itertools.count()


def _pick(name: str, value: Any, pools: dict) -> Any:
    """Three times in four a real value for an id-like field, otherwise the generated value itself.

    The choice depends on the value and on how many were made before, both the same from one
    run to the next with the same seed (the coverage phase sends the same value many times)."""
    pool = pools.get(name)
    if not pool or isinstance(value, bool) or not isinstance(value, (int, str)):
        return value
    if isinstance(value, int) and value < 1:
        return value
    draw = zlib.crc32(str(value).encode("utf-8", "surrogatepass")) + next(_draws)
    return value if draw % 4 == 0 else pool[draw // 4 % len(pool)]


_keys = itertools.count(1)


def _realise(name: str, value: Any, pools: dict) -> Any:
    if name == "idempotency_key" and isinstance(value, str):
        # Mostly a new key (a reused one only replays or refuses), sometimes the generated one.
        draw = zlib.crc32(value.encode("utf-8", "surrogatepass")) + next(_draws)
        return value if draw % 4 == 0 else f"fuzz-{next(_keys):08d}"
    if name.endswith("_ids") and isinstance(value, list):
        return [_pick(name, item, pools) for item in value]
    if name == "coupon_ids" and isinstance(value, str) and re.fullmatch(r"[0-9,]*", value):
        # a query string's comma-separated ids
        parts = [part for part in value.split(",") if part]
        return ",".join(str(_pick(name, int(part), pools)) for part in parts)
    if name.endswith("_id") or name in _ALIASES or name in _TEXT_KEYS:
        return _pick(name, value, pools)
    return value


def _realise_tree(data: Any, pools: dict) -> Any:
    if isinstance(data, dict):
        return {key: _realise(key, _realise_tree(value, pools), pools) if isinstance(key, str) else value
                for key, value in data.items()}
    if isinstance(data, list):
        return [_realise_tree(item, pools) for item in data]
    return data


# A path that names a row and its parent (/members/{member_id}/cards/{card_id}) reaches the row
# only with its own parent: child name → {child id → (parent name, parent value)}.
PARENTS: dict[str, dict[Any, tuple[str, Any]]] = {}
ORDER_LINES: dict[int, list[int]] = {}  # order id → its line ids


@schema.hook("map_path_parameters")
def _real_path_ids(context, path_parameters):
    if not path_parameters:
        return path_parameters
    mapped = _realise_tree(path_parameters, POOLS)
    for name, value in list(mapped.items()):
        parent = PARENTS.get(name, {}).get(value)
        if parent is not None and parent[0] in mapped and value != path_parameters[name]:
            mapped[parent[0]] = parent[1]  # only where the child was swapped for a real one
    return mapped


@schema.hook("map_query")
def _real_query_ids(context, query):
    return _realise_tree(query, POOLS) if query else query


@schema.hook("map_case")
def _real_body_ids(context, case):
    """Ids in a body; the lines of /orders/{order_id}/... from that order."""
    if isinstance(case.body, (dict, list)):
        pools = POOLS
        lines = ORDER_LINES.get((case.path_parameters or {}).get("order_id"))
        if lines:
            pools = {**POOLS, "line_id": lines, "line_ids": lines}
        case.body = _realise_tree(case.body, pools)
        if case.operation.path == "/api/v1/auth/token" and isinstance(case.body, dict):
            # the demo logins, so that some attempts succeed
            case.body = {key: _pick(key, value, POOLS) if key in ("username", "password") else value
                         for key, value in case.body.items()}
    return case


def _refresh_pools(merchant_id: int) -> None:
    """Ids of the merchant's rows, newest first (what the fuzzing itself created included)."""
    from app import models  # noqa: F401 - every model registered
    from app.auth.guard import ID_ARGUMENTS
    from app.coupons.models import Coupon
    from app.db import db
    from app.demo.seed import ACCOUNTS, PASSWORD
    from app.members.models import LedgerEntry, Member, MemberCard
    from app.orders.models import CartLine, OrderLine, TableSession
    from app.tables.models import DiningTable
    from app.tables.service import table_token

    registry = {mapper.class_.__name__: mapper.class_ for mapper in db.Model.registry.mappers}
    names = {**{name: model.__name__ for name, model in ID_ARGUMENTS.items()}, **_ALIASES}
    POOLS.clear()
    for name, model_name in names.items():
        model = registry[model_name]
        POOLS[name] = list(db.session.scalars(
            sa.select(model.id).where(model.merchant_id == merchant_id).order_by(model.id.desc()).limit(40)))

    def texts(column, where) -> list[str]:
        return [v for v in db.session.scalars(sa.select(column).where(where).order_by(column).limit(20)) if v]

    POOLS["phone"] = texts(Member.phone, Member.merchant_id == merchant_id)
    POOLS["member_no"] = texts(Member.member_no, Member.merchant_id == merchant_id)
    POOLS["card_no"] = texts(MemberCard.card_no, MemberCard.merchant_id == merchant_id)
    POOLS["code"] = texts(Coupon.code, Coupon.merchant_id == merchant_id)
    tables = list(db.session.scalars(sa.select(DiningTable).where(DiningTable.merchant_id == merchant_id)
                                     .order_by(DiningTable.id).limit(8)))
    POOLS["table"] = [table.code for table in tables]
    POOLS["token"] = [table_token(table) for table in tables]
    POOLS["username"] = [username for username, *_ in ACCOUNTS]
    POOLS["password"] = [PASSWORD]

    def pairs(query, parent_name: str, convert=lambda value: value) -> dict:
        return {child: (parent_name, convert(parent)) for child, parent in db.session.execute(query.limit(200))}

    tokens = {table.id: table_token(table) for table in db.session.scalars(
        sa.select(DiningTable).where(DiningTable.merchant_id == merchant_id))}
    cart_lines = (sa.select(CartLine.id, TableSession.table_id)
                  .join(TableSession, CartLine.session_id == TableSession.id)
                  .where(CartLine.merchant_id == merchant_id).order_by(CartLine.id.desc()))
    PARENTS.clear()
    PARENTS.update({
        "card_id": pairs(sa.select(MemberCard.id, MemberCard.member_id)
                         .where(MemberCard.merchant_id == merchant_id).order_by(MemberCard.id.desc()), "member_id"),
        "topup_id": pairs(sa.select(LedgerEntry.id, LedgerEntry.member_id)
                          .where(LedgerEntry.merchant_id == merchant_id).order_by(LedgerEntry.id.desc()), "member_id"),
        "line_id": pairs(sa.select(OrderLine.id, OrderLine.order_id)
                         .where(OrderLine.merchant_id == merchant_id).order_by(OrderLine.id.desc()), "order_id"),
        "cart_line_id": pairs(cart_lines, "table_id"),
        "line": pairs(cart_lines, "token", tokens.get),
        "table_id": pairs(sa.select(DiningTable.id, DiningTable.store_id)
                          .where(DiningTable.merchant_id == merchant_id).order_by(DiningTable.id), "store_id"),
    })
    ORDER_LINES.clear()
    for line_id, (_name, order_id) in PARENTS["line_id"].items():
        ORDER_LINES.setdefault(order_id, []).append(line_id)
    db.session.commit()  # the QR key, should this be its first use


# --- the seeded restaurant -----------------------------------------------------------------------

APP_SETTINGS = dict(
    WECHAT_PAY_POLL_SECONDS=0.01, WECHAT_PAY_POLLS=3, WECHAT_TIMEOUT_SECONDS=3,
    EVENT_HEARTBEAT_SECONDS=0.05,  # a live stream answers at once, and is cut after STREAM_SECONDS
)
STREAM_SECONDS = 0.3


class World:
    """The seeded merchant, and the bearer tokens the requests carry."""

    def __init__(self, app, merchant_id: int, store_id: int) -> None:
        self.app = app
        self.merchant_id = merchant_id
        self.store_id = store_id
        self.tokens: dict[str, str] = {}
        self.operation: str | None = None

    def token(self, who: str) -> str:
        if who not in self.tokens:
            self.tokens[who] = self._device_token() if who == "device" else self._staff_token(who)
        return self.tokens[who]

    def _staff_token(self, username: str) -> str:
        """A fresh token of a demo account, made active again should an operation have
        deactivated it."""
        from app.auth.models import Staff
        from app.auth.service import issue_token
        from app.db import db

        with self.app.app_context():
            staff = db.session.scalar(sa.select(Staff).where(Staff.username == username))
            staff.is_active = True
            token = issue_token(staff).token
            db.session.commit()
        return token

    def _device_token(self) -> str:
        """A new device of the first store (an operation may have revoked the one before)."""
        from tests.factories import ApiClient

        api = ApiClient(self.app.test_client(), self.token("owner"))
        response = api.post("/devices", json={"store_id": self.store_id, "name": f"till-{next(_keys)}"})
        assert response.status_code == 201, response.get_json()
        return response.get_json()["token"]

    def refresh(self) -> None:
        with self.app.app_context():
            _refresh_pools(self.merchant_id)


@pytest.fixture(scope="module")
def pay_sim():
    from simulators.wechat import SimulatorServer

    with SimulatorServer({"notify_retry_delays": (0,), "notify_timeout": 1}) as sim:
        yield sim


@pytest.fixture(scope="module")
def world(app, pay_sim):
    """The demo restaurant with a bit of everything, on the session's database; emptied afterwards."""
    from app.wechat import client as wechat_client
    from tests.conftest import _delete_all_rows

    settings = {**APP_SETTINGS, "WECHAT_PAY_BASE_URL": pay_sim.url, "WECHAT_API_BASE_URL": pay_sim.url,
                "WECHAT_OAUTH_BASE_URL": pay_sim.url + "/connect"}
    saved = {name: app.config.get(name) for name in settings}
    app.config.update(settings)
    wechat_client._storages.clear()  # access tokens of another simulator mean nothing here
    try:
        yield _seed(app)
    finally:
        app.config.update(saved)
        wechat_client._storages.clear()
        _delete_all_rows(app)


def _seed(app) -> World:
    import uuid

    from app.auth.models import Staff
    from app.db import db
    from app.demo.seed import PASSWORD, load_demo
    from app.menu.models import Dish, OptionChoice
    from app.tables.models import DiningTable
    from app.tenants.models import Store
    from simulators.wechat.payment_codes import new_code
    from tests.factories import ApiClient

    def key() -> str:
        return uuid.uuid4().hex

    def ok(response, status: int = 201) -> dict:
        assert response.status_code == status, (response.status_code, response.get_data(as_text=True)[:500])
        return response.get_json() if response.is_json else {}

    with app.app_context():
        load_demo(member_count=60)
        owner = db.session.scalar(sa.select(Staff).where(Staff.username == "owner"))
        merchant_id = owner.merchant_id
        stores = list(db.session.scalars(sa.select(Store.id).where(Store.merchant_id == merchant_id)
                                         .order_by(Store.id)))
        plain = list(db.session.scalars(sa.select(Dish.id).where(Dish.merchant_id == merchant_id,
                                                                 ~Dish.option_groups.any()).order_by(Dish.id)))
        choice = db.session.scalars(sa.select(OptionChoice).where(OptionChoice.merchant_id == merchant_id)
                                    .order_by(OptionChoice.id)).first()
        option = (choice.group.dish_id, choice.id) if choice is not None else None
        tables = list(db.session.scalars(sa.select(DiningTable.id).where(DiningTable.store_id == stores[0])
                                         .order_by(DiningTable.id)))
        table_codes = list(db.session.scalars(sa.select(DiningTable.code).where(DiningTable.store_id == stores[0])
                                              .order_by(DiningTable.id)))
        db.session.remove()

    client = app.test_client()
    token = ok(client.post("/api/v1/auth/token", json={"username": "owner", "password": PASSWORD}), 200)["token"]
    api = ApiClient(client, token)

    members = [ok(api.post("/members", json={"phone": f"1390000{n:04d}", "name": f"会员{n}"}))
               for n in range(1, 5)]
    for member in members[:3]:
        ok(api.post(f"/members/{member['id']}/topups", json={
            "amount_cents": 50_000, "tender": "cash", "idempotency_key": key()}))
    ok(api.post(f"/members/{members[0]['id']}/cards", json={"card_no": "FUZZ0001"}))
    ok(api.post(f"/members/{members[1]['id']}/cards", json={"card_no": "FUZZ0002"}))

    cash = ok(api.post("/coupon-templates", json={"name": "满减券", "kind": "cash", "value_cents": 2000,
                                                  "valid_days": 30}))
    for member in members[:3]:
        for _ in range(2):
            ok(api.post(f"/members/{member['id']}/coupons", json={"template_id": cash["id"],
                                                                   "idempotency_key": key()}))

    def order(table: str | None = None, dishes=(0, 1)) -> dict:
        body = {"store_id": stores[0], "idempotency_key": key(),
                "items": [{"dish_id": plain[i], "qty": 1 + i % 2} for i in dishes]}
        if option is not None:
            body["items"].append({"dish_id": option[0], "qty": 1, "option_ids": [option[1]]})
        if table is not None:
            body["table"] = table
        return ok(api.post("/orders", json=body))

    open_orders = [order(table_codes[0]), order(table_codes[1], (2, 3)), order()]
    for paid in (order(), order(), order()):
        bill = ok(api.get(f"/orders/{paid['id']}/bill?member_id={members[0]['id']}"), 200)
        ok(api.post(f"/orders/{paid['id']}/settle", json={
            "member_id": members[0]["id"], "idempotency_key": key(),
            "tenders": [{"type": "stored_value", "amount_cents": bill["payable_cents"]}]}), 200)
    by_code = order()
    bill = ok(api.get(f"/orders/{by_code['id']}/bill"), 200)
    ok(api.post(f"/orders/{by_code['id']}/settle", json={
        "idempotency_key": key(),
        "tenders": [{"type": "wechat", "amount_cents": bill["payable_cents"], "auth_code": new_code("0001")}]}), 200)
    ok(api.post(f"/orders/{open_orders[2]['id']}/wechat-pay", json={"trade_type": "NATIVE",
                                                                     "idempotency_key": key()}))
    for table_id in tables[2:4]:
        ok(api.post(f"/tables/{table_id}/cart/lines", json={"dish_id": plain[4], "qty": 2}))
    ok(api.post("/devices", json={"store_id": stores[0], "name": "收银台"}))

    world = World(app, merchant_id, stores[0])
    world.tokens["owner"] = token
    world.refresh()
    return world


# --- the run -------------------------------------------------------------------------------------

# Who calls: the owner (every staff route is open to that role), except where only another
# caller can get past the first check: a cashier's shift (an owner belongs to no store), the
# calling device's own record and the on-site agent's sync.
CALLER = {"/api/v1/shifts/current": "cashier", "/api/v1/shifts/close": "cashier", "/api/v1/devices/me": "device",
          "/api/v1/stores/{store_id}/snapshot": "device", "/api/v1/sync/batches": "device",
          "/api/v1/sync/state": "device"}
# Operations that may revoke the token they were called with (logging out, a password change,
# the account deactivated): the next request gets a fresh one.
REVOKING = {("DELETE", "/api/v1/auth/token"), ("PATCH", "/api/v1/staff/{staff_id}"),
            ("DELETE", "/api/v1/staff/{staff_id}"), ("DELETE", "/api/v1/devices/{device_id}")}


@schema.parametrize()
def test_api(case, world, app, fuzz_stats):
    if world.operation != case.operation.label:  # the first example of an operation
        world.operation = case.operation.label
        world.refresh()  # ids (and table tokens) as the operations before left them
    kwargs: dict[str, Any] = {"app": app}
    if case.operation.path.endswith("/events/stream"):
        kwargs["timeout"] = STREAM_SECONDS  # a live stream never ends by itself
    caller = CALLER.get(case.operation.path, "owner")
    case.headers = {**(case.headers or {}), "Authorization": f"Bearer {world.token(caller)}"}
    with sql_writes(app) as writes:
        response = case.call(**kwargs)
    if case.method.upper() == "GET":  # reading never writes (the routes are thin; no write in a GET)
        assert writes == [], f"{case.operation.label} wrote: {writes[:3]}"
    fuzz_stats.answers[(case.operation.label, response.status_code)] += 1
    fuzz_stats.phases[case.meta.phase.name.value if case.meta else "explicit"] += 1
    fuzz_stats.seed = SEED
    try:
        case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs)
    finally:
        if (case.method.upper(), case.operation.path) in REVOKING:
            world.tokens.clear()
