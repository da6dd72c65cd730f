"""The real adapter and spooler against the virtual network printer, over TCP on an ephemeral port."""

import socket
import threading

import pytest
from escpos.printer import Dummy

from pos_agent.agent import Agent
from pos_agent.printing.adapter import PaperOut, PrinterAdapter, PrinterOffline
from pos_agent.printing.documents import build_ops, parse_document
from pos_agent.printing.ledger import PrintLedger
from pos_agent.printing.ops import Line
from pos_agent.printing.spooler import PrintRequest, PrintSpooler


def network_printer(vp, **extra):
    return {
        "name": vp.name,
        "type": "network",
        "address": f"127.0.0.1:{vp.port}",
        "role": "receipt",
        "profile": "TM-T20II",
        "paper_width_mm": 80,
        "timeout_s": 2,
        **extra,
    }


@pytest.fixture
def spooler_for(tmp_path, make_agent_config, fixed_clock):
    made = []

    def make(printers, **extra):
        config = make_agent_config(printers, **extra)
        ledger = PrintLedger(tmp_path / f"ledger-{len(made)}.sqlite3")
        spooler = PrintSpooler(config, ledger, {p.name: PrinterAdapter(p) for p in config.printers}, clock=fixed_clock)
        made.append(ledger)
        return spooler

    yield make
    for ledger in made:
        ledger.close()


def receipt_request(data, document_id="order-12", version=1, **extra):
    return PrintRequest(document_id=document_id, version=version, kind="receipt", document=data, **extra)


def test_receipt_reads_back_as_the_same_text_qr_and_cut(virtual_printer, spooler_for, bill_data, fixed_clock):
    spooler = spooler_for([network_printer(virtual_printer)])
    [outcome] = spooler.submit(receipt_request(bill_data))
    assert outcome.job.state == "printed" and not outcome.duplicate

    [job] = virtual_printer.wait_for_jobs(1)
    decoded = job.decoded
    ops = build_ops(parse_document(bill_data), spooler.config.store, columns=48, printed_at=fixed_clock())
    assert decoded.lines == [op.text for op in ops if isinstance(op, Line)]
    assert decoded.qr_codes == ["weixin://wxpay/bizpayurl?pr=Qx7Yz9A"]
    assert decoded.cuts == 1
    assert decoded.drawer_kicks == 0
    assert decoded.unknown == []
    store_name = decoded.line("老王面馆")
    assert store_name is not None and (store_name.width, store_name.height, store_name.bold) == (2, 2, True)
    assert store_name.align == "center"
    assert decoded.line("应付 Payable").bold


def test_cash_receipt_opens_the_drawer_but_its_reprint_does_not(virtual_printer, spooler_for, receipt_data):
    spooler = spooler_for([network_printer(virtual_printer, cash_drawer=True)])
    spooler.submit(receipt_request(receipt_data))
    spooler.submit(PrintRequest(document_id="order-12", reprint=True))
    original, reprint = virtual_printer.wait_for_jobs(2)
    assert original.decoded.drawer_kicks == 1
    assert reprint.decoded.drawer_kicks == 0
    assert reprint.decoded.lines[0] == "重打 REPRINT"
    assert "重打 REPRINT" not in original.decoded.lines
    assert [j.copy for j in spooler.ledger.find("order-12")] == [0, 1]


def test_printer_off_keeps_the_job_and_prints_it_once_when_back(virtual_printer, spooler_for, receipt_data):
    spooler = spooler_for([network_printer(virtual_printer)])
    virtual_printer.power_off()

    [outcome] = spooler.submit(receipt_request(receipt_data))
    assert outcome.job.state == "pending"
    assert outcome.job.error_code == "unreachable"
    assert "无法连接" in outcome.job.error_message and "cannot be reached" in outcome.job.error_message
    spooler.retry_pending()  # still off: nothing changes
    assert spooler.ledger.get(outcome.job.id).state == "pending"

    virtual_printer.go_online()
    spooler.retry_pending()
    spooler.retry_pending()  # a second round must not print it again
    [again] = spooler.submit(receipt_request(receipt_data))  # nor a repeated request
    assert again.duplicate and again.job.state == "printed"

    assert len(virtual_printer.wait_for_jobs(1)) == 1
    assert len(virtual_printer.printed_jobs) == 1
    assert len(virtual_printer.jobs) == 1
    assert spooler.ledger.get(outcome.job.id).attempts == 3


