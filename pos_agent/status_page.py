"""The agent's local status page: Chinese first, English second, no JavaScript framework."""

from __future__ import annotations

import json
from html import escape
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .agent import Agent

STATE_LABELS = {
    "pending": "待打印 pending",
    "printing": "打印中 printing",
    "printed": "已打印 printed",
    "uncertain": "待确认 check paper",
}
PAPER_LABELS = {"ok": "正常 OK", "low": "纸将尽 low", "out": "缺纸 out", "unknown": "未知 unknown"}

_STYLE = """
body{font-family:system-ui,"PingFang SC","Microsoft YaHei",sans-serif;margin:1.5rem;color:#222}
table{border-collapse:collapse;margin:.5rem 0 1.5rem;width:100%}
th,td{border-bottom:1px solid #ddd;padding:.35rem .5rem;text-align:left;font-size:.95rem}
th{background:#f4f4f4}.ok{color:#1a7f37}.bad{color:#c62828;font-weight:600}.muted{color:#777}
button{font-size:.85rem}
"""

_SCRIPT = """
async function post(url, body){
  const r = await fetch(url, {method:'POST', headers:{'Content-Type':'application/json'},
                              body: JSON.stringify(body)});
  const data = await r.json(); if(!r.ok && r.status !== 202){ alert(data.error.message); }
  location.reload();
}
"""


def render_status_page(agent: Agent) -> str:
    status = agent.status()
    jobs = agent.ledger.recent(20)
    events = agent.events.after(max(0, status["last_event"] - 20))
    parts = [
        "<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'>",
        "<meta http-equiv='refresh' content='5'>",
        f"<title>门店代理 Store agent · {escape(status['store_name'])}</title>",
        f"<style>{_STYLE}</style><script>{_SCRIPT}</script></head><body>",
        f"<h1>门店代理 Store agent · {escape(status['store_name'])}</h1>",
        f"<p class='muted'>门店 Store {escape(status['store_id'])} · 服务器 Server "
        f"{escape(status['server_url'])} · 启动 Started {escape(status['started_at'])}</p>",
        "<h2>联网与同步 Connection &amp; sync</h2>",
        _sync(agent.sync_status()),
        "<h2>打印机 Printers</h2>",
        _printers(status["printers"]),
        "<h2>读卡器与扫码枪 Card readers &amp; scanners</h2>",
        _readers(status["readers"]),
        "<h2>最近打印 Recent print jobs</h2>",
        _jobs(jobs),
        "<h2>最近读取 Recent reads</h2>",
        _events([e.as_dict() for e in reversed(events)]),
        "</body></html>",
    ]
    return "".join(parts)


def _table(headers: list[str], rows: list[list[str]], empty: str) -> str:
    if not rows:
        return f"<p class='muted'>{empty}</p>"
    head = "".join(f"<th>{h}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _sync(sync: dict[str, Any]) -> str:
    online = ("<span class='ok'>在线 online</span>" if sync["online"]
              else "<span class='bad'>离线，收银照常，联网后同步 offline: selling on, synced later</span>")
    pending = sync["outbox_pending"]
    rows = [
        ["服务器 Server", online],
        ["待同步 Sales not yet on the server",
         f"<span class='{'bad' if pending else 'ok'}'>{pending}</span>"],
        ["最早未同步 Oldest unsynced sale", escape(str(sync.get("oldest_unsynced_at") or "—"))],
        ["上次同步 Last sync", escape(str(sync.get("last_synced_at") or "—"))],
        ["被拒绝 Refused by the server", escape(str(sync.get("refused", 0)))],
        ["本地资料 Local copy as of", escape(str(sync.get("local_copy_as_of") or "—"))],
        ["事件游标 Event cursor", escape(str(sync.get("cursor", 0)))],
    ]
    return _table(["", ""], rows, "")


def _printers(printers: list[dict[str, Any]]) -> str:
    rows = []
    for p in printers:
        st = p["status"]
        if st is None:
            state = "<span class='muted'>未检查 not checked yet</span>"
        elif st["error"]:
            state = f"<span class='bad'>{escape(st['error']['message'])}</span>"
        elif st["online"] is None:
            state = "<span class='ok'>可连接 reachable</span>"
        else:
            state = f"<span class='ok'>在线 online</span> · 纸 paper {PAPER_LABELS.get(st['paper'], st['paper'])}"
        jobs = ", ".join(f"{STATE_LABELS.get(k, k)} {v}" for k, v in sorted(p["jobs"].items())) or "—"
        stations = ", ".join(p["stations"]) or "—"
        rows.append(
            [
                escape(p["name"]),
                f"{escape(p['role'])} · {p['paper_width_mm']}mm",
                f"{escape(p['type'])} {escape(p['address'])}",
                escape(stations),
                state,
                escape(jobs),
            ]
        )
    headers = ["名称 Name", "用途 Role", "连接 Connection", "档口 Stations", "状态 Status", "任务 Jobs"]
    return _table(headers, rows, "未配置打印机 No printers configured")


def _readers(readers: list[dict[str, Any]]) -> str:
    rows = []
    for r in readers:
        if r["connected"]:
            state = "<span class='ok'>已连接 connected</span>"
        else:
            state = f"<span class='bad'>未连接 not connected</span> {escape(r['last_error'])}"
        rows.append(
            [
                escape(r["name"]),
                escape(f"{r['kind']} · {r['framing']}"),
                escape(r["port"]),
                state,
                str(r["reads"]),
                str(r["rejected"]),
            ]
        )
    headers = ["名称 Name", "类型 Kind", "端口 Port", "状态 Status", "读取 Reads", "拒绝 Rejected"]
    return _table(headers, rows, "未配置读卡器 No readers configured")


def _jobs(jobs: list[Any]) -> str:
    rows = []
    for job in jobs:
        actions = ""
        if job.state == "uncertain":
            actions = (
                f"<button onclick=\"post('/api/jobs/{job.id}/resolve',{{printed:true}})\">已打印 It printed</button> "
                f"<button onclick=\"post('/api/jobs/{job.id}/resolve',{{printed:false}})\">再打印 Print it</button>"
            )
        elif job.state == "printed" and job.copy == 0:
            # JSON for the script, then escaped as a whole for the HTML attribute it sits in.
            body = escape(json.dumps({"document_id": job.document_id, "version": job.version, "reprint": True}))
            actions = f"<button onclick=\"post('/api/print',{body})\">重打 Reprint</button>"
        state = STATE_LABELS.get(job.state, job.state)
        css = "bad" if job.state in ("pending", "uncertain") else "ok"
        error = f"<br><span class='muted'>{escape(job.error_message or '')}</span>" if job.error_message else ""
        rows.append(
            [
                str(job.id),
                escape(job.kind),
                escape(f"{job.document_id} v{job.version}") + (" 重打 reprint" if job.copy else ""),
                escape(job.printer),
                f"<span class='{css}'>{state}</span>{error}",
                escape(job.created_at),
                actions,
            ]
        )
    headers = ["#", "类型 Kind", "单据 Document", "打印机 Printer", "状态 State", "时间 Time", ""]
    return _table(headers, rows, "还没有打印任务 No print jobs yet")


def _events(events: list[dict[str, Any]]) -> str:
    rows = [[str(e["seq"]), escape(e["reader"]), escape(e["kind"]), escape(e["code"]), escape(e["at"])] for e in events]
    headers = ["#", "设备 Device", "类型 Kind", "内容 Code", "时间 Time"]
    return _table(headers, rows, "还没有读取 Nothing read yet")
