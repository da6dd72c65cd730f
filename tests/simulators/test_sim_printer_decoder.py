"""The ESC/POS decoder, fed by python-escpos itself so the two agree on the bytes."""

import pytest
from escpos.printer import Dummy

from simulators.printer.decoder import PrintedLine, StreamParser, decode, split_commands


def escpos_sample() -> bytes:
    p = Dummy(profile="TM-T20II")
    p.hw("INIT")
    p._raw(b"\x1c&")
    p.cashdraw(2)
    p.set(custom_size=True, width=2, height=2)
    p.set(bold=True, align="center")
    p._raw("湘里人家".encode("gb18030") + b"\n")
    p.set(custom_size=True, width=1, height=1)
    p.set(bold=False, align="left")
    p._raw("小计 ￥12.00 𠮷".encode("gb18030") + b"\n")
    p._raw(b"\n")
    p.set(double_height=True)  # ESC ! based sizing
    p._raw(b"tall\n")
    p.set(normal_textsize=True)
    p.qr("https://tableloop.example/p?x=1", native=True, size=5)
    p.barcode("6901234567892", "EAN13", function_type="A")
    p.print_and_feed(2)
    p.cut(mode="PART")
    p.cut(mode="FULL")
    return p.output


def test_decode_text_styles_and_marks():
    job = decode(escpos_sample())
    assert job.unknown == []
    assert job.lines == ["湘里人家", "小计 ￥12.00 𠮷", "", "tall"]
    assert job.printed_lines[0] == PrintedLine("湘里人家", align="center", bold=True, width=2, height=2)
    assert job.printed_lines[1] == PrintedLine("小计 ￥12.00 𠮷")
    assert job.printed_lines[3].height == 2
    assert job.qr_codes == ["https://tableloop.example/p?x=1"]
    assert [m.value for m in job.marks("barcode")] == ["6901234567892"]
    assert job.drawer_kicks == 1
    assert [m.value for m in job.marks("cut")] == ["partial", "full"]
    assert job.line("￥12.00").text == "小计 ￥12.00 𠮷"


def test_image_qr_is_a_raster_image():
    p = Dummy()
    p.qr("hello", native=False)
    assert decode(p.output).marks("image")


def test_init_discards_unprinted_text_and_resets_style():
    job = decode(b"\x1bE\x01lost\x1b@kept\n")
    assert job.lines == ["kept"]
    assert job.printed_lines[0].bold is False


def test_text_without_a_final_line_feed_still_shows():
    assert decode(b"\x1b@last words").lines == ["last words"]


def test_unknown_and_truncated_commands_are_reported():
    job = decode(b"\x1b@\x1dZ\x1d(k\x20\x00")  # GS Z is not known; GS ( k announces 32 bytes, has none
    assert job.unknown == [b"\x1dZ", b"\x1d(k\x20\x00"]


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64])
def test_stream_parser_gives_the_same_commands_whatever_the_chunking(chunk):
    data = escpos_sample()
    whole, used = split_commands(data)
    assert used == len(data)
    parser = StreamParser()
    streamed = []
    for i in range(0, len(data), chunk):
        streamed.extend(parser.feed(data[i : i + chunk]))
    assert parser.pending == b""
    # Text runs may arrive split; everything else must be identical.
    assert b"".join(c.raw for c in streamed) == data
    assert [c for c in streamed if c.kind != "text"] == [c for c in whole if c.kind != "text"]


def test_status_queries_are_commands_of_their_own():
    commands, used = split_commands(b"\x10\x04\x01\x10\x04\x04\x1b@")
    assert [c.kind for c in commands] == ["DLE 0x04", "DLE 0x04", "ESC @"]
    assert used == 8
    assert split_commands(b"\x10\x04")[1] == 0  # incomplete: wait for the n byte
