"""A merchant's own WeChat account: reading it (secrets only as set / not set), changing it
(owners, audited by field name, never by value) and testing the connection to WeChat.

The secrets (app secret, callback token, EncodingAESKey, Pay API key) are write-only: nothing here
hands their values back, and they are stored encrypted (app.secretbox). A secret left out of a
change keeps its value; `clear` empties one on purpose.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import requests
import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext, lazy_gettext
from sqlalchemy.exc import IntegrityError
from wechatpy.exceptions import WeChatClientException

from app.actor import Actor
from app.audit.service import record
from app.db import db
from app.errors import Conflict, Unprocessable
from app.wechat.client import official_account
from app.wechat.models import WeChatSettings
from app.wechat.notify import SLOTS

log = logging.getLogger(__name__)

SECRETS = ("app_secret", "token", "encoding_aes_key", "api_key")
PLAIN = ("appid", "mch_id")
TEMPLATE_KINDS = tuple(SLOTS)

# What WeChat accepts for each value (its consoles enforce the same), ASCII only, so no control
# character, no space and no non-ASCII letter can get through. The lengths fit the columns.
RULES: dict[str, tuple[re.Pattern, Any]] = {
    "appid": (re.compile(r"wx[0-9a-fA-F]{16}"),
              lazy_gettext("An AppID is “wx” followed by 16 letters a–f or digits (18 characters).")),
    "app_secret": (re.compile(r"[0-9A-Za-z]{16,64}"),
                   lazy_gettext("An AppSecret is 16 to 64 letters or digits (WeChat gives 32).")),
    "token": (re.compile(r"[0-9A-Za-z]{3,32}"), lazy_gettext("A token is 3 to 32 letters or digits.")),
    "encoding_aes_key": (re.compile(r"[0-9A-Za-z]{43}"),
                         lazy_gettext("An EncodingAESKey is exactly 43 letters or digits.")),
    "mch_id": (re.compile(r"[0-9]{6,32}"), lazy_gettext("A merchant number (mch_id) is 6 to 32 digits.")),
    "api_key": (re.compile(r"[0-9A-Za-z]{32}"), lazy_gettext("A WeChat Pay API key is exactly 32 letters or digits.")),
}
TEMPLATE_ID = re.compile(r"[0-9A-Za-z_-]{1,64}")
TEMPLATE_KEY = re.compile(r"[A-Za-z][0-9A-Za-z_]{0,31}")
MAX_TEMPLATE_KEYS = 10

FIELD_NAMES = {
    "appid": lazy_gettext("AppID"),
    "app_secret": lazy_gettext("AppSecret"),
    "token": lazy_gettext("Token"),
    "encoding_aes_key": lazy_gettext("EncodingAESKey"),
    "mch_id": lazy_gettext("Merchant number (mch_id)"),
    "api_key": lazy_gettext("WeChat Pay API key"),
    "templates": lazy_gettext("Template messages"),
}
TEMPLATE_NAMES = {
    "bill_pushed": lazy_gettext("Bill sent to the table"),
    "payment_success": lazy_gettext("Payment received"),
    "stored_value_changed": lazy_gettext("Stored value changed"),
    "points_changed": lazy_gettext("Points changed"),
    "coupon_received": lazy_gettext("Coupon received"),
    "campaign": lazy_gettext("Campaign message"),
}


def settings_of(merchant_id: int) -> WeChatSettings | None:
    return db.session.scalar(sa.select(WeChatSettings).where(WeChatSettings.merchant_id == merchant_id))


def describe(settings: WeChatSettings | None) -> dict[str, Any]:
    """What may be shown of the account: plain values, and each secret only as set / not set."""
    if settings is None:
        return {"is_configured": False, "appid": "", "mch_id": "", "templates": {},
                **{f"{name}_set": False for name in SECRETS}, "pay_ready": False}
    return {
        "is_configured": True,
        "appid": settings.appid,
        "mch_id": settings.mch_id or "",
        "templates": settings.templates or {},
        **{f"{name}_set": bool(getattr(settings, name)) for name in SECRETS},
        "pay_ready": bool(settings.mch_id and settings.api_key),
    }


# --- checking what is typed ------------------------------------------------------------------

def _refuse(errors: dict[str, list[str]]) -> None:
    if errors:
        raise Unprocessable(gettext("Some WeChat settings are not valid."), details={"fields": errors})


def _check_value(name: str, value: Any) -> str | None:
    pattern, message = RULES[name]
    if not isinstance(value, str) or not pattern.fullmatch(value):
        return str(message)
    return None


def check_templates(templates: Any) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The templates as stored, and what is wrong with them (by "templates.<kind>")."""
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    if not isinstance(templates, dict):
        return {}, {"templates": [gettext("Give the templates as an object by message kind.")]}
    for kind, spec in templates.items():
        where = f"templates.{kind}"
        if kind not in SLOTS:
            errors[where] = [gettext("Unknown message kind. Known: %(kinds)s.", kinds=", ".join(TEMPLATE_KINDS))]
            continue
        if spec is None:
            continue  # no template for this kind
        if not isinstance(spec, dict) or set(spec) - {"template_id", "fields"}:
            errors[where] = [gettext("Give template_id and, if you like, fields.")]
            continue
        template_id = spec.get("template_id")
        if not isinstance(template_id, str) or not TEMPLATE_ID.fullmatch(template_id):
            errors[where] = [gettext("A template id is 1 to 64 letters, digits, “_” or “-”.")]
            continue
        fields = spec.get("fields")
        problem = _check_template_fields(kind, fields)
        if problem:
            errors[where] = [problem]
            continue
        cleaned[kind] = {"template_id": template_id, "fields": fields or list(_default_fields(kind))}
    return cleaned, errors


