"""How the pyramid's layers read on pages and in API answers, in the caller's language."""

from __future__ import annotations

from flask_babel import get_locale, gettext

from tablerules.money import to_yuan_short
from tablerules.rfm import Layer, Thresholds


def layer_name(layer: Layer) -> str:
    return layer.name_en if get_locale().language == "en" else layer.name_zh


def layer_rule(layer: Layer, t: Thresholds) -> str:
    """The layer's rule in words, with the thresholds in force."""
    spend = to_yuan_short(t.high_spend_cents)
    texts = {
        Layer.CORE: gettext("Came in the last %(active)s days, at least %(visits)s visits and ￥%(spend)s spent",
                            active=t.active_days, visits=t.frequent_visits, spend=spend),
        Layer.IMPORTANT: gettext("Came in the last %(active)s days, at least %(visits)s visits or ￥%(spend)s spent",
                                 active=t.active_days, visits=t.frequent_visits, spend=spend),
        Layer.POTENTIAL: gettext("Came in the last %(active)s days, not yet frequent or high-spending",
                                 active=t.active_days),
        Layer.NEW: gettext("Joined in the last %(new)s days, at most one visit so far", new=t.new_member_days),
        Layer.DORMANT: gettext("Last seen %(active)s to %(lost)s days ago", active=t.active_days + 1,
                               lost=t.lost_days),
        Layer.LOST: gettext("Not seen for more than %(lost)s days", lost=t.lost_days),
    }
    return texts[layer]


def layer_advice(layer: Layer) -> str:
    """What a manager usually does for the layer (shown beside its figures)."""
    texts = {
        Layer.CORE: gettext("Keep them close: birthday gifts, early tastings, no discounts needed."),
        Layer.IMPORTANT: gettext("Nudge them up: a reason to come once more, or to bring friends."),
        Layer.POTENTIAL: gettext("Build the habit: a return voucher valid for two weeks."),
        Layer.NEW: gettext("Welcome them: a second-visit coupon right after the first bill."),
        Layer.DORMANT: gettext("Win them back before they are gone: a personal offer on their favourite dish."),
        Layer.LOST: gettext("Try once with a strong offer; do not spend more on those who do not answer."),
    }
    return texts[layer]
