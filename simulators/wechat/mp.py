"""The official-account half of WeChat: access tokens, web OAuth, scene QR codes, template and
customer-service messages, user info; and the pages a diner's phone shows (OAuth consent,
QR scan, the account's chat as an inbox).

Errors are answered as WeChat does: HTTP 200 with ``{"errcode": …, "errmsg": …}``.
"""

from __future__ import annotations

import json
from functools import wraps
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from flask import Blueprint, Response, make_response, redirect, render_template, request, url_for

from .app import get_store
from .delivery import NoCallbackURL
from .events import scan_qrcode
from .models import User
from .payment_codes import OUTCOMES
from .qr import qr_svg
from .store import WALK_IN_NICKNAME

bp = Blueprint("mp", __name__)

USER_COOKIE = "wechat_sim_openid"
SCOPES = ("snsapi_base", "snsapi_userinfo")
TEMP_QR = {"QR_SCENE", "QR_STR_SCENE"}
ALL_QR = TEMP_QR | {"QR_LIMIT_SCENE", "QR_LIMIT_STR_SCENE"}
MAX_QR_SECONDS = 2592000
CUSTOMER_SERVICE_WINDOW = 48 * 3600  # 客服消息: only within 48 hours of the user's last message


def error(errcode: int, errmsg: str) -> Response:
    return make_response({"errcode": errcode, "errmsg": errmsg})


def public_url() -> str:
    return (get_store().config.public_url or request.host_url).rstrip("/")


def with_query(url: str, params: dict[str, str]) -> str:
    """``url`` with ``params`` added to its query (before any fragment)."""
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode(params)) if q)
    return urlunsplit(parts._replace(query=query))


def requires_access_token(view):
    @wraps(view)
    def wrapper(*args, **kwargs):
        problem = get_store().access_token_error(request.args.get("access_token"))
        if problem is not None:
            return error(*problem)
        return view(*args, **kwargs)

    return wrapper


def json_body() -> dict[str, Any] | None:
    try:
        body = json.loads(request.get_data() or b"null")
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


# --- access token ------------------------------------------------------------------------------


@bp.get("/cgi-bin/token")
def token():
    config = get_store().config
    if request.args.get("grant_type") != "client_credential":
        return error(40002, "invalid grant_type")
    if request.args.get("appid") != config.appid:
        return error(40013, "invalid appid")
    if request.args.get("secret") != config.secret:
        return error(40001, "AppSecret error or access_token is invalid")
    issued = get_store().issue_access_token()
    return {"access_token": issued.token, "expires_in": get_store().config.access_token_ttl}


# --- messages ---------------------------------------------------------------------------------


def _template_title_and_labels(template_id: str) -> tuple[str, dict[str, str]]:
    known = get_store().config.templates.get(template_id)
    if isinstance(known, dict):
        return str(known.get("title") or template_id), dict(known.get("labels") or {})
    return (str(known) if known else template_id), {}


@bp.post("/cgi-bin/message/template/send")
@requires_access_token
def send_template():
    store = get_store()
    body = json_body()
    if body is None or not isinstance(body.get("data", {}), dict):
        return error(47001, "data format error")
    user = store.user(body.get("touser"))
    if user is None:
        return error(40003, "invalid openid")
    template_id = str(body.get("template_id") or "").strip()
    if not template_id:
        return error(40037, "invalid template_id")
    if not user.is_subscribed:
        return error(43004, "require subscribe")
    title, labels = _template_title_and_labels(template_id)
    fields = []
    for key, item in (body.get("data") or {}).items():
        item = item if isinstance(item, dict) else {"value": item}
        fields.append(
            {
                "key": key,
                "label": labels.get(key, key),
                "value": str(item.get("value", "")),
                "color": str(item.get("color") or ""),
            }
        )
    message = store.add_to_inbox(
        user.openid, "template", title, fields=fields, url=body.get("url") or None, template_id=template_id
    )
    return {"errcode": 0, "errmsg": "ok", "msgid": 2_000_000_000 + message.id}