@pytest.mark.parametrize(
    ("trouble", "error", "code"),
    [("run_out_of_paper", PaperOut, "paper_out"), ("open_cover", PrinterOffline, "cover_open")],
)
def test_paper_out_or_cover_open_sends_nothing(virtual_printer, spooler_for, receipt_data, trouble, error, code):
    spooler = spooler_for([network_printer(virtual_printer)])
    getattr(virtual_printer, trouble)()

    [outcome] = spooler.submit(receipt_request(receipt_data))
    assert (outcome.job.state, outcome.job.error_code) == ("pending", code)
    assert virtual_printer.jobs == []  # the status check stopped it before any byte of the job
    with pytest.raises(error):
        spooler.adapters[virtual_printer.name].send(b"\x1b@")
    status = spooler.known_status(virtual_printer.name).status
    assert status.online is False and status.error["code"] == code

    virtual_printer.go_online()
    spooler.retry_pending()
    assert len(virtual_printer.wait_for_jobs(1)) == 1
    assert spooler.ledger.get(outcome.job.id).state == "printed"


def test_waiting_jobs_print_in_the_order_they_were_submitted(virtual_printer, spooler_for, receipt_data):
    spooler = spooler_for([network_printer(virtual_printer)])
    virtual_printer.power_off()
    for number in ("A-1", "A-2", "A-3"):
        spooler.submit(receipt_request({**receipt_data, "order_no": number}, document_id=number))
    virtual_printer.go_online()
    spooler.retry_pending()
    jobs = virtual_printer.wait_for_jobs(3)
    orders = [next(t for t in j.decoded.lines if t.startswith("单号")) for j in jobs]
    assert orders == ["单号 Order: A-1", "单号 Order: A-2", "单号 Order: A-3"]


def test_the_same_document_sent_concurrently_prints_once(virtual_printer, spooler_for, receipt_data):
    spooler = spooler_for([network_printer(virtual_printer)])
    barrier = threading.Barrier(6)
    errors = []

    def submit():
        barrier.wait()
        try:
            spooler.submit(receipt_request(receipt_data))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=submit) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    virtual_printer.wait_for_jobs(1)
    assert len(virtual_printer.jobs) == 1


def test_kitchen_ticket_goes_to_the_printers_of_its_stations(
    virtual_printer, kitchen_printer, spooler_for, ticket_data
):
    spooler = spooler_for(
        [
            network_printer(virtual_printer, role="kitchen", stations=["hot"], paper_width_mm=58),
            network_printer(kitchen_printer, role="kitchen", stations=["cold", "*"]),
        ]
    )
    outcomes = spooler.submit(
        PrintRequest(document_id="line-7", version=1, kind="kitchen_ticket", document=ticket_data)
    )
    assert [(o.job.printer, o.job.state) for o in outcomes] == [("front", "printed"), ("kitchen", "printed")]
    [hot] = virtual_printer.wait_for_jobs(1)
    [cold] = kitchen_printer.wait_for_jobs(1)
    assert "宫保鸡丁 x2" in hot.decoded.lines and "拍黄瓜 x1" not in hot.decoded.lines
    assert "拍黄瓜 x1" in cold.decoded.lines and "宫保鸡丁 x2" not in cold.decoded.lines
    assert hot.decoded.line("宫保鸡丁 x2").width == 2
    assert max(len(t) for t in hot.decoded.lines) <= 32  # 58 mm paper

    # A changed quantity is a new version: printed again; the same version is not.
    spooler.submit(PrintRequest(document_id="line-7", version=1, kind="kitchen_ticket", document=ticket_data))
    ticket_data["items"][0]["qty"] = 3
    spooler.submit(PrintRequest(document_id="line-7", version=2, kind="kitchen_ticket", document=ticket_data))
    jobs = virtual_printer.wait_for_jobs(2)
    assert len(jobs) == 2 and "宫保鸡丁 x3" in jobs[1].decoded.lines


def test_agent_background_loop_prints_when_the_printer_returns(
    virtual_printer, make_agent_config, tmp_path, receipt_data, fixed_clock
):
    agent = Agent(make_agent_config([network_printer(virtual_printer)]), clock=fixed_clock)
    virtual_printer.power_off()
    agent.start()
    try:
        [outcome] = agent.spooler.submit(receipt_request(receipt_data))
        assert outcome.job.state == "pending"
        virtual_printer.go_online()
        virtual_printer.wait_for_jobs(1, timeout=5)
        # Several more retry rounds (every 0.1 s) pass without a second copy.
        threading.Event().wait(0.35)
        assert len(virtual_printer.jobs) == 1
        assert agent.status()["printers"][0]["jobs"] == {"printed": 1}
    finally:
        agent.stop()


