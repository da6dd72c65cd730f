"""Security headers on pages, API answers and streams; session cookie flags; CSRF on every page POST."""

import re
import threading
import uuid

from app import create_app
from config.settings import ROOT, ProductionConfig, TestingConfig
from tests.factories import create_dish, create_table

COMMON = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "X-Frame-Options": "DENY",
}


def _policy(response) -> dict[str, str]:
    header = response.headers["Content-Security-Policy"]
    return {part.split(" ", 1)[0]: part.split(" ", 1)[1] if " " in part else ""
            for part in (p.strip() for p in header.split(";")) if part}


def _assert_common(response):
    for name, value in COMMON.items():
        assert response.headers.get(name) == value, name
    assert _policy(response)["frame-ancestors"] == "'none'"


def _login(client, username, password):
    html = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)
    assert client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": token}).status_code == 302


def _nonces(html: str) -> set[str]:
    return set(re.findall(r'<(?:script|style)[^>]*nonce="([^"]+)"', html))


def test_a_page_has_the_headers_and_a_policy_without_inline_script(client):
    response = client.get("/login")
    _assert_common(response)
    policy = _policy(response)
    assert policy["default-src"] == "'self'"
    assert "'unsafe-inline'" not in policy["script-src"] and "'unsafe-eval'" not in policy["script-src"]
    assert "'unsafe-inline'" not in policy["style-src"]
    assert policy["object-src"] == "'none'"


def test_every_inline_script_carries_the_nonce_of_its_own_request(make, client):
    tenant = make.tenant()
    _login(client, tenant.owner.username, make.PASSWORD)
    create_table(make, tenant)
    pages = [client.get(f"/manage/stores/{tenant.store.id}/qr-sheet") for _ in range(2)]
    seen = set()
    for page in pages:
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        assert "onclick=" not in html
        inline = re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html)
        assert inline, "the sheet has its print button script"
        (nonce,) = _nonces(html)
        assert all(f'nonce="{nonce}"' in tag for tag in inline)
        assert f"'nonce-{nonce}'" in _policy(page)["script-src"]
        seen.add(nonce)
    assert len(seen) == 2, "a nonce is never reused"


def test_an_api_answer_has_the_headers_and_allows_nothing(make):
    tenant = make.tenant()
    response = make.api(tenant.owner).get(f"/stores/{tenant.store.id}")
    assert response.status_code == 200
    _assert_common(response)
    assert _policy(response)["default-src"] == "'none'"
    error = make.client.get("/api/v1/members")
    assert error.status_code == 401
    _assert_common(error)


def test_the_api_docs_page_starts_swagger_from_a_static_script(client):
    response = client.get("/api/docs")
    assert response.status_code == 200
    _assert_common(response)
    html = response.get_data(as_text=True)
    assert _nonces(html) == set() and "<script>" not in html  # no inline script at all
    assert "/static/api-docs.js" in html and 'data-spec-url="/api/openapi.json"' in html
    assert "'unsafe-inline'" not in _policy(response)["script-src"]
    assert "data:" in _policy(response)["img-src"]
    with client.get("/static/api-docs.js") as script:
        assert script.status_code == 200


def test_the_kitchen_display_has_the_headers_and_its_stream_still_streams(make, app):
    tenant = make.tenant()
    dish = create_dish(make, tenant, "凉拌黄瓜", 1_800, station="cold")
    make.api(tenant.owner).post("/orders", json={"store_id": tenant.store.id, "idempotency_key": uuid.uuid4().hex,
                                                 "items": [{"dish_id": dish["id"], "qty": 1}]})
    client = app.test_client()
    _login(client, tenant.owner.username, make.PASSWORD)
    page = client.get("/kitchen/")
    assert page.status_code == 200
    _assert_common(page)
    assert "connect-src" not in _policy(page)  # EventSource and fetch go to 'self' by default-src

    stream = client.get(f"/kitchen/stores/{tenant.store.id}/stream?after=0", buffered=False)
    assert stream.status_code == 200
    assert stream.headers["Content-Type"].startswith("text/event-stream")
    _assert_common(stream)
    received, found = [], threading.Event()

    def pump():
        for chunk in stream.response:
            received.append(chunk.decode() if isinstance(chunk, bytes) else chunk)
            if "event: ticket_new" in "".join(received):
                found.set()
                return

    threading.Thread(target=pump, daemon=True).start()
    assert found.wait(10), "".join(received)
    stream.close()


def test_no_template_has_inline_script_style_or_handlers_without_the_nonce():
    """The policy refuses inline code without the nonce: this finds it before a browser does."""
    roots = [ROOT / "app" / "templates", ROOT / "kitchen_display" / "templates"]
    offenders = []
    for path in (p for root in roots for p in root.rglob("*.html")):
        html = path.read_text(encoding="utf-8")
        for tag in re.findall(r"<(?:script|style)\b[^>]*>", html):
            if "nonce=" not in tag and " src=" not in tag:
                offenders.append((path.name, tag))
        offenders += [(path.name, m) for m in re.findall(r"\son[a-z]+=\"", html)]
        offenders += [(path.name, m) for m in re.findall(r"\sstyle=[\"']", html)]
        offenders += [(path.name, m) for m in re.findall(r"javascript:", html)]
    assert offenders == []


class _Production(ProductionConfig):
    SECRET_KEY = "s" * 40
    SECRETS_ENCRYPTION_KEYS = "Rm9yIHRlc3RzIG9ubHkgLSBub3QgYSByZWFsIGtleSE="
    SQLALCHEMY_DATABASE_URI = TestingConfig.SQLALCHEMY_DATABASE_URI
    TESTING = True


def test_session_cookie_flags_everywhere_and_secure_in_production(app, client):
    response = client.get("/lang/en")
    cookie = response.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    production = create_app(_Production)
    assert production.config["SESSION_COOKIE_SECURE"] is True
    response = production.test_client().get("/lang/en")
    cookie = response.headers.get("Set-Cookie", "")
    assert "session=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie


def test_every_page_post_route_refuses_a_missing_csrf_token(app, make, client):
    """Walks the URL map: a new page form is covered by itself, and an exemption must be listed here."""
    # WeChat signs these calls itself; the API (under /api/) authenticates by bearer token, not cookie.
    exempt = {"wechat_callback.receive", "payments_pages.wechat_payment_notify",
              "payments_pages.wechat_refund_notify"}
    tenant = make.tenant()
    _login(client, tenant.owner.username, make.PASSWORD)
    walked = []
    for rule in app.url_map.iter_rules():
        if "POST" not in rule.methods or rule.rule.startswith("/api/"):
            continue
        if rule.endpoint in exempt:
            continue
        url = re.sub(r"<(?:any\(([^,)]+)[^)]*\):)?([^>]+)>",
                     lambda m: m.group(1).strip() if m.group(1) else ("1" if "id:" in m.group(0) else "x"), rule.rule)
        response = client.post(url, data={"anything": "1"})
        assert response.status_code == 400, (rule.rule, response.status_code)
        walked.append(rule.rule)
    assert "/login" in walked and "/logout" in walked and len(walked) > 5
