"""The virtual network printer, spoken to over a plain socket."""

import json
import socket
import threading
import urllib.request

import pytest

from simulators.printer import VirtualPrinter
from simulators.printer.web import PrinterWebServer, qr_svg


@pytest.fixture
def printer():
    with VirtualPrinter(port=0, name="front") as vp:
        yield vp


def connect(vp):
    return socket.create_connection(("127.0.0.1", vp.port), timeout=2)


def ask(sock, n):
    sock.sendall(b"\x10\x04" + bytes([n]))
    return sock.recv(1)[0]


def test_answers_status_queries_from_its_state(printer):
    with connect(printer) as sock:
        assert [ask(sock, n) for n in (1, 2, 3, 4)] == [0x12, 0x12, 0x12, 0x12]
        printer.paper_near_end = True
        assert ask(sock, 4) == 0x1E
        printer.run_out_of_paper()
        assert ask(sock, 1) & 0x08  # offline
        assert ask(sock, 2) & 0x20  # stopped at paper end
        assert ask(sock, 4) & 0x60 == 0x60
        printer.open_cover()
        assert ask(sock, 2) & 0x04
    assert printer.jobs == []  # status queries are not print jobs


def test_each_init_starts_a_job_and_the_connection_end_finishes_it(printer):
    with connect(printer) as sock:
        sock.sendall(b"\x10\x04\x01")
        sock.recv(1)
        sock.sendall(b"\x1b@first\n\x1b@second\n")
    first, second = printer.wait_for_jobs(2)
    assert (first.decoded.lines, second.decoded.lines) == (["first"], ["second"])
    assert bytes(first.data) == b"\x1b@first\n"
    assert first.first_byte_at <= first.last_byte_at <= second.last_byte_at


def test_power_off_refuses_connections_and_power_on_accepts_again(printer):
    port = printer.port
    printer.power_off()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1)
    printer.go_online()
    assert printer.port == port
    with connect(printer) as sock:
        sock.sendall(b"\x1b@back\n")
    assert printer.wait_for_jobs(1)[0].decoded.lines == ["back"]


def test_data_sent_while_out_of_paper_is_not_counted_as_printed(printer):
    printer.run_out_of_paper()
    with connect(printer) as sock:
        sock.sendall(b"\x1b@lost\n")
    [discarded] = printer.wait_for_jobs(1, printed=False)
    assert not discarded.printed
    assert printer.printed_jobs == []
    with pytest.raises(TimeoutError):
        printer.wait_for_jobs(1, timeout=0.05)


def test_many_connections_at_once(printer):
    def send(i):
        with connect(printer) as sock:
            sock.sendall(f"\x1b@job {i}\n".encode())

    threads = [threading.Thread(target=send, args=(i,)) for i in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    jobs = printer.wait_for_jobs(10)
    assert sorted(j.decoded.lines[0] for j in jobs) == sorted(f"job {i}" for i in range(10))


def test_web_page_shows_paper_and_controls_the_printer(printer):
    with connect(printer) as sock:
        sock.sendall("\x1b@\x1ba\x01\x1d!\x11老王面馆\n".encode("gb18030"))
        sock.sendall(b"\x1d(k\x04\x001A2\x00\x1d(k\x0c\x001P0https://x\x1d(k\x03\x001Q0\x1dV\x01")
    printer.wait_for_jobs(1)
    web = PrinterWebServer(("127.0.0.1", 0), [printer], columns=32)
    thread = threading.Thread(target=web.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{web.server_address[1]}"
    try:
        with urllib.request.urlopen(f"{base}/") as response:
            page = response.read().decode()
        assert "老王面馆" in page and "<svg" in page and "切纸 cut" in page
        with urllib.request.urlopen(f"{base}/api/jobs?printer=front") as response:
            [job] = json.loads(response.read())["jobs"]
        assert job["lines"] == ["老王面馆"] and job["qr_codes"] == ["https://x"] and job["cuts"] == 1
        request = urllib.request.Request(
            f"{base}/api/state",
            data=json.dumps({"state": "paper_out"}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request) as response:
            assert json.loads(response.read())["state"] == "paper_out"
        assert printer.state == "paper_out"
    finally:
        web.shutdown()
        web.server_close()


def test_qr_svg_needs_no_pillow():
    svg = qr_svg("weixin://wxpay/bizpayurl?pr=abc")
    assert svg.startswith("<svg") and "<path" in svg
