"""The virtual serial devices, read back with plain pyserial."""

import os

import serial

from simulators.serial import VirtualCardReader, VirtualScanner, rdm6300_checksum, rdm6300_frame


def test_rdm6300_frame_layout():
    frame = rdm6300_frame("0a1b2c3d4e")
    assert len(frame) == 14
    assert frame[0] == 0x02 and frame[-1] == 0x03
    assert frame[1:11] == b"0A1B2C3D4E"
    assert frame[11:13] == f"{0x0A ^ 0x1B ^ 0x2C ^ 0x3D ^ 0x4E:02X}".encode()
    assert rdm6300_checksum("0A1B2C3D4E") == 0x0A ^ 0x1B ^ 0x2C ^ 0x3D ^ 0x4E
    assert rdm6300_frame("0A1B2C3D4E", checksum=0)[11:13] == b"00"


def test_bad_card_numbers_are_refused():
    import pytest

    with pytest.raises(ValueError):
        rdm6300_frame("12345")
    with pytest.raises(ValueError):
        rdm6300_frame("GGGGGGGGGG")


def test_swipe_and_scan_reach_a_serial_port():
    with VirtualCardReader() as card, VirtualScanner() as scanner:
        card_port = serial.Serial(card.path, 9600, timeout=2)
        scan_port = serial.Serial(scanner.path, 9600, timeout=2)
        try:
            card.swipe("0A1B2C3D4E", repeat=2)
            assert card_port.read(28) == rdm6300_frame("0A1B2C3D4E") * 2
            scanner.scan("134567890123456789")
            assert scan_port.read_until(b"\r\n") == b"134567890123456789\r\n"
            scanner.scan("CP123456", eol="\r")
            assert scan_port.read_until(b"\r") == b"CP123456\r"
        finally:
            card_port.close()
            scan_port.close()


def test_symlink_path_is_made_and_removed(tmp_path):
    link = tmp_path / "ttyCARD"
    device = VirtualCardReader(link=str(link))
    assert device.path == str(link) and os.path.realpath(link) == device.slave_path
    device.close()
    assert not link.exists()
    device.close()  # closing twice is harmless