@bp.post("/cgi-bin/message/custom/send")
@requires_access_token
def send_custom():
    store = get_store()
    body = json_body()
    if body is None:
        return error(47001, "data format error")
    user = store.user(body.get("touser"))
    if user is None:
        return error(40003, "invalid openid")
    if not user.is_subscribed or user.last_message_at is None or \
            store.now() - user.last_message_at > CUSTOMER_SERVICE_WINDOW:
        return error(45015, "response out of time limit or subscription is canceled")
    kind = body.get("msgtype")
    if kind == "text":
        store.add_to_inbox(
            user.openid, "custom", store.config.account_name, text=str(_dict(body.get("text")).get("content", ""))
        )
    elif kind == "news":
        articles = _dict(body.get("news")).get("articles") or []
        store.add_to_inbox(
            user.openid,
            "custom",
            store.config.account_name,
            articles=[
                {
                    "Title": a.get("title", ""),
                    "Description": a.get("description", ""),
                    "Url": a.get("url", ""),
                    "PicUrl": a.get("picurl", ""),
                }
                for a in articles
                if isinstance(a, dict)
            ],
        )
    else:
        return error(40008, "invalid message type")
    return {"errcode": 0, "errmsg": "ok"}


# --- users -----------------------------------------------------------------------------------------


@bp.get("/cgi-bin/user/info")
@requires_access_token
def user_info():
    user = get_store().user(request.args.get("openid"))
    if user is None:
        return error(40003, "invalid openid")
    if not user.is_subscribed:
        return {"subscribe": 0, "openid": user.openid}
    # Since 2021 WeChat no longer gives nickname or avatar here.
    info: dict[str, Any] = {
        "subscribe": 1,
        "openid": user.openid,
        "language": request.args.get("lang", "zh_CN"),
        "subscribe_time": int(user.subscribed_at or 0),
        "remark": "",
        "groupid": 0,
        "tagid_list": [],
        "subscribe_scene": user.subscribe_scene,
        "qr_scene": 0,
        "qr_scene_str": user.qr_scene_str,
    }
    if get_store().config.unionid_enabled:
        info["unionid"] = user.unionid
    return info


# --- scene QR codes -----------------------------------------------------------------------------


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _scene(body: dict[str, Any], action_name: str) -> str | None:
    scene = _dict(_dict(body.get("action_info")).get("scene"))
    if action_name in ("QR_SCENE", "QR_LIMIT_SCENE"):
        scene_id = scene.get("scene_id")
        limit = 100000 if action_name == "QR_LIMIT_SCENE" else 2**32 - 1
        if isinstance(scene_id, str) and scene_id.isdigit():
            scene_id = int(scene_id)
        if not isinstance(scene_id, int) or isinstance(scene_id, bool) or not 0 < scene_id <= limit:
            return None
        return str(scene_id)
    scene_str = scene.get("scene_str")
    if not isinstance(scene_str, str) or not 1 <= len(scene_str) <= 64:
        return None
    return scene_str


@bp.post("/cgi-bin/qrcode/create")
@requires_access_token
def create_qrcode():
    body = json_body()
    if body is None:
        return error(47001, "data format error")
    action_name = body.get("action_name")
    if action_name not in ALL_QR:
        return error(40097, "invalid args: action_name")
    scene = _scene(body, action_name)
    if scene is None:
        return error(40097, "invalid args: scene")
    expire_seconds = None
    if action_name in TEMP_QR:
        try:
            expire_seconds = min(max(int(body.get("expire_seconds") or 60), 60), MAX_QR_SECONDS)
        except (TypeError, ValueError):
            return error(40097, "invalid args: expire_seconds")
    qr = get_store().create_qrcode(action_name, scene, expire_seconds)
    answer: dict[str, Any] = {"ticket": qr.ticket}
    if qr.expires_at is not None:
        answer["expire_seconds"] = expire_seconds
    answer["url"] = f"{public_url()}/q/{qr.code}"
    return answer


