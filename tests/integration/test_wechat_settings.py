"""A merchant's own WeChat account through the API: owners set it, managers read it, secrets are
write-only, encrypted in the row and never in an answer or an audit entry; the connection test
against the WeChat simulator."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from app.secretbox import EXTENSION, SecretBox, SecretKeyError, rotate_all
from app.wechat.models import WeChatSettings
from tests.integration.wechat_support import OWN_APPID as APPID
from tests.integration.wechat_support import OWN_SECRET as SECRET
from tests.integration.wechat_support import control

TOKEN = "CallbackToken42"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
MCH_ID = "1230000109"
API_KEY = "PayApiKey0123456789abcdefghijKLM"
SECRETS = (SECRET, TOKEN, AES_KEY, API_KEY)
FULL = {"appid": APPID, "app_secret": SECRET, "token": TOKEN, "encoding_aes_key": AES_KEY,
        "mch_id": MCH_ID, "api_key": API_KEY,
        "templates": {"bill_pushed": {"template_id": "TplBill_01", "fields": ["first", "keyword1", "keyword2",
                                                                             "keyword3", "remark"]},
                      "points_changed": {"template_id": "TplPoints-2", "fields": {"thing1": "change",
                                                                                  "number2": "balance"}}}}


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


def raw_row(db, merchant_id: int) -> dict:
    """The row as the database holds it, read past the model's decryption."""
    db.session.commit()
    with db.engine.connect() as conn:
        return dict(conn.execute(sa.text("SELECT * FROM wechat_settings WHERE merchant_id = :m"),
                                 {"m": merchant_id}).mappings().one())


def test_owner_sets_the_account_and_secrets_come_back_only_as_set(make):
    tenant = make.tenant()
    api = make.api(tenant.owner)
    assert api.get("/wechat/settings").get_json()["is_configured"] is False

    response = api.request("PUT", "/wechat/settings", json=FULL)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["appid"] == APPID and body["mch_id"] == MCH_ID
    assert body["app_secret_set"] and body["token_set"] and body["encoding_aes_key_set"] and body["api_key_set"]
    assert body["pay_ready"] is True
    assert body["templates"]["points_changed"] == FULL["templates"]["points_changed"]
    assert body["callback_url"].endswith(f"/wechat/callback/{APPID}")
    assert_no_secret(response.get_data(as_text=True))
    assert_no_secret(api.get("/wechat/settings").get_data(as_text=True))

    # What WeChat and WeChat Pay are called with: the plain values.
    settings = make.db.session.scalar(sa.select(WeChatSettings).where(WeChatSettings.merchant_id == tenant.merchant.id))
    assert (settings.app_secret, settings.token, settings.encoding_aes_key, settings.api_key) == SECRETS


def test_secrets_are_encrypted_in_the_row(app, make, db):
    tenant = make.tenant()
    make.api(tenant.owner).request("PUT", "/wechat/settings", json=FULL)
    row = raw_row(db, tenant.merchant.id)
    assert row["appid"] == APPID and row["mch_id"] == MCH_ID
    box = app.extensions[EXTENSION]
    for column, plain in zip(("app_secret", "token", "encoding_aes_key", "api_key"), SECRETS, strict=True):
        assert plain not in row[column]
        assert row[column].startswith("gAAAAA")  # a Fernet token
        assert box.decrypt(row[column]) == plain


def test_a_left_out_secret_keeps_its_value_and_clear_empties_it(make, db):
    tenant = make.tenant()
    api = make.api(tenant.owner)
    api.request("PUT", "/wechat/settings", json=FULL)
    before = raw_row(db, tenant.merchant.id)

    body = api.request("PUT", "/wechat/settings", json={"mch_id": "1230000110", "app_secret": None}).get_json()
    assert body["mch_id"] == "1230000110" and body["app_secret_set"] and body["api_key_set"]
    after = raw_row(db, tenant.merchant.id)
    assert after["app_secret"] == before["app_secret"]  # not even re-encrypted

    body = api.request("PUT", "/wechat/settings", json={"clear": ["api_key", "encoding_aes_key"]}).get_json()
    assert body["api_key_set"] is False and body["encoding_aes_key_set"] is False and body["pay_ready"] is False
    assert body["app_secret_set"] is True
    row = raw_row(db, tenant.merchant.id)
    assert row["api_key"] == "" and row["encoding_aes_key"] is None


