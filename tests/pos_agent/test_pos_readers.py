"""Serial readers on pseudo-terminals, driven by the virtual card reader and scanner."""

import threading

import pytest

from pos_agent.config import ReaderConfig
from pos_agent.events import EventLog
from pos_agent.readers import CardFrameProtocol, Debouncer, LineProtocol, ReaderManager, parse_rdm6300
from simulators.serial import VirtualCardReader, VirtualScanner, rdm6300_checksum, rdm6300_frame


class Reads:
    """Collects reads and lets a test wait for the n-th one."""

    def __init__(self):
        self.items = []
        self._changed = threading.Condition()

    def __call__(self, reader, kind, code, extra):
        with self._changed:
            self.items.append((kind, code))
            self._changed.notify_all()

    def wait(self, count, timeout=5.0):
        with self._changed:
            assert self._changed.wait_for(lambda: len(self.items) >= count, timeout), self.items
            return list(self.items)


@pytest.fixture
def events():
    return EventLog()


@pytest.fixture
def card_reader():
    with VirtualCardReader() as device:
        yield device


@pytest.fixture
def scanner():
    with VirtualScanner() as device:
        yield device


def start(manager):
    manager.start()
    for reader in manager.readers:
        assert reader.connected.wait(5), reader.status()
    return manager


@pytest.fixture
def managers():
    started = []
    yield started
    for manager in started:
        manager.stop()


def test_card_swipes_become_events_and_bad_checksums_are_rejected(card_reader, events, managers):
    config = ReaderConfig(name="card", kind="card", port=card_reader.path, framing="rdm6300", debounce_ms=1000)
    manager = start(ReaderManager((config,), events))
    managers.append(manager)

    card_reader.swipe_raw(rdm6300_frame("0A1B2C3D4E", checksum=rdm6300_checksum("0A1B2C3D4E") ^ 0x01))
    card_reader.swipe_raw(b"\x02GARBAGE!!!!!\x03")
    card_reader.swipe("1122334455")

    [event] = events.after(0, wait=5)
    assert (event.reader, event.kind, event.code) == ("card", "card", "1122334455")
    assert event.extra["card_decimal"] == f"{0x22334455:010d}"
    assert manager.readers[0].rejected == 2
    assert events.after(event.seq) == []  # serial keeps order: the bad frames came first


def test_a_card_held_on_the_reader_is_read_once(card_reader, managers):
    reads = Reads()
    clock = FakeClock()
    from pos_agent.readers import SerialReader

    reader = SerialReader(
        ReaderConfig(name="card", kind="card", port=card_reader.path, framing="rdm6300", debounce_ms=1500),
        reads,
        clock=clock,
    )
    managers.append(reader)
    reader.start()
    assert reader.connected.wait(5)

    card_reader.swipe("0A1B2C3D4E", repeat=5)  # frames repeat while the card is held
    card_reader.swipe("99AABBCCDD")  # a marker, so we know the repeats have been handled
    assert reads.wait(2) == [("card", "0A1B2C3D4E"), ("card", "99AABBCCDD")]

    clock.now += 1.0  # still within the window after the last repeat
    card_reader.swipe("0A1B2C3D4E")
    clock.now += 1.6  # card taken away for longer than the window, then swiped again
    card_reader.swipe("0A1B2C3D4E")
    card_reader.swipe("5566778899")
    assert reads.wait(4)[2:] == [("card", "0A1B2C3D4E"), ("card", "5566778899")]


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


@pytest.mark.parametrize("eol", ["\r\n", "\r"])
def test_scanner_lines_are_classified(scanner, events, managers, eol):
    config = ReaderConfig(name="scanner", kind="scanner", port=scanner.path, framing="line", eol="cr", debounce_ms=0)
    managers.append(start(ReaderManager((config,), events)))
    for code in ["134567890123456789", "881234567890123456", "cp7f3k9q", "6901234567892", "2812345678901234", "??"]:
        scanner.scan(code, eol=eol)
    got = events.after(0, wait=5)
    while len(got) < 6:
        more = events.after(got[-1].seq, wait=5)
        assert more, got
        got += more
    assert [(e.kind, e.code) for e in got] == [
        ("wechat_pay", "134567890123456789"),
        ("member_code", "881234567890123456"),
        ("coupon", "CP7F3K9Q"),
        ("dish_barcode", "6901234567892"),
        ("alipay", "2812345678901234"),
        ("unknown", "??"),
    ]


