"""Every key of the till is in one table, `static/keys.js`: the script dispatches on it, puts each
key on its button and lists it in 快捷键一览 (F12). Read as data here: no two actions share a key
where both could run (the page would run only one of them), every key says what it does in Chinese
and English, every action it names is the script's, and nothing binds a key outside the table."""

from __future__ import annotations

import json
import re
from collections import Counter
from functools import cache
from pathlib import Path

UI = Path(__file__).resolve().parents[2] / "pos_agent" / "till_ui"
HTML = UI / "templates" / "till.html"
SCRIPT = UI / "static" / "till.js"
FIELDS = ("table-code", "search", "note", "member-query", "sv", "cash", "wx-code")  # the desk's input fields


@cache
def _table() -> dict:
    text = (UI / "static" / "keys.js").read_text(encoding="utf-8")
    head = "window.TILL_KEYS = "
    return json.loads(text[text.index(head) + len(head):].strip().removesuffix(";"))


def _keys() -> list[dict]:
    return _table()["keys"]


def _shared(keys: list[str]) -> dict[str, int]:
    return {key: n for key, n in Counter(keys).items() if n > 1}


def test_the_table_is_read():
    assert len(_keys()) > 40
    assert [g["id"] for g in _table()["groups"]] == ["tables", "order", "member", "pay", "coupons", "cards", "other"]


def test_no_two_actions_share_a_key():
    keys = _keys()
    actions = [k["action"] for k in keys]
    assert _shared(actions) == {}  # one entry per action
    # On the desk the page runs the key it finds first; a field's key is seen after the desk's
    # (the desk listens first), so a field may not use a desk key either.
    desk = [key for k in keys if "fields" not in k and "scope" not in k for key in k["keys"]]
    assert _shared(desk) == {}
    for field in FIELDS:
        here = [key for k in keys if field in k.get("fields", ()) for key in k["keys"]]
        assert _shared(desk + here) == {}, field
    # In the options chooser, a dialog too, the dialog's Enter and Esc still work.
    dialog = [key for k in keys if k.get("scope") in ("options", "dialog") for key in k["keys"]]
    assert _shared(dialog) == {}
    assert {k.get("scope") for k in keys} <= {None, "options", "dialog"}
    assert {f for k in keys for f in k.get("fields", ())} <= set(FIELDS)


def test_f12_is_the_help_and_nothing_else():
    assert [(k["action"], k.get("fields"), k.get("scope")) for k in _keys() if "F12" in k["keys"]] == [
        ("help", None, None)]


def test_every_key_says_what_it_does_in_both_languages():
    groups = {g["id"] for g in _table()["groups"]}
    assert all(g["zh"].strip() and g["en"].strip() for g in _table()["groups"])
    for k in _keys():
        assert k["keys"], k["action"]
        assert k["group"] in groups, k["action"]
        assert k["zh"].strip() and k["en"].strip(), f"{k['action']} has no words for 快捷键一览"
        assert re.search(r"[\u4e00-\u9fff]", k["zh"]), f"{k['action']}: 中文 first"
        for part in ("where", "hint"):
            # both languages or neither
            assert bool(k.get(f"{part}_zh", "").strip()) == bool(k.get(f"{part}_en", "").strip()), (k["action"], part)
        if "fields" in k:
            assert k.get("where_zh"), f"{k['action']} works in a field only: the help says which"
    hinted = [k["action"] for k in _keys() if k.get("hint_zh")]
    assert 8 <= len(hinted) <= 20  # the footer's line: the most used keys, short


def test_every_key_of_the_desk_leaves_typing_alone():
    # A plain character on the desk would be taken from the cashier's typing in the fields.
    for k in _keys():
        if "fields" not in k and "scope" not in k:
            for key in k["keys"]:
                assert re.fullmatch(r"(Alt\+|Ctrl\+)\S+|F\d{1,2}|Escape", key), (k["action"], key)
    areas = next(k for k in _keys() if k["action"] == "area")["keys"]
    assert all(re.fullmatch(r"Alt\+[1-9]", key) for key in areas)  # the digit is the area's place


def test_every_action_of_the_table_is_the_scripts():
    script = SCRIPT.read_text(encoding="utf-8")
    for k in _keys():
        if k.get("scope") == "dialog":
            continue  # the dialog's own Enter (submit) and Esc (cancel)
        name = re.escape(k["action"])
        found = re.search(rf'(?:"{name}"|\b{name}\b)\s*:\s*(?:async\s*)?\(', script)
        assert found, f"till.js has no action {k['action']}"


def test_every_button_and_key_name_on_the_page_is_in_the_table():
    """A button's key comes from the table: a button whose action is not there would show no key
    and be missing from 快捷键一览."""
    html = HTML.read_text(encoding="utf-8")
    script = SCRIPT.read_text(encoding="utf-8")
    actions = {k["action"] for k in _keys()}
    on_page = set(re.findall(r'data-action="([^"]+)"', html)) | set(re.findall(r'keyButton\("([^"]+)"', script))
    assert len(on_page) > 25
    assert on_page <= actions
    named = set(re.findall(r'data-keys-of="([^"]+)"', html)) | set(re.findall(r'keysOf\("([^"]+)"\)', script))
    assert named <= actions


def test_nothing_binds_a_key_outside_the_table():
    html = HTML.read_text(encoding="utf-8")
    script = SCRIPT.read_text(encoding="utf-8")
    assert "data-key=" not in html and '"data-key"' not in script
    # The script reads a key press only to name it (keyName) and in the keyboard-wedge scanner.
    rest = re.sub(r"\n  function (keyName|wedgeKey)\(ev\) \{\n.*?\n  \}\n", "\n", script, flags=re.S)
    assert rest.count("function keyName") == 0 and rest.count("function wedgeKey") == 0
    assert re.findall(r"\.(?:key|keyCode|which)\b", rest) == []