def test_every_change_is_audited_by_field_name_never_by_value(make):
    tenant = make.tenant()
    api = make.api(tenant.owner)
    api.request("PUT", "/wechat/settings", json=FULL)
    api.request("PUT", "/wechat/settings", json={"api_key": API_KEY[::-1], "token": TOKEN})  # token unchanged
    api.request("PUT", "/wechat/settings", json={"clear": ["token"]})
    api.request("PUT", "/wechat/settings", json={"mch_id": MCH_ID})  # nothing changes: no entry

    answer = api.get("/audit", query_string={"object_type": "wechatsettings"})
    entries = answer.get_json()["entries"]
    assert [(e["action"], e["details"]) for e in reversed(entries)] == [
        ("wechat_settings.created", {"changed": ["appid", "mch_id", "app_secret", "token", "encoding_aes_key",
                                                 "api_key", "templates"], "cleared": []}),
        ("wechat_settings.updated", {"changed": ["api_key"], "cleared": []}),
        ("wechat_settings.updated", {"changed": [], "cleared": ["token"]}),
    ]
    assert all(e["staff_id"] == tenant.owner.id for e in entries)
    text = answer.get_data(as_text=True)
    assert_no_secret(text)
    assert API_KEY[::-1] not in text


def test_manager_reads_but_cannot_write_cashier_and_kitchen_see_nothing(make):
    tenant = make.tenant()
    make.api(tenant.owner).request("PUT", "/wechat/settings", json=FULL)
    manager = make.api(make.staff(tenant, "manager"))
    answer = manager.get("/wechat/settings")
    assert answer.status_code == 200 and answer.get_json()["api_key_set"] is True
    assert_no_secret(answer.get_data(as_text=True))
    refused = manager.request("PUT", "/wechat/settings", json={"mch_id": "1230000999"})
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "forbidden"
    for role in ("cashier", "kitchen"):
        api = make.api(make.staff(tenant, role))
        assert api.get("/wechat/settings").status_code == 403
        assert api.request("PUT", "/wechat/settings", json={"mch_id": "1230000999"}).status_code == 403
        assert api.post("/wechat/settings/test").status_code == 403
    assert make.api(tenant.owner).get("/wechat/settings").get_json()["mch_id"] == MCH_ID


def test_another_merchant_neither_sees_nor_takes_the_account(make):
    mine, other = make.tenant(), make.tenant()
    make.api(mine.owner).request("PUT", "/wechat/settings", json=FULL)
    theirs = make.api(other.owner)
    answer = theirs.get("/wechat/settings").get_json()
    assert answer["is_configured"] is False and answer["appid"] == "" and not answer["api_key_set"]
    taken = theirs.request("PUT", "/wechat/settings", json={"appid": APPID})
    assert taken.status_code == 409 and taken.get_json()["error"]["code"] == "appid_taken"
    assert theirs.post("/wechat/settings/test").status_code == 409


@pytest.mark.parametrize(("body", "field"), [
    ({"appid": "wx123"}, "appid"),
    ({"appid": "wx0a1b2c3d4e5f678g"}, "appid"),
    ({"appid": "gh0a1b2c3d4e5f6789"}, "appid"),
    ({"appid": APPID, "encoding_aes_key": AES_KEY[:42]}, "encoding_aes_key"),
    ({"appid": APPID, "encoding_aes_key": AES_KEY[:42] + "-"}, "encoding_aes_key"),
    ({"appid": APPID, "mch_id": "12345a7890"}, "mch_id"),
    ({"appid": APPID, "mch_id": "１２３４５６７８"}, "mch_id"),  # full-width digits
    ({"appid": APPID, "api_key": API_KEY + "x"}, "api_key"),
    ({"appid": APPID, "api_key": "x" * 65}, "api_key"),
    ({"appid": APPID, "app_secret": "short"}, "app_secret"),
    ({"appid": APPID, "app_secret": SECRET[:20] + "\x00" + SECRET[21:]}, "app_secret"),
    ({"appid": APPID, "token": "to ken"}, "token"),
    ({"appid": APPID, "token": "tok\x0bken"}, "token"),
    ({"appid": APPID, "templates": {"bill_pushed": {"template_id": "x" * 65}}}, "templates.bill_pushed"),
    ({"appid": APPID, "templates": {"no_such_kind": {"template_id": "T"}}}, "templates.no_such_kind"),
    ({"appid": APPID, "templates": {"points_changed": {"template_id": "T", "fields": {"k": "amount"}}}},
     "templates.points_changed"),
    ({"appid": APPID, "clear": ["appid"]}, "clear"),
    ({"appid": APPID, "api_key": API_KEY, "clear": ["api_key"]}, "api_key"),
    ({"app_secret": SECRET}, "appid"),  # the first change names the account
    ({"appid": APPID, "surprise": 1}, "surprise"),
])
def test_bad_values_are_refused_with_422_and_change_nothing(make, db, body, field):
    tenant = make.tenant()
    api = make.api(tenant.owner)
    response = api.request("PUT", "/wechat/settings", json=body)
    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "validation_error"
    fields = error["details"].get("fields") or error["details"].get("json") or error["details"]
    assert field in json.dumps(fields), error
    assert_no_secret(response.get_data(as_text=True))
    assert api.get("/wechat/settings").get_json()["is_configured"] is False
    assert db.session.scalar(sa.select(sa.func.count()).select_from(WeChatSettings)) == 0


