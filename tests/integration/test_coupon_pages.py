"""The manager's coupon pages: the template list and editor (each kind, refusals, the freeze once
coupons were issued, switching off), the coupons on a member's page with the issue form, tenancy
and roles."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from app.audit.models import AuditEntry
from app.coupons.models import Coupon, CouponStatus, CouponTemplate, TemplateKind
from tests.factories import create_coupon_template, create_dish, create_member, issue_coupon
from tests.integration.test_member_pages import EN, _csrf, _hidden, log_in, page

NEW = "/manage/coupons/new"


@pytest.fixture
def shop(make):
    tenant = make.tenant()
    log_in(make, tenant.owner)
    return tenant


@pytest.fixture
def menu(make, shop) -> dict:
    fish = create_dish(make, shop, "剁椒鱼头", 12_800, category="热菜")
    pork = create_dish(make, shop, "红烧肉", 6_800, category="热菜")
    cucumber = create_dish(make, shop, "拍黄瓜", 1_800, category="凉菜")
    return {"fish": fish, "pork": pork, "cucumber": cucumber}


def _templates(db, shop) -> list[CouponTemplate]:
    db.session.expire_all()
    return db.session.scalars(sa.select(CouponTemplate).where(CouponTemplate.merchant_id == shop.merchant.id)
                              .order_by(CouponTemplate.id)).all()


def _coupons(db, member) -> list[Coupon]:
    db.session.expire_all()
    return db.session.scalars(sa.select(Coupon).where(Coupon.member_id == member["id"]).order_by(Coupon.id)).all()


def _new_form(make) -> dict:
    html = page(make, NEW)
    return {"csrf_token": _csrf(html), "idempotency_key": _hidden(html, "idempotency_key"),
            "max_transfer_chain": "1"}


def _post(make, url: str, form: dict, **kwargs):
    return make.client.post(url, data=form, headers=EN, **kwargs)


# --- creating templates --------------------------------------------------------------------------

def test_a_cash_voucher_is_created_in_yuan_and_listed_in_words(make, shop, db):
    form = {**_new_form(make), "name": "新客满100减20", "kind": "cash", "value": "20", "min_spend": "100",
            "valid_days": "30", "per_member_limit": "1"}
    response = _post(make, NEW, form)
    assert response.status_code == 302, response.get_data(as_text=True)
    (template,) = _templates(db, shop)
    assert (template.kind, template.value_cents, template.min_spend_cents, template.valid_days,
            template.per_member_limit, template.category_ids, template.is_active) == \
        (TemplateKind.CASH, 2_000, 10_000, 30, 1, None, True)
    assert response.headers["Location"].endswith(f"/manage/coupons/#template-{template.id}")

    listed = make.client.get("/manage/coupons/").get_data(as_text=True)  # Chinese by default
    row = re.search(rf'<tr id="template-{template.id}".*?</tr>', listed, re.S).group(0)
    assert "新客满100减20" in row and "满100减20" in row and "发放后30天内有效" in row
    assert "The coupon “新客满100减20” is saved." in listed  # worded when it was posted (in English)
    english = page(make, "/manage/coupons/")
    row = re.search(rf'<tr id="template-{template.id}".*?</tr>', english, re.S).group(0)
    assert "¥20 off over ¥100" in row and "30 days after issue" in row and "At most 1" in row
    assert "Not transferable" in row and "One per bill" in row


def test_a_percent_coupon_takes_the_discount_as_on_a_menu_a_cap_and_a_scope(make, shop, db, menu):
    form = {**_new_form(make), "name": "热菜8.8折", "kind": "percent", "discount": "8.8", "cap": "50",
            "category_ids": [str(menu["fish"]["category_id"])], "dish_ids": [str(menu["cucumber"]["id"])],
            "valid_from": "2030-06-01", "valid_until": "2030-06-30", "is_stackable": "y"}
    assert _post(make, NEW, form).status_code == 302
    (template,) = _templates(db, shop)
    assert (template.kind, template.percent_off, template.cap_cents, template.value_cents) == \
        (TemplateKind.PERCENT, 12, 5_000, 0)
    assert template.category_ids == [menu["fish"]["category_id"]] and template.dish_ids == [menu["cucumber"]["id"]]
    # Calendar days in Beijing time: from the first day's midnight until the midnight after the last day.
    assert template.valid_from == datetime(2030, 5, 31, 16, tzinfo=UTC)
    assert template.valid_until == datetime(2030, 6, 30, 16, tzinfo=UTC)
    assert template.is_stackable

    listed = make.client.get("/manage/coupons/").get_data(as_text=True)
    assert "8.8折券（最高减50元）" in listed and "仅限：热菜、拍黄瓜" in listed
    assert "2030-06-01 至 2030-06-30" in listed
    edit = page(make, f"/manage/coupons/{template.id}/edit")
    assert 'value="8.8"' in edit and 'value="50.00"' in edit
    assert 'value="2030-06-01"' in edit and 'value="2030-06-30"' in edit


def test_a_free_dish_coupon_picks_the_dish_from_the_menu(make, shop, db, menu):
    html = page(make, NEW)
    picker = re.search(r'<select id="dish_id".*?</select>', html, re.S).group(0)
    assert '<optgroup label="热菜">' in picker and "剁椒鱼头 · ￥128.00" in picker
    form = {**_new_form(make), "name": "生日赠鱼头", "kind": "free_dish", "dish_id": str(menu["fish"]["id"]),
            "min_spend": "200", "valid_until": "2030-12-31", "valid_days": "7", "is_transferable": "y",
            "max_transfer_chain": "2",
            # typed under another kind before switching: ignored
            "value": "abc", "category_ids": [str(menu["fish"]["category_id"])]}
    assert _post(make, NEW, form).status_code == 302
    (template,) = _templates(db, shop)
    assert (template.kind, template.dish_id, template.min_spend_cents, template.valid_days, template.value_cents,
            template.category_ids, template.is_transferable, template.max_transfer_chain) == \
        (TemplateKind.FREE_DISH, menu["fish"]["id"], 20_000, 7, 0, None, True, 2)
    listed = page(make, "/manage/coupons/")
    assert "free dish over ¥200: 剁椒鱼头" in listed and "Can be passed on 2 times" in listed
    assert "7 days after issue" in listed and "Until 2030-12-31" in listed
    assert "满200赠菜：剁椒鱼头" in make.client.get("/manage/coupons/").get_data(as_text=True)


def test_a_template_whose_last_day_has_passed_shows_as_ended(make, shop):
    ended = create_coupon_template(make, shop, name="春节券", valid_from="2020-01-20T00:00:00+08:00",
                                   valid_until="2020-02-01T00:00:00+08:00", valid_days=None)
    row = re.search(rf'<tr id="template-{ended["id"]}".*?</tr>', page(make, "/manage/coupons/"), re.S).group(0)
    assert "2020-01-20 to 2020-01-31" in row and ">Ended<" in row
    detail = page(make, f"/manage/members/{create_member(make, shop)['id']}")
    assert "春节券" not in re.search(r'<select[^>]*id="template_id".*?</select>', detail, re.S).group(0)


def test_a_double_submitted_new_template_is_created_once(make, shop, db):
    form = {**_new_form(make), "name": "20元券", "kind": "cash", "value": "20", "valid_days": "30"}
    assert _post(make, NEW, form).status_code == 302
    assert _post(make, NEW, form).status_code == 302
    assert len(_templates(db, shop)) == 1
    assert "had already been saved" in page(make, "/manage/coupons/")
    # Back in the browser, a change, the same form sent again: not a silent second template.
    changed = _post(make, NEW, {**form, "name": "30元券", "value": "30"})
    assert changed.status_code == 409
    html = changed.get_data(as_text=True)
    assert "This form was already used to save a coupon." in html
    assert _hidden(html, "idempotency_key") != form["idempotency_key"]  # saving again now adds one
    assert len(_templates(db, shop)) == 1


@pytest.mark.parametrize(("change", "field", "message"), [
    ({"value": "abc"}, "value", "Enter an amount in yuan, such as 100 or 88.50."),
    ({"value": ""}, "value", "Enter the amount off, such as 20."),
    ({"value": "0"}, "value", "The amount must be more than zero."),
    ({"min_spend": "-5"}, "min_spend", "The amount cannot be negative."),
    ({"kind": "percent", "discount": "10"}, "discount", "Enter a discount below 10折, such as 8.8 (12% off)."),
    ({"kind": "percent", "discount": "八八"}, "discount", "Enter the discount as on a menu: 8.8 for 8.8折."),
    ({"kind": "free_dish"}, "dish_id", "Choose the dish the coupon gives."),
    ({"valid_days": ""}, "valid_days", "Give a last day, a number of days after issue, or both."),
    ({"valid_from": "2030-07-01", "valid_until": "2030-06-30"}, "valid_until",
     "The last day cannot be before the first day."),
    ({"valid_until": "20300630"}, "valid_until", "Not a valid date value."),
    ({"valid_days": "0"}, "valid_days", "Number must be between 1 and 3650."),
    ({"per_member_limit": "0"}, "per_member_limit", "Number must be between 1 and 1000."),
    ({"name": ""}, "name", "This field is required."),
    ({"kind": "gift"}, "kind", "Not a valid choice."),
    ({"dish_ids": ["999999"]}, "dish_ids", "999999&#39; is not a valid choice for this field."),
])
def test_bad_input_shows_the_error_at_its_field_and_creates_nothing(make, shop, db, change, field, message):
    form = {**_new_form(make), "name": "20元券", "kind": "cash", "value": "20", "valid_days": "30", **change}
    response = _post(make, NEW, form)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert message in html
    assert re.search(rf'(id|name)="{field}"[^>]*aria-invalid="true"|aria-invalid="true"[^>]*name="{field}"', html) \
        or field in ("kind", "dish_ids")
    assert _templates(db, shop) == []
    assert _hidden(html, "idempotency_key") == form["idempotency_key"]  # the same form, resent, still creates once


def test_errors_come_in_chinese_by_default(make, shop, db):
    form = {**_new_form(make), "name": "20元券", "kind": "cash", "value": "", "valid_days": ""}
    html = make.client.post(NEW, data=form).get_data(as_text=True)
    assert "请输入减免金额" in html and "请填写最后一天" in html


def test_another_merchants_dish_cannot_be_picked(make, shop, db):
    stranger = create_dish(make, make.tenant(), "别家鱼头")
    form = {**_new_form(make), "name": "x", "kind": "free_dish", "dish_id": str(stranger["id"]), "valid_days": "3"}
    response = _post(make, NEW, form)
    assert response.status_code == 422 and "Not a valid choice" in response.get_data(as_text=True)
    assert _templates(db, shop) == []


# --- editing -----------------------------------------------------------------------------------

def _edit_form(make, template_id: int) -> dict:
    """The edit page's fields as the browser sends them back unchanged."""
    html = page(make, f"/manage/coupons/{template_id}/edit")
    form = dict(re.findall(r'<input(?![^>]*type="(?:checkbox|radio)")[^>]*name="(\w+)"[^>]*value="([^"]*)"', html))
    form.update({name: "y" for name in re.findall(r'<input[^>]*type="checkbox"[^>]*name="(is_\w+)"[^>]*checked',
                                                   html)})
    form["kind"] = re.search(r'<input checked[^>]*name="kind"[^>]*value="(\w+)"', html).group(1)
    return form


