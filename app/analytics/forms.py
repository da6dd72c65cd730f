"""The pyramid's thresholds as a manager types them: days, visits, whole yuan; blank = worked out
from the merchant's own figures."""

from __future__ import annotations

from flask_babel import lazy_gettext
from flask_wtf import FlaskForm
from wtforms import IntegerField
from wtforms.validators import InputRequired, NumberRange, Optional

from tablerules.rfm import MAX_WINDOW_MONTHS

MAX_DAYS = 31 * MAX_WINDOW_MONTHS


class ThresholdsForm(FlaskForm):
    window_months = IntegerField(lazy_gettext("Window (months)"),
                                 validators=[InputRequired(), NumberRange(1, MAX_WINDOW_MONTHS)])
    active_days = IntegerField(lazy_gettext("Recent within (days)"), validators=[Optional(), NumberRange(1, MAX_DAYS)])
    lost_days = IntegerField(lazy_gettext("Lost after (days)"), validators=[Optional(), NumberRange(2, MAX_DAYS)])
    frequent_visits = IntegerField(lazy_gettext("Frequent from (visits)"),
                                   validators=[Optional(), NumberRange(2, 10_000)])
    high_spend_yuan = IntegerField(lazy_gettext("High spend from (yuan)"),
                                   validators=[Optional(), NumberRange(1, 10_000_000)])
    new_member_days = IntegerField(lazy_gettext("New member within (days)"),
                                   validators=[Optional(), NumberRange(1, MAX_DAYS)])

    def changes(self) -> dict[str, int | None]:
        spend = self.high_spend_yuan.data
        return {"window_months": self.window_months.data, "active_days": self.active_days.data,
                "lost_days": self.lost_days.data, "frequent_visits": self.frequent_visits.data,
                "high_spend_cents": spend * 100 if spend is not None else None,
                "new_member_days": self.new_member_days.data}

    def fill(self, window_months: int, chosen: dict[str, int | None]) -> None:
        self.window_months.data = window_months
        for name in ("active_days", "lost_days", "frequent_visits", "new_member_days"):
            getattr(self, name).data = chosen.get(name)
        spend = chosen.get("high_spend_cents")
        self.high_spend_yuan.data = -(-spend // 100) if spend is not None else None
