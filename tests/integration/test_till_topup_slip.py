"""The top-up slip (充值凭条) through the agent, against a real server and a virtual receipt printer
with a cash drawer: printed once per top-up, the drawer opened once, neither again for a retried
request nor after the agent restarts in between; reprinted on request, marked 重打 REPRINT."""

from __future__ import annotations

import uuid

import pytest

from pos_agent.config import parse_config
from simulators.printer import VirtualPrinter
from tests.factories import create_member
from tests.integration.agent_support import LiveServer, until
from tests.integration.test_agent_till import LocalAgent

KICK = b"\x1bp"


@pytest.fixture
def counter(make, app, db, tmp_path):
    tenant = make.tenant()
    owner = make.api(tenant.owner)
    member = create_member(make, tenant, phone="13900001111", name="韩梅梅")
    owner.post(f"/members/{member['id']}/topups", json={"amount_cents": 10_000, "tender": "cash",
                                                        "idempotency_key": uuid.uuid4().hex})
    owner.request("PUT", "/topup-rules", json={"rules": [{"min_cents": 50_000, "bonus_cents": 5_000}]})
    _device, token = make.device(tenant)
    cashier = make.staff(tenant, "cashier")
    server = LiveServer(app)
    server.start()
    agents: list[LocalAgent] = []
    with VirtualPrinter(port=0, name="front") as front:
        config = parse_config({
            "store_id": str(tenant.store.id), "server_url": server.url, "device_token": token,
            "data_dir": str(tmp_path / "agent"), "http": {"port": 0}, "retry_interval_s": 0.1,
            "sync_interval_s": 0.2, "forward_timeout_s": 5, "store": {"name": "老王面馆"},
            "printers": [{"name": "front", "type": "network", "address": f"127.0.0.1:{front.port}",
                          "role": "receipt", "cash_drawer": True, "timeout_s": 2}]})

        def start() -> tuple[LocalAgent, str]:
            """The agent (again, on the same local files) with a cashier's session opened online."""
            for running in agents:
                running.stop()
            agents.clear()
            agent = LocalAgent(config)
            agents.append(agent)
            until(lambda: agent.call("GET", "/api/v1/status")[1]["online"], 30, "the agent online")
            status, session = agent.call("POST", "/api/v1/session", {"username": cashier.username,
                                                                     "password": make.PASSWORD})
            assert status == 200, session
            return agent, session["token"]

        try:
            yield {"start": start, "front": front, "owner": owner, "member": member}
        finally:
            for running in agents:
                running.stop()
    server.stop()


def slips(front: VirtualPrinter) -> list[list[str]]:
    return [job.decoded.lines for job in front.printed_jobs if "充值凭条 TOP-UP SLIP" in job.decoded.lines]


def kicks(front: VirtualPrinter) -> int:
    return sum(job.data.count(KICK) for job in front.jobs)


