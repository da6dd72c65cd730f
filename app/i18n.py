"""Locale choice: the user's own choice first, then the browser's, then Chinese."""

from __future__ import annotations

from flask import current_app, g, has_request_context, request, session


def select_locale() -> str:
    languages = current_app.config["LANGUAGES"]
    default = current_app.config["BABEL_DEFAULT_LOCALE"]
    if not has_request_context():
        return default  # command line and jobs
    chosen = session.get("locale")
    if chosen in languages:
        return chosen
    staff = g.get("staff")
    if staff is not None and staff.locale in languages:
        return staff.locale
    for language, _quality in request.accept_languages:
        normalized = language.replace("-", "_").lower()
        for candidate in languages:
            if normalized == candidate.lower() or normalized.split("_")[0] == candidate.split("_")[0].lower():
                return candidate
    return default
