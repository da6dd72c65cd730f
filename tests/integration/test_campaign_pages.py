"""The manager's segment and campaign pages: a segment from a pyramid layer with its live count,
a campaign with its preview, the confirmation and the send, the funnel; others kept out."""

from __future__ import annotations

import re

import pytest

from tests.factories import create_coupon_template
from tests.integration.test_analytics_pyramid import THRESHOLDS, Shop, build_members
from tests.integration.test_member_pages import log_in

ZH = {"Accept-Language": "zh-CN"}
EN = {"Accept-Language": "en"}


@pytest.fixture
def shop(make, db):
    shop = Shop(make, db)
    assert shop.api.request("PUT", "/analytics/thresholds", json=THRESHOLDS).status_code == 200
    build_members(shop)
    log_in(make, shop.tenant.owner)
    return shop


def _token(html: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def test_layer_to_segment_to_campaign_to_funnel(shop, make):
    client = make.client
    layer = client.get("/manage/analytics/layers/important", headers=ZH).get_data(as_text=True)
    link = re.search(r'id="segment-from-layer" href="([^"]+)"', layer).group(1).replace("&amp;", "&")
    form = client.get(link, headers=ZH).get_data(as_text=True)
    assert re.search(r'id="live-count">2<', form)  # the two important members
    token = _token(form)
    live = client.post("/manage/segments/count", data={"csrf_token": token, "layers": ["important", "core"]})
    assert live.status_code == 200 and live.get_data(as_text=True) == "3"
    bad = client.post("/manage/segments/count", data={"csrf_token": token, "visits_min": "5", "visits_max": "1"})
    assert bad.status_code == 422
    saved = client.post("/manage/segments/new", data={"csrf_token": token, "name": "重要会员",
                                                      "layers": ["important"]})
    assert saved.status_code == 302
    detail = client.get(saved.location, headers=ZH).get_data(as_text=True)
    assert re.search(r'id="segment-members">2<', detail) and "重要B" in detail and "重要C" in detail
    segment_id = int(saved.location.rsplit("/", 1)[1])

    template = create_coupon_template(make, shop.tenant, name="回店券")
    form = client.get(f"/manage/campaigns/new?segment_id={segment_id}", headers=ZH).get_data(as_text=True)
    assert re.search(r'id="preview-count">2<', form)
    made = client.post("/manage/campaigns/new", data={
        "csrf_token": _token(form), "idempotency_key": "page-1", "name": "重要会员回店", "trigger": "once",
        "segment_id": str(segment_id), "coupon_template_id": str(template["id"]), "message_title": "好久不见",
        "message_body": "送您一张券", "holdout_percent": "0", "window_days": "14", "quiet_start": "22:00",
        "quiet_end": "08:00", "scheduled_at": ""})
    assert made.status_code == 302, made.get_data(as_text=True)
    page = client.get(made.location, headers=ZH).get_data(as_text=True)
    assert re.search(r'id="preview-members">2<', page) and "草稿" in page
    campaign_id = int(made.location.rsplit("/", 1)[1])
    confirm = client.get(f"/manage/campaigns/{campaign_id}/send", headers=ZH).get_data(as_text=True)
    assert "2" in re.search(r'id="confirm-count">([^<]+)<', confirm).group(1)
    sent = client.post(f"/manage/campaigns/{campaign_id}/send", data={"csrf_token": _token(confirm)})
    assert sent.status_code == 302
    page = client.get(f"/manage/campaigns/{campaign_id}", headers=ZH).get_data(as_text=True)
    assert re.search(r'id="f-sent">2<', page) and re.search(r'id="f-opened">0<', page) and "已发送" in page
    assert "<script" in page and "nonce=" in page  # only the external file, with the nonce
    again = client.post(f"/manage/campaigns/{campaign_id}/send", data={"csrf_token": _token(confirm)})
    assert again.status_code == 302  # refused with a message, nothing sent twice
    listing = client.get("/manage/campaigns", headers=EN).get_data(as_text=True)
    assert "重要会员回店" in listing and "Sent" in listing
    english = client.get(f"/manage/campaigns/{campaign_id}", headers=EN).get_data(as_text=True)
    assert "Funnel" in english and "Opened" in english


def test_others_are_kept_out(shop, make):
    made = shop.api.post("/segments", json={"name": "全部", "spec": {}}).get_json()
    other = make.tenant()
    log_in(make, other.owner)
    assert make.client.get(f"/manage/segments/{made['id']}").status_code == 404
    cashier = make.staff(shop.tenant, "cashier")
    log_in(make, cashier)
    assert make.client.get("/manage/segments").status_code == 403
    assert make.client.get("/manage/campaigns").status_code == 403
