"""``python -m pos_agent --config config/pos_agent.yaml``: devices, status page, local print API."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading

from .agent import Agent
from .config import ConfigError, load_config
from .server import make_server

DEFAULT_CONFIG = "config/pos_agent.yaml"


def _quiet_escpos(record: logging.LogRecord) -> bool:
    """python-escpos logs each connection's open and close at INFO on the root logger; keep its warnings."""
    return record.levelno >= logging.WARNING or "escpos" not in record.pathname


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pos_agent", description="TableLoop on-site agent")
    parser.add_argument(
        "-c",
        "--config",
        default=os.environ.get("TABLELOOP_AGENT_CONFIG", DEFAULT_CONFIG),
        help=f"agent YAML (default: $TABLELOOP_AGENT_CONFIG or {DEFAULT_CONFIG})",
    )
    parser.add_argument("--host", help="override http.host")
    parser.add_argument("--port", type=int, help="override http.port")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    args = parser.parse_args(argv)

    # force=True: importing python-escpos already called logging.basicConfig().
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    for handler in logging.getLogger().handlers:
        handler.addFilter(_quiet_escpos)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"配置错误 Configuration error: {exc}", file=sys.stderr)
        return 2

    agent = Agent(config)
    try:
        server = make_server(agent, args.host, args.port)
    except OSError as exc:
        print(
            f"无法监听 Cannot listen on {args.host or config.http_host}:{args.port or config.http_port}: {exc}",
            file=sys.stderr,
        )
        agent.ledger.close()
        return 1
    agent.start()

    def shut_down(signum: int, frame: object) -> None:
        # serve_forever() must be stopped from another thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, shut_down)
    host, port = server.server_address[:2]
    print(f"TableLoop 门店代理 store agent: http://{host}:{port}/ (store {config.store_id})", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        agent.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
