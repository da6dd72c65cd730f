"""The demo restaurant of the embedded default: one merchant, two stores, a login per role."""

from __future__ import annotations

import sqlalchemy as sa

from app.auth.models import Staff
from app.auth.permissions import Role
from app.auth.service import create_staff
from app.db import db
from app.tenants.service import create_store, create_tenant

MERCHANT = "湘味小馆 Xiangwei Bistro"
PASSWORD = "demo1234"
STORES = ("湘味小馆·人民路店", "湘味小馆·滨江店")
ACCOUNTS = (
    ("owner", Role.OWNER, None, "老板 王芳"),
    ("manager", Role.MANAGER, None, "店长 李强"),
    ("cashier", Role.CASHIER, 0, "收银 张敏"),
    ("kitchen", Role.KITCHEN, 0, "后厨 陈师傅"),
)


def load_demo() -> bool:
    if db.session.scalar(sa.select(Staff.id).where(Staff.username == "owner")) is not None:
        return False
    merchant, first_store, _owner = create_tenant(merchant_name=MERCHANT, owner_username="owner",
                                                  password=PASSWORD, store_name=STORES[0])
    first_store.address = "长沙市芙蓉区人民路 88 号"
    first_store.phone = "0731-8888 6666"
    stores = [first_store, create_store(merchant.id, name=STORES[1], address="长沙市岳麓区滨江路 16 号")]
    for username, role, store_index, name in ACCOUNTS[1:]:
        create_staff(None, merchant_id=merchant.id, username=username, password=PASSWORD, role=role,
                     store_id=stores[store_index].id if store_index is not None else None, display_name=name)
    db.session.commit()
    return True


def describe(base: str) -> str:
    base = base.rstrip("/")
    logins = ", ".join(f"{username} / {PASSWORD}" for username, *_ in ACCOUNTS)
    rows = [
        ("API docs / 接口文档", f"{base}/api/docs"),
        ("OpenAPI", f"{base}/api/openapi.json"),
        ("Manager pages / 管理后台", f"{base}/manage/"),
    ]
    width = max(len(label) for label, _ in rows)
    lines = ["", "TableLoop is running / 系统已启动:"]
    lines += [f"  {label.ljust(width)}  {url}" for label, url in rows]
    lines += [f"  Demo logins / 演示账号: {logins}", ""]
    return "\n".join(lines)