def test_a_template_is_edited_and_the_change_audited(make, shop, db):
    template = create_coupon_template(make, shop, name="20元券", value_cents=2_000, valid_days=30)
    form = _edit_form(make, template["id"])
    assert form["kind"] == "cash" and form["value"] == "20.00" and form["valid_days"] == "30"
    response = _post(make, f"/manage/coupons/{template['id']}/edit", {**form, "value": "25", "name": "25元券"})
    assert response.status_code == 302
    (saved,) = _templates(db, shop)
    assert (saved.name, saved.value_cents, saved.valid_days) == ("25元券", 2_500, 30)
    db.session.rollback()
    entry = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "coupon_template.update")).one()
    assert entry.staff_id == shop.owner.id and entry.details["changes"]["value_cents"] == [2_000, 2_500]


def test_saving_unchanged_days_keeps_a_window_set_to_the_minute(make, shop, db):
    until = "2030-06-30T09:30:00+00:00"  # set through the API: not a midnight
    template = create_coupon_template(make, shop, valid_until=until)
    form = _edit_form(make, template["id"])
    assert form["valid_until"] == "2030-06-30"
    assert _post(make, f"/manage/coupons/{template['id']}/edit", {**form, "name": "新名字"}).status_code == 302
    (saved,) = _templates(db, shop)
    assert saved.name == "新名字" and saved.valid_until == datetime(2030, 6, 30, 9, 30, tzinfo=UTC)


