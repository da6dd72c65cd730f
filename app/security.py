"""Security headers on every answer, set in one place.

Pages get a Content-Security-Policy that allows only this site's own files plus the inline
`<script>`/`<style>` blocks that carry this request's nonce (`{{ csp_nonce() }}` in a template).
API answers are data, never documents to render, so their policy allows nothing at all.
Headers only: the body is never read, so streamed answers (text/event-stream) stream as before.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, g, request

# WeChat Pay's own host: pages served against it never load the simulator's stand-in bridge.
_WECHAT_PAY_HOST = "https://api.mch.weixin.qq.com"

_COMMON = {
    "X-Content-Type-Options": "nosniff",
    # The diner pages carry a signed table token in their path: other sites see only our origin.
    # WeChat's OAuth does not look at the Referer (the state parameter ties the trip together).
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "X-Frame-Options": "DENY",
}

_API_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"


def csp_nonce() -> str:
    """This request's nonce for inline <script> and <style> blocks (made on first use)."""
    nonce = g.get("csp_nonce")
    if nonce is None:
        nonce = g.csp_nonce = secrets.token_urlsafe(18)
    return nonce


def _origin(url: str | None) -> str | None:
    parts = urlsplit(url or "")
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") and parts.netloc else None


def page_policy(path: str, nonce: str | None) -> str:
    inline = f" 'nonce-{nonce}'" if nonce else ""
    config = current_app.config
    frames = ["'self'"]
    pay_base = config.get("WECHAT_PAY_BASE_URL") or ""
    if not pay_base.startswith(_WECHAT_PAY_HOST):
        # Outside WeChat the simulator's bridge.js shows its payment sheet in a frame.
        frames.append(_origin(pay_base) or "")
    # A form may answer with the redirect to WeChat's sign-in (diner join): allow that hop.
    forms = ["'self'", _origin(config.get("WECHAT_OAUTH_BASE_URL")) or ""]
    styles = f"'self'{inline}"
    if path.startswith("/api/docs"):
        # Swagger UI (the packaged bundle) styles some of its widgets with inline style blocks.
        styles = "'self' 'unsafe-inline'"
    directives = [
        "default-src 'self'",
        f"script-src 'self'{inline}",
        f"style-src {styles}",
        # Dish photos live on the merchant's own image host (any https address, app.menu.schemas).
        "img-src 'self' data: https:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action " + " ".join(f for f in forms if f),
        "frame-src " + " ".join(f for f in frames if f),
        "frame-ancestors 'none'",
    ]
    return "; ".join(directives)


def add_security_headers(response: Response) -> Response:
    for name, value in _COMMON.items():
        response.headers.setdefault(name, value)
    if "Content-Security-Policy" not in response.headers:
        if request.path.startswith("/api/v1/"):
            response.headers["Content-Security-Policy"] = _API_POLICY
        else:
            response.headers["Content-Security-Policy"] = page_policy(request.path, g.get("csp_nonce"))
    return response


def init_app(app: Flask) -> None:
    app.jinja_env.globals["csp_nonce"] = csp_nonce
    app.after_request(add_security_headers)
