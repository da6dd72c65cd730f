"""The agent's local HTTP endpoint, over a real socket."""

import http.client
import json
import threading

import pytest

from pos_agent.agent import Agent
from pos_agent.server import make_server
from simulators.serial import VirtualCardReader


@pytest.fixture
def card_reader():
    with VirtualCardReader() as device:
        yield device


@pytest.fixture
def running_agent(virtual_printer, make_agent_config, card_reader, fixed_clock):
    config = make_agent_config(
        [
            {
                "name": "front",
                "type": "network",
                "address": f"127.0.0.1:{virtual_printer.port}",
                "role": "receipt",
                "profile": "TM-T20II",
                "cash_drawer": True,
                "timeout_s": 2,
            }
        ],
        readers=[{"name": "card", "kind": "card", "port": card_reader.path, "debounce_ms": 500}],
    )
    agent = Agent(config, clock=fixed_clock)
    agent.start()
    for reader in agent.readers.readers:
        assert reader.connected.wait(5)  # a swipe before the port is open would be flushed away
    server = make_server(agent, port=0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield agent, server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        agent.stop()


def call(port, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        payload = json.dumps(body).encode() if body is not None else None
        all_headers = {"Content-Type": "application/json"} if payload is not None else {}
        all_headers.update(headers or {})
        conn.request(method, path, body=payload, headers=all_headers)
        response = conn.getresponse()
        raw = response.read()
        content_type = response.getheader("Content-Type", "")
        return response.status, (json.loads(raw) if content_type.startswith("application/json") else raw.decode())
    finally:
        conn.close()


def test_print_then_repeat_then_reprint(running_agent, virtual_printer, receipt_data):
    _, port = running_agent
    body = {"document_id": "order-12", "version": 1, "document": {"kind": "receipt", **receipt_data}}
    status, result = call(port, "POST", "/api/print", body)
    assert status == 200 and result["printed"] is True
    [job] = result["jobs"]
    assert (job["printer"], job["state"], job["reprint"], job["duplicate"]) == ("front", "printed", False, False)

    status, result = call(port, "POST", "/api/print", body)  # the cashier's double click
    assert status == 200 and result["jobs"][0]["duplicate"] is True

    status, result = call(port, "POST", "/api/print", {"document_id": "order-12", "reprint": True})
    assert status == 200 and result["jobs"][0]["reprint"] is True

    first, second = virtual_printer.wait_for_jobs(2)
    assert len(virtual_printer.jobs) == 2
    assert second.decoded.lines[0] == "重打 REPRINT" and first.decoded.drawer_kicks == 1


def test_printer_offline_answers_202_with_a_clear_error(running_agent, virtual_printer, receipt_data):
    _, port = running_agent
    virtual_printer.run_out_of_paper()
    status, result = call(
        port, "POST", "/api/print", {"document_id": "o-1", "kind": "receipt", "document": receipt_data}
    )
    assert status == 202 and result["printed"] is False
    error = result["jobs"][0]["error"]
    assert error["code"] == "paper_out" and "缺纸" in error["message"] and "out of paper" in error["message"]
    status, jobs = call(port, "GET", "/api/jobs")
    assert jobs["jobs"][0]["state"] in ("pending", "printing")  # the background retry may be trying it
    virtual_printer.go_online()
    virtual_printer.wait_for_jobs(1)  # the background retry prints it
    assert len(virtual_printer.jobs) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"version": 1, "document": {"kind": "receipt"}}, "document_id"),
        ({"document_id": "x", "document": {"kind": "menu"}}, "kind"),
        (
            {"document_id": "x", "kind": "receipt", "document": {"order_no": "1", "items": [], "payable_cents": 1}},
            "items",
        ),
        ({"document_id": "x", "reprint": True}, "document_id"),  # never printed: nothing to reprint
        ({"document_id": "x", "kind": "receipt"}, "document"),
        ({"document_id": "x", "kind": "receipt", "document": {}, "printer": "nope"}, "order_no"),
    ],
)
def test_bad_print_requests_get_422(running_agent, body, field):
    _, port = running_agent
    status, result = call(port, "POST", "/api/print", body)
    assert status == 422
    assert result["error"]["code"] == "invalid_document"
    assert result["error"]["details"]["field"] == field


def test_requests_that_are_not_json_from_loopback_are_refused(running_agent):
    _, port = running_agent
    status, result = call(port, "POST", "/api/print", headers={"Content-Type": "text/plain"})
    assert status == 415 and result["error"]["code"] == "json_required"
    status, result = call(port, "GET", "/api/status", headers={"Host": "evil.example:8765"})
    assert status == 403 and result["error"]["code"] == "forbidden_host"
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("POST", "/api/print", body=b"{not json", headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        assert response.status == 400 and json.loads(response.read())["error"]["code"] == "invalid_json"
    finally:
        conn.close()
    assert call(port, "GET", "/nope")[0] == 404
    assert call(port, "GET", "/api/print")[0] == 405


def test_status_json_and_page(running_agent, virtual_printer, receipt_data):
    _, port = running_agent
    call(port, "POST", "/api/print", {"document_id": "o-9", "kind": "receipt", "document": receipt_data})
    status, data = call(port, "GET", "/api/status")
    assert status == 200
    assert data["store_id"] == "store-001"
    [printer] = data["printers"]
    assert printer["name"] == "front" and printer["jobs"] == {"printed": 1}
    assert printer["status"]["online"] is True
    assert data["readers"][0]["connected"] is True

    status, page = call(port, "GET", "/")
    assert status == 200
    assert "门店代理 Store agent" in page and "打印机 Printers" in page and "已打印 printed" in page
    assert page.index("打印机") < page.index("Printers")  # Chinese first


def test_card_swipe_reaches_the_events_endpoint(running_agent, card_reader):
    _, port = running_agent
    card_reader.swipe("0A1B2C3D4E", repeat=3)
    status, data = call(port, "GET", "/api/events?after=0&wait=5")
    assert status == 200
    assert [(e["kind"], e["code"], e["reader"]) for e in data["events"]] == [("card", "0A1B2C3D4E", "card")]
    last = data["last"]
    status, data = call(port, "GET", f"/api/events?after={last}&wait=0")
    assert data == {"events": [], "last": last}


def test_open_the_cash_drawer(running_agent, virtual_printer):
    _, port = running_agent
    status, data = call(port, "POST", "/api/drawer", {})
    assert status == 200 and data == {"opened": True, "printer": "front"}
    assert virtual_printer.wait_for_jobs(1)[0].decoded.drawer_kicks == 1
    virtual_printer.power_off()
    status, data = call(port, "POST", "/api/drawer", {})
    assert status == 409 and data["error"]["code"] == "unreachable"
