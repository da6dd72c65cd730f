"""The demo restaurant's members and six months of their bills, so the member pyramid and its
layer pages show something on first open.

Generated from a fixed seed (the same data on every machine) with habits a restaurant would
recognise: regulars who come every week to the same store, banquet hosts, monthly diners,
occasional and one-time guests, members who stopped coming, new members, and some who joined and
never paid. Lunch and dinner hours, busier weekends, signature dishes ordered most.

Each bill is priced by the rules core (`tablerules.pricing.price_bill`, the member's tier discount
as it stood) and kept as a charged bill, so a demo bill reads, prints and refunds like any other.
Bills are paid in cash and earn no points: the members' ledgers stay empty and their balances
zero, which keeps every ledger invariant. Tiers follow the spend as the real upgrade would.

Rows are inserted in bulk (SQLAlchemy Core executemany) with ids chosen here, the PostgreSQL
sequences moved past them afterwards.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from operator import itemgetter

import sqlalchemy as sa

from app.db import IntEnumType, UTCDateTime, db
from app.members.models import Gender, Member, MemberVisit, TierChangeLog
from app.members.service import tier_rule, tiers_of
from app.menu.models import Category, Dish
from app.orders.models import Order, OrderLine, Payment, PaymentKind
from app.orders.state import LineStatus, OrderStatus
from app.tables.models import DiningTable
from app.tenants.models import Store
from tablerules import pricing
from tablerules.bill import ChargedBill, MemberSnapshot
from tablerules.points import CHINA_TZ
from tablerules.tenders import Tender, TenderType
from tablerules.tiers import upgrade_decision

SEED = 20_261_129
MEMBERS = 2_000
DAYS = 183  # six months of bills, up to yesterday

SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡"
            "余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯"
            "龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤")
GIVEN = ("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红鹏飞辉建国婷雪梅琳晨宇浩"
         "然子涵欣怡梓轩思远一鸣佳豪诗琪雨桐博文俊杰嘉怡晓东海燕志强春花丹丹亮斌")

# Dishes the house is known for: ordered far more often than the rest.
SIGNATURE = {"辣椒炒肉": 9, "剁椒鱼头": 7, "小炒黄牛肉": 6, "米饭": 0, "口味虾": 4, "农家小炒肉": 5, "毛氏红烧肉": 5,
             "长沙臭豆腐": 4, "酸菜鱼": 4, "手撕包菜": 4, "青岛啤酒": 0, "酸梅汤": 3, "糖油粑粑": 3,
             "外婆菜炒蛋": 3, "干锅花菜": 3, "腊味合蒸": 3}
BANQUET = {"剁椒鱼头", "口味虾", "腊味合蒸", "毛氏红烧肉", "东安子鸡", "啤酒鸭", "清蒸鲈鱼", "卤味拼盘"}


@dataclass(frozen=True)
class Persona:
    name: str
    share: float  # of the members
    visits: tuple[int, int]  # how many visits in the six months (inclusive range)
    party: tuple[int, int]  # diners at the table
    active_days: tuple[int, int]  # the days back (from, to) in which they come
    joined_before: int  # joined up to this many days before their first visit
    weekend: float  # chance a visit falls on a weekend
    dinner: float  # chance it is dinner rather than lunch
    banquet: float = 0.0  # chance a visit is a banquet (big dishes, drinks)


PERSONAS = (
    Persona("regular", 0.07, (16, 30), (2, 4), (DAYS, 1), 300, 0.45, 0.6),
    Persona("banquet", 0.04, (4, 8), (6, 10), (DAYS, 1), 400, 0.6, 0.9, banquet=0.8),
    Persona("monthly", 0.20, (4, 8), (2, 4), (DAYS, 1), 400, 0.5, 0.55),
    Persona("occasional", 0.24, (2, 3), (2, 5), (DAYS, 1), 500, 0.55, 0.6, banquet=0.1),
    Persona("one_time", 0.14, (1, 1), (1, 4), (DAYS, 1), 30, 0.5, 0.5),
    Persona("lapsed", 0.16, (3, 10), (2, 4), (DAYS, 75), 400, 0.5, 0.6, banquet=0.05),
    Persona("new", 0.10, (0, 2), (2, 4), (40, 1), 5, 0.5, 0.6),
    Persona("never", 0.05, (0, 0), (1, 1), (DAYS, 1), 0, 0.5, 0.5),
)


@dataclass
class _Ids:
    """The next id of each table, counted here so rows can refer to each other before insert."""

    next: dict[str, int] = field(default_factory=dict)

    def take(self, table: str) -> int:
        self.next[table] += 1
        return self.next[table] - 1


@dataclass(frozen=True)
class _Dish:
    id: int
    name: str
    name_en: str
    category_id: int | None
    station: str
    price_cents: int
    is_discountable: bool
    options: list[dict]  # the first choice of each required group (one list, shared by every line)
    weight: float
    category: str


def load_members(merchant_id: int, now: datetime | None = None, *, count: int = MEMBERS) -> int:
    """Insert the demo members and their bills; answer how many bills. The caller commits."""
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    rng = random.Random(SEED)
    stores = list(db.session.scalars(sa.select(Store).where(Store.merchant_id == merchant_id).order_by(Store.id)))
    tables = {store.id: list(db.session.execute(
        sa.select(DiningTable.id, DiningTable.code).where(DiningTable.store_id == store.id)
        .order_by(DiningTable.code)).all()) for store in stores}
    tiers = tiers_of(merchant_id)
    rules = [tier_rule(t) for t in tiers]
    dishes = _dishes(merchant_id)
    ids = _Ids({table: (db.session.scalar(sa.select(sa.func.max(model.id))) or 0) + 1
                for table, model in (("member", Member), ("order", Order), ("line", OrderLine),
                                     ("payment", Payment))})

    members, orders, lines, payments, visits, changes = [], [], [], [], [], []
    phones: set[str] = set()
    numbers: set[str] = set()
    for persona in rng.choices(PERSONAS, weights=[p.share for p in PERSONAS], k=count):
        member_id = ids.take("member")
        store = stores[0] if len(stores) == 1 or rng.random() < 0.68 else rng.choice(stores[1:])
        moments = _visit_moments(rng, persona, now)
        first = moments[0] if moments else now - timedelta(days=rng.randint(1, DAYS))
        joined = first - timedelta(days=rng.randint(0, persona.joined_before), hours=rng.randint(0, 3))
        if persona.name == "new":
            joined = max(joined, now - timedelta(days=44))
            moments = [m for m in moments if m > joined]
        tier = tiers[0]
        member = {
            "id": member_id, "merchant_id": merchant_id, "member_no": _unique(rng, numbers, 1_000_000_000, 10),
            "phone": "1" + rng.choice("3589") + _unique(rng, phones, 0, 9), "name": _name(rng),
            "birthday": None if rng.random() < 0.3 else datetime(rng.randint(1962, 2004), rng.randint(1, 12),
                                                                    rng.randint(1, 28)).date(),
            "gender": rng.choice([Gender.MALE, Gender.FEMALE, Gender.UNKNOWN]), "openid": None, "unionid": None,
            "source_store_id": store.id, "source_table_id": None, "source_campaign": None, "tags": [],
            "notes": "", "tier_id": tier.id, "tier_changed_at": None, "principal_cents": 0, "bonus_cents": 0,
            "points": 0, "created_at": joined}
        members.append(member)
        favourites = _favourites(rng, dishes)
        spent: list[tuple[datetime, int]] = []
        for paid_at in moments:
            visit_store = store if rng.random() < 0.85 else rng.choice(stores)
            banquet = rng.random() < persona.banquet
            party = rng.randint(*persona.party) + (rng.randint(2, 4) if banquet else 0)
            order_id = ids.take("order")
            picked = _pick_dishes(rng, dishes, favourites, party, banquet)
            order_lines = []
            for dish, qty in picked:
                line_id = ids.take("line")
                order_lines.append({
                    "id": line_id, "merchant_id": merchant_id, "order_id": order_id, "dish_id": dish.id,
                    "name": dish.name, "name_en": dish.name_en, "category_id": dish.category_id,
                    "station": dish.station, "unit_price_cents": dish.price_cents, "qty": qty,
                    "options": dish.options, "note": "", "is_discountable": dish.is_discountable,
                    "status": LineStatus.DONE, "added_by": "", "ticket_id": None, "void_reason": "",
                    "refunded_qty": 0, "created_at": paid_at - timedelta(minutes=55)})
            year_ago = paid_at - timedelta(days=365)
            spend_12m = sum(cents for moment, cents in spent if moment >= year_ago)
            bill = pricing.price_bill(
                [pricing.BillLine(line["id"], line["dish_id"], line["category_id"], line["name"],
                                  line["unit_price_cents"], line["qty"], line["is_discountable"])
                 for line in order_lines],
                tier=pricing.TierDiscount(tier.name, tier.discount_percent) if tier.discount_percent else None,
                coupons=(), member_id=member_id, points_to_redeem=0, points_balance=0, points_rule=None,
                rounding=pricing.Rounding(visit_store.rounding), now=paid_at)
            payable = bill.payable_cents
            charged = ChargedBill(priced=bill, tenders=(Tender(TenderType.CASH, payable),), change_cents=0,
                                  stored_value_split=None, points_earned=0, earn=None,
                                  member=MemberSnapshot(member_id, member["member_no"], member["name"], tier.name,
                                                        0, 0))
            table_id, table_code = rng.choice(tables[visit_store.id]) if tables[visit_store.id] else (None, "")
            orders.append({
                "id": order_id, "merchant_id": merchant_id, "store_id": visit_store.id, "table_id": table_id,
                "table_code": table_code, "status": OrderStatus.PAID, "member_id": member_id,
                "idempotency_key": None, "subtotal_cents": bill.subtotal_cents, "discount_cents": bill.discount_cents,
                "payable_cents": payable, "paid_cents": payable, "change_cents": 0, "refunded_cents": 0,
                "bill": charged.to_dict(), "created_by_id": None, "settled_by_id": None, "paid_at": paid_at,
                "refunded_at": None, "created_at": paid_at - timedelta(minutes=60)})
            lines.extend(order_lines)
            payments.append({
                "id": ids.take("payment"), "merchant_id": merchant_id, "order_id": order_id,
                "store_id": visit_store.id, "tender": TenderType.CASH, "kind": PaymentKind.CHARGE,
                "amount_cents": payable, "change_cents": 0, "external_ref": None, "staff_id": None,
                "device_id": None, "reason": "", "created_at": paid_at})
            visits.append({
                "merchant_id": merchant_id, "member_id": member_id, "order_id": order_id, "store_id": visit_store.id,
                "visited_at": paid_at, "paid_cents": payable, "refunded_cents": 0, "stored_value_cents": 0,
                "points_earned": 0, "points_redeemed": 0,
                "items": [{"name": line["name"], "qty": line["qty"],
                           "amount_cents": line["unit_price_cents"] * line["qty"]} for line in order_lines],
                "tenders": [{"type": "cash", "amount_cents": payable}]})
            spent.append((paid_at, payable))
            # The upgrade the settlement would make: at once, when the 12-month spend crosses a threshold.
            change = upgrade_decision(tier_rule(tier), rules, spend_12m + payable, 0)
            if change is not None:
                changes.append({"merchant_id": merchant_id, "member_id": member_id, "from_tier_id": tier.id,
                                "to_tier_id": change.to_tier.id, "reason_code": change.reason_code,
                                "reason": change.reason_zh, "created_at": paid_at})
                tier = next(t for t in tiers if t.id == change.to_tier.id)
                member["tier_id"], member["tier_changed_at"] = tier.id, paid_at

    connection = db.session.connection()
    for model, rows in ((Member, members), (Order, orders), (OrderLine, lines), (Payment, payments),
                        (MemberVisit, visits), (TierChangeLog, changes)):
        _insert(connection, model.__table__, rows)
    if connection.dialect.name == "postgresql":
        for table in ("member", "customer_order", "order_line", "payment"):
            connection.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                       f"(SELECT max(id) FROM {table}))")
    return len(orders)


def _insert(connection: sa.Connection, table: sa.Table, rows: list[dict]) -> None:
    """One executemany straight on the driver: the rows' values made driver-ready here, once, as
    the column types would (the per-row type processing would cost more than the whole insert)."""
    if not rows:
        return
    names = list(rows[0])
    postgres = connection.dialect.name == "postgresql"
    if postgres:
        from psycopg.types.json import Json as wrap_json
    converters = []
    for name in names:
        column_type = table.c[name].type
        if isinstance(column_type, sa.JSON):
            converters.append(wrap_json if postgres else _json_text)
        elif isinstance(column_type, UTCDateTime):
            converters.append(_aware if postgres else _sqlite_time)
        elif isinstance(column_type, IntEnumType):
            converters.append(_int_or_none)
        else:
            converters.append(None)
    placeholder = "%s" if postgres else "?"
    sql = (f"INSERT INTO {table.name} ({', '.join(names)}) "
           f"VALUES ({', '.join(placeholder for _ in names)})")
    row_values = itemgetter(*names)
    convert = [(index, f) for index, f in enumerate(converters) if f is not None]
    values = []
    for row in rows:
        value = list(row_values(row))
        for index, f in convert:
            if value[index] is not None:
                value[index] = f(value[index])
        values.append(tuple(value))
    connection.exec_driver_sql(sql, values)


_SHARED_JSON: dict[int, tuple[object, str]] = {}


def _json_text(value: object) -> str:
    """JSON text; a value shared by many rows (a dish's options) is written once."""
    known = _SHARED_JSON.get(id(value))
    if known is not None and known[0] is value:
        return known[1]
    text = json.dumps(value)
    _SHARED_JSON[id(value)] = (value, text)
    return text


def _aware(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def _sqlite_time(moment: datetime) -> str:
    """As SQLAlchemy's SQLite DATETIME stores it (naive UTC, microseconds always written), so that
    text comparisons with bound times order correctly."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _int_or_none(value: object) -> int:
    return int(value)  # type: ignore[call-overload]


def _dishes(merchant_id: int) -> list[_Dish]:
    categories = {c.id: c.name for c in db.session.scalars(sa.select(Category).where(
        Category.merchant_id == merchant_id))}
    found = []
    for dish in db.session.scalars(sa.select(Dish).where(Dish.merchant_id == merchant_id).order_by(Dish.id)):
        options = list({"group": group.name, "name": group.choices[0].name,
                         "price_delta_cents": group.choices[0].price_delta_cents}
                        for group in dish.option_groups if group.is_required and group.choices)
        price = dish.price_cents + sum(o["price_delta_cents"] for o in options)
        found.append(_Dish(dish.id, dish.name, dish.name_en, dish.category_id, dish.station, price,
                           dish.is_discountable, options, 1.0 + SIGNATURE.get(dish.name, 0),
                           categories.get(dish.category_id, "")))
    return found


def _favourites(rng: random.Random, dishes: Sequence[_Dish]) -> list[_Dish]:
    mains = [d for d in dishes if d.category in {"湘味小炒", "热菜", "凉菜", "汤羹", "点心"}]
    return rng.choices(mains, weights=[d.weight for d in mains], k=4)


def _pick_dishes(rng: random.Random, dishes: Sequence[_Dish], favourites: Sequence[_Dish], party: int,
                 banquet: bool) -> list[tuple[_Dish, int]]:
    by_name = {d.name: d for d in dishes}
    mains = [d for d in dishes if d.category in {"湘味小炒", "热菜", "凉菜", "汤羹", "点心"}]
    wanted = max(2, party + rng.choice((-1, 0, 0, 1)))
    chosen: dict[int, tuple[_Dish, int]] = {}
    if banquet:
        for name in rng.sample(sorted(BANQUET), k=min(len(BANQUET), 2 + party // 3)):
            if name in by_name:
                chosen[by_name[name].id] = (by_name[name], 1)
    while len(chosen) < wanted:
        dish = rng.choice(favourites) if rng.random() < 0.45 else rng.choices(mains, [d.weight for d in mains])[0]
        chosen.setdefault(dish.id, (dish, 1))
    picked = list(chosen.values())
    staple = by_name.get("米饭")
    if staple is not None and rng.random() < 0.4:
        picked.append((staple, max(1, party // 2)))
    drinks = [d for d in dishes if d.category in {"饮品", "酒水"}]
    if drinks and (banquet or rng.random() < 0.5):
        drink = by_name.get("青岛啤酒") if banquet and "青岛啤酒" in by_name else rng.choice(drinks)
        picked.append((drink, max(1, party // (1 if banquet else 2))))
    return picked


def _visit_moments(rng: random.Random, persona: Persona, now: datetime) -> list[datetime]:
    """When the member paid, oldest first: local lunch or dinner time, weekends more likely."""
    count = rng.randint(*persona.visits)
    earliest, latest = persona.active_days
    if persona.name == "lapsed":
        latest = rng.randint(latest, 150)
    moments = set()
    for _ in range(count):
        weekend = rng.random() < persona.weekend
        for _attempt in range(12):
            day = (now - timedelta(days=rng.randint(latest, earliest))).astimezone(CHINA_TZ).date()
            if (day.weekday() >= 5) == weekend:
                break
        dinner = rng.random() < persona.dinner
        minutes = rng.randint(17 * 60 + 30, 21 * 60) if dinner else rng.randint(11 * 60 + 20, 13 * 60 + 40)
        local = datetime(day.year, day.month, day.day, minutes // 60, minutes % 60, rng.randint(0, 59),
                         tzinfo=CHINA_TZ)
        moment = local.astimezone(UTC)
        if moment < now:
            moments.add(moment)
    return sorted(moments)


def _unique(rng: random.Random, taken: set[str], low: int, digits: int) -> str:
    while True:
        text = str(rng.randrange(low, 10 ** digits)).zfill(digits)
        if text not in taken:
            taken.add(text)
            return text


def _name(rng: random.Random) -> str:
    given = rng.choice(GIVEN) + (rng.choice(GIVEN) if rng.random() < 0.6 else "")
    return rng.choice(SURNAMES) + given
