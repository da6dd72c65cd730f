"""From "print this document" to paper: route, render, record in the ledger, send, retry.

Each document is rendered once, when it is submitted, and the bytes are kept in the ledger; a
retry sends exactly those bytes, so the paper shows when the order was taken, not when the
printer came back. Jobs for one printer go out in the order they were submitted.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tablerules.documents import DocumentError, KitchenTicket, Receipt

from ..config import AgentConfig, PrinterConfig
from .adapter import PrinterAdapter, PrinterError, PrinterNotReady, PrinterStatus, PrintInterrupted
from .documents import KINDS, Document, build_ops, parse_document, route_kitchen_ticket
from .ledger import PrintJob, PrintLedger

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class PrintRequest:
    document_id: str
    version: int | None = None
    kind: str = ""
    document: Mapping[str, Any] | None = None
    reprint: bool = False
    printer: str | None = None

    @classmethod
    def for_document(cls, data: Mapping[str, Any]) -> PrintRequest:
        """A document as the server hands it over (a print job or ticket on the store event log):
        its own ``kind``, ``document_id`` and ``version`` are the ledger key."""
        document = parse_document(data)
        return cls(document_id=document.document_id, version=document.version, kind=document.kind,
                   document=data)

    @classmethod
    def from_dict(cls, data: Any) -> PrintRequest:
        """Read the body of ``POST /api/print``; ``kind`` may sit at the top or in the document."""
        if not isinstance(data, Mapping):
            raise DocumentError("", "expected a JSON object")
        document_id = data.get("document_id")
        if not isinstance(document_id, str | int) or isinstance(document_id, bool) or not str(document_id):
            raise DocumentError("document_id", "required")
        version = data.get("version")
        if version is not None and (isinstance(version, bool) or not isinstance(version, int) or version < 0):
            raise DocumentError("version", "expected a whole number")
        reprint = data.get("reprint", False)
        if not isinstance(reprint, bool):
            raise DocumentError("reprint", "expected true or false")
        document = data.get("document")
        if document is not None and not isinstance(document, Mapping):
            raise DocumentError("document", "expected an object")
        kind = data.get("kind") or (document or {}).get("kind") or ""
        if not isinstance(kind, str):
            raise DocumentError("kind", "expected text")
        if document is None and not reprint:
            raise DocumentError("document", "required")
        if document is not None and kind not in KINDS:
            raise DocumentError("kind", f"must be one of {', '.join(KINDS)}")
        printer = data.get("printer")
        if printer is not None and not isinstance(printer, str):
            raise DocumentError("printer", "expected a printer name")
        return cls(
            document_id=str(document_id),
            version=version,
            kind=kind,
            document=document,
            reprint=reprint,
            printer=printer,
        )


@dataclass(frozen=True)
class JobOutcome:
    job: PrintJob
    duplicate: bool

    def as_dict(self) -> dict[str, Any]:
        return {**self.job.as_dict(), "duplicate": self.duplicate}


@dataclass(frozen=True)
class KnownStatus:
    status: PrinterStatus
    at: datetime


class PrintSpooler:
    def __init__(
        self,
        config: AgentConfig,
        ledger: PrintLedger,
        adapters: Mapping[str, PrinterAdapter],
        *,
        clock: Clock = utc_now,
    ) -> None:
        self.config = config
        self.ledger = ledger
        self.adapters = dict(adapters)
        self.clock = clock
        self._drain_locks = {name: threading.Lock() for name in self.adapters}
        self._status: dict[str, KnownStatus] = {}
        self._status_lock = threading.Lock()

    # --- submitting --------------------------------------------------------------------------

    def submit(self, request: PrintRequest, *, send: bool = True) -> list[JobOutcome]:
        """Record the document's jobs and print them now if the printers are ready.

        A document already in the ledger prints nothing and reports the existing jobs. With
        ``send=False`` the jobs are only recorded (committed, pending): the caller has them sent.
        """
        if request.reprint:
            return self._reprint(request)
        assert request.document is not None
        version = request.version if request.version is not None else 1
        document = _parse(request.kind, request.document, request.document_id, version)
        outcomes = self._record(request, document, version, copy_for=lambda _printer: 0)
        return self._print(outcomes) if send else outcomes

    def _reprint(self, request: PrintRequest) -> list[JobOutcome]:
        originals = [j for j in self.ledger.find(request.document_id, request.version) if j.copy == 0]
        if not originals:
            raise DocumentError("document_id", "nothing to reprint: this document was never printed here")
        version = max(j.version for j in originals)
        latest = [j for j in originals if j.version == version]
        kind = latest[0].kind
        data = request.document if request.document is not None else latest[0].document
        document = _parse(kind, data, request.document_id, version)
        stored = PrintRequest(
            document_id=request.document_id,
            version=version,
            kind=kind,
            document=data,
            reprint=True,
            printer=request.printer,
        )
        # Reprint on the printers that had the original, unless a printer is named.
        printers = {j.printer for j in latest}
        outcomes = self._record(
            stored,
            document,
            version,
            copy_for=lambda printer: self.ledger.next_copy(request.document_id, version, printer),
            only=None if request.printer else printers,
        )
        return self._print(outcomes)

    def _record(
        self,
        request: PrintRequest,
        document: Document,
        version: int,
        *,
        copy_for: Callable[[str], int],
        only: set[str] | None = None,
    ) -> list[JobOutcome]:
        now = self.clock()
        outcomes = []
        for printer, part in self._targets(request, document):
            if only is not None and printer.name not in only:
                continue
            adapter = self.adapters[printer.name]
            open_drawer = printer.cash_drawer and isinstance(part, Receipt) and part.has_cash and not request.reprint
            ops = build_ops(
                part,
                self.config.store,
                columns=printer.columns,
                printed_at=now,
                reprint=request.reprint,
                open_drawer=open_drawer,
            )
            job, created = self.ledger.record(
                document_id=request.document_id,
                version=version,
                printer=printer.name,
                copy=copy_for(printer.name),
                kind=request.kind,
                document=dict(request.document or {}),
                payload=adapter.render(ops),
                now=_iso(now),
            )
            outcomes.append(JobOutcome(job, duplicate=not created))
        return outcomes

    def _targets(self, request: PrintRequest, document: Document) -> list[tuple[PrinterConfig, Document]]:
        if request.printer is not None:
            try:
                return [(self.config.printer(request.printer), document)]
            except KeyError:
                raise DocumentError("printer", f"no printer named {request.printer!r}") from None
        if isinstance(document, KitchenTicket):
            return list(route_kitchen_ticket(document, self.config.printers))
        receipt_printers = self.config.printers_with_role("receipt")
        if not receipt_printers:
            raise DocumentError("", "no receipt printer is configured")
        return [(receipt_printers[0], document)]

    def _print(self, outcomes: list[JobOutcome]) -> list[JobOutcome]:
        for printer in dict.fromkeys(o.job.printer for o in outcomes if not o.duplicate):
            self.drain(printer)
        return [JobOutcome(self.ledger.get(o.job.id) or o.job, o.duplicate) for o in outcomes]

    # --- sending -----------------------------------------------------------------------------

    def drain(self, printer: str) -> None:
        """Send this printer's pending jobs in order; stop at the first one it cannot take."""
        adapter = self.adapters[printer]
        with self._drain_locks[printer]:
            for job in self.ledger.pending(printer):
                if not self.ledger.claim(job.id):
                    continue
                try:
                    status = adapter.send(job.payload)
                except PrinterNotReady as exc:
                    self.ledger.release(job.id, exc.code, str(exc))
                    self._remember(printer, _failed_status(printer, exc))
                    log.warning("job %s kept for later: %s", job.id, exc)
                    return
                except PrintInterrupted as exc:
                    self.ledger.mark_uncertain(job.id, exc.code, str(exc))
                    self._remember(printer, _failed_status(printer, exc))
                    log.error("job %s may be partly printed: %s", job.id, exc)
                    return
                self.ledger.mark_printed(job.id, _iso(self.clock()))
                self._remember(printer, status)

    def retry_pending(self) -> None:
        """Try every printer that has jobs waiting (called periodically by the agent)."""
        for printer in dict.fromkeys(job.printer for job in self.ledger.pending()):
            if printer in self.adapters:
                self.drain(printer)

    def resolve_uncertain(self, job_id: int, *, printed: bool) -> PrintJob:
        """A person looked at the printer: either it did print, or the job goes out again."""
        job = self.ledger.get(job_id)
        if job is None or job.state != "uncertain":
            raise DocumentError("job", "no such job waiting for a decision")
        if printed:
            self.ledger.mark_printed(job_id, _iso(self.clock()))
        else:
            self.ledger.requeue(job_id)
            self.drain(job.printer)
        return self.ledger.get(job_id) or job

    # --- status ------------------------------------------------------------------------------

    def refresh_status(self, printer: str) -> PrinterStatus:
        status = self.adapters[printer].status()
        self._remember(printer, status)
        return status

    def known_status(self, printer: str) -> KnownStatus | None:
        with self._status_lock:
            return self._status.get(printer)

    def _remember(self, printer: str, status: PrinterStatus) -> None:
        with self._status_lock:
            self._status[printer] = KnownStatus(status, self.clock())


def _parse(kind: str, data: Mapping[str, Any], document_id: str, version: int) -> Document:
    """Read a document sent to the local print call, where its identity may sit beside it."""
    return parse_document({"document_id": document_id, "version": version, **data}, kind)


def _failed_status(printer: str, exc: PrinterError) -> PrinterStatus:
    paper = "out" if exc.code == "paper_out" else "unknown"
    return PrinterStatus(printer, online=False, paper=paper, error=exc.as_dict())  # type: ignore[arg-type]


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