def _default_fields(kind: str) -> list[str]:
    """The classic template's keys: first, keyword1…, remark, one per value of the kind."""
    middle = len(SLOTS[kind]) - 2
    return ["first", *(f"keyword{number}" for number in range(1, middle + 1)), "remark"]


def _check_template_fields(kind: str, fields: Any) -> str | None:
    """`fields` lists the template's keys in the order of the kind's values, or maps each key to
    a value name (app.wechat.notify)."""
    if fields is None:
        return None
    if isinstance(fields, list):
        keys, slots = fields, []
    elif isinstance(fields, dict):
        keys, slots = list(fields), list(fields.values())
    else:
        return gettext("Fields are a list of the template's keys, or an object of key: value name.")
    if not keys or len(keys) > MAX_TEMPLATE_KEYS:
        return gettext("Give 1 to %(num)s template keys.", num=MAX_TEMPLATE_KEYS)
    if not all(isinstance(key, str) and TEMPLATE_KEY.fullmatch(key) for key in keys):
        return gettext("A template key is a letter then letters, digits or “_” (at most 32).")
    if len(set(keys)) != len(keys):
        return gettext("Each template key once.")
    if any(slot not in SLOTS[kind] for slot in slots):
        return gettext("Value names for this kind: %(names)s.", names=", ".join(SLOTS[kind]))
    return None


@dataclass(frozen=True)
class Change:
    """What an owner sends: values to set (None = leave alone) and secrets to clear."""

    values: dict[str, Any]
    clear: frozenset[str] = frozenset()


def update_settings(change: Change, *, actor: Actor) -> tuple[WeChatSettings, list[str]]:
    """Apply `change` to the actor's merchant's account (made on the first change); the names of
    the fields that changed. 422 for a value WeChat would refuse, 409 for an AppID another
    merchant uses. Audited with the names only."""
    settings = settings_of(actor.merchant_id)
    values = {name: value for name, value in change.values.items() if value is not None}
    errors: dict[str, list[str]] = {}
    unknown = set(values) - set(SECRETS) - set(PLAIN) - {"templates"}
    if unknown:
        raise ValueError(f"unknown WeChat settings {sorted(unknown)}")
    for name in sorted(set(change.clear) - set(SECRETS)):
        errors[name] = [gettext("Only a secret can be cleared.")]
    for name in sorted(set(change.clear) & set(values)):
        errors[name] = [gettext("Set a value or clear it, not both.")]

    for name in (*PLAIN, *SECRETS):
        if name not in values:
            continue
        value = values[name]
        if name == "appid" and settings is not None and value == settings.appid:
            continue  # an AppID saved before these rules existed (the demo's) is kept as it is
        if name == "mch_id" and value == "":
            continue  # no WeChat Pay
        problem = _check_value(name, value)
        if problem:
            errors[name] = [problem]
    templates = None
    if "templates" in values:
        templates, template_errors = check_templates(values["templates"])
        errors.update(template_errors)
    if settings is None and not values.get("appid"):
        errors.setdefault("appid", [gettext("The AppID is needed to set up the account.")])
    _refuse(errors)

    appid = values.get("appid")
    if appid and (settings is None or appid != settings.appid):
        taken = db.session.scalar(sa.select(WeChatSettings.merchant_id).where(WeChatSettings.appid == appid))
        if taken is not None:
            raise Conflict(gettext("This AppID is already set up for another merchant."), error_code="appid_taken")

    created = settings is None
    if created:
        settings = WeChatSettings(merchant_id=actor.merchant_id, appid=appid, app_secret="", token="",
                                  encoding_aes_key=None, mch_id="", api_key="", templates={})
        db.session.add(settings)
    changed: list[str] = ["appid"] if created else []
    for name in (*PLAIN, *SECRETS):
        if name in values and values[name] != (getattr(settings, name) or ""):
            setattr(settings, name, values[name])
            changed.append(name)
    if templates is not None and templates != (settings.templates or {}):
        settings.templates = templates
        changed.append("templates")
    cleared = []
    for name in SECRETS:
        if name in change.clear and getattr(settings, name):
            setattr(settings, name, None if name == "encoding_aes_key" else "")
            cleared.append(name)
    try:
        with db.session.begin_nested():
            db.session.flush()
    except IntegrityError:
        # The same AppID saved by another merchant, or this merchant's first save twice, at once.
        raise Conflict(gettext("This AppID is already set up for another merchant."),
                       error_code="appid_taken") from None
    if created or changed or cleared:
        # Names only: an audit trail must never hold a secret.
        record("wechat_settings.created" if created else "wechat_settings.updated", settings, actor=actor,
               store_id=None, changed=changed, cleared=cleared)
    return settings, changed + cleared


