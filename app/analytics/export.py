"""A layer's members as CSV (UTF-8 with a byte-order mark, so Excel reads the Chinese)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from app.analytics.service import ScoredMember
from tablerules.money import to_yuan

HEADER = ("member_no", "name", "phone", "layer", "visits", "spend_yuan", "last_visit_at", "recency_days",
          "joined_at")


def _cell(value: object) -> str:
    """A spreadsheet must not run a name as a formula (CSV injection)."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in {"=", "+", "-", "@", "\t", "\r"} else text


def members_csv(members: Iterable[ScoredMember]) -> str:
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    for m in members:
        writer.writerow([_cell(v) for v in (
            m.member_no, m.name, m.phone, m.layer.value, m.visits, to_yuan(m.spend_cents),
            m.last_visit_at.isoformat(timespec="seconds") if m.last_visit_at else "", m.recency_days,
            m.joined_at.date().isoformat())])
    return out.getvalue()