def test_what_a_template_gives_cannot_change_once_coupons_were_issued(make, shop, db):
    template = create_coupon_template(make, shop, name="20元券", value_cents=2_000, valid_days=30)
    issue_coupon(make, shop, create_member(make, shop)["id"], template["id"])
    url = f"/manage/coupons/{template['id']}/edit"
    form = _edit_form(make, template["id"])
    assert "1 coupon was issued from this template" in page(make, url)

    response = _post(make, url, {**form, "value": "30", "min_spend": "100"})
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert "Coupons were issued from this template: what they are worth cannot change." in html
    assert html.count("Cannot change: coupons were issued.") == 2  # beside the amount and the minimum spend
    assert 'value="30"' in html  # what was typed stays, to correct
    (saved,) = _templates(db, shop)
    assert (saved.value_cents, saved.min_spend_cents) == (2_000, 0)
    chinese = make.client.post(url, data={**form, "value": "30"}).get_data(as_text=True)
    assert "该模板已发放过券" in chinese

    # The name, validity and limits still change.
    response = _post(make, url, {**form, "name": "老客20元券", "valid_days": "60", "per_member_limit": "2"})
    assert response.status_code == 302
    (saved,) = _templates(db, shop)
    assert (saved.name, saved.valid_days, saved.per_member_limit, saved.value_cents) == ("老客20元券", 60, 2, 2_000)


