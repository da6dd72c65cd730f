"""The agent's side of the event log without a server: backoff with jitter, the cursor saved
only after a handler's effect is durable, the dispatch table, and the printing handler on
virtual printers (new / add / change / cancel each once; what this agent printed offline, never
again). The follower against the real server is in tests/integration/test_agent_follows_log.py."""

from __future__ import annotations

import contextlib
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator

import pytest

from pos_agent.agent import Agent
from pos_agent.config import FollowConfig
from pos_agent.dispatch import PRINT_KINDS, Dispatcher, PrintHandler, SkipEvent, print_data, printed_here
from pos_agent.follow import Backoff, CursorStore, Follower, HandlerFailed
from pos_agent.remote import ServerClient
from tablerules import documents as contract
from tablerules.documents import KitchenTicket, OrderItem, StoreEvent

# --- backoff ----------------------------------------------------------------------------------


def test_backoff_doubles_up_to_its_ceiling_and_starts_again_after_a_success():
    backoff = Backoff(0.5, 8.0, rng=lambda: 1.0)  # the top of each jitter window
    assert [backoff.next() for _ in range(7)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    backoff.reset()
    assert backoff.next() == 0.5


def test_backoff_jitter_stays_inside_half_to_whole_window():
    low = Backoff(0.5, 8.0, rng=lambda: 0.0)
    assert [low.next() for _ in range(6)] == [0.25, 0.5, 1.0, 2.0, 4.0, 4.0]  # never zero
    draws = iter([0.1, 0.9, 0.5])
    mixed = Backoff(1.0, 60.0, rng=lambda: next(draws))
    assert [mixed.next() for _ in range(3)] == [0.55, 1.9, 3.0]


def test_two_agents_failing_together_do_not_retry_in_step():
    import random

    first, second = (Backoff(1.0, 30.0, rng=random.Random(seed).random) for seed in (1, 2))
    waits = [(first.next(), second.next()) for _ in range(5)]
    assert all(a != b for a, b in waits)
    assert all(0.5 * min(30, 2**n) <= w <= min(30, 2**n) for n, pair in enumerate(waits) for w in pair)


def test_backoff_refuses_a_window_upside_down():
    with pytest.raises(ValueError):
        Backoff(5.0, 1.0)


# --- the cursor -------------------------------------------------------------------------------


def test_the_cursor_survives_a_reopen_and_is_written_with_synchronous_full(tmp_path):
    path = tmp_path / "follow.sqlite3"
    cursors = CursorStore(path)
    assert cursors.get("7") is None
    cursors.save("7", 41)
    cursors.save("7", 42)
    cursors.save("8", 3)
    assert cursors._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    cursors.close()
    again = CursorStore(path)
    assert (again.get("7"), again.get("8")) == (42, 3)
    again.close()
    with sqlite3.connect(path) as raw:
        assert raw.execute("SELECT COUNT(*) FROM follow_cursor").fetchone()[0] == 2
    raw.close()


def _ticket(seq: int, kind: str = "ticket_new", *, document_id: str | None = None, version: int = 1,
            mark: str = "new", order_no: str = "12", items: tuple[tuple[str, int], ...] = (("辣椒炒肉", 1),),
            **payload_extra) -> StoreEvent:
    ticket = KitchenTicket(document_id=document_id or f"ticket-{seq}", ticket_no=str(seq), order_no=order_no,
                           created_at="2026-11-29T12:00:00+08:00", version=version, mark=mark,  # type: ignore[arg-type]
                           station="hot", items=tuple(OrderItem(name=n, qty=q, station="hot") for n, q in items))
    data = {"seq": seq, "kind": kind, "order_id": 1, "created_at": "2026-11-29T04:00:00+00:00",
            "payload": {**ticket.to_dict(), **payload_extra}}
    return StoreEvent.from_dict(data)


@pytest.fixture
def follower(tmp_path) -> Iterator[Follower]:
    cursors = CursorStore(tmp_path / "follow.sqlite3")
    cursors.save("1", 10)
    follower = Follower(ServerClient("http://127.0.0.1:9", "tld_x"), "1", cursors, Dispatcher(), FollowConfig())
    yield follower
    cursors.close()


def test_the_cursor_moves_only_after_the_handler_returned(follower):
    seen_cursor: list[int | None] = []

    def handler(event: StoreEvent) -> None:
        # While the handler works, the saved cursor still points before its event.
        seen_cursor.append(follower.cursors.get("1"))

    follower.dispatcher.register("ticket_new", handler)
    follower._handle(_ticket(11))
    assert seen_cursor == [10] and follower.cursors.get("1") == 11 and follower.cursor == 11


def test_a_failing_handler_keeps_the_cursor_so_the_event_comes_again(follower):
    calls: list[int] = []

    def flaky(event: StoreEvent) -> None:
        calls.append(event.seq)
        if len(calls) == 1:
            raise sqlite3.OperationalError("disk I/O error")

    follower.dispatcher.register("ticket_new", flaky)
    with pytest.raises(HandlerFailed):
        follower._handle(_ticket(11))
    assert follower.cursors.get("1") == 10
    follower._handle(_ticket(11))  # handed over again after the reconnect
    assert calls == [11, 11] and follower.cursors.get("1") == 11


def test_unknown_kinds_and_unusable_events_never_hold_the_cursor(follower):
    def refuse(event: StoreEvent) -> None:
        raise SkipEvent("nothing to do with this one")

    follower.dispatcher.register("ticket_new", refuse)
    follower._handle(_ticket(11))
    follower._handle(StoreEvent.from_dict({"seq": 12, "kind": "table_moved", "created_at": "2026-11-29T04:00:00Z",
                                           "payload": {"anything": 1}}))
    follower._handle_data({"seq": 13, "kind": "print_job", "created_at": "2026-11-29T04:00:00Z",
                           "payload": {"kind": "receipt", "contract": 99}})  # a newer contract: refused
    assert follower.cursors.get("1") == 13 and follower.state().skipped == 2
    follower._handle(_ticket(9))  # older than the cursor: nothing happens
    assert follower.cursors.get("1") == 13


def test_the_dispatch_table_has_one_handler_per_kind():
    table = Dispatcher()
    table.register("order_submitted", lambda e: None)
    with pytest.raises(ValueError, match="already registered"):
        table.register("order_submitted", lambda e: None)
    table.register("order_submitted", lambda e: None, replace=True)
    assert table.kinds() == ["order_submitted"]
    assert table.dispatch(_ticket(1)) is False  # no handler for ticket_new here


def test_the_printed_kinds_of_the_contract_are_the_ones_the_agent_prints():
    assert set(PRINT_KINDS) == contract.PRINTED_EVENTS


# --- the printing handler on virtual printers -------------------------------------------------


@pytest.fixture
def printing_agent(make_agent_config, printer_config, virtual_printer, kitchen_printer) -> Iterator[Agent]:
    config = make_agent_config([
        {"name": "front", "type": "network", "address": f"127.0.0.1:{virtual_printer.port}", "role": "receipt"},
        {"name": "kitchen", "type": "network", "address": f"127.0.0.1:{kitchen_printer.port}", "role": "kitchen",
         "stations": ["*"], "paper_width_mm": 58},
    ])
    agent = Agent(config, follow=False)
    agent.start()
    yield agent
    agent.stop()


def _handle(agent: Agent, event: StoreEvent) -> None:
    assert agent.dispatch.dispatch(event)


def test_new_add_change_and_cancel_each_print_once_and_a_replay_prints_nothing(printing_agent, kitchen_printer):
    events = [
        _ticket(1, document_id="ticket-5"),
        _ticket(2, document_id="ticket-6", mark="add", items=(("凉拌木耳", 2),)),
        _ticket(3, "ticket_changed", document_id="ticket-6", version=2, mark="add", items=(("凉拌木耳", 3),)),
        _ticket(4, "ticket_cancelled", document_id="ticket-5-void-9", mark="new", items=(("辣椒炒肉", 1),),
                reason="客人不要了"),
        _ticket(5, "ticket_changed", document_id="ticket-5", version=1, items=(("辣椒炒肉", 2),)),
    ]
    for event in events + events:  # everything a second time: a reconnect that reads the log again
        _handle(printing_agent, event)
    paper = [job.decoded.lines for job in kitchen_printer.wait_for_jobs(5)]
    marks = [next((m for m in ("加菜 ADD", "改单 CHANGED", "退菜 CANCEL") if m in lines), "") for lines in paper]
    assert marks == ["", "加菜 ADD", "改单 CHANGED", "退菜 CANCEL", "改单 CHANGED"]
    assert "凉拌木耳 x3" in paper[2] and "退 辣椒炒肉 x1" in paper[3] and "辣椒炒肉 x2" in paper[4]
    assert len(printing_agent.ledger.recent(100)) == 5  # the replay recorded nothing, so sent nothing
    assert len(kitchen_printer.jobs) == 5
    # A change that kept version 1 is told apart by its event, so it is not swallowed by the original.
    assert print_data(events[4])["document_id"] == "ticket-5-change-5"


def test_what_this_agent_printed_offline_is_not_printed_again(printing_agent, kitchen_printer, virtual_printer):
    own, other = 41, 42  # this agent's device id on the server, and another till's
    handler = PrintHandler(printing_agent.spooler, device_id=lambda: own, send=printing_agent.send_soon)
    for kind in PRINT_KINDS:
        printing_agent.dispatch.register(kind, handler, replace=True)
    receipt = contract.Receipt(document_id="receipt-off-1", order_no="T-1", payable_cents=3_200,
                               items=(contract.ReceiptItem(name="口水鸡", qty=1, amount_cents=3_200),),
                               tenders=(contract.TenderLine(type="cash", amount_cents=3_200),)).to_dict()
    _handle(printing_agent, StoreEvent.from_dict({
        "seq": 1, "kind": "print_job", "created_at": "2026-11-29T04:00:00Z",
        "payload": {**receipt, "printed_at_source": True, "source_device_id": own}}))
    _handle(printing_agent, _ticket(2, document_id="till-ticket-1", printed_at_source=True, source_device_id=own))
    _handle(printing_agent, _ticket(3, document_id="till-ticket-2", order_no="T-2",
                                    printed_at_source=True, source_device_id=other))
    _handle(printing_agent, _ticket(4, document_id="ticket-8", order_no="99"))
    paper = [job.decoded.lines for job in kitchen_printer.wait_for_jobs(2)]
    assert ["单号 No. T-2" in lines for lines in paper] == [True, False]
    assert "单号 No. 99" in paper[1]
    assert virtual_printer.printed_jobs == [] and len(printing_agent.ledger.recent(100)) == 2
    assert printed_here({"printed_at_source": True, "source_device_id": "41"}, 41)
    assert not printed_here({"printed_at_source": True, "source_device_id": 41}, None)
    assert not printed_here({"printed_at_source": "yes", "source_device_id": 41}, 41)


# --- a stream that goes silent ----------------------------------------------------------------


SILENT_STREAM = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\nretry: 3000\n\n"


@contextlib.contextmanager
def _quiet_server(stream_head: bytes = SILENT_STREAM) -> Iterator[tuple[int, threading.Semaphore]]:
    """A server that answers the agent's calls, and the stream with `stream_head` and then
    silence (a NAT dropped the line, the server hangs). Yields its port and a semaphore released
    at each stream opened."""
    listener = socket.create_server(("127.0.0.1", 0))
    connections: list[socket.socket] = []
    streams = threading.Semaphore(0)
    stopping = threading.Event()
    listener.settimeout(0.1)

    def serve() -> None:
        while not stopping.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            conn.settimeout(5)
            connections.append(conn)
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                request += chunk
            path = request.split(b" ", 2)[1] if request.count(b" ") >= 2 else b""
            if path.endswith(b"/devices/me"):
                body = b'{"id": 3, "store_id": 1}'
            elif b"/events/stream" in path:
                conn.sendall(stream_head)
                streams.release()
                continue  # then silence
            else:
                body = b'{"events": [], "last_seq": 5, "head_seq": 5}'
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                         + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], streams
    finally:
        stopping.set()
        thread.join(5)
        listener.close()
        for conn in connections:
            conn.close()