class BrokenMidway(Dummy):
    """Answers status queries, then the connection breaks while the job is being sent."""

    def _read(self) -> bytes:
        return b"\x12"

    def _raw(self, msg: bytes) -> None:
        if msg.startswith(b"\x1b@"):
            raise BrokenPipeError(32, "Broken pipe")
        super()._raw(msg)


def test_interrupted_send_is_never_retried_blindly(spooler_for, receipt_data, tmp_path):
    spooler = spooler_for(
        [{"name": "front", "type": "file", "address": str(tmp_path / "lp0"), "role": "receipt", "status_query": True}]
    )
    adapter = spooler.adapters["front"]
    adapter._connector = lambda config: BrokenMidway()
    [outcome] = spooler.submit(receipt_request(receipt_data))
    assert (outcome.job.state, outcome.job.error_code) == ("uncertain", "interrupted")
    assert "可能只打印了一部分" in outcome.job.error_message

    _Recording.sent = []
    adapter._connector = lambda config: _Recording()
    spooler.retry_pending()
    assert spooler.ledger.get(outcome.job.id).state == "uncertain"  # still waiting for a person
    assert _Recording.sent == []

    job = spooler.resolve_uncertain(outcome.job.id, printed=False)  # "it did not come out"
    assert job.state == "printed"
    assert len(_Recording.sent) == 1


class _Recording(Dummy):
    sent: list[bytes] = []

    def _read(self) -> bytes:
        return b"\x12"

    def _raw(self, msg: bytes) -> None:
        if not msg.startswith(b"\x10\x04"):
            _Recording.sent.append(msg)


def test_a_printer_that_never_answers_status_is_reported(make_agent_config, tmp_path, receipt_data):
    # A listening socket that never accepts: connect succeeds, the status query gets no answer.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(4)
    try:
        port = silent.getsockname()[1]
        config = make_agent_config(
            [{"name": "mute", "type": "network", "address": f"127.0.0.1:{port}", "role": "receipt", "timeout_s": 0.2}]
        )
        adapter = PrinterAdapter(config.printers[0])
        with pytest.raises(PrinterOffline) as info:
            adapter.send(b"\x1b@hello\n")
        assert info.value.code == "no_status_reply"
        assert "status_query: false" in str(info.value)
        assert adapter.status().error["code"] == "no_status_reply"
    finally:
        silent.close()


def test_status_reports_paper_near_end(virtual_printer, printer_config):
    adapter = PrinterAdapter(printer_config(virtual_printer))
    assert adapter.status().as_dict() == {"printer": "front", "online": True, "paper": "ok", "error": None}
    virtual_printer.paper_near_end = True
    assert adapter.status().paper == "low"
    adapter.send(b"\x1b@still prints\n")  # near end is a warning, not a stop
    assert virtual_printer.wait_for_jobs(1)[0].decoded.lines == ["still prints"]


def test_kick_drawer(virtual_printer, printer_config):
    PrinterAdapter(printer_config(virtual_printer)).kick_drawer()
    [job] = virtual_printer.wait_for_jobs(1)
    assert job.decoded.drawer_kicks == 1


def test_file_printer_writes_the_job_to_the_device_file(tmp_path, make_agent_config, receipt_data, fixed_clock):
    device = tmp_path / "lp0"
    device.write_bytes(b"")
    config = make_agent_config([{"name": "lp", "type": "file", "address": str(device), "role": "receipt"}])
    ledger = PrintLedger(":memory:")
    try:
        spooler = PrintSpooler(config, ledger, {"lp": PrinterAdapter(config.printers[0])}, clock=fixed_clock)
        [outcome] = spooler.submit(receipt_request(receipt_data))
        assert outcome.job.state == "printed"
        assert device.read_bytes() == outcome.job.payload
    finally:
        ledger.close()


def test_when_send_returns_the_printer_has_every_byte(virtual_printer, printer_config):
    data = b"\x1b@" + "宫保鸡丁 ￥38.00\n".encode("gb18030") * 2000  # larger than one socket buffer
    PrinterAdapter(printer_config(virtual_printer)).send(data)
    [job] = virtual_printer.jobs  # no waiting: the adapter waited for the printer to close
    assert job.complete and bytes(job.data) == data
