"""Forms of the manager's member pages: text as a manager types it, turned into what the services take.

Money is typed in yuan and read with `tablerules.money.parse_yuan`; a tier discount is typed the way
Chinese menus print it (8.8 for 8.8折); a points multiplier as a factor (1.5 for 1.5×).
"""

from __future__ import annotations

import re
import uuid

from flask_babel import lazy_gettext
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    FieldList,
    FormField,
    HiddenField,
    IntegerField,
    SelectChoice,
    SelectField,
    StringField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, Regexp, ValidationError

from app.members.models import Account
from tablerules.money import parse_yuan, to_yuan
from tablerules.points import ExpiryKind

# --- text <-> numbers ------------------------------------------------------------------------

_ZHE_RE = re.compile(r"^\s*(\d{1,2})(?:\.(\d))?\s*折?\s*$")
_FACTOR_RE = re.compile(r"^\s*(\d{1,2})(?:\.(\d{1,2}))?\s*[x×倍]?\s*$")


def parse_zhe(text: str) -> int:
    """A discount as typed: '8.8' or '8.8折' -> 12 (percent off); '88' (八八折) -> 12; '9' -> 10;
    '10' or '' -> 0 (no discount). ValueError for anything else, and below 1折: a '0' typed for
    "no discount" must not make a tier eat for free."""
    if not text.strip():
        return 0
    match = _ZHE_RE.match(text)
    if not match:
        raise ValueError(f"not a discount: {text!r}")
    whole, tenth = match.groups()
    two_digits = tenth is None and len(whole) == 2 and whole != "10"  # '88', '95' as on menus: % paid
    paid = int(whole) if two_digits else int(whole) * 10 + int(tenth or 0)
    if not 10 <= paid <= 100:
        raise ValueError(f"not a discount: {text!r}")
    return 100 - paid


def parse_factor(text: str) -> int:
    """A multiplier as typed: '1.5' or '1.5×' -> 150 (percent); '2' -> 200. ValueError otherwise."""
    match = _FACTOR_RE.match(text)
    if not match:
        raise ValueError(f"not a multiplier: {text!r}")
    whole, frac = match.groups()
    return int(whole) * 100 + int((frac or "0").ljust(2, "0"))


def factor_text(percent: int) -> str:
    """150 -> '1.5', 100 -> '1', 125 -> '1.25'."""
    whole, frac = divmod(percent, 100)
    return str(whole) if frac == 0 else f"{whole}.{frac:02d}".rstrip("0")


def yuan_or_none(text: str | None) -> int | None:
    text = (text or "").strip()
    return parse_yuan(text) if text else None


# --- validators ------------------------------------------------------------------------------

def check_yuan(positive: bool):
    def check(form, field) -> None:
        try:
            cents = yuan_or_none(field.data)
        except ValueError:
            raise ValidationError(lazy_gettext("Enter an amount in yuan, such as 100 or 88.50.")) from None
        if cents is not None and positive and cents <= 0:
            raise ValidationError(lazy_gettext("The amount must be more than zero."))
        if cents is not None and cents < 0:
            raise ValidationError(lazy_gettext("The amount cannot be negative."))

    return check


def _check_zhe(form, field) -> None:
    try:
        parse_zhe(field.data or "")
    except ValueError:
        raise ValidationError(lazy_gettext("Enter the discount as on a menu: 8.8 for 8.8折, 10 for none.")) from None


def _check_factor(form, field) -> None:
    try:
        percent = parse_factor(field.data or "")
    except ValueError:
        raise ValidationError(lazy_gettext("Enter a multiplier such as 1, 1.2 or 1.5.")) from None
    if percent > 1000:
        raise ValidationError(lazy_gettext("The multiplier can be at most 10."))


def _add_error(field, message) -> bool:
    field.errors = [*field.errors, message]
    return False


class _Row(FlaskForm):
    """One row of an editable table; the page's own form carries the CSRF token."""

    class Meta:
        csrf = False


# --- member adjustment -----------------------------------------------------------------------

ACCOUNT_CHOICES = [
    SelectChoice(Account.PRINCIPAL.label, lazy_gettext("Stored value: principal")),
    SelectChoice(Account.BONUS.label, lazy_gettext("Stored value: bonus")),
    SelectChoice(Account.POINTS.label, lazy_gettext("Points")),
]
_POINTS_RE = re.compile(r"^\s*([+-]?)\s*(\d{1,9})\s*$")
_KEY_RE = r"^[0-9a-f]{32}$"