def test_switching_off_asks_first_then_stops_new_issues(make, shop, db):
    template = create_coupon_template(make, shop, name="20元券")
    member = create_member(make, shop)
    issue_coupon(make, shop, member["id"], template["id"])
    listed = page(make, "/manage/coupons/")
    url = f"/manage/coupons/{template['id']}/switch"
    assert f'action="{url}"' in listed
    token = _csrf(listed)

    summary = _post(make, url, {"csrf_token": token, "is_active": "0"})
    assert summary.status_code == 200
    text = summary.get_data(as_text=True)
    assert "Switch off this coupon?" in text and "(1 now) stay usable" in text and 'name="confirm" value="yes"' in text
    assert _templates(db, shop)[0].is_active  # nothing changed yet

    assert _post(make, url, {"csrf_token": token, "is_active": "0", "confirm": "yes"}).status_code == 302
    assert not _templates(db, shop)[0].is_active
    listed = page(make, "/manage/coupons/")
    assert "is switched off: no more can be issued" in listed and "Switched off" in listed and "Switch on" in listed
    detail = page(make, f"/manage/members/{member['id']}")
    assert "20元券 ·" not in re.search(r'<select[^>]*id="template_id".*?</select>', detail, re.S).group(0)

    assert _post(make, url, {"csrf_token": token, "is_active": "1"}).status_code == 302
    assert _templates(db, shop)[0].is_active


# --- a member's coupons ------------------------------------------------------------------------

def _issue(make, member, template_id: int, key: str | None = None):
    html = page(make, f"/manage/members/{member['id']}")
    form = {"csrf_token": _csrf(html), "idempotency_key": key or _hidden(html, "idempotency_key"),
            "template_id": str(template_id)}
    return form, _post(make, f"/manage/members/{member['id']}/coupons", form)


