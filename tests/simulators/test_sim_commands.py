"""The simulators as processes, the way the demo starts them."""

import json
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def start(*args):
    return subprocess.Popen([sys.executable, "-m", *args], cwd=ROOT, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip


def stop(process):
    try:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for stream in (process.stdin, process.stdout, process.stderr):
            stream.close()


def test_printer_simulator_command():
    process = start("simulators.printer", "--port", "0", "--http-port", "0")
    try:
        printer_line = process.stdout.readline()
        web_line = process.stdout.readline()
        port = int(printer_line.rsplit(":", 1)[1])
        web = web_line.split("http://", 1)[1].strip()
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"\x1b@hello\n")
        with urllib.request.urlopen(f"http://{web}api/printers", timeout=5) as response:
            [printer] = json.loads(response.read())["printers"]
        assert printer["port"] == port
    finally:
        stop(process)


def test_serial_simulator_command(tmp_path):
    import serial

    link = tmp_path / "card"
    process = start("simulators.serial", "--card-link", str(link), "--http-port", "0")
    try:
        assert "card reader" in process.stdout.readline()
        assert "scanner" in process.stdout.readline()
        assert "control page" in process.stdout.readline()
        port = serial.Serial(str(link), 9600, timeout=5)
        try:
            process.stdin.write("swipe 0A1B2C3D4E\n")
            process.stdin.flush()
            assert process.stdout.readline().strip() == "swiped 0A1B2C3D4E x1"
            assert port.read(14) == b"\x020A1B2C3D4E" + f"{0x0A ^ 0x1B ^ 0x2C ^ 0x3D ^ 0x4E:02X}".encode() + b"\x03"
        finally:
            port.close()
    finally:
        stop(process)
    assert not link.exists()
