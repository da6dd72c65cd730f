from pathlib import Path

import pytest

from pos_agent.config import ConfigError, load_config, parse_config

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "pos_agent.example.yaml"


def minimal(**overrides):
    data = {
        "store_id": "s1",
        "server_url": "https://tableloop.example",
        "device_token": "t",
        "store": {"name": "店"},
        "printers": [{"name": "front", "type": "network", "address": "10.0.0.5:9100", "role": "receipt"}],
    }
    data.update(overrides)
    return data


def test_the_example_file_loads():
    config = load_config(EXAMPLE)
    assert config.store_id == "1" and config.store_number == 1
    front = config.printer("front")
    assert (front.type, front.host, front.port, front.columns) == ("network", "127.0.0.1", 9100, 48)
    assert front.cash_drawer and front.status_query
    kitchen = config.printer("hot-kitchen")
    assert kitchen.columns == 32 and kitchen.serves("hot") and kitchen.serves("anything")
    assert [r.framing for r in config.readers] == ["rdm6300", "line"]
    assert config.http_host == "127.0.0.1"


def test_defaults():
    config = parse_config(minimal())
    printer = config.printers[0]
    assert (printer.paper_width_mm, printer.columns, printer.profile, printer.cut) == (80, 48, "default", "partial")
    assert config.server_url == "https://tableloop.example"
    assert config.store.timezone == "Asia/Shanghai"


def test_58mm_paper_has_32_columns():
    data = minimal()
    data["printers"][0]["paper_width_mm"] = 58
    assert parse_config(data).printers[0].columns == 32


def test_file_and_usb_printers_do_not_query_status_by_default():
    data = minimal(
        printers=[
            {"name": "lp", "type": "file", "address": "/dev/usb/lp0", "role": "receipt"},
            {"name": "usb", "type": "usb", "address": "0x0416:0x5011", "role": "kitchen", "stations": ["*"]},
        ]
    )
    assert [p.status_query for p in parse_config(data).printers] == [False, False]


def test_device_token_from_the_environment(monkeypatch):
    monkeypatch.setenv("TL_TOKEN", "secret")
    assert parse_config(minimal(device_token="${TL_TOKEN}")).device_token == "secret"
    monkeypatch.delenv("TL_TOKEN")
    with pytest.raises(ConfigError, match="TL_TOKEN is not set"):
        parse_config(minimal(device_token="${TL_TOKEN}"))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"paper_width_mm": 76}, r"printers\[0\].paper_width_mm: must be 58 or 80"),
        ({"type": "bluetooth"}, r"printers\[0\].type: must be one of network, serial, usb, file"),
        ({"address": "10.0.0.5"}, r"printers\[0\].address: a network printer needs host:port"),
        ({"adress": "x"}, r"printers\[0\]: unknown key\(s\) adress"),
        ({"profile": "NoSuchPrinter"}, r"printers\[0\].profile: unknown python-escpos profile"),
        ({"role": "kitchen"}, r"printers\[0\].stations: a kitchen printer needs the stations"),
        ({"timeout_s": "fast"}, r"printers\[0\].timeout_s: expected a number"),
        ({"cash_drawer": "yes"}, r"printers\[0\].cash_drawer: expected true or false"),
    ],
)
def test_bad_printer_settings_name_the_key(change, message):
    data = minimal()
    data["printers"][0].update(change)
    with pytest.raises(ConfigError, match=message):
        parse_config(data)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (minimal(store_id=None), "store_id: required"),
        (minimal(server_url="tableloop.example"), "server_url: must start with http"),
        (minimal(store={"name": "店", "timezone": "Mars/Base"}), "store.timezone: unknown time zone"),
        (
            minimal(readers=[{"name": "c", "kind": "card", "port": "/dev/ttyS0", "framing": "wiegand"}]),
            r"readers\[0\].framing: must be one of rdm6300, line",
        ),
        (
            minimal(
                readers=[
                    {"name": "c", "kind": "card", "port": "/dev/ttyS0"},
                    {"name": "d", "kind": "scanner", "port": "/dev/ttyS0"},
                ]
            ),
            "readers: port '/dev/ttyS0' is used twice",
        ),
        (minimal(printers=[minimal()["printers"][0]] * 2), "printers: name 'front' is used twice"),
        (minimal(colour="red"), r"top level: unknown key\(s\) colour"),
        (["not", "a", "mapping"], "the file: expected a mapping"),
    ],
)
def test_bad_files_name_the_problem(data, message):
    with pytest.raises(ConfigError, match=message):
        parse_config(data)


def test_unreadable_or_invalid_yaml(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("store_id: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