class AdjustmentForm(FlaskForm):
    account = SelectField(lazy_gettext("Account"), choices=ACCOUNT_CHOICES, validators=[InputRequired()])
    delta = StringField(lazy_gettext("Change"), validators=[DataRequired(), Length(max=20)],
                        description=lazy_gettext("Yuan for stored value (-20 takes ￥20 off), whole points for "
                                                 "points."))
    reason = StringField(lazy_gettext("Reason"), validators=[DataRequired(), Length(min=2, max=200)])
    idempotency_key = HiddenField(validators=[DataRequired(), Regexp(_KEY_RE)])
    confirm = HiddenField()

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not self.idempotency_key.data:
            self.idempotency_key.data = self.new_key()  # one key per form: a double submit applies once

    @staticmethod
    def new_key() -> str:
        return uuid.uuid4().hex

    @property
    def account_value(self) -> Account:
        return Account[self.account.data.upper()]

    def validate_delta(self, field) -> None:
        try:
            self.delta_value = self._parse_delta(field.data or "")
        except ValueError:
            if self.account.data == Account.POINTS.label:
                raise ValidationError(lazy_gettext("Enter whole points, such as 200 or -50.")) from None
            raise ValidationError(lazy_gettext("Enter yuan, such as 20, -15.50.")) from None
        if self.delta_value == 0:
            raise ValidationError(lazy_gettext("The adjustment cannot be zero."))

    def _parse_delta(self, text: str) -> int:
        if self.account.data == Account.POINTS.label:
            match = _POINTS_RE.match(text)
            if not match:
                raise ValueError(text)
            return -int(match.group(2)) if match.group(1) == "-" else int(match.group(2))
        return parse_yuan(text.strip().removeprefix("+"))


# --- tiers -----------------------------------------------------------------------------------

class TierRow(_Row):
    name = StringField(lazy_gettext("Tier name"), validators=[Optional(), Length(max=30)])
    name_en = StringField(lazy_gettext("English name"), validators=[Optional(), Length(max=30)])
    rank = IntegerField(lazy_gettext("Rank"), validators=[Optional(), NumberRange(min=0, max=20)])
    discount = StringField(lazy_gettext("Discount (折)"), validators=[_check_zhe])
    multiplier = StringField(lazy_gettext("Points ×"), validators=[Optional(), _check_factor])
    spend_threshold = StringField(lazy_gettext("12-month spend (yuan)"), validators=[check_yuan(positive=False)])
    topup_threshold = StringField(lazy_gettext("Single top-up (yuan)"), validators=[check_yuan(positive=False)])
    remove = BooleanField(lazy_gettext("Remove"))

    @property
    def is_blank(self) -> bool:
        return not any((self.name.data or "").strip() or (f.data or "").strip() for f in
                       (self.name_en, self.discount, self.spend_threshold, self.topup_threshold)) \
            and self.rank.data is None

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        if self.is_blank or self.remove.data:
            return valid
        # Optional() ends a field's own checks when it is empty, so "needed here" is checked here.
        if not (self.name.data or "").strip():
            valid = _add_error(self.name, lazy_gettext("Give every tier a name."))
        if self.rank.data is None and not self.rank.errors:
            valid = _add_error(self.rank, lazy_gettext("Give every tier a rank; 0 is the base tier."))
        return valid

    def values(self) -> dict:
        """What `service.set_tiers` takes for this row."""
        return {
            "name": self.name.data.strip(),
            "name_en": (self.name_en.data or "").strip(),
            "rank": self.rank.data,
            "discount_percent": parse_zhe(self.discount.data or ""),
            "points_multiplier_percent": parse_factor(self.multiplier.data) if self.multiplier.data else 100,
            "spend_threshold_cents": yuan_or_none(self.spend_threshold.data),
            "topup_threshold_cents": yuan_or_none(self.topup_threshold.data),
        }


class TiersForm(FlaskForm):
    rows = FieldList(FormField(TierRow), min_entries=1, max_entries=20)

    def wanted(self) -> list[dict]:
        return [row.form.values() for row in self.rows if not row.form.remove.data and not row.form.is_blank]


# --- top-up rules ----------------------------------------------------------------------------

class TopUpRow(_Row):
    min_yuan = StringField(lazy_gettext("Top up at least (yuan)"), validators=[check_yuan(positive=True)])
    bonus_yuan = StringField(lazy_gettext("Bonus (yuan)"), validators=[check_yuan(positive=False)])
    is_repeat = BooleanField(lazy_gettext("For every such amount"))
    remove = BooleanField(lazy_gettext("Remove"))

    @property
    def is_blank(self) -> bool:
        return not (self.min_yuan.data or "").strip() and not (self.bonus_yuan.data or "").strip()

    def validate_min_yuan(self, field) -> None:
        if not (field.data or "").strip() and not self.is_blank and not self.remove.data:
            raise ValidationError(lazy_gettext("Enter the top-up amount."))

    def validate_bonus_yuan(self, field) -> None:
        if not (field.data or "").strip() and not self.is_blank and not self.remove.data:
            raise ValidationError(lazy_gettext("Enter the bonus (0 for none)."))

    def values(self) -> dict:
        return {"min_cents": parse_yuan(self.min_yuan.data), "bonus_cents": parse_yuan(self.bonus_yuan.data),
                "is_repeat": bool(self.is_repeat.data)}