def test_an_unchanged_appid_from_before_the_rules_is_kept(make, oa):
    """The demo account's AppID ("wx_demo_appid") predates the format check: saving other
    fields with it unchanged works; a new one must be well-formed."""
    api = make.api(oa.tenant.owner)
    answer = api.request("PUT", "/wechat/settings", json={"appid": oa.settings.appid, "mch_id": MCH_ID})
    assert answer.status_code == 200, answer.get_json()
    assert api.request("PUT", "/wechat/settings", json={"appid": "wx_other_appid"}).status_code == 422


# --- rotation -----------------------------------------------------------------------------------

def test_rotation_reencrypts_with_the_new_key_and_the_old_one_can_then_go(app, make, db):
    tenant = make.tenant()
    make.api(tenant.owner).request("PUT", "/wechat/settings", json=FULL)
    original = app.extensions[EXTENSION]
    old_row = raw_row(db, tenant.merchant.id)
    new_key = Fernet.generate_key().decode()
    old_key = _key_of(app)
    try:
        # The new key in front, the old one behind: everything still reads.
        app.extensions[EXTENSION] = SecretBox([new_key, old_key])
        db.session.expire_all()
        assert make.api(tenant.owner).get("/wechat/settings").get_json()["api_key_set"] is True
        with db.engine.begin() as conn:
            assert rotate_all(conn, db.metadata, app.extensions[EXTENSION]) == 4
        row = raw_row(db, tenant.merchant.id)
        assert all(row[c] != old_row[c] for c in ("app_secret", "token", "encoding_aes_key", "api_key"))
        # The old key dropped: the rows read with the new one alone...
        app.extensions[EXTENSION] = SecretBox([new_key])
        db.session.expire_all()
        settings = db.session.scalar(sa.select(WeChatSettings).where(WeChatSettings.merchant_id == tenant.merchant.id))
        assert (settings.app_secret, settings.token, settings.encoding_aes_key, settings.api_key) == SECRETS
        db.session.rollback()
        # ...and not with the old one alone.
        app.extensions[EXTENSION] = SecretBox([old_key])
        db.session.expire_all()
        with pytest.raises(SecretKeyError):
            db.session.scalar(sa.select(WeChatSettings).where(WeChatSettings.merchant_id == tenant.merchant.id))
        db.session.rollback()
    finally:
        app.extensions[EXTENSION] = original
        db.session.expire_all()
    # Back under the old key for the rest of the tests: rotate again the other way.
    app.extensions[EXTENSION] = SecretBox([old_key, new_key])
    try:
        with db.engine.begin() as conn:
            rotate_all(conn, db.metadata, app.extensions[EXTENSION])
    finally:
        app.extensions[EXTENSION] = original


def test_flask_secrets_rotate_command(app, make, db):
    tenant = make.tenant()
    make.api(tenant.owner).request("PUT", "/wechat/settings", json=FULL)
    before = raw_row(db, tenant.merchant.id)
    result = app.test_cli_runner().invoke(args=["secrets", "rotate"])
    assert result.exit_code == 0, result.output
    assert "4" in result.output
    after = raw_row(db, tenant.merchant.id)
    assert after["api_key"] != before["api_key"]
    assert app.extensions[EXTENSION].decrypt(after["api_key"]) == API_KEY


