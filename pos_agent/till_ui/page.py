"""The till's page and its static files (``/till``, ``/till/static/…``), rendered with Jinja2.

The page carries no inline script (its JS is a file of its own) and is sent with a strict
Content-Security-Policy, like the server's pages."""

from __future__ import annotations

import mimetypes
from functools import lru_cache
from importlib import resources

from jinja2 import Environment, PackageLoader, select_autoescape

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'")
_STATIC = {"till.js", "till.css", "i18n.js", "keys.js"}


@lru_cache(maxsize=1)
def _environment() -> Environment:
    return Environment(loader=PackageLoader("pos_agent.till_ui", "templates"), autoescape=select_autoescape())


def render(store_name: str) -> bytes:
    return _environment().get_template("till.html").render(store_name=store_name).encode()


def static(name: str) -> tuple[bytes, str] | None:
    """A static file's bytes and content type (None for any other name)."""
    if name not in _STATIC:
        return None
    data = resources.files("pos_agent.till_ui").joinpath("static", name).read_bytes()
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return data, f"{content_type}; charset=utf-8"