@bp.get("/cgi-bin/showqrcode")
def show_qrcode():
    qr = get_store().find_qrcode(ticket=request.args.get("ticket", ""))
    if qr is None:
        return "no such QR code ticket (or it expired)\n", 404, {"Content-Type": "text/plain; charset=utf-8"}
    return Response(qr_svg(f"{public_url()}/q/{qr.code}"), mimetype="image/svg+xml")


@bp.route("/q/<code>", methods=["GET", "POST"])
def scan_page(code: str):
    """What a phone opens when it scans a scene QR code: choose who scans, then the event goes
    to the server and the phone shows the account's chat."""
    store = get_store()
    qr = store.find_qrcode(code=code)
    if qr is None:
        return render_template("wechat/error.html", message="二维码已过期 This QR code has expired"), 404
    problem = None
    if request.method == "POST":
        user = chosen_user()
        if user is None:
            problem = "请选择或新建微信用户 Choose or create a WeChat user"
        else:
            try:
                scan_qrcode(store, qr, user)
            except NoCallbackURL:
                problem = "模拟器未配置服务器回调地址 server_callback_url is not set"
            else:
                response = redirect(url_for("mp.inbox_page", openid=user.openid))
                response.set_cookie(USER_COOKIE, user.openid, samesite="Lax")
                return response
    return render_template(
        "wechat/scan.html", qr=qr, users=users_for_picker(), problem=problem, account=store.config.account_name
    )


# --- web OAuth ----------------------------------------------------------------------------------


def _oauth_problem(args) -> str | None:
    config = get_store().config
    if args.get("appid") != config.appid:
        return "appid 参数错误 invalid appid"
    redirect_uri = args.get("redirect_uri", "")
    if urlsplit(redirect_uri).scheme not in ("http", "https"):
        return "10003 redirect_uri 参数错误 invalid redirect_uri"
    if args.get("response_type") != "code":
        return "10004 response_type 参数错误 response_type must be code"
    if args.get("scope") not in SCOPES:
        return "10005 此公众号并没有这些scope的权限 unsupported scope"
    return None


def users_for_picker() -> list[User]:
    """Newest first, the browser's last choice on top, the payment-code walk-in last."""
    store = get_store()
    with store.lock:
        users = list(store.users.values())
    remembered = request.cookies.get(USER_COOKIE)
    return sorted(users, key=lambda u: (u.openid != remembered, u.nickname == WALK_IN_NICKNAME, -u.created_at))


def chosen_user() -> User | None:
    store = get_store()
    nickname = (request.form.get("nickname") or "").strip()
    if nickname:
        return store.create_user(nickname[:32], subscribed=bool(request.form.get("subscribed")))
    return store.user(request.form.get("openid"))


@bp.route("/connect/oauth2/authorize", methods=["GET", "POST"])
def authorize():
    store = get_store()
    args = request.form if request.method == "POST" else request.args
    problem = _oauth_problem(args)
    if problem:
        return render_template("wechat/error.html", message=problem), 400
    choice_problem = None
    if request.method == "POST":
        user = chosen_user()
        if user is None:
            choice_problem = "请选择或新建微信用户 Choose or create a WeChat user"
        else:
            code = store.new_oauth_code(user.openid, args["scope"])
            response = redirect(with_query(args["redirect_uri"], {"code": code.code, "state": args.get("state", "")}))
            response.set_cookie(USER_COOKIE, user.openid, samesite="Lax")
            return response
    return render_template(
        "wechat/oauth.html",
        args=args,
        users=users_for_picker(),
        remembered=request.cookies.get(USER_COOKIE),
        account=store.config.account_name,
        problem=choice_problem,
        host=urlsplit(args["redirect_uri"]).netloc,
    )


@bp.get("/sns/oauth2/access_token")
def oauth_access_token():
    store = get_store()
    config = store.config
    if request.args.get("appid") != config.appid:
        return error(40013, "invalid appid")
    if request.args.get("secret") != config.secret:
        return error(40125, "invalid appsecret")
    if request.args.get("grant_type") != "authorization_code":
        return error(40002, "invalid grant_type")
    result = store.redeem_oauth_code(request.args.get("code", ""))
    if isinstance(result, tuple):
        return error(*result)
    return _user_token_answer(result)


