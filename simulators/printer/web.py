"""A tiny web page for the virtual printers: the last receipts as they would look on paper,
plus buttons (and a JSON API) to switch a printer off, open its cover or run it out of paper."""

from __future__ import annotations

import json
import logging
from html import escape
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import qrcode
import qrcode.image.svg

from .decoder import DecodedJob, Mark, PrintedLine
from .server import STATES, PrintJob, VirtualPrinter

log = logging.getLogger(__name__)

_STYLE = """
body{font-family:system-ui,"PingFang SC","Microsoft YaHei",sans-serif;background:#e9e6df;margin:1rem}
.printer{margin-bottom:2rem}.jobs{display:flex;flex-wrap:wrap;gap:1rem;align-items:flex-start}
.paper{background:#fff;padding:.8rem .6rem;box-shadow:0 1px 4px #0003;
 font-family:"Noto Sans Mono CJK SC","Sarasa Mono SC","WenQuanYi Zen Hei Mono",monospace;
 font-size:13px;line-height:1.35;white-space:pre}
.paper.discarded{opacity:.45}.l{min-height:1.35em}.center{text-align:center}.right{text-align:right}
.b{font-weight:700}.s2{font-size:2em;line-height:1.2}.t2 span{display:inline-block;transform:scaleY(2);
 margin:.35em 0}.w2 span{display:inline-block;transform:scaleX(2);transform-origin:left}
.cut{border-top:2px dashed #999;margin:.6rem -.6rem;color:#999;font-size:11px;text-align:center}
.mark{color:#888;font-size:11px;text-align:center}.qr{text-align:center}.qr svg{width:130px;height:130px}
.meta{font-size:11px;color:#666;margin-bottom:.3rem}button{margin-right:.3rem}
"""

_SCRIPT = """
async function post(url, body){
  await fetch(url,{method:'POST',headers:{'Content-Type':'application/json'},body:JSON.stringify(body)});
  location.reload();
}
"""

STATE_LABELS = {
    "online": "在线 online",
    "cover_open": "开盖 cover open",
    "paper_out": "缺纸 paper out",
    "power_off": "关机 power off",
}


def qr_svg(content: str) -> str:
    code = qrcode.QRCode(image_factory=qrcode.image.svg.SvgPathImage, border=2)
    code.add_data(content)
    code.make(fit=True)
    return code.make_image().to_string(encoding="unicode")


def paper_html(job: PrintJob, columns: int) -> str:
    """One job as a strip of paper."""
    css = "paper" if job.printed else "paper discarded"
    note = "" if job.printed else " · 未打印 not printed (printer offline)"
    parts = [
        f"<div><div class='meta'>#{job.number} · {escape(job.received_at)}{note}</div>",
        f"<div class='{css}' style='width:{columns}ch'>",
    ]
    parts.extend(_items_html(job.decoded))
    parts.append("</div></div>")
    return "".join(parts)


def _items_html(decoded: DecodedJob) -> list[str]:
    out: list[str] = []
    for item in decoded.items:
        if isinstance(item, PrintedLine):
            classes = ["l"]
            if item.align != "left":
                classes.append(item.align)
            if item.bold:
                classes.append("b")
            if item.width >= 2 and item.height >= 2:
                classes.append("s2")
            elif item.height >= 2:
                classes.append("t2")
            elif item.width >= 2:
                classes.append("w2")
            text = escape(item.text) or "&nbsp;"
            out.append(f"<div class='{' '.join(classes)}'><span>{text}</span></div>")
        elif isinstance(item, Mark):
            out.append(_mark_html(item))
    return out


def _mark_html(mark: Mark) -> str:
    if mark.kind == "qr":
        return f"<div class='qr' title='{escape(mark.value)}'>{qr_svg(mark.value)}</div>"
    if mark.kind == "cut":
        return f"<div class='cut'>✂ 切纸 cut ({escape(mark.value)})</div>"
    if mark.kind == "drawer":
        return "<div class='mark'>[钱箱弹开 cash drawer opened]</div>"
    if mark.kind == "feed":
        lines = min(int(mark.value), 2) if mark.value.isdigit() else 1
        return "<div class='l'>&nbsp;</div>" * lines
    return f"<div class='mark'>[{escape(mark.kind)} {escape(mark.value)}]</div>"


