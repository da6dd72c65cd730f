"""The manager page of the merchant's own WeChat account: owners change it, managers see it.

Secrets are never rendered: each shows as set / not set, an empty box keeps the current value,
and clearing one goes through a confirmation page. The page calls the same service as the API
(app.wechat.account), so the rules, the audit and the connection test are the same.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext, lazy_gettext
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField

from app.auth.guard import current_actor
from app.auth.permissions import Permission
from app.db import begin_write, db, utcnow
from app.errors import APIError
from app.pages.auth import can, login_required
from app.wechat import account

bp = Blueprint("wechat_settings_pages", __name__, url_prefix="/manage")

_KEEP = lazy_gettext("Leave empty to keep the current value")


class WeChatSettingsForm(FlaskForm):
    appid = StringField(lazy_gettext("AppID"), description=lazy_gettext("wx followed by 16 characters, from the "
                                                                        "WeChat console (Basic configuration)."))
    app_secret = PasswordField(lazy_gettext("AppSecret"))
    token = PasswordField(lazy_gettext("Token"), description=lazy_gettext(
        "3 to 32 letters or digits; enter the same in the WeChat console's server configuration."))
    encoding_aes_key = PasswordField(lazy_gettext("EncodingAESKey"), description=lazy_gettext(
        "43 letters or digits, for the safe (encrypted) message mode."))
    mch_id = StringField(lazy_gettext("Merchant number (mch_id)"), description=lazy_gettext(
        "Digits, from the WeChat Pay merchant platform; leave empty without WeChat Pay."))
    api_key = PasswordField(lazy_gettext("WeChat Pay API key"), description=lazy_gettext(
        "32 letters or digits (API v2 key), set in the WeChat Pay merchant platform."))

    def template_fields(self) -> dict[str, tuple[str, str]]:
        """(template id, keys as typed) per kind, from the request."""
        return {kind: (request.form.get(f"template_{kind}", "").strip(), request.form.get(f"fields_{kind}", "").strip())
                for kind in account.TEMPLATE_KINDS}


def _fields_text(spec: dict | None) -> str:
    fields = (spec or {}).get("fields") or []
    if isinstance(fields, dict):
        return ", ".join(f"{key}={slot}" for key, slot in fields.items())
    return ", ".join(str(key) for key in fields)


def _parse_fields(text: str) -> list[str] | dict[str, str] | None:
    parts = [part.strip() for part in text.replace("，", ",").split(",") if part.strip()]
    if not parts:
        return None
    if any("=" in part for part in parts):
        mapping = {}
        for part in parts:
            key, _, slot = part.partition("=")
            mapping[key.strip()] = slot.strip()
        return mapping
    return parts


def _templates(form: WeChatSettingsForm) -> dict:
    templates: dict = {}
    for kind, (template_id, keys) in form.template_fields().items():
        if template_id or keys:
            templates[kind] = {"template_id": template_id, "fields": _parse_fields(keys)}
    return templates


def _render(form: WeChatSettingsForm, *, status: int = 200, check=None, template_errors=None,
            template_values=None):
    settings = account.settings_of(g.merchant_id)
    shown = account.describe(settings)
    if template_values is None:
        template_values = {kind: ((shown["templates"].get(kind) or {}).get("template_id", ""),
                                  _fields_text(shown["templates"].get(kind)))
                           for kind in account.TEMPLATE_KINDS}
    base = current_app.config["PUBLIC_BASE_URL"].rstrip("/")
    callback_url = f"{base}/wechat/callback/{shown['appid']}" if shown["appid"] else ""
    page = render_template("manage/wechat/settings.html", form=form, shown=shown, check=check,
                           callback_url=callback_url, may_edit=can(Permission.WECHAT_SETTINGS_WRITE),
                           secrets=account.SECRETS, template_names=account.TEMPLATE_NAMES,
                           template_values=template_values, template_errors=template_errors or {},
                           keep_hint=_KEEP, api_base_url=current_app.config["WECHAT_API_BASE_URL"])
    db.session.commit()
    return page, status


@bp.route("/wechat", methods=["GET"])
@login_required(Permission.WECHAT_SETTINGS_READ)
def wechat_settings():
    form = WeChatSettingsForm()
    shown = account.describe(account.settings_of(g.merchant_id))
    form.appid.data, form.mch_id.data = shown["appid"], shown["mch_id"]
    return _render(form)


@bp.route("/wechat", methods=["POST"])
@login_required(Permission.WECHAT_SETTINGS_WRITE)
def save_wechat_settings():
    db.session.commit()
    begin_write()
    form = WeChatSettingsForm()
    if not form.validate_on_submit():  # the CSRF token
        db.session.rollback()
        return _render(form, status=400)
    values = {"appid": (form.appid.data or "").strip(), "mch_id": (form.mch_id.data or "").strip(),
              "templates": _templates(form)}
    for name in account.SECRETS:
        typed = getattr(form, name).data or ""
        values[name] = typed if typed else None  # empty: keep the current value
    try:
        _settings, changed = account.update_settings(account.Change(values=values), actor=current_actor())
    except APIError as error:
        db.session.rollback()
        template_errors = _show_refusal(form, error)
        typed_templates = {kind: pair for kind, pair in form.template_fields().items()}
        return _render(form, status=error.code or 422, template_errors=template_errors,
                       template_values=typed_templates)
    db.session.commit()
    if changed:
        names = (", " if _english() else "、").join(str(account.FIELD_NAMES[name]) for name in changed)
        flash(gettext("Saved. Changed: %(names)s.", names=names))
    else:
        flash(gettext("Nothing changed."))
    return redirect(url_for(".wechat_settings"))


def _english() -> bool:
    from flask_babel import get_locale

    return get_locale().language == "en"


def _show_refusal(form: WeChatSettingsForm, error: APIError) -> dict[str, list[str]]:
    """Put each problem beside its field; the template problems by kind."""
    problems = (error.details or {}).get("fields") or {}
    template_errors: dict[str, list[str]] = {}
    for name, messages in problems.items():
        if name.startswith("templates."):
            template_errors[name.removeprefix("templates.")] = list(messages)
        elif name in form:
            form[name].errors = [*form[name].errors, *messages]
        else:
            form.form_errors.append("; ".join(messages))
    if not problems:
        form.form_errors.append(str(error.description))
    return template_errors


@bp.route("/wechat/clear/<name>", methods=["GET", "POST"])
@login_required(Permission.WECHAT_SETTINGS_WRITE)
def clear_secret(name: str):
    """Ask first (a cleared secret stops WeChat or WeChat Pay at once), then clear."""
    if name not in account.SECRETS:
        abort(404)
    label = account.FIELD_NAMES[name]
    if request.method == "GET" or request.form.get("confirm") != "yes":
        shown = account.describe(account.settings_of(g.merchant_id))
        if not shown[f"{name}_set"]:
            db.session.commit()
            return redirect(url_for(".wechat_settings"))
        page = render_template("manage/wechat/clear.html", name=name, label=label)
        db.session.commit()
        return page
    db.session.commit()
    begin_write()
    form = FlaskForm()
    if not form.validate_on_submit():
        db.session.rollback()
        abort(400)
    if account.settings_of(g.merchant_id) is None:
        db.session.rollback()
        return redirect(url_for(".wechat_settings"))
    account.update_settings(account.Change(values={}, clear=frozenset({name})), actor=current_actor())
    db.session.commit()
    flash(gettext("%(name)s is cleared.", name=label))
    return redirect(url_for(".wechat_settings"))


@bp.route("/wechat/test", methods=["POST"])
@login_required(Permission.WECHAT_SETTINGS_READ)
def test_connection():
    form = WeChatSettingsForm()
    if not form.validate_on_submit():
        return _render(form, status=400)
    shown = account.describe(account.settings_of(g.merchant_id))
    form.appid.data, form.mch_id.data = shown["appid"], shown["mch_id"]
    if not shown["is_configured"]:
        db.session.commit()
        flash(gettext("Save the account first."))
        return redirect(url_for(".wechat_settings"))
    check = account.test_connection(g.merchant_id, utcnow())
    return _render(form, check=check)