def test_line_mode_card_reader_and_lf_endings(scanner, managers):
    reads = Reads()
    from pos_agent.readers import SerialReader

    reader = SerialReader(ReaderConfig(name="card2", kind="card", port=scanner.path, framing="line", eol="lf"), reads)
    managers.append(reader)
    reader.start()
    assert reader.connected.wait(5)
    scanner.scan("0004455667", eol="\r\n")
    scanner.scan("0004455668", eol="\n")
    assert reads.wait(2) == [("card", "0004455667"), ("card", "0004455668")]


def test_reader_on_a_missing_port_reports_and_keeps_trying(tmp_path, managers):
    from pos_agent.readers import SerialReader

    reader = SerialReader(
        ReaderConfig(name="gone", kind="card", port=str(tmp_path / "ttyUSB9"), framing="rdm6300"),
        Reads(),
        reconnect_s=0.05,
    )
    managers.append(reader)
    reader.start()
    for _ in range(100):
        if reader.last_error:
            break
        threading.Event().wait(0.02)
    assert "cannot open" in reader.status()["last_error"]
    assert reader.status()["connected"] is False


def test_reader_reconnects_when_its_device_comes_back(tmp_path, managers):
    from pos_agent.readers import SerialReader

    link = tmp_path / "card"
    reads = Reads()
    reader = SerialReader(
        ReaderConfig(name="card", kind="card", port=str(link), framing="rdm6300"), reads, reconnect_s=0.05
    )
    managers.append(reader)
    reader.start()
    with VirtualCardReader(link=str(link)) as device:  # plugged in after the agent started
        assert reader.connected.wait(5)
        device.swipe("0A1B2C3D4E")
        assert reads.wait(1) == [("card", "0A1B2C3D4E")]
    # Unplugged: the reader notices, and picks the device up again when it is back.
    for _ in range(250):
        if not reader.connected.is_set():
            break
        threading.Event().wait(0.02)
    assert not reader.connected.is_set()
    with VirtualCardReader(link=str(link)) as device:
        assert reader.connected.wait(5)
        device.swipe("1122334455")
        assert reads.wait(2)[1] == ("card", "1122334455")


# --- protocol units (no port) ----------------------------------------------------------------------


def test_parse_rdm6300():
    frame = rdm6300_frame("0A1B2C3D4E")
    assert parse_rdm6300(frame[1:-1]) == "0A1B2C3D4E"
    assert parse_rdm6300(frame[1:-1].lower()) == "0A1B2C3D4E"
    assert parse_rdm6300(b"0A1B2C3D4E00") is None
    assert parse_rdm6300(b"0A1B2C3D4") is None


def test_card_protocol_handles_split_frames_and_noise():
    cards, rejected = [], []
    protocol = CardFrameProtocol(cards.append, lambda frame, why: rejected.append(why), lambda exc: None)
    frame = rdm6300_frame("0A1B2C3D4E")
    protocol.data_received(b"\x00\xff" + frame[:5])  # noise, then half a frame
    protocol.data_received(frame[5:] + frame)
    assert cards == ["0A1B2C3D4E", "0A1B2C3D4E"] and rejected == []
    protocol.data_received(b"\x01" * 10_000)  # a babbling device does not grow the buffer forever
    assert len(protocol.buffer) < 5000


def test_line_protocol_ignores_empty_lines():
    lines = []
    protocol = LineProtocol("cr", lines.append, lambda exc: None)
    protocol.data_received(b"\r\n\r\nABC\r")
    protocol.data_received(b"\nDEF\r\n")
    assert lines == ["ABC", "DEF"]


def test_debouncer_window_slides():
    clock = FakeClock()
    debounce = Debouncer(1.5, clock)
    assert debounce.accept("a")
    clock.now += 1.0
    assert not debounce.accept("a")
    clock.now += 1.0  # 2 s after the first read, but only 1 s after the last repeat
    assert not debounce.accept("a")
    assert debounce.accept("b")
    clock.now += 1.5
    assert debounce.accept("a")
