"""``python -m simulators.wechat --port 8100 --server-url http://127.0.0.1:8000``

Runs the simulated WeChat (official account + WeChat Pay) on one port. Events go to
``<server-url><callback-path>`` unless ``--callback-url`` names the whole address.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from .config import SimulatorConfig
from .server import SimulatorServer

DEFAULT_CALLBACK_PATH = "/wechat/callback"


def config_from_args(args: argparse.Namespace) -> SimulatorConfig:
    callback = args.callback_url
    if not callback and args.server_url:
        callback = args.server_url.rstrip("/") + args.callback_path
    values = {
        "appid": args.appid,
        "secret": args.secret,
        "token": args.token,
        "encoding_aes_key": args.encoding_aes_key,
        "mch_id": args.mch_id,
        "api_key": args.api_key,
        "server_callback_url": callback,
        "public_url": args.public_url,
    }
    return SimulatorConfig.from_mapping({k: v for k, v in values.items() if v is not None})


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m simulators.wechat", description="Simulated WeChat and WeChat Pay")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8100)
    p.add_argument("--server-url", help="base URL of the TableLoop server, e.g. http://127.0.0.1:8000")
    p.add_argument("--callback-path", default=DEFAULT_CALLBACK_PATH, help="path of its WeChat callback")
    p.add_argument("--callback-url", help="full callback URL (instead of --server-url + --callback-path)")
    p.add_argument("--public-url", help="address phones reach the simulator at (QR code contents)")
    p.add_argument("--appid")
    p.add_argument("--secret")
    p.add_argument("--token", help="callback token")
    p.add_argument("--encoding-aes-key", help="43 characters: post events in safe (encrypted) mode")
    p.add_argument("--mch-id")
    p.add_argument("--api-key", help="WeChat Pay v2 API key (32 characters)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    config = config_from_args(args)
    sim = SimulatorServer(config, host=args.host, port=args.port, log_requests=True)
    print(f"微信模拟器 WeChat simulator: {sim.url}/", flush=True)
    print(f"  appid {config.appid} · mch_id {config.mch_id} · callback {config.server_callback_url or '-'}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
