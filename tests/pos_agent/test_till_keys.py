"""Every key of the till does one thing: the page's buttons (`data-key` in the template and in
the buttons the script makes) and the coupon keys never share a key, or one action would shadow
another (the page runs the first visible button with the key pressed)."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

UI = Path(__file__).resolve().parents[2] / "pos_agent" / "till_ui"


def _keys() -> list[str]:
    html = (UI / "templates" / "till.html").read_text(encoding="utf-8")
    script = (UI / "static" / "till.js").read_text(encoding="utf-8")
    keys = re.findall(r'data-key="([^"]+)"', html) + re.findall(r'"data-key": "([^"]+)"', script)
    letters = set(re.findall(r'"Alt\+" \+ "([A-Z]+)"\[i\]', script))
    assert len(letters) == 1, "the coupon keys are one string of letters"
    coupon_letters = letters.pop()
    assert f"[{coupon_letters}]" in script, "the handler reads the same letters as the page shows"
    return keys + [f"Alt+{letter}" for letter in coupon_letters]


def test_no_two_actions_share_a_key():
    keys = _keys()
    assert len(keys) > 20  # the template and the script were read
    shared = {key: n for key, n in Counter(keys).items() if n > 1}
    assert shared == {}
