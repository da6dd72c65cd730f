"""Diners known through WeChat: OAuth on the table page, the diners recorded at the table,
sign-up (new member, or the WeChat linked to the member with that phone) and the member card."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import sqlalchemy as sa

from app.members.models import Member
from app.wechat.models import TableDiner
from tests.factories import create_member, create_table
from tests.integration.wechat_support import (
    at_table,
    new_user,
    scan,
    scene_ticket,
    sign_in,
    wechat_picks,
)
from tests.sql_support import sql_writes


def _table_path(table: dict) -> str:
    return "/t/" + table["qr_url"].rsplit("/t/", 1)[1]


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def _join(client, **fields):
    token = _csrf(client.get("/m/join").get_data(as_text=True))
    return client.post("/m/join", data={"csrf_token": token, **fields})


def _diners(db) -> list[TableDiner]:
    db.session.commit()
    return list(db.session.scalars(sa.select(TableDiner).order_by(TableDiner.id)))


def _members(db) -> list[Member]:
    db.session.commit()
    return list(db.session.scalars(sa.select(Member).order_by(Member.id)))


def test_the_table_page_signs_the_diner_in_through_wechat_and_records_them_at_the_table(make, oa):
    table = create_table(make, oa.tenant, code="A01")
    openid = new_user(oa.sim)
    page = sign_in(make.client, oa.sim, _table_path(table), openid)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "A01" in html and "/m/join" in html  # not a member yet: offered to join
    with make.client.session_transaction() as session:
        assert (session["wechat_openid"], session["wechat_merchant_id"]) == (openid, oa.merchant_id)
        assert session["wechat_appid"] == oa.settings.appid
    (diner,) = _diners(make.db)  # recorded by the page's first call (sign_in makes it, as the page's script)
    assert (diner.openid, diner.merchant_id) == (openid, oa.merchant_id)

    # Back on the page later: no second trip to WeChat, no second record.
    again = make.client.get(_table_path(table))
    assert again.status_code == 200
    assert at_table(make.client, again)["lines"] == []
    assert len(_diners(make.db)) == 1


def test_opening_the_table_page_writes_nothing_its_first_call_records_the_diner(make, oa):
    first, table = create_table(make, oa.tenant, code="A01"), create_table(make, oa.tenant, code="A02")
    openid = new_user(oa.sim)
    sign_in(make.client, oa.sim, _table_path(first), openid)
    assert len(_diners(make.db)) == 1

    # The diner moves to A02: opening its page (as a link preview or a prefetch would) reads only.
    with sql_writes(make.client.application) as writes:
        page = make.client.get(_table_path(table))
    assert page.status_code == 200
    assert writes == []
    assert len(_diners(make.db)) == 1

    view = at_table(make.client, page)
    assert (view["lines"], view["order"]) == ([], None)  # the table's view, as /cart.json answers it
    diners = _diners(make.db)
    assert [d.openid for d in diners] == [openid, openid]
    assert diners[0].table_session_id != diners[1].table_session_id  # one record at each table


def test_the_first_call_needs_the_pages_csrf_token_and_the_wechat_sign_in(make, oa):
    table = create_table(make, oa.tenant)
    here = _table_path(table) + "/here"
    openid = new_user(oa.sim)
    page = sign_in(make.client, oa.sim, _table_path(table), openid)
    csrf = re.search(r'data-csrf="([^"]+)"', page.get_data(as_text=True)).group(1)
    make.db.session.execute(sa.delete(TableDiner))
    make.db.session.commit()

    assert make.client.post(here, json={}).status_code == 400  # without the page's CSRF token
    with make.client.session_transaction() as session:  # the WeChat sign-in gone
        del session["wechat_openid"]
    refused = make.client.post(here, json={}, headers={"X-CSRFToken": csrf})
    assert refused.status_code == 401
    assert refused.get_json()["error"]["code"] == "not_signed_in"
    assert _diners(make.db) == []


def test_a_wrong_or_missing_oauth_state_is_refused_and_changes_nothing(make, oa):
    table = create_table(make, oa.tenant)
    openid = new_user(oa.sim)
    start = make.client.get(_table_path(table)).headers["Location"]
    authorize = make.client.get(start).headers["Location"]
    back = wechat_picks(oa.sim, authorize, openid)
    code = parse_qs(urlsplit(back).query)["code"][0]

    for query in (f"code={code}&state=forged", f"code={code}", f"code={code}&state="):
        response = make.client.get(f"/wechat/oauth/callback?{query}")
        assert response.status_code == 400
        assert "scan the code again" in response.get_data(as_text=True) or "重新扫码" in response.get_data(
            as_text=True)
    # A browser that never started the trip (another diner's link) is refused as well.
    stranger = make.client.application.test_client()
    assert stranger.get(back).status_code == 400
    with make.client.session_transaction() as session:
        assert "wechat_openid" not in session
    assert _diners(make.db) == []

    # The real trip still completes (the forged tries did not use up its state).
    assert make.client.get(back).status_code == 302
    with make.client.session_transaction() as session:
        assert session["wechat_openid"] == openid


def test_a_used_oauth_code_is_refused(make, oa):
    table = create_table(make, oa.tenant)
    first, second = make.client, make.client.application.test_client()
    start = first.get(_table_path(table)).headers["Location"]
    back = wechat_picks(oa.sim, first.get(start).headers["Location"], new_user(oa.sim))
    assert first.get(back).status_code == 302
    # Another browser replaying the callback needs its own state, and the code is spent anyway.
    second_start = second.get(_table_path(table)).headers["Location"]
    second.get(second_start)
    with second.session_transaction() as session:
        state = session["wechat_oauth"]["state"]
    replay = urlsplit(back).path + "?" + urlsplit(back).query.replace(
        parse_qs(urlsplit(back).query)["state"][0], state)
    assert second.get(replay).status_code == 400
    with second.session_transaction() as session:
        assert "wechat_openid" not in session


def test_oauth_only_returns_to_this_site(make, oa):
    openid = new_user(oa.sim)
    start = f"/wechat/oauth/start?merchant={oa.merchant_id}&next=https://evil.example/x"
    authorize = make.client.get(start).headers["Location"]
    back = make.client.get(wechat_picks(oa.sim, authorize, openid))
    assert back.status_code == 302 and urlsplit(back.headers["Location"]).netloc in ("", "localhost")
    assert urlsplit(back.headers["Location"]).path == "/m/card"
    assert make.client.get("/wechat/oauth/start?merchant=999999").status_code == 404
    assert make.client.get("/wechat/oauth/start").status_code == 404


def test_signing_up_after_a_table_code_attributes_the_member_to_that_table(make, oa):
    table = create_table(make, oa.tenant, code="C03")
    openid = new_user(oa.sim, subscribed=False)
    scan(make.db, oa.sim, openid, ticket=scene_ticket(oa.sim, f"table_{table['id']}"))

    page = sign_in(make.client, oa.sim, f"/m/join?merchant={oa.merchant_id}", openid)
    assert page.status_code == 200 and "csrf_token" in page.get_data(as_text=True)
    response = _join(make.client, phone="13912345678", name="李雷", birthday="1990-05-01")
    assert response.status_code == 302 and response.headers["Location"].endswith("/m/card")

    (member,) = _members(make.db)
    assert (member.openid, member.phone, member.name) == (openid, "13912345678", "李雷")
    assert (member.source_table_id, member.source_store_id) == (table["id"], oa.tenant.store.id)
    assert str(member.birthday) == "1990-05-01"

    card = make.client.get("/m/card")
    html = card.get_data(as_text=True)
    assert card.status_code == 200 and member.member_no in html and "<svg" in html
    code = make.client.get("/m/card/code.json").get_json()
    assert code["code"] in html and code["svg"].startswith("<svg") and code["refresh_seconds"] == 60
    # The till reads this code and finds the member.
    lookup = make.api(oa.tenant.owner).get("/members/lookup", query_string={"code": code["code"]})
    assert lookup.status_code == 200 and lookup.get_json()["id"] == member.id


def test_a_diner_who_never_followed_is_attributed_to_the_table_they_sat_at(make, oa):
    table = create_table(make, oa.tenant, code="D04")
    openid = new_user(oa.sim)
    sign_in(make.client, oa.sim, _table_path(table), openid)
    assert _join(make.client, phone="13700000001", name="韩梅梅").status_code == 302
    (member,) = _members(make.db)
    assert (member.source_table_id, member.source_campaign) == (table["id"], None)


def test_signing_up_with_the_phone_of_an_existing_member_links_that_member(make, oa):
    existing = create_member(make, oa.tenant, phone="13800000002", name="王五")
    openid = new_user(oa.sim)
    sign_in(make.client, oa.sim, f"/m/join?merchant={oa.merchant_id}", openid)
    response = _join(make.client, phone="13800000002", name="王五")
    assert response.status_code == 302
    (member,) = _members(make.db)  # no duplicate
    assert (member.id, member.openid) == (existing["id"], openid)
    # A member already: the join page leads to the card.
    assert make.client.get("/m/join").headers["Location"].endswith("/m/card")


def test_a_phone_linked_to_another_wechat_or_a_different_name_is_refused(make, oa):
    create_member(make, oa.tenant, phone="13800000003", name="赵六")
    first = new_user(oa.sim)
    sign_in(make.client, oa.sim, f"/m/join?merchant={oa.merchant_id}", first)
    assert _join(make.client, phone="13800000003", name="赵六").status_code == 302

    other = make.client.application.test_client()
    sign_in(other, oa.sim, f"/m/join?merchant={oa.merchant_id}", new_user(oa.sim, "小红"))
    response = _join(other, phone="13800000003", name="赵六")
    assert response.status_code == 409
    assert "linked to another WeChat" in response.get_data(as_text=True) or "另一个微信" in response.get_data(
        as_text=True)

    create_member(make, oa.tenant, phone="13800000004", name="孙七")
    response = _join(other, phone="13800000004", name="冒名")
    assert response.status_code == 409
    members = _members(make.db)
    assert len(members) == 2 and [m.openid for m in members] == [first, None]


def test_bad_sign_up_input_is_shown_on_the_form(make, oa):
    sign_in(make.client, oa.sim, f"/m/join?merchant={oa.merchant_id}", new_user(oa.sim))
    response = _join(make.client, phone="12345", name="", birthday="not-a-date")
    assert response.status_code == 422
    assert _members(make.db) == []
    without_csrf = make.client.post("/m/join", data={"phone": "13900000000", "name": "小张"})
    assert without_csrf.status_code == 400
    assert _members(make.db) == []


def test_member_pages_need_a_wechat_diner(make, oa):
    client = make.client
    start = client.get(f"/m/card?merchant={oa.merchant_id}")
    assert start.status_code == 302 and "/wechat/oauth/start" in start.headers["Location"]
    assert client.get("/m/card").status_code == 400  # which restaurant? nobody knows
    assert client.get("/m/card/code.json").status_code == 401
    other = make.tenant()
    assert client.get(f"/m/join?merchant={other.merchant.id}").status_code == 400  # no WeChat there


def test_table_pages_of_merchants_without_wechat_need_no_sign_in(make):
    tenant = make.tenant()
    table = create_table(make, tenant)
    page = make.client.get(_table_path(table))
    assert page.status_code == 200 and "/m/join" not in page.get_data(as_text=True)
