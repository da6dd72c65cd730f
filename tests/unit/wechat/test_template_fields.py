"""A merchant's template settings decide which key of the template carries which value."""

from types import SimpleNamespace

from app.wechat.notify import SLOTS, _template


def _settings(**templates):
    return SimpleNamespace(templates=templates)


def test_a_list_of_fields_names_the_keys_in_slot_order():
    settings = _settings(points_changed={"template_id": "TPL", "fields": ["first", "keyword1", "keyword2", "remark"]})
    assert _template(settings, "points_changed") == (
        "TPL", {"first": "title", "keyword1": "change", "keyword2": "balance", "remark": "remark"})


def test_a_mapping_of_fields_picks_values_by_name_for_category_templates():
    settings = _settings(bill_pushed={"template_id": "T2", "fields": {"thing1": "place", "amount2": "amount"}})
    assert _template(settings, "bill_pushed") == ("T2", {"thing1": "place", "amount2": "amount"})


def test_fewer_fields_than_values_fill_the_first_ones_and_no_fields_means_the_slot_names():
    settings = _settings(coupon_received={"template_id": "T3", "fields": ["first", "keyword1"]},
                         payment_success={"template_id": "T4"})
    assert _template(settings, "coupon_received") == ("T3", {"first": "title", "keyword1": "coupon"})
    assert _template(settings, "payment_success")[1] == {slot: slot for slot in SLOTS["payment_success"]}


def test_no_settings_no_template_or_a_malformed_one_sends_nothing():
    assert _template(None, "bill_pushed") is None
    assert _template(_settings(), "bill_pushed") is None
    assert _template(_settings(bill_pushed={"template_id": ""}), "bill_pushed") is None
    assert _template(_settings(bill_pushed="TPL"), "bill_pushed") is None
