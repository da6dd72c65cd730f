"""The outbox worker: `flask outbox run` (a loop; run one or more) and `flask outbox run-once`."""

from __future__ import annotations

import json
import logging
import signal
import threading

import click
from flask.cli import AppGroup

from app.db import db, utcnow
from app.outbox.service import deliver_due

log = logging.getLogger(__name__)

outbox_cli = AppGroup("outbox", help="Deliver queued side effects (WeChat notices) after commit.")


def _report_json(report) -> str:
    return json.dumps({"sent": report.sent, "retried": report.retried, "failed": report.failed,
                       "dead": report.dead})


@outbox_cli.command("run-once")
@click.option("--limit", default=100, show_default=True, help="At most this many messages.")
def run_once(limit: int) -> None:
    """Deliver what is due now, once; print what happened as JSON."""
    click.echo(_report_json(deliver_due(utcnow(), limit)))


@outbox_cli.command("run")
@click.option("--interval", default=1.0, show_default=True, help="Seconds between passes when idle.")
@click.option("--limit", default=50, show_default=True, help="Messages per pass.")
def run(interval: float, limit: int) -> None:
    """Deliver due messages until stopped. Ctrl-C (or SIGTERM) finishes the message in hand and
    exits; a second Ctrl-C stops at once (that message is retried later)."""
    stop = threading.Event()

    def ask_to_stop(signum, frame):
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = {sig: signal.signal(sig, ask_to_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    click.echo("outbox worker running (Ctrl-C to stop)")
    try:
        while not stop.is_set():
            try:
                report = deliver_due(utcnow(), limit, should_stop=stop.is_set)
            except Exception:  # a database hiccup must not end the worker
                log.exception("outbox pass failed")
                db.session.rollback()
                stop.wait(interval)
                continue
            if report.handled:
                log.info("outbox pass: %s", _report_json(report))
            if report.handled < limit:
                stop.wait(interval)
    except KeyboardInterrupt:
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        db.session.remove()
    click.echo("outbox worker stopped")
