"""Helpers for the fan-acquisition tests: a merchant with a WeChat account, a wheel, and diners
whose phones are signed in through WeChat (the session the OAuth sign-in leaves)."""

from __future__ import annotations

import re
import threading
import uuid

from app.actor import Actor
from app.fans import service
from app.fans.models import PrizeKind
from tests.factories import create_coupon_template
from tests.wechat_pay_support import add_wechat_settings

CSRF = re.compile(r'(?:data-csrf="|name="csrf_token" type="hidden" value="|name="csrf_token" value=")([^"]+)"')


def merchant_with_wechat(make):
    tenant = make.tenant()
    add_wechat_settings(make.db, tenant.merchant.id)
    return tenant


def make_wheel(make, tenant, *, stock: int = 50, chance_bp: int = 10_000, total: int | None = None,
               daily: int | None = None, kind: PrizeKind = PrizeKind.COUPON, **values):
    template = create_coupon_template(make, tenant)
    prize = {"kind": kind, "label": "满100减20", "label_en": "¥20 off", "chance_bp": chance_bp, "stock": stock,
             "coupon_template_id": template["id"], "points": 50, "bonus_cents": 500}
    wheel = service.create_wheel(actor=Actor.system(tenant.merchant.id), prizes=[prize], name="开业大转盘",
                                 per_person_total=total, per_person_daily=daily, **values)
    make.db.session.commit()
    return wheel, template


def phone(app, tenant, openid: str | None = None):
    """A test client whose session is a diner signed in through the merchant's WeChat account."""
    client = app.test_client()
    with client.session_transaction() as session:
        session["wechat_openid"] = openid or f"o{uuid.uuid4().hex[:27]}"
        session["wechat_merchant_id"] = tenant.merchant.id
        session["wechat_appid"] = "wx-demo"
    return client


def csrf_of(client, path: str) -> str:
    page = client.get(path)
    assert page.status_code == 200, page.get_data(as_text=True)[:500]
    return CSRF.search(page.get_data(as_text=True)).group(1)


def spin(client, code: str, token: str, draw_id: str | None = None):
    return client.post(f"/w/{code}/spin", json={"draw_id": draw_id or uuid.uuid4().hex},
                       headers={"X-CSRFToken": token})


def together(count: int, target):
    """Run target(i) in `count` threads released at once; the answers in order."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def run(i):
        barrier.wait()
        try:
            results[i] = target(i)
        except Exception as error:
            results[i] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    return results
