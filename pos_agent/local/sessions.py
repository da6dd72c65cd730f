"""Till logins: online through the server's ``/api/v1/auth/token``; offline for staff of this store
who logged in at this agent before, against the credential hash kept then (and the server's own
hash from the local copy, when it can be checked with the standard library).

The agent issues its own session token; only its SHA-256 is kept, in the agent's SQLite file, so
a session survives a restart of the agent until it expires.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta

from ..remote import Refused, ServerClient, Unreachable
from .connectivity import Connectivity
from .copy import LocalCopy
from .db import LocalDB, dumps
from .errors import TillError

PBKDF2_ROUNDS = 120_000
SELLING_ROLES = frozenset({"owner", "manager", "cashier"})


def _pbkdf2(password: str, salt: str) -> str:
    return hashlib.pbkdf2_hmac("sha256", password.encode(), bytes.fromhex(salt), PBKDF2_ROUNDS).hex()


def check_server_hash(stored: str, password: str) -> bool | None:
    """A werkzeug ``scrypt:n:r:p$salt$hash`` checked with hashlib; None for a format it cannot read."""
    try:
        method, salt, digest = stored.split("$", 2)
        name, n, r, p = method.split(":")
        if name != "scrypt":
            return None
        n_, r_, p_ = int(n), int(r), int(p)
        computed = hashlib.scrypt(password.encode(), salt=salt.encode(), n=n_, r=r_, p=p_,
                                  maxmem=132 * n_ * r_ * p_).hex()
    except (ValueError, TypeError):
        return None
    return hmac.compare_digest(computed, digest)


def _invalid() -> TillError:
    return TillError(401, "invalid_credentials", "用户名或密码错误 / Wrong username or password")


class Sessions:
    def __init__(self, db: LocalDB, client: ServerClient, copy: LocalCopy, connectivity: Connectivity,
                 store_id: int, *, hours: float, clock: Callable[[], datetime], timeout_s: float) -> None:
        self.db = db
        self.client = client
        self.copy = copy
        self.connectivity = connectivity
        self.store_id = store_id
        self.hours = hours
        self.clock = clock
        self.timeout_s = timeout_s
        # The server's own token of each till session opened online (in memory only): the till's
        # steps that only the server can do (coupons, adding to an order, refunds) act as that staff.
        self.server_tokens: dict[str, str] = {}

    def login(self, username: str, password: str) -> dict:
        server_token = None
        try:
            answer = self.client.post("/api/v1/auth/token", {"username": username, "password": password},
                                      timeout_s=self.timeout_s)
        except Refused as refused:
            self.connectivity.mark_online()
            if refused.status in (401, 403, 422):
                raise _invalid() from None
            raise TillError(refused.status, refused.code, refused.message, refused.details) from None
        except Unreachable:
            self.connectivity.mark_offline()
            staff = self._offline_login(username, password)
        else:
            self.connectivity.mark_online()
            staff = self._online_login(answer, username, password)
            server_token = answer.get("token")
        token = secrets.token_urlsafe(32)
        if isinstance(server_token, str):
            self.server_tokens[_token_hash(token)] = server_token
        expires = self.clock() + timedelta(hours=self.hours)
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM sessions WHERE expires_at < ?", (self.clock().isoformat(),))
            conn.execute("INSERT INTO sessions (token_hash, staff, expires_at) VALUES (?, ?, ?)",
                         (_token_hash(token), dumps(staff), expires.isoformat()))
        return {"token": token, "staff": {"id": staff["id"], "role": staff["role"], "name": staff["name"]},
                "expires_at": expires.isoformat(timespec="seconds")}

    def _online_login(self, answer: dict, username: str, password: str) -> dict:
        server_staff = answer.get("staff") or {}
        if server_staff.get("store_id") not in (None, self.store_id):
            raise TillError(403, "wrong_store", "此账号不属于本店 / This account belongs to another store")
        known = self.copy.staff(staff_id=server_staff["id"]) or {}
        staff = {"id": server_staff["id"], "role": server_staff.get("role", known.get("role", "")),
                 "name": known.get("name") or username, "username": username}
        salt = secrets.token_hex(16)
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM logins WHERE staff_id = ? OR username = ?", (staff["id"], username))
            conn.execute("INSERT INTO logins (staff_id, username, salt, hash, staff, at) VALUES (?, ?, ?, ?, ?, ?)",
                         (staff["id"], username, salt, _pbkdf2(password, salt), dumps(staff),
                          self.clock().isoformat()))
        return staff

    def _offline_login(self, username: str, password: str) -> dict:
        row = self.db.one("SELECT salt, hash, staff FROM logins WHERE username = ?", (username,))
        if row is None:
            raise _invalid()  # never logged in here: nothing to check the password against
        salt, digest, staff_json = row
        staff = json.loads(staff_json)
        known = self.copy.staff(staff_id=staff["id"])
        if known is not None:
            if not known.get("is_active", True):
                raise _invalid()
            by_server = check_server_hash(known.get("password_hash") or "", password)
            if by_server is not None:
                if not by_server:
                    raise _invalid()
                return staff
        if not hmac.compare_digest(_pbkdf2(password, salt), digest):
            raise _invalid()
        return staff

    def staff_for(self, authorization: str | None) -> dict:
        """The staff member of a ``Bearer`` session token (401 otherwise)."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise TillError(401, "token_missing", "请先登录 / Log in first")
        row = self.db.one("SELECT staff, expires_at FROM sessions WHERE token_hash = ?", (_token_hash(token.strip()),))
        if row is None or datetime.fromisoformat(row[1]) <= self.clock():
            raise TillError(401, "token_invalid", "登录已失效，请重新登录 / Session expired, log in again")
        staff = json.loads(row[0])
        if staff.get("role") not in SELLING_ROLES:
            raise TillError(403, "forbidden", "此账号不能收银 / This account cannot sell")
        return staff


def server_token(sessions: Sessions, authorization: str | None) -> str | None:
    """The server token kept for this till session, if it was opened online."""
    _, _, token = (authorization or "").partition(" ")
    return sessions.server_tokens.get(_token_hash(token.strip()))


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