def job_json(job: PrintJob) -> dict[str, Any]:
    decoded = job.decoded
    return {
        "number": job.number,
        "printed": job.printed,
        "complete": job.complete,
        "received_at": job.received_at,
        "bytes": len(job.data),
        "lines": decoded.lines,
        "qr_codes": decoded.qr_codes,
        "cuts": decoded.cuts,
        "drawer_kicks": decoded.drawer_kicks,
        "unknown_commands": [raw.hex() for raw in decoded.unknown],
    }


class PrinterWebServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], printers: list[VirtualPrinter], columns: int = 48, last: int = 12):
        self.printers = {p.name: p for p in printers}
        self.columns = columns
        self.last = last
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: PrinterWebServer

    def log_message(self, format: str, *args: Any) -> None:
        log.debug(format, *args)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        if url.path == "/":
            self._send(HTTPStatus.OK, self._page().encode(), "text/html; charset=utf-8")
        elif url.path == "/api/printers":
            self._json(HTTPStatus.OK, {"printers": [self._printer_json(p) for p in self.server.printers.values()]})
        elif url.path == "/api/jobs":
            printer = self._printer((query.get("printer") or [None])[0])
            if printer is None:
                return
            limit = int((query.get("limit") or ["20"])[0] or 20)
            jobs = [j for j in printer.jobs if j.complete][-limit:]
            self._json(HTTPStatus.OK, {"jobs": [job_json(j) for j in jobs]})
        else:
            self._json(HTTPStatus.NOT_FOUND, {"error": {"code": "not_found", "message": "no such page"}})

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        try:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        except ValueError:
            self._json(HTTPStatus.BAD_REQUEST, {"error": {"code": "invalid_json", "message": "invalid JSON"}})
            return
        printer = self._printer(body.get("printer") if isinstance(body, dict) else None)
        if printer is None:
            return
        if url.path == "/api/state":
            state = body.get("state")
            if state not in STATES:
                message = f"state must be one of {', '.join(STATES)}"
                self._json(HTTPStatus.UNPROCESSABLE_ENTITY, {"error": {"code": "invalid_state", "message": message}})
                return
            printer.set_state(state)
        elif url.path == "/api/clear":
            printer.clear()
        else:
            self._json(HTTPStatus.NOT_FOUND, {"error": {"code": "not_found", "message": "no such action"}})
            return
        self._json(HTTPStatus.OK, self._printer_json(printer))

    def _printer(self, name: str | None) -> VirtualPrinter | None:
        printers = self.server.printers
        if name is None and len(printers) == 1:
            return next(iter(printers.values()))
        if name in printers:
            return printers[name]
        self._json(HTTPStatus.NOT_FOUND, {"error": {"code": "unknown_printer", "message": f"known: {list(printers)}"}})
        return None

    @staticmethod
    def _printer_json(printer: VirtualPrinter) -> dict[str, Any]:
        return {
            "name": printer.name,
            "port": printer.port,
            "state": printer.state,
            "jobs": len(printer.jobs),
            "status_queries": printer.status_queries,
        }

    def _page(self) -> str:
        parts = [
            "<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'>",
            "<title>虚拟打印机 Virtual printers</title>",
            f"<style>{_STYLE}</style><script>{_SCRIPT}</script></head><body>",
            "<h1>虚拟打印机 Virtual printers</h1>",
            "<p><button onclick='location.reload()'>刷新 Refresh</button></p>",
        ]
        for printer in self.server.printers.values():
            name = json.dumps(printer.name)
            buttons = "".join(
                f'<button onclick=\'post("/api/state",{{printer:{escape(name)},state:"{s}"}})\'>'
                f"{STATE_LABELS[s]}</button>"
                for s in STATES
            )
            clear = f"<button onclick='post(\"/api/clear\",{{printer:{escape(name)}}})'>清空 Clear</button>"
            parts.append(
                f"<section class='printer'><h2>{escape(printer.name)} · 端口 port {printer.port} · "
                f"{STATE_LABELS[printer.state]}</h2><p>{buttons}{clear}</p><div class='jobs'>"
            )
            jobs = [j for j in printer.jobs if j.complete][-self.server.last :]
            parts.extend(paper_html(job, self.server.columns) for job in reversed(jobs))
            if not jobs:
                parts.append("<p>还没有打印 Nothing printed yet</p>")
            parts.append("</div></section>")
        parts.append("</body></html>")
        return "".join(parts)

    def _json(self, status: HTTPStatus, payload: Any) -> None:
        self._send(status, json.dumps(payload, ensure_ascii=False).encode(), "application/json; charset=utf-8")

    def _send(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