def test_a_top_up_prints_its_slip_and_opens_the_drawer_once_through_retries_and_a_restart(counter):
    front, member = counter["front"], counter["member"]
    agent, token = counter["start"]()
    path = f"/api/v1/members/{member['id']}/topups"

    # Nothing to reprint before a first top-up.
    status, refused = agent.call("POST", "/api/v1/till/topups/reprint", {}, token)
    assert status == 409 and refused["error"]["code"] == "nothing_to_reprint"

    body = {"amount_cents": 50_000, "idempotency_key": uuid.uuid4().hex}
    status, topped = agent.call("POST", path, body, token)
    assert status == 201, topped
    assert (topped["principal_cents"], topped["bonus_cents"]) == (50_000, 5_000)
    assert (topped["drawer"], topped["slip"]) == ("opened", "printed")
    assert topped["slip_document_id"] == f"topup-{topped['topup_id']}"
    until(lambda: kicks(front) == 1 and len(slips(front)) == 1, 10, "the drawer kick and the slip")
    (paper,) = slips(front)
    rows = [" ".join(row.split()) for row in paper]
    assert "会员 Member: 韩梅梅 139****1111" in rows
    assert "充值 Paid ￥500.00" in rows and "赠送 Bonus ￥50.00" in rows and "活动 Offer: 充500送50" in rows
    assert "储值余额 Stored value ￥650.00" in rows  # 100 before, 500 paid and 50 given
    assert "本金 Principal ￥600.00" in rows and "赠送金 Bonus ￥50.00" in rows
    assert "支付 Tender 现金 Cash" in rows and paper[0] == "老王面馆"
    assert not any("REPRINT" in row for row in paper)

    # The till sends the same top-up again (a timeout, a double Enter): the same answer, no paper, no drawer.
    status, again = agent.call("POST", path, body, token)
    assert status == 201 and again["topup_id"] == topped["topup_id"]
    assert (again["drawer"], again["slip"], again["slip_document_id"]) == ("not_needed", "printed",
                                                                           topped["slip_document_id"])
    # The agent restarts in between; the till retries once more: still nothing more.
    agent, token = counter["start"]()
    status, after_restart = agent.call("POST", path, body, token)
    assert status == 201 and after_restart["topup_id"] == topped["topup_id"]
    assert after_restart["drawer"] == "not_needed" and after_restart["slip"] == "printed"
    assert len(slips(front)) == 1 and kicks(front) == 1
    assert counter["owner"].get(f"/members/{member['id']}").get_json()["stored_value"]["total_cents"] == 65_000

    # The last slip again, marked as a reprint; the drawer stays shut.
    status, reprinted = agent.call("POST", "/api/v1/till/topups/reprint", {}, token)
    assert status == 200 and reprinted == {"document_id": topped["slip_document_id"], "slip": "printed"}
    until(lambda: len(slips(front)) == 2, 10, "the reprint")
    assert slips(front)[1][0] == "重打 REPRINT"
    assert "储值余额 Stored value ￥650.00" in [" ".join(row.split()) for row in slips(front)[1]]
    assert kicks(front) == 1


def test_the_next_top_up_is_the_last_slip_and_bad_reprints_are_refused(counter):
    front, member = counter["front"], counter["member"]
    agent, token = counter["start"]()
    path = f"/api/v1/members/{member['id']}/topups"
    first = agent.call("POST", path, {"amount_cents": 50_000, "idempotency_key": uuid.uuid4().hex}, token)[1]
    second = agent.call("POST", path, {"amount_cents": 20_000, "idempotency_key": uuid.uuid4().hex}, token)[1]
    assert (second["bonus_cents"], second["drawer"], second["slip"]) == (0, "opened", "printed")
    until(lambda: len(slips(front)) == 2 and kicks(front) == 2, 10, "two slips, two kicks")
    assert not any("活动 Offer" in row for row in slips(front)[1])  # 200 meets no rule

    status, reprinted = agent.call("POST", "/api/v1/till/topups/reprint", {}, token)
    assert status == 200 and reprinted["document_id"] == second["slip_document_id"]
    status, older = agent.call("POST", "/api/v1/till/topups/reprint",
                               {"document_id": first["slip_document_id"]}, token)
    assert status == 200 and older["document_id"] == first["slip_document_id"]
    until(lambda: len(slips(front)) == 4, 10, "both reprints")
    assert [paper[0] for paper in slips(front)[2:]] == ["重打 REPRINT", "重打 REPRINT"]

    for bad, code in (({"document_id": "receipt-1"}, 422), ({"document_id": 7}, 422), ([], 422),
                      ({"document_id": "topup-999999"}, 409)):
        status, refused = agent.call("POST", "/api/v1/till/topups/reprint", bad, token)
        assert status == code and refused["error"]["code"] in ("validation_error", "nothing_to_reprint"), bad
    assert agent.call("POST", "/api/v1/till/topups/reprint", {})[0] == 401
    assert kicks(front) == 2