def test_a_coupon_issued_on_the_member_page_shows_in_their_coupons_once(make, shop, db):
    template = create_coupon_template(make, shop, name="满100减20", value_cents=2_000, min_spend_cents=10_000,
                                      valid_days=30)
    member = create_member(make, shop, name="王小明")
    html = page(make, f"/manage/members/{member['id']}")
    assert 'id="coupons"' in html and "No coupons yet." in html
    assert "满100减20 · ¥20 off over ¥100" in html  # the choice says what it gives

    form, first = _issue(make, member, template["id"])
    again = _post(make, f"/manage/members/{member['id']}/coupons", form)  # a double click, a resent form
    assert first.status_code == again.status_code == 302
    assert first.headers["Location"].endswith(f"/manage/members/{member['id']}#coupons")
    (coupon,) = _coupons(db, member)
    assert coupon.state is CouponStatus.ISSUED and coupon.code.startswith("CP")

    detail = page(make, f"/manage/members/{member['id']}")
    assert f"code {coupon.code}" in detail and "it was not issued twice" in detail
    section = re.search(r'<section class="member-coupons">.*?</section>', detail, re.S).group(0)
    row = re.search(rf"<tr[^>]*>\s*<td class=\"mono\">{coupon.code}</td>.*?</tr>", section, re.S).group(0)
    assert "满100减20" in row and "Available" in row and "Issued by staff" in row
    assert coupon.issued_at.strftime("%Y-%m") in row
    assert detail.index('id="coupons"') < detail.index('id="ledger"')  # the member page keeps its sections
    assert _hidden(detail, "idempotency_key") != form["idempotency_key"]  # a fresh form, a fresh key
    other = create_coupon_template(make, shop, name="10元券", value_cents=1_000)
    reused = _post(make, f"/manage/members/{member['id']}/coupons", {**form, "template_id": str(other["id"])})
    assert reused.status_code == 409
    assert "This form was already used to issue another coupon." in reused.get_data(as_text=True)
    assert len(_coupons(db, member)) == 1

    db.session.rollback()
    entry = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "coupon.issue")).one()
    assert entry.staff_id == shop.owner.id and entry.details["code"] == coupon.code


def test_an_issue_the_rules_refuse_is_shown_and_nothing_issued(make, shop, db):
    template = create_coupon_template(make, shop, name="限领一张", per_member_limit=1)
    member = create_member(make, shop)
    assert _issue(make, member, template["id"])[1].status_code == 302
    _form, refused = _issue(make, member, template["id"])
    assert refused.status_code == 409
    html = refused.get_data(as_text=True)
    assert "This member already holds as many of these coupons as allowed." in html
    assert 'aria-invalid="true"' in html and 'id="ledger"' in html
    assert len(_coupons(db, member)) == 1

    _form, empty = _issue(make, member, "")
    assert empty.status_code == 422 and "This field is required." in empty.get_data(as_text=True)


def test_passed_on_coupons_show_who_from_and_to(make, shop, db):
    template = create_coupon_template(make, shop, name="可转赠券", is_transferable=True)
    wang = create_member(make, shop, name="王小明")
    li = create_member(make, shop, name="李雷")
    coupon = issue_coupon(make, shop, wang["id"], template["id"])
    response = make.api(shop.owner).post(f"/coupons/{coupon['id']}/transfer", json={
        "to_member_id": li["id"], "idempotency_key": "transfer-0001"})
    assert response.status_code == 201

    sender = page(make, f"/manage/members/{wang['id']}")
    row = re.search(rf"<tr[^>]*>\s*<td class=\"mono\">{coupon['code']}</td>.*?</tr>", sender, re.S).group(0)
    assert "Passed on" in row and f'Passed to <a href="/manage/members/{li["id"]}">李雷</a>' in row
    receiver = page(make, f"/manage/members/{li['id']}")
    section = re.search(r'<section class="member-coupons">.*?</section>', receiver, re.S).group(0)
    assert "Available" in section and "Received from another member" in section
    assert f'Received from <a href="/manage/members/{wang["id"]}">王小明</a>' in section
    chinese = make.client.get(f"/manage/members/{wang['id']}").get_data(as_text=True)
    assert "已转赠" in chinese


