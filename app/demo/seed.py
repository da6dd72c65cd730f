"""The demo restaurant of the embedded default: one merchant, two stores, a login per role,
a Hunan menu of about 60 dishes, and the dining tables of both stores."""

from __future__ import annotations

import sqlalchemy as sa

from app.actor import Actor
from app.analytics.service import keep_figures
from app.auth.models import Device, Staff
from app.auth.permissions import Role
from app.auth.service import DEVICE_TOKEN_PREFIX, create_staff, hash_token
from app.campaigns.models import Campaign
from app.db import db, utcnow
from app.demo import menu_data
from app.demo.campaigns import load_campaigns
from app.demo.members import MEMBERS, load_members
from app.inbox.models import CannedReply, KeywordReply
from app.members.models import Member, MemberCard
from app.menu.models import Category, Dish, OptionChoice, OptionGroup, Station
from app.onboarding import create_tenant
from app.tables.models import Area, DiningTable
from app.tables.service import qr_secret, table_token
from app.tenants.models import Store
from app.tenants.service import new_store
from app.wechat.models import WeChatSettings

MERCHANT = "湘味小馆 Xiangwei Bistro"
PASSWORD = "demo1234"
STORES = ("湘味小馆·人民路店", "湘味小馆·滨江店")
ACCOUNTS = (
    ("owner", Role.OWNER, None, "老板 王芳"),
    ("manager", Role.MANAGER, None, "店长 李强"),
    ("cashier", Role.CASHIER, 0, "收银 张敏"),
    ("kitchen", Role.KITCHEN, 0, "后厨 陈师傅"),
)
# The on-site agent of the first store, registered with the token config/pos_agent.demo.yaml
# holds, so that `make run` prints kitchen tickets and receipts with no step by hand.
DEMO_DEVICE_NAME = "前台收银机 Front till"
DEMO_DEVICE_TOKEN = DEVICE_TOKEN_PREFIX + "demo-store-agent-not-a-secret"
DEMO_CARD_NO = "0455884110"  # the virtual card reader's default card, 0A1B2C3D4E


def load_demo(*, member_count: int = MEMBERS) -> bool:
    """Load whatever part of the demo is missing; False when everything was already there."""
    created = False
    owner = _demo_owner()
    if owner is None:
        _load_merchant()
        owner = _demo_owner()
        created = True
    merchant_id = owner.merchant_id
    if db.session.scalar(sa.select(Dish.id).where(Dish.merchant_id == merchant_id).limit(1)) is None:
        _load_menu(merchant_id)
        created = True
    if db.session.scalar(sa.select(Station.id).where(Station.merchant_id == merchant_id).limit(1)) is None:
        db.session.add_all(Station(merchant_id=merchant_id, code=code, name=name, name_en=name_en, sort_order=position)
                           for position, (code, name, name_en) in enumerate(menu_data.STATIONS, start=1))
        created = True
    stores = _demo_stores(merchant_id)
    if db.session.scalar(sa.select(DiningTable.id).where(DiningTable.merchant_id == merchant_id).limit(1)) is None:
        _load_tables(stores)
        created = True
    if db.session.scalar(sa.select(WeChatSettings.id).where(WeChatSettings.merchant_id == merchant_id)) is None:
        _load_wechat(merchant_id)
        created = True
    if db.session.scalar(sa.select(Member.id).where(Member.merchant_id == merchant_id).limit(1)) is None:
        load_members(merchant_id, count=member_count)
        # Their bills were written in bulk, not settled one by one: the pyramid's rollup is built now.
        keep_figures(utcnow(), actor=Actor.system(merchant_id))
        created = True
    if db.session.scalar(sa.select(KeywordReply.id).where(KeywordReply.merchant_id == merchant_id).limit(1)) is None:
        _load_service_desk(merchant_id)
        created = True
    if db.session.scalar(sa.select(Campaign.id).where(Campaign.merchant_id == merchant_id).limit(1)) is None:
        load_campaigns(merchant_id, owner.id, utcnow())
        created = True
    if _load_demo_card(merchant_id):
        created = True
    if db.session.scalar(sa.select(Device.id).where(Device.token_hash == hash_token(DEMO_DEVICE_TOKEN))) is None:
        db.session.add(Device(merchant_id=merchant_id, store_id=stores[0].id, name=DEMO_DEVICE_NAME,
                              token_hash=hash_token(DEMO_DEVICE_TOKEN)))
        created = True
    from app.demo.fans import load_fans

    created = load_fans(merchant_id, stores[0].id if stores else None) or created
    db.session.commit()
    return created