# --- testing the connection ------------------------------------------------------------------

# WeChat's answers an owner most often meets when setting up, in words they can act on.
_KNOWN_ERRORS = {
    40001: lazy_gettext("WeChat does not accept the AppSecret. Copy it again from the WeChat console "
                        "(Settings and development › Basic configuration)."),
    40125: lazy_gettext("WeChat does not accept the AppSecret. Copy it again from the WeChat console "
                        "(Settings and development › Basic configuration)."),
    40013: lazy_gettext("WeChat does not know this AppID."),
    40164: lazy_gettext("WeChat refuses calls from this server's IP address: add it to the IP whitelist "
                        "in the WeChat console."),
    61004: lazy_gettext("WeChat refuses calls from this server's IP address: add it to the IP whitelist "
                        "in the WeChat console."),
    -1: lazy_gettext("WeChat is busy; try again in a moment."),
}


@dataclass(frozen=True)
class ConnectionCheck:
    ok: bool
    code: str  # ok, secret_missing, wechat_refused, wechat_unreachable, wechat_timeout, wechat_bad_answer
    message: str
    api_base_url: str
    checked_at: datetime
    errcode: int | None = None
    errmsg: str | None = None


def test_connection(merchant_id: int, now: datetime) -> ConnectionCheck:
    """Fetch an access token with the saved AppID and AppSecret from the configured WeChat API.
    Whatever WeChat does, the answer is a ConnectionCheck (never an exception): ok, or why not.

    The token fetched replaces the shared one (WeChat retires the previous token when a new one
    is issued), so the account's other calls go on with it."""
    settings = settings_of(merchant_id)
    if settings is None:
        raise Conflict(gettext("WeChat is not set up for this merchant."), error_code="wechat_not_configured")
    base = current_app.config["WECHAT_API_BASE_URL"]

    def result(ok: bool, code: str, message: str, **extra: Any) -> ConnectionCheck:
        return ConnectionCheck(ok, code, message, base, now, **extra)

    if not settings.app_secret:
        return result(False, "secret_missing", gettext("Set the AppSecret first."))
    client = official_account(settings)
    appid = settings.appid
    db.session.commit()  # no transaction held while WeChat is called
    try:
        client._refresh(stale=client.session.get(client.access_token_key))
    except WeChatClientException as error:
        if error.errcode is None:  # an HTTP error status, no answer from WeChat itself
            status = getattr(error.response, "status_code", None)
            return result(False, "wechat_unreachable",
                          gettext("WeChat answered with HTTP %(status)s; try again later.", status=status or "?"))
        errcode = _int_or_none(error.errcode)
        known = _KNOWN_ERRORS.get(errcode) if errcode is not None else None
        message = str(known) if known else gettext("WeChat refused: %(errmsg)s", errmsg=error.errmsg)
        return result(False, "wechat_refused", message, errcode=errcode, errmsg=str(error.errmsg)[:200])
    except requests.JSONDecodeError:
        return result(False, "wechat_bad_answer", gettext("WeChat's answer could not be read."))
    except requests.Timeout:
        return result(False, "wechat_timeout", gettext("WeChat did not answer in time; try again later."))
    except requests.RequestException:
        return result(False, "wechat_unreachable", gettext("WeChat cannot be reached from this server."))
    except (ValueError, KeyError, TypeError):
        return result(False, "wechat_bad_answer", gettext("WeChat's answer could not be read."))
    except Exception:  # e.g. the shared token lock (Redis) not obtained in time: still an answer
        log.exception("connection test of %s failed", appid)
        return result(False, "wechat_unreachable", gettext("WeChat cannot be reached from this server."))
    return result(True, "ok", gettext("Connected: WeChat accepted the AppID and AppSecret."))


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