def _key_of(app) -> str:
    from app.secretbox import derived_key, parse_keys

    keys = parse_keys(app.config.get("SECRETS_ENCRYPTION_KEYS"))
    return keys[0] if keys else derived_key(app.config["SECRET_KEY"])


# --- testing the connection --------------------------------------------------------------------

def test_connection_ok_with_the_right_secret(make, own_account):
    api = make.api(own_account.tenant.owner)
    api.request("PUT", "/wechat/settings", json={"appid": APPID, "app_secret": SECRET})
    answer = api.post("/wechat/settings/test")
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["ok"] is True and body["code"] == "ok", body
    assert body["api_base_url"] == own_account.sim.url
    assert "已连接" in body["message"]  # Chinese unless asked otherwise
    english = api.post("/wechat/settings/test", headers={"Accept-Language": "en"}).get_json()
    assert english["ok"] is True and english["message"].startswith("Connected")
    assert_no_secret(answer.get_data(as_text=True))


def test_connection_reports_wechats_refusal(make, own_account):
    api = make.api(own_account.tenant.owner)
    api.request("PUT", "/wechat/settings", json={"appid": APPID, "app_secret": SECRET[::-1]})
    body = api.post("/wechat/settings/test").get_json()
    assert body["ok"] is False and body["code"] == "wechat_refused"
    assert body["errcode"] == 40001 and "AppSecret" in body["errmsg"]
    assert "AppSecret" in body["message"]
    manager = make.api(make.staff(own_account.tenant, "manager"))
    assert manager.post("/wechat/settings/test").get_json()["errcode"] == 40001
    english = api.post("/wechat/settings/test", headers={"Accept-Language": "en"}).get_json()
    assert english["message"].startswith("WeChat does not accept the AppSecret")


def test_connection_without_a_secret(make, own_account):
    api = make.api(own_account.tenant.owner)
    api.request("PUT", "/wechat/settings", json={"appid": APPID})
    body = api.post("/wechat/settings/test").get_json()
    assert body["ok"] is False and body["code"] == "secret_missing"


@pytest.mark.parametrize("mode", ["503", "timeout"])
def test_connection_when_wechat_is_down_is_a_clear_answer_never_a_5xx(app, make, own_account, mode):
    api = make.api(own_account.tenant.owner)
    api.request("PUT", "/wechat/settings", json={"appid": APPID, "app_secret": SECRET})
    app.config["WECHAT_TIMEOUT_SECONDS"] = 0.5
    control(own_account.sim, "/_sim/down", {"mode": mode, "scope": "mp", "delay": 3})
    try:
        answer = api.post("/wechat/settings/test", headers={"Accept-Language": "en"})
    finally:
        control(own_account.sim, "/_sim/up")
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["ok"] is False
    assert body["code"] == ("wechat_timeout" if mode == "timeout" else "wechat_unreachable"), body
    assert body["errcode"] is None


def test_connection_when_nothing_listens(app, make, own_account):
    api = make.api(own_account.tenant.owner)
    api.request("PUT", "/wechat/settings", json={"appid": APPID, "app_secret": SECRET})
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app.config["WECHAT_API_BASE_URL"] = f"http://127.0.0.1:{port}"
    body = api.post("/wechat/settings/test").get_json()
    assert body["ok"] is False and body["code"] == "wechat_unreachable"


def test_no_get_answer_of_the_api_holds_a_secret(make):
    """Every GET route without ids, as the owner, after the secrets are set (the audit log
    and the OpenAPI document included)."""
    from tests.routes import api_routes

    tenant = make.tenant()
    api = make.api(tenant.owner)
    api.request("PUT", "/wechat/settings", json=FULL)
    api.request("PUT", "/wechat/settings", json={"api_key": API_KEY[::-1]})
    walked = 0
    for route in api_routes(make.client.application):
        if route.method != "GET" or route.args or "events" in route.rule:
            continue  # event streams stay open
        response = api.get(route.rule)
        assert response.status_code < 500, route.rule
        text = response.get_data(as_text=True)
        assert_no_secret(text)
        assert API_KEY[::-1] not in text
        walked += 1
    assert walked > 5
    assert_no_secret(api.get("/api/openapi.json").get_data(as_text=True))
