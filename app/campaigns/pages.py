"""The campaign link a member opens (counted once), and the manager's pages for segments and
campaigns. Views call the same service functions as /api/v1/segments and /api/v1/campaigns."""

from __future__ import annotations

from flask import Blueprint, abort, redirect

from app.campaigns import service
from app.db import utcnow

bp = Blueprint("campaign_pages", __name__, url_prefix="/manage")
open_bp = Blueprint("campaign_open", __name__)


@open_bp.route("/c/<token>")
def open_link(token: str):
    """The tracked link of a campaign message: record the first open, then show the member card."""
    delivery = service.record_open(token[:200], utcnow())
    if delivery is None:
        abort(404)
    return redirect(f"/m/card?merchant={delivery.merchant_id}")
