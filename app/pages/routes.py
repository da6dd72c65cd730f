"""Pages shared by all staff: login, logout, language, the manager home."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext, lazy_gettext
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from app.auth.permissions import Permission, Role
from app.auth.service import log_in_with_password
from app.auth.throttle import TooManyAttempts
from app.errors import APIError
from app.pages.auth import can, load_page_user, log_in, login_required

bp = Blueprint("pages", __name__)
bp.before_app_request(lambda: None if request.path.startswith("/api/") else load_page_user())
bp.add_app_template_global(can)


class LoginForm(FlaskForm):
    username = StringField(lazy_gettext("Username"), validators=[DataRequired(), Length(max=60)])
    password = PasswordField(lazy_gettext("Password"), validators=[DataRequired(), Length(max=200)])


def _safe_next(target: str | None, home: str | None = None) -> str:
    # Only local paths: never an open redirect to another site.
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return home or url_for("pages.home")


def _landing(staff) -> str:
    """Where a login with no `next` goes: kitchen staff straight to their display."""
    return url_for("kitchen.screen") if staff.role is Role.KITCHEN else url_for("pages.home")


@bp.route("/")
def index():
    return redirect(url_for("pages.home"))


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    retry_after = None
    if form.validate_on_submit():
        try:
            staff = log_in_with_password(form.username.data, form.password.data, address=request.remote_addr)
        except TooManyAttempts as error:
            retry_after = error.retry_after_s
            form.password.errors.append(str(error.description))
        except APIError as error:
            form.password.errors.append(str(error.description))
        else:
            log_in(staff)
            return redirect(_safe_next(request.args.get("next"), _landing(staff)))
    if retry_after is not None:
        return render_template("login.html", form=form), 429, {"Retry-After": str(retry_after)}
    status = 400 if form.errors else 200
    return render_template("login.html", form=form), status


@bp.route("/logout", methods=["POST"])
def logout():
    # A POST with the CSRF token, so a link on another site cannot log you out.
    session.pop("staff_id", None)
    flash(gettext("You have logged out."))
    return redirect(url_for("pages.login"))


@bp.route("/lang/<code>")
def set_language(code: str):
    if code in current_app.config["LANGUAGES"]:
        session["locale"] = code
    return redirect(_safe_next(request.args.get("next") or (request.referrer and urlsplit(request.referrer).path)))


@bp.route("/manage/")
@login_required(Permission.PROFILE)
def home():
    if g.staff.role is Role.KITCHEN:
        return redirect(_landing(g.staff))
    return render_template("manage/home.html", staff=g.staff)