def _following(tmp_path, port: int, **settings) -> tuple[Follower, CursorStore]:
    cursors = CursorStore(tmp_path / "follow.sqlite3")
    cursors.save("1", 5)
    follower = Follower(ServerClient(f"http://127.0.0.1:{port}", "tld_x"), "1", cursors, Dispatcher(),
                        FollowConfig(**settings))
    follower.start()
    return follower, cursors


def test_a_silent_stream_is_taken_for_dead_and_the_follower_reconnects(tmp_path):
    """No heartbeat within stream_timeout_s means reconnect."""
    with _quiet_server() as (port, streams):
        follower, cursors = _following(tmp_path, port, stream_timeout_s=1, backoff_initial_s=0.05, backoff_max_s=0.1)
        try:
            assert streams.acquire(timeout=30) and streams.acquire(timeout=30)  # a second stream: it reconnected
            state = follower.state()
            assert state.reconnects >= 1 and state.device_id == 3 and state.cursor == 5
            assert "heartbeat" in (state.last_error or "") or state.online
        finally:
            follower.stop()
            cursors.close()


def test_stop_wakes_a_stream_the_server_will_close_after(tmp_path):
    """A stream answered with `Connection: close` (as werkzeug's server does): http.client hands
    its socket to the response, and stop() must still wake the blocking read at once rather than
    wait out its own ten seconds."""
    first = b"retry: 3000\n\n"
    head = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n"
            b"Connection: close\r\n\r\n" + b"%x\r\n" % len(first) + first + b"\r\n")
    with _quiet_server(head) as (port, streams):
        follower, cursors = _following(tmp_path, port, stream_timeout_s=60)
        try:
            assert streams.acquire(timeout=30)
            time.sleep(0.2)  # the follower is in its read of the silent stream
            began = time.monotonic()
            follower.stop()
            assert time.monotonic() - began < 2
        finally:
            cursors.close()


# --- configuration ----------------------------------------------------------------------------


def _config(**follow):
    from pos_agent.config import parse_config

    return parse_config({"store_id": "1", "server_url": "http://127.0.0.1:8000", "device_token": "tld_x",
                         "store": {"name": "店"}, "follow": follow})


def test_the_follow_section_is_read_and_checked_key_by_key():
    from pos_agent.config import ConfigError

    assert _config().follow == FollowConfig()
    assert _config(mode="poll", poll_interval_s=0.5, page_size=50).follow.page_size == 50
    for follow, message in (
        ({"mode": "websocket"}, "follow.mode: must be one of auto, stream, poll"),
        ({"backoff_initial_s": 5, "backoff_max_s": 1}, "follow.backoff_max_s: must not be less"),
        ({"page_size": 5000}, "follow.page_size: must be between 1 and 1000"),
        ({"stream_timout_s": 5}, "follow: unknown key(s) stream_timout_s"),
        ({"enabled": "yes"}, "follow.enabled: expected true or false"),
    ):
        with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
            _config(**follow)