# The customer-service inbox's keyword auto-replies and canned replies, and the member tag rules.
DEMO_KEYWORDS = (
    ("菜单", "本店招牌：剁椒鱼头、小炒黄牛肉、农家一碗香。扫桌上二维码即可点餐。"),
    ("充值", "储值充 500 送 50、充 1000 送 150，到店收银台或会员卡页面「充值」即可。"),
    ("优惠", "本周会员日（周三）全场 9.5 折；新会员注册即送 20 元代金券。"),
)
DEMO_CANNED = (
    ("订位确认", "好的，已为您预留位子。请问几位用餐、几点到店？"),
    ("营业时间", "营业时间：每天 10:30–14:00、17:00–22:00。"),
    ("停车", "商场地下停车场 B2，消费满 200 元免停车费 2 小时。"),
)
DEMO_TAG_RULES = (
    ("90天消费满2000", "高消费", "spend", {"min_cents": 200_000, "days": 90}),
    ("剁椒鱼头爱好者", "鱼头控", "dish", {"dish": "剁椒鱼头", "min_count": 3, "days": 0}),
    ("A05桌扫码来的", "A05来客", "source_table", {"table": "A05"}),
)


def _load_service_desk(merchant_id: int) -> None:
    from app.actor import Actor
    from app.crm import service as crm
    from app.db import utcnow

    db.session.add_all(KeywordReply(merchant_id=merchant_id, keyword=k, text=t) for k, t in DEMO_KEYWORDS)
    if db.session.scalar(sa.select(CannedReply.id).where(CannedReply.merchant_id == merchant_id).limit(1)) is None:
        db.session.add_all(CannedReply(merchant_id=merchant_id, title=k, text=t) for k, t in DEMO_CANNED)
    actor, now = Actor.system(merchant_id), utcnow()
    existing = {rule.name for rule in crm.rules_of(merchant_id)}
    for name, tag, kind, params in DEMO_TAG_RULES:
        if name not in existing:
            crm.create_rule(actor=actor, name=name, tag=tag, kind=kind, params=params, now=now)
    db.session.flush()
    crm.retag_all(now, actor=actor)


def _load_demo_card(merchant_id: int) -> bool:
    """The first demo member holds the card the virtual card reader swipes by default
    (0A1B2C3D4E, printed number 0455884110), so a swipe at the till finds a member."""
    exists = sa.select(MemberCard.id).where(MemberCard.merchant_id == merchant_id, MemberCard.card_no == DEMO_CARD_NO)
    if db.session.scalar(exists) is not None:
        return False
    first = db.session.scalar(sa.select(Member.id).where(Member.merchant_id == merchant_id).order_by(Member.id))
    if first is None:
        return False
    db.session.add(MemberCard(merchant_id=merchant_id, member_id=first, card_no=DEMO_CARD_NO))
    return True


def _load_wechat(merchant_id: int) -> None:
    """The demo account of the WeChat simulator (simulators/wechat/config.py), so that the
    embedded default works with no credentials."""
    from simulators.wechat.config import DEMO_API_KEY, DEMO_APPID, DEMO_MCH_ID, DEMO_SECRET, DEMO_TOKEN

    db.session.add(WeChatSettings(merchant_id=merchant_id, appid=DEMO_APPID, app_secret=DEMO_SECRET,
                                  token=DEMO_TOKEN, mch_id=DEMO_MCH_ID, api_key=DEMO_API_KEY,
                                  templates=DEMO_TEMPLATES))


# Template ids of the simulator's demo account and the fields each message fills.
DEMO_TEMPLATES = {
    "bill_pushed": {"template_id": "TPL_BILL", "fields": ["first", "keyword1", "keyword2", "keyword3", "remark"]},
    "payment_success": {"template_id": "TPL_PAID", "fields": ["first", "keyword1", "keyword2", "keyword3", "remark"]},
    "stored_value_changed": {"template_id": "TPL_BALANCE", "fields": ["first", "keyword1", "keyword2", "remark"]},
    "points_changed": {"template_id": "TPL_POINTS", "fields": ["first", "keyword1", "keyword2", "remark"]},
    "coupon_received": {"template_id": "TPL_COUPON", "fields": ["first", "keyword1", "keyword2", "remark"]},
    "campaign": {"template_id": "TPL_CAMPAIGN", "fields": ["first", "keyword1", "keyword2", "remark"]},
}


def _demo_owner() -> Staff | None:
    return db.session.scalar(sa.select(Staff).where(Staff.username == "owner"))


def _demo_stores(merchant_id: int) -> list[Store]:
    return list(db.session.scalars(sa.select(Store).where(Store.merchant_id == merchant_id).order_by(Store.id)))


