"""Dish photos the manager uploads: known by their first bytes (JPEG, PNG or WebP; never SVG,
which can carry script), at most DISH_PHOTO_MAX_BYTES, kept in `dish_photo` so that every web
process serves them, and named by the dish's `image_url`: `/media/dishes/<id>-<hash>.<ext>`.
A new photo is a new address, so browsers and proxies may keep one for a year."""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from flask_babel import gettext

from app.actor import Actor
from app.db import db
from app.errors import Unprocessable
from app.menu.models import Dish, DishPhoto
from app.menu.service import update_dish

EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}
PREFIX = "/media/dishes/"
HASH_SHOWN = 12  # characters of the photo's SHA-256 in its address


def sniff(data: bytes) -> str | None:
    """The photo's type by its first bytes, whatever its file name or the browser says."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def megabytes(size: int) -> str:
    """A byte limit as the pages say it ("2" for 2 MB)."""
    return f"{size / 1024 / 1024:g}"


def too_large(max_bytes: int) -> Unprocessable:
    return Unprocessable(gettext("The photo is larger than %(size)s MB; make it smaller and try again.",
                                 size=megabytes(max_bytes)),
                         error_code="photo_too_large", details={"max_bytes": max_bytes})


def photo_url(photo: DishPhoto) -> str:
    return f"{PREFIX}{photo.id}-{photo.sha256[:HASH_SHOWN]}.{EXTENSIONS[photo.content_type]}"


def set_photo(dish: Dish, data: bytes, *, actor: Actor, max_bytes: int) -> DishPhoto:
    """The dish's photo is `data` now (the one before is replaced); the menu shows it at once."""
    if not data:
        raise Unprocessable(gettext("Choose a photo to upload."), error_code="photo_missing")
    if len(data) > max_bytes:
        raise too_large(max_bytes)
    kind = sniff(data)
    if kind is None:
        raise Unprocessable(gettext("A photo must be a JPEG, PNG or WebP picture."), error_code="photo_type")
    digest = hashlib.sha256(data).hexdigest()
    photo = db.session.scalar(sa.select(DishPhoto).where(DishPhoto.dish_id == dish.id))
    if photo is None:
        photo = DishPhoto(merchant_id=dish.merchant_id, dish_id=dish.id)
        db.session.add(photo)
    photo.content_type, photo.data, photo.sha256 = kind, data, digest
    db.session.flush()
    update_dish(dish, actor=actor, image_url=photo_url(photo))
    return photo


def remove_photo(dish: Dish, *, actor: Actor) -> None:
    """The dish goes back to the drawn picture."""
    db.session.execute(sa.delete(DishPhoto).where(DishPhoto.dish_id == dish.id))
    if dish.image_url:
        update_dish(dish, actor=actor, image_url="")


def served(photo_id: int, digest: str) -> DishPhoto | None:
    """The photo at this address, if the address is still its own (a replaced one is gone)."""
    photo = db.session.get(DishPhoto, photo_id)
    if photo is None or len(digest) != HASH_SHOWN or not photo.sha256.startswith(digest):
        return None
    return photo
