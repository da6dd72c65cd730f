"""``python -m simulators.printer --port 9100 [--port 9101] --http-port 9180``"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from .server import VirtualPrinter
from .web import PrinterWebServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulators.printer", description="Virtual ESC/POS printers")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--port", type=int, action="append", help="TCP port of a printer (repeat for several; default 9100)"
    )
    parser.add_argument("--name", action="append", help="name of each printer, in --port order")
    parser.add_argument("--http-port", type=int, default=9180, help="web page and control API (0: any free port)")
    parser.add_argument("--no-http", action="store_true", help="no web page")
    parser.add_argument("--columns", type=int, default=48, help="paper width in columns for the web page")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)

    ports = args.port or [9100]
    names = args.name or []
    printers = []
    for i, port in enumerate(ports):
        name = names[i] if i < len(names) else f"printer-{port}"
        printers.append(VirtualPrinter(args.host, port, name=name).start())
        print(f"虚拟打印机 virtual printer {name}: tcp://{args.host}:{printers[-1].port}", flush=True)

    web = None
    if not args.no_http:
        web = PrinterWebServer((args.host, args.http_port), printers, columns=args.columns)
        print(f"纸张预览 paper view: http://{args.host}:{web.server_address[1]}/", flush=True)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    if web is not None:
        threading.Thread(target=web.serve_forever, daemon=True).start()
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        if web is not None:
            web.shutdown()
            web.server_close()
        for printer in printers:
            printer.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
