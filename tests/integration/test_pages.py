import re


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def test_login_page_is_chinese_by_default_and_english_on_request(client):
    assert "登录" in client.get("/login").get_data(as_text=True)
    english = client.get("/login", headers={"Accept-Language": "en-US,en;q=0.9"}).get_data(as_text=True)
    assert "Log in" in english and "登录" not in english.split("中文")[1]


def test_language_choice_wins_over_the_browser(client):
    client.get("/lang/en")
    assert "Username" in client.get("/login", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)


def test_login_needs_the_csrf_token(make):
    tenant = make.tenant()
    response = make.client.post("/login", data={"username": tenant.owner.username, "password": make.PASSWORD})
    assert response.status_code == 400
    assert make.client.get("/manage/").status_code == 302


def test_login_then_home_then_logout(make):
    tenant = make.tenant()
    client = make.client
    token = _csrf(client.get("/login").get_data(as_text=True))
    response = client.post("/login?next=/manage/", data={"username": tenant.owner.username,
                                                         "password": make.PASSWORD, "csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"].endswith("/manage/")
    home = client.get("/manage/").get_data(as_text=True)
    assert tenant.merchant.name in home
    client.post("/logout", data={"csrf_token": _csrf(home)})
    assert client.get("/manage/").status_code == 302


def test_wrong_password_shows_the_error_in_chinese(make):
    tenant = make.tenant()
    token = _csrf(make.client.get("/login").get_data(as_text=True))
    response = make.client.post("/login", data={"username": tenant.owner.username, "password": "nope-nope",
                                                "csrf_token": token})
    assert response.status_code == 400
    assert "用户名或密码错误" in response.get_data(as_text=True)


def test_login_never_redirects_off_site(make):
    tenant = make.tenant()
    token = _csrf(make.client.get("/login").get_data(as_text=True))
    response = make.client.post("/login?next=//evil.example/x", data={
        "username": tenant.owner.username, "password": make.PASSWORD, "csrf_token": token})
    assert response.headers["Location"].endswith("/manage/")


def test_openapi_and_docs_are_served(client):
    spec = client.get("/api/openapi.json").get_json()
    assert spec["info"]["title"] == "TableLoop API"
    assert "/api/v1/auth/token" in spec["paths"]
    assert client.get("/api/docs").status_code == 200
    with client.get("/api/docs/assets/swagger-ui-bundle.js") as asset:
        assert asset.status_code == 200 and b"SwaggerUIBundle" in asset.data


def test_api_errors_are_translated(make):
    response = make.client.post("/api/v1/auth/token", json={"username": "x", "password": "y"},
                                headers={"Accept-Language": "zh-CN"})
    assert response.get_json()["error"]["message"] == "用户名或密码错误。"
    response = make.client.post("/api/v1/auth/token", json={"username": "x", "password": "y"},
                                headers={"Accept-Language": "en"})
    assert response.get_json()["error"]["message"] == "Wrong username or password."
