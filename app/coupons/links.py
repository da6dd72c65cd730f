"""Share links: a member passes a transferable coupon on by a link opened in a friend's WeChat.

The link is signed (the server's key, its own salt) and names the merchant, the coupon, the
member who shared it and a random nonce; it carries its own age, so an old one expires without a
table of links. Claiming it is the one transfer operation (`service.transfer_coupon`) with the
idempotency key `share-link:<nonce>`: the coupon ledger's UNIQUE (merchant, key) and the coupon's
UNIQUE `transferred_from_id` make a link claimable once — the same friend claiming again gets the
same coupon back, anyone else "already claimed". Nothing here commits.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from flask_babel import gettext
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from app.actor import Actor
from app.coupons import service
from app.coupons.models import Coupon
from app.db import db
from app.errors import APIError, Conflict, NotFound

_SALT = "coupon-share-link"
DEFAULT_DAYS = 3


@dataclass(frozen=True)
class ShareLink:
    merchant_id: int
    coupon_id: int
    from_member_id: int
    nonce: str

    @property
    def key(self) -> str:
        return f"share-link:{self.nonce}"


class LinkInvalid(APIError):
    """A forged, damaged or expired share link."""


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_SALT)


def max_age_seconds() -> int:
    return int(float(current_app.config.get("COUPON_SHARE_LINK_DAYS", DEFAULT_DAYS)) * 86_400)


def make_token(coupon: Coupon) -> str:
    """A new share link's token for `coupon` (held by its member)."""
    return _serializer().dumps({"m": coupon.merchant_id, "c": coupon.id, "f": coupon.member_id,
                                "n": secrets.token_urlsafe(12)})


def read_token(token: str) -> ShareLink:
    """The link a token names; LinkInvalid (410 expired, 404 otherwise) when it is not one of ours."""
    if not token or len(token) > 400:
        raise LinkInvalid(gettext("This coupon link is not valid."), error_code="link_invalid", status=404)
    try:
        data = _serializer().loads(token, max_age=max_age_seconds())
    except SignatureExpired:
        raise LinkInvalid(gettext("This coupon link has expired. Ask your friend to share it again."),
                          error_code="link_expired", status=410) from None
    except BadSignature:
        raise LinkInvalid(gettext("This coupon link is not valid."), error_code="link_invalid", status=404) from None
    fields = (data.get("m"), data.get("c"), data.get("f"), data.get("n")) if isinstance(data, dict) else ()
    if len(fields) != 4 or not all(isinstance(v, int) for v in fields[:3]) or not isinstance(fields[3], str):
        raise LinkInvalid(gettext("This coupon link is not valid."), error_code="link_invalid", status=404)
    return ShareLink(*fields)


def shared_coupon(link: ShareLink) -> Coupon:
    coupon = db.session.get(Coupon, link.coupon_id)
    if coupon is None or coupon.merchant_id != link.merchant_id:
        raise NotFound("coupon")
    return coupon


def claim(link: ShareLink, to_member_id: int, *, now: datetime, actor: Actor) -> Coupon:
    """The friend takes the shared coupon: the one transfer, keyed by the link. Answers the
    friend's new coupon; 409 `already_claimed` when someone else (or another way) took it first,
    and the rules' refusals (chain limit, expired, same member) as the transfer gives them."""
    try:
        _sent, received = service.transfer_coupon(link.coupon_id, link.from_member_id, to_member_id, key=link.key,
                                                   now=now, actor=actor)
    except APIError as error:
        if error.error_code in ("idempotency_key_reused", "not_active") or (
                error.code == 404 and shared_coupon(link).member_id != link.from_member_id):
            raise Conflict(gettext("This coupon has already been claimed."), error_code="already_claimed") from None
        raise
    return received