def _user_token_answer(token) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "access_token": token.access_token,
        "expires_in": 7200,
        "refresh_token": token.refresh_token,
        "openid": token.openid,
        "scope": token.scope,
    }
    user = get_store().user(token.openid)
    if get_store().config.unionid_enabled and user is not None:
        answer["unionid"] = user.unionid
    return answer


@bp.get("/sns/oauth2/refresh_token")
def oauth_refresh_token():
    store = get_store()
    if request.args.get("appid") != store.config.appid:
        return error(40013, "invalid appid")
    if request.args.get("grant_type") != "refresh_token":
        return error(40002, "invalid grant_type")
    result = store.refresh_user_token(request.args.get("refresh_token", ""))
    if isinstance(result, tuple):
        return error(*result)
    return _user_token_answer(result)


@bp.get("/sns/userinfo")
def oauth_userinfo():
    store = get_store()
    token = store.user_token(request.args.get("access_token"))
    if isinstance(token, tuple):
        return error(*token)
    if request.args.get("openid") != token.openid:
        return error(40003, "invalid openid")
    if token.scope != "snsapi_userinfo":
        return error(48001, "api unauthorized")
    user = store.user(token.openid)
    assert user is not None
    info: dict[str, Any] = {
        "openid": user.openid,
        "nickname": user.nickname,
        "sex": user.sex,
        "province": user.province,
        "city": user.city,
        "country": user.country,
        "headimgurl": f"{public_url()}/avatar/{user.openid}.svg",
        "privilege": [],
    }
    if store.config.unionid_enabled:
        info["unionid"] = user.unionid
    return info


@bp.get("/sns/auth")
def oauth_check():
    token = get_store().user_token(request.args.get("access_token"))
    if isinstance(token, tuple):
        return error(*token)
    if request.args.get("openid") != token.openid:
        return error(40003, "invalid openid")
    return {"errcode": 0, "errmsg": "ok"}


@bp.get("/avatar/<openid>.svg")
def avatar(openid: str):
    user = get_store().user(openid)
    letter = (user.nickname[:1] if user else "?").replace("&", "&amp;").replace("<", "&lt;")
    hue = int(openid.encode().hex()[:6] or "0", 16) % 360
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" width="132" height="132" viewBox="0 0 132 132">'
        f'<rect width="132" height="132" rx="12" fill="hsl({hue},55%,55%)"/>'
        f'<text x="66" y="86" font-size="64" text-anchor="middle" fill="#fff" font-family="sans-serif">{letter}</text>'
        "</svg>"
    )
    return Response(svg, mimetype="image/svg+xml")


# --- the phone ----------------------------------------------------------------------------------------


@bp.get("/chat/<openid>")
def chat_page(openid: str):
    """The user's chat with the account, oldest first: what they sent on the right, the account's
    passive replies and customer-service messages on the left."""
    store = get_store()
    user = store.user(openid)
    if user is None:
        return render_template("wechat/error.html", message="没有这个微信用户 No such WeChat user"), 404
    chat = [m for m in store.inbox(openid) if m.kind in ("sent", "reply", "custom")][::-1]
    return render_template("wechat/chat.html", user=user, messages=chat, account=store.config.account_name)


@bp.get("/inbox/<openid>")
def inbox_page(openid: str):
    store = get_store()
    user = store.user(openid)
    if user is None:
        return render_template("wechat/error.html", message="没有这个微信用户 No such WeChat user"), 404
    with store.lock:
        codes = [code for code, owner in store.payment_codes.items() if owner == openid]
    return render_template(
        "wechat/inbox.html",
        user=user,
        messages=store.inbox(openid),
        account=store.config.account_name,
        payment_codes=codes[-3:][::-1],
        code_svgs={code: qr_svg(code) for code in codes[-3:]},
        outcomes=OUTCOMES.values(),
    )