class TopUpRulesForm(FlaskForm):
    rows = FieldList(FormField(TopUpRow), min_entries=1, max_entries=20)

    def wanted(self) -> list[dict]:
        return [row.form.values() for row in self.rows if not row.form.remove.data and not row.form.is_blank]


# --- points settings -------------------------------------------------------------------------

EXPIRY_CHOICES = [
    SelectChoice(ExpiryKind.END_OF_YEAR_AFTER.value, lazy_gettext("At the end of the year after they are earned")),
    SelectChoice(ExpiryKind.END_OF_MONTH_AFTER.value,
                 lazy_gettext("At the end of the Nth month after they are earned (give the months)")),
    SelectChoice(ExpiryKind.DAYS.value, lazy_gettext("A number of days after they are earned (give the days)")),
    SelectChoice(ExpiryKind.NEVER.value, lazy_gettext("Never")),
]


class PointsSettingsForm(FlaskForm):
    points_per_yuan = IntegerField(lazy_gettext("Points for every ￥1 paid"),
                                   validators=[InputRequired(), NumberRange(min=0, max=1000)])
    earn_cash = BooleanField(lazy_gettext("Cash"))
    earn_wechat = BooleanField(lazy_gettext("WeChat Pay"))
    earn_stored_value = BooleanField(lazy_gettext("Stored value"))
    points_expiry_kind = SelectField(lazy_gettext("Points expire"), choices=EXPIRY_CHOICES,
                                     validators=[InputRequired()])
    points_expiry_days = IntegerField(lazy_gettext("Days"), validators=[Optional(), NumberRange(min=1, max=3650)])
    points_expiry_months = IntegerField(lazy_gettext("Months"), validators=[Optional(), NumberRange(min=1, max=120)])
    yuan_per_point = StringField(lazy_gettext("One point is worth (yuan)"),
                                 validators=[DataRequired(), check_yuan(positive=True)])
    max_points_share_percent = IntegerField(lazy_gettext("Points may pay at most this percent of a bill"),
                                            validators=[InputRequired(), NumberRange(min=0, max=100)])

    TENDERS = (("cash", "earn_cash"), ("wechat", "earn_wechat"), ("stored_value", "earn_stored_value"))

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        kind, days, months = self.points_expiry_kind.data, self.points_expiry_days, self.points_expiry_months
        if kind == ExpiryKind.DAYS.value and days.data is None and not days.errors:
            valid = _add_error(days, lazy_gettext("Enter after how many days points expire."))
        if kind == ExpiryKind.END_OF_MONTH_AFTER.value and months.data is None and not months.errors:
            valid = _add_error(months, lazy_gettext("Enter after how many months points expire."))
        return valid

    def validate_yuan_per_point(self, field) -> None:
        if not field.errors and parse_yuan(field.data) > 10_000:
            raise ValidationError(lazy_gettext("A point can be worth at most ￥100."))

    def fill(self, settings) -> None:
        """Show the saved settings (a GET)."""
        self.points_per_yuan.data = settings.points_per_yuan
        for tender, name in self.TENDERS:
            getattr(self, name).data = tender in settings.earning_tenders
        self.points_expiry_kind.data = settings.points_expiry_kind
        self.points_expiry_days.data = settings.points_expiry_days
        self.points_expiry_months.data = settings.points_expiry_months
        self.yuan_per_point.data = to_yuan(settings.cents_per_point)
        self.max_points_share_percent.data = settings.max_points_share_percent

    def changes(self) -> dict:
        """What `service.update_settings` takes."""
        kind = self.points_expiry_kind.data
        return {
            "points_per_yuan": self.points_per_yuan.data,
            "earning_tenders": [tender for tender, name in self.TENDERS if getattr(self, name).data],
            "points_expiry_kind": kind,
            "points_expiry_days": self.points_expiry_days.data if kind == ExpiryKind.DAYS.value else None,
            "points_expiry_months": self.points_expiry_months.data
            if kind == ExpiryKind.END_OF_MONTH_AFTER.value else None,
            "cents_per_point": parse_yuan(self.yuan_per_point.data),
            "max_points_share_percent": self.max_points_share_percent.data,
        }


class CardForm(FlaskForm):
    """A physical card's number as typed from the card (bind, or the new card of a replacement)."""

    card_no = StringField(lazy_gettext("Card number"), filters=[lambda text: (text or "").strip()], validators=[
        DataRequired(lazy_gettext("Type the card number.")),
        Regexp(r"^[0-9A-Za-z]{4,32}$", message=lazy_gettext("A card number is 4 to 32 letters and digits."))])
