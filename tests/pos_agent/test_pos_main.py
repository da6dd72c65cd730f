"""``python -m pos_agent`` as a process: starts from its YAML, serves, stops on SIGTERM."""

import json
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import yaml

from pos_agent.__main__ import main

ROOT = Path(__file__).resolve().parents[2]


def test_a_bad_config_is_reported_and_exits_2(tmp_path, capsys):
    bad = tmp_path / "agent.yaml"
    bad.write_text("store_id: s\n", encoding="utf-8")
    assert main(["--config", str(bad)]) == 2
    assert "server_url: required" in capsys.readouterr().err


def test_runs_and_stops_cleanly(tmp_path, virtual_printer):
    config = {
        "store_id": "store-001",
        "server_url": "http://127.0.0.1:5000",
        "device_token": "t",
        "data_dir": str(tmp_path / "data"),
        "store": {"name": "老王面馆"},
        "printers": [
            {"name": "front", "type": "network", "address": f"127.0.0.1:{virtual_printer.port}", "role": "receipt"}
        ],
    }
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    process = subprocess.Popen(
        [sys.executable, "-m", "pos_agent", "--config", str(path), "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first_line = process.stdout.readline()
        assert "http://127.0.0.1:" in first_line, process.stderr.read()
        url = first_line.split("http://", 1)[1].split("/", 1)[0]
        with urllib.request.urlopen(f"http://{url}/api/status", timeout=5) as response:
            assert json.loads(response.read())["store_name"] == "老王面馆"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
        process.stderr.close()
    assert (tmp_path / "data" / "print_ledger.sqlite3").exists()