# --- tenancy and roles -------------------------------------------------------------------------

def test_another_merchants_templates_and_members_are_404(make, shop, db):
    other = make.tenant()
    theirs = create_coupon_template(make, other, name="别家券")
    stranger = create_member(make, other, name="别家会员")
    mine = create_member(make, shop)
    token = _csrf(page(make, "/manage/coupons/"))
    assert "别家券" not in page(make, "/manage/coupons/")
    for url in (f"/manage/coupons/{theirs['id']}/edit", "/manage/coupons/999999/edit"):
        assert make.client.get(url).status_code == 404, url
    edit = _post(make, f"/manage/coupons/{theirs['id']}/edit", {"csrf_token": token, "name": "偷改", "kind": "cash",
                                                                "value": "99", "valid_days": "1"})
    assert edit.status_code == 404
    switch = _post(make, f"/manage/coupons/{theirs['id']}/switch", {"csrf_token": token, "is_active": "0",
                                                                    "confirm": "yes"})
    assert switch.status_code == 404
    # Issuing to their member, or from their template to mine.
    response = _post(make, f"/manage/members/{stranger['id']}/coupons", {
        "csrf_token": token, "idempotency_key": "a" * 32, "template_id": str(theirs["id"])})
    assert response.status_code == 404 and "别家会员" not in response.get_data(as_text=True)
    _form, response = _issue(make, mine, theirs["id"])
    assert response.status_code == 404 and "Not found." in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Coupon)) == 0
    saved = db.session.get(CouponTemplate, theirs["id"])
    assert saved.name == "别家券" and saved.is_active


def test_cashier_sees_and_issues_coupons_but_cannot_edit_templates(make, shop, db):
    template = create_coupon_template(make, shop, name="20元券")
    member = create_member(make, shop)
    make.client.post("/logout", data={"csrf_token": _csrf(page(make, "/manage/"))})
    log_in(make, make.staff(shop, "cashier"))

    listed = page(make, "/manage/coupons/")
    assert "20元券" in listed and NEW not in listed and "/edit" not in listed and "/switch" not in listed
    token = _csrf(listed)
    for url in (NEW, f"/manage/coupons/{template['id']}/edit"):
        assert make.client.get(url).status_code == 403, url
        assert make.client.post(url, data={"csrf_token": token, "name": "x", "kind": "cash", "value": "1",
                                           "valid_days": "1"}).status_code == 403, url
    response = make.client.post(f"/manage/coupons/{template['id']}/switch", data={
        "csrf_token": token, "is_active": "0", "confirm": "yes"})
    assert response.status_code == 403
    assert _templates(db, shop)[0].is_active and len(_templates(db, shop)) == 1

    assert _issue(make, member, template["id"])[1].status_code == 302  # front of house may issue
    assert len(_coupons(db, member)) == 1


def test_kitchen_staff_cannot_see_or_issue_coupons(make, shop, db):
    template = create_coupon_template(make, shop)
    member = create_member(make, shop)
    token = _csrf(page(make, "/manage/"))
    make.client.post("/logout", data={"csrf_token": token})
    log_in(make, make.staff(shop, "kitchen"))
    # Kitchen staff land on their display, not on the manager's home with its coupons tile.
    assert make.client.get("/manage/").headers["Location"].endswith("/kitchen/")
    kitchen = page(make, "/kitchen/")
    token = _csrf(kitchen)
    assert "/manage/coupons/" not in kitchen
    assert make.client.get("/manage/coupons/").status_code == 403
    response = make.client.post(f"/manage/members/{member['id']}/coupons", data={
        "csrf_token": token, "idempotency_key": "b" * 32, "template_id": str(template["id"])})
    assert response.status_code == 403 and _coupons(db, member) == []


def test_home_has_a_coupons_tile(make, shop):
    assert 'href="/manage/coupons/"' in page(make, "/manage/")
