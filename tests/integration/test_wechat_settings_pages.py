"""The manager page of the merchant's WeChat account: secrets shown only as set / not set, an
empty box keeps a secret, clearing asks first, roles, and the connection test."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.wechat.models import WeChatSettings
from tests.integration.test_member_pages import EN, _csrf, log_in, page
from tests.integration.test_wechat_settings import (
    AES_KEY,
    API_KEY,
    APPID,
    FULL,
    MCH_ID,
    SECRET,
    TOKEN,
    assert_no_secret,
)

URL = "/manage/wechat"


def _form(html: str, **values) -> dict:
    data = {"csrf_token": _csrf(html), "appid": "", "app_secret": "", "token": "", "encoding_aes_key": "",
            "mch_id": "", "api_key": ""}
    data.update(values)
    return data


def _settings(db, merchant_id: int) -> WeChatSettings | None:
    db.session.commit()
    return db.session.scalar(sa.select(WeChatSettings).where(WeChatSettings.merchant_id == merchant_id))


def test_owner_sets_everything_on_the_page_and_no_secret_is_ever_rendered(make, db):
    tenant = make.tenant()
    log_in(make, tenant.owner)
    html = page(make, URL)
    assert html.count('data-state="unset"') == 4
    response = make.client.post(URL, headers=EN, data=_form(
        html, appid=APPID, app_secret=SECRET, token=TOKEN, encoding_aes_key=AES_KEY, mch_id=MCH_ID,
        api_key=API_KEY, template_bill_pushed="TplBill_01",
        fields_bill_pushed="first, keyword1, keyword2, keyword3, remark",
        template_points_changed="TplPoints-2", fields_points_changed="thing1=change, number2=balance"))
    assert response.status_code == 302, response.get_data(as_text=True)
    html = page(make, URL)
    assert "Saved. Changed: AppID, Merchant number (mch_id), AppSecret" in html
    assert html.count('data-state="set"') == 4 and 'data-state="unset"' not in html
    assert 'value="TplPoints-2"' in html and 'value="thing1=change, number2=balance"' in html
    assert f"/wechat/callback/{APPID}" in html
    assert_no_secret(html)
    settings = _settings(db, tenant.merchant.id)
    assert (settings.app_secret, settings.token, settings.encoding_aes_key, settings.api_key) == (
        SECRET, TOKEN, AES_KEY, API_KEY)
    assert settings.templates["points_changed"] == {"template_id": "TplPoints-2",
                                                    "fields": {"thing1": "change", "number2": "balance"}}


def test_empty_secret_boxes_keep_the_values(make, db):
    tenant = make.tenant()
    make.api(tenant.owner).request("PUT", "/wechat/settings", json=FULL)
    log_in(make, tenant.owner)
    html = page(make, URL)
    assert_no_secret(html)
    response = make.client.post(URL, headers=EN, data=_form(html, appid=APPID, mch_id="1230000111"))
    assert response.status_code == 302
    settings = _settings(db, tenant.merchant.id)
    assert settings.mch_id == "1230000111"
    assert (settings.app_secret, settings.token, settings.encoding_aes_key, settings.api_key) == (
        SECRET, TOKEN, AES_KEY, API_KEY)
    assert settings.templates == {}  # the template rows were sent empty: no messages


def test_bad_values_are_shown_beside_their_fields_and_change_nothing(make, db):
    tenant = make.tenant()
    make.api(tenant.owner).request("PUT", "/wechat/settings", json=FULL)
    log_in(make, tenant.owner)
    html = page(make, URL)
    response = make.client.post(URL, headers=EN, data=_form(
        html, appid=APPID, mch_id="12ab", api_key="tooshort", template_bill_pushed="bad id!"))
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert "A merchant number (mch_id) is 6 to 32 digits." in text
    assert "A WeChat Pay API key is exactly 32 letters or digits." in text
    assert "A template id is 1 to 64 letters" in text
    assert "tooshort" not in text  # what was typed in a secret box is not sent back either
    assert_no_secret(text)
    assert _settings(db, tenant.merchant.id).api_key == API_KEY


def test_clearing_a_secret_asks_first(make, db):
    tenant = make.tenant()
    make.api(tenant.owner).request("PUT", "/wechat/settings", json=FULL)
    log_in(make, tenant.owner)
    html = page(make, URL)
    assert f'href="{URL}/clear/api_key"' in html
    confirm = page(make, f"{URL}/clear/api_key")
    assert "Clear WeChat Pay API key?" in confirm and "WeChat Pay stops working" in confirm
    # Without the confirmation nothing is cleared.
    response = make.client.post(f"{URL}/clear/api_key", data={"csrf_token": _csrf(confirm)})
    assert response.status_code == 200
    assert _settings(db, tenant.merchant.id).api_key == API_KEY
    response = make.client.post(f"{URL}/clear/api_key", headers=EN,
                                data={"csrf_token": _csrf(confirm), "confirm": "yes"})
    assert response.status_code == 302
    assert _settings(db, tenant.merchant.id).api_key == ""
    html = page(make, URL)
    assert "WeChat Pay API key is cleared." in html
    assert 'id="secret-api_key"' in html and f'href="{URL}/clear/api_key"' not in html
    assert make.client.get(f"{URL}/clear/appid").status_code == 404


def test_manager_sees_the_page_without_changing_anything(make, db):
    tenant = make.tenant()
    make.api(tenant.owner).request("PUT", "/wechat/settings", json=FULL)
    log_in(make, make.staff(tenant, "manager"))
    html = page(make, URL)
    assert "Only the owner can change these settings." in html
    assert 'id="save"' not in html and "/clear/" not in html
    assert_no_secret(html)
    response = make.client.post(URL, data=_form(html, appid=APPID, mch_id="1230000999"))
    assert response.status_code == 403
    response = make.client.post(f"{URL}/clear/api_key", data={"csrf_token": _csrf(html), "confirm": "yes"})
    assert response.status_code == 403
    assert _settings(db, tenant.merchant.id).mch_id == MCH_ID


@pytest.mark.parametrize("role", ["cashier", "kitchen"])
def test_front_of_house_cannot_open_the_page(make, role):
    tenant = make.tenant()
    make.api(tenant.owner).request("PUT", "/wechat/settings", json=FULL)
    log_in(make, make.staff(tenant, role))
    assert make.client.get(URL).status_code == 403
    # Kitchen staff land on their display; a cashier's home has no link to the settings.
    home = page(make, "/kitchen/" if role == "kitchen" else "/manage/")
    assert URL not in home


def test_the_page_shows_only_the_own_merchants_account(make):
    mine, other = make.tenant(), make.tenant()
    make.api(mine.owner).request("PUT", "/wechat/settings", json=FULL)
    log_in(make, other.owner)
    html = page(make, URL)
    assert APPID not in html and 'data-state="set"' not in html
    assert "test-connection" not in html  # nothing to test yet


def test_the_page_is_chinese_first(make):
    tenant = make.tenant()
    log_in(make, tenant.owner)
    html = make.client.get(URL).get_data(as_text=True)
    assert "微信" in html and "未设置" in html


def test_connection_test_on_the_page(make, own_account):
    make.api(own_account.tenant.owner).request("PUT", "/wechat/settings", json={"appid": APPID, "app_secret": SECRET})
    log_in(make, own_account.tenant.owner)
    html = page(make, URL)
    response = make.client.post(f"{URL}/test", headers=EN, data={"csrf_token": _csrf(html)})
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert 'data-code="ok"' in text and "Connection works" in text
    make.api(own_account.tenant.owner).request("PUT", "/wechat/settings", json={"app_secret": SECRET[::-1]})
    text = make.client.post(f"{URL}/test", headers=EN, data={"csrf_token": _csrf(html)}).get_data(as_text=True)
    assert 'data-code="wechat_refused"' in text and "errcode 40001" in text
    assert_no_secret(text) and SECRET[::-1] not in text