def _load_merchant() -> None:
    merchant, first_store, _owner = create_tenant(merchant_name=MERCHANT, owner_username="owner",
                                                  password=PASSWORD, store_name=STORES[0])
    first_store.address = "长沙市芙蓉区人民路 88 号"
    first_store.phone = "0731-8888 6666"
    stores = [first_store, new_store(merchant.id, name=STORES[1], address="长沙市岳麓区滨江路 16 号")]
    for username, role, store_index, name in ACCOUNTS[1:]:
        create_staff(None, merchant_id=merchant.id, username=username, password=PASSWORD, role=role,
                     store_id=stores[store_index].id if store_index is not None else None, display_name=name)
    db.session.flush()


def _load_menu(merchant_id: int) -> None:
    # Plain rows rather than the audited services: the demo menu is nobody's action.
    categories = {}
    for position, (name, name_en) in enumerate(menu_data.CATEGORIES, start=1):
        categories[name] = Category(merchant_id=merchant_id, name=name, name_en=name_en, sort_order=position)
    groups = {key: spec for key, *spec in menu_data.OPTION_GROUPS}
    for position, (category, name, name_en, price_cents, unit, station, is_discountable, options) \
            in enumerate(menu_data.DISHES, start=1):
        dish = Dish(merchant_id=merchant_id, category=categories[category], name=name, name_en=name_en,
                    price_cents=price_cents, unit=unit, station=station, is_discountable=is_discountable,
                    sort_order=position)
        for group_position, key in enumerate(options, start=1):
            group_name, group_name_en, is_required, max_choices, choices = groups[key]
            dish.option_groups.append(OptionGroup(
                merchant_id=merchant_id, name=group_name, name_en=group_name_en, is_required=is_required,
                max_choices=max_choices, sort_order=group_position,
                choices=[OptionChoice(merchant_id=merchant_id, name=choice, name_en=choice_en,
                                      price_delta_cents=delta, sort_order=choice_position)
                         for choice_position, (choice, choice_en, delta) in enumerate(choices, start=1)]))
        db.session.add(dish)
    db.session.flush()


def _load_tables(stores: list[Store]) -> None:
    for store, plan in zip(stores, menu_data.FLOOR_PLANS, strict=False):
        for position, (name, name_en, tables) in enumerate(plan, start=1):
            area = Area(merchant_id=store.merchant_id, store_id=store.id, name=name, name_en=name_en,
                        sort_order=position)
            db.session.add(area)
            for code, seats in tables:
                db.session.add(DiningTable(merchant_id=store.merchant_id, store_id=store.id, area=area,
                                           code=code, seats=seats))
        qr_secret(store.merchant_id)
    db.session.flush()


def _demo_table() -> DiningTable | None:
    owner = _demo_owner()
    if owner is None:
        return None
    return db.session.scalar(sa.select(DiningTable).where(DiningTable.merchant_id == owner.merchant_id)
                             .order_by(DiningTable.store_id, DiningTable.code).limit(1))


def describe(base: str) -> str:
    base = base.rstrip("/")
    logins = ", ".join(f"{username} / {PASSWORD}" for username, *_ in ACCOUNTS)
    rows = [
        ("API docs / 接口文档", f"{base}/api/docs"),
        ("OpenAPI", f"{base}/api/openapi.json"),
        ("Manager pages / 管理后台", f"{base}/manage/"),
        ("Sales dashboard / 营业看板", f"{base}/manage/dashboard"),
    ]
    table = _demo_table()
    if table is not None:
        rows += [
            ("Table QR sheet / 桌台二维码", f"{base}/manage/stores/{table.store_id}/qr-sheet"),
            (f"Diner page, table {table.code} / 扫码点餐", f"{base}/t/{table_token(table)}"),
        ]
        db.session.commit()  # the QR key, should this be its first use
    rows += [
        ("Member pages / 会员管理", f"{base}/manage/members/"),
        ("Customer service / 客服消息", f"{base}/manage/inbox"),
        ("Member pyramid / 会员金字塔", f"{base}/manage/analytics/"),
        ("Segments & campaigns / 分群与营销", f"{base}/manage/campaigns"),
        ("Fan acquisition / 吸粉活动 (lucky wheel, red envelopes)", f"{base}/manage/fans/"),
        ("Kitchen display / 后厨显示屏", f"{base}/kitchen/"),
        ("WeChat simulator / 微信模拟器", "http://127.0.0.1:8100/"),
        ("Virtual printers / 虚拟打印机", "http://127.0.0.1:9180/"),
        ("Card reader & scanner / 读卡器与扫码枪", "http://127.0.0.1:9190/"),
        ("POS agent / 收银台代理", "http://127.0.0.1:8765/"),
        ("Cashier's till / 收银台", "http://127.0.0.1:8765/till"),
    ]
    width = max(len(label) for label, _ in rows)
    lines = ["", "TableLoop is running / 系统已启动:"]
    lines += [f"  {label.ljust(width)}  {url}" for label, url in rows]
    lines += [f"  Demo logins / 演示账号: {logins}", ""]
    return "\n".join(lines)
