"""A virtual ESC/POS network printer: a TCP sink on port 9100 that keeps every job.

It behaves like a receipt printer where it matters to the agent:

* it answers real-time status queries (``DLE EOT 1..4``) at once, from its state;
* ``power_off()`` closes the listening socket, so connecting fails the way it does with a printer
  that is switched off; ``open_cover()`` and ``run_out_of_paper()`` keep it reachable but report
  offline / paper end, and anything sent meanwhile is kept as a *discarded* job, not a printed
  one (a real printer would lose it or print it later — either way, not a print to count);
* each ``ESC @`` starts a new job; a connection's bytes before its first ``ESC @`` belong to the
  first job, and status queries belong to no job.

Jobs keep the raw bytes, the time of their first and last byte (``time.perf_counter()``, for
latency measurements in the same process) and decode lazily into lines and marks.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from .decoder import Command, DecodedJob, StreamParser, decode

log = logging.getLogger(__name__)

State = Literal["online", "cover_open", "paper_out", "power_off"]
STATES: tuple[str, ...] = ("online", "cover_open", "paper_out", "power_off")

INIT = b"\x1b@"


@dataclass
class PrintJob:
    number: int
    printed: bool  # False: arrived while the printer could not print
    received_at: str
    first_byte_at: float
    last_byte_at: float = 0.0
    complete: bool = False  # the connection ended or the next ESC @ arrived
    data: bytearray = field(default_factory=bytearray)
    _decoded: DecodedJob | None = None

    @property
    def decoded(self) -> DecodedJob:
        if self._decoded is None or not self.complete:
            self._decoded = decode(bytes(self.data))
        return self._decoded


class VirtualPrinter:
    def __init__(self, host: str = "127.0.0.1", port: int = 9100, *, name: str = "printer", keep: int = 500):
        self.host = host
        self.port = port
        self.name = name
        self.keep = keep
        self.state: State = "online"
        self.paper_near_end = False
        self.jobs: list[PrintJob] = []
        self.status_queries = 0
        self.connections = 0
        self._numbers = 0
        self._changed = threading.Condition()
        self._listener: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None
        self._clients: set[socket.socket] = set()
        self._client_threads: set[threading.Thread] = set()
        self._running = False

    # --- life cycle --------------------------------------------------------------------------

    def start(self) -> VirtualPrinter:
        self._running = True
        self._listen()
        return self

    def stop(self) -> None:
        self._running = False
        self._close_listener()
        self._drop_clients()
        with self._changed:
            threads = list(self._client_threads)
        for thread in threads:
            thread.join(2)

    def __enter__(self) -> VirtualPrinter:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _listen(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind((self.host, self.port))
            listener.listen(16)
        except OSError:
            listener.close()
            raise
        self.port = listener.getsockname()[1]  # the real port when started on port 0
        self._listener = listener
        self._accept_thread = threading.Thread(
            target=self._accept, args=(listener,), daemon=True, name=f"vprinter-{self.port}"
        )
        self._accept_thread.start()

    def _close_listener(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() call
            listener.close()
        if self._accept_thread is not None and self._accept_thread is not threading.current_thread():
            self._accept_thread.join(2)
            self._accept_thread = None

    def _drop_clients(self) -> None:
        with self._changed:
            clients = list(self._clients)
        for client in clients:
            with contextlib.suppress(OSError):
                client.shutdown(socket.SHUT_RDWR)

    # --- state the tests and the web page change ---------------------------------------------

    def set_state(self, state: str) -> None:
        if state not in STATES:
            raise ValueError(f"state must be one of {', '.join(STATES)}")
        previous = self.state
        self.state = state  # type: ignore[assignment]
        if state == "power_off" and previous != "power_off":
            self._close_listener()
            self._drop_clients()
        elif state != "power_off" and previous == "power_off" and self._running:
            self._listen()
        log.info("virtual printer %s: %s", self.name, state)

    def power_off(self) -> None:
        self.set_state("power_off")

    def open_cover(self) -> None:
        self.set_state("cover_open")

    def run_out_of_paper(self) -> None:
        self.set_state("paper_out")

    def go_online(self) -> None:
        self.set_state("online")

    def clear(self) -> None:
        with self._changed:
            self.jobs.clear()

    # --- what it printed ---------------------------------------------------------------------

    @property
    def printed_jobs(self) -> list[PrintJob]:
        with self._changed:
            return [job for job in self.jobs if job.printed and job.complete]

    def wait_for_jobs(self, count: int, timeout: float = 5.0, *, printed: bool = True) -> list[PrintJob]:
        """Block until ``count`` complete jobs (printed ones by default) exist; return them."""

        def ready() -> list[PrintJob] | None:
            done = [j for j in self.jobs if j.complete and (j.printed or not printed)]
            return done if len(done) >= count else None

        with self._changed:
            if not self._changed.wait_for(lambda: ready() is not None, timeout=timeout):
                raise TimeoutError(f"{self.name}: expected {count} job(s), have {len(ready() or [])}")
            return ready() or []

    def status_byte(self, n: int) -> int:
        """The answer to ``DLE EOT n`` (ESC/POS: bits 1 and 4 always set)."""
        value = 0x12
        offline = self.state != "online"
        if n == 1 and offline:
            value |= 0x08
        elif n == 2:
            if self.state == "cover_open":
                value |= 0x04
            if self.state == "paper_out":
                value |= 0x20
        elif n == 4:
            if self.paper_near_end or self.state == "paper_out":
                value |= 0x0C
            if self.state == "paper_out":
                value |= 0x60
        return value

    # --- the connection ----------------------------------------------------------------------

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # listener closed
            with self._changed:
                self._clients.add(client)
                self.connections += 1
                thread = threading.Thread(target=self._serve, args=(client,), daemon=True)
                self._client_threads.add(thread)
            thread.start()

    def _serve(self, client: socket.socket) -> None:
        parser = StreamParser()
        job: PrintJob | None = None
        try:
            client.settimeout(30)
            while True:
                try:
                    chunk = client.recv(65536)
                except OSError:
                    break
                if not chunk:
                    break
                arrived = time.perf_counter()
                for command in parser.feed(chunk):
                    job = self._handle(client, command, job, arrived)
        finally:
            if job is not None:
                self._finish(job)
            with self._changed:
                self._clients.discard(client)
                self._client_threads.discard(threading.current_thread())
            client.close()

    def _handle(self, client: socket.socket, command: Command, job: PrintJob | None, arrived: float) -> PrintJob | None:
        if command.kind == "DLE 0x04":
            with self._changed:
                self.status_queries += 1
            with contextlib.suppress(OSError):
                client.sendall(bytes([self.status_byte(command.raw[2])]))
            return job
        if command.raw == INIT and job is not None and job.data:
            self._finish(job)
            job = None
        if job is None:
            job = self._new_job(arrived)
        job.data += command.raw
        job.last_byte_at = arrived
        return job

    def _new_job(self, arrived: float) -> PrintJob:
        with self._changed:
            self._numbers += 1
            job = PrintJob(
                number=self._numbers,
                printed=self.state == "online",
                received_at=datetime.now(UTC).isoformat(timespec="milliseconds"),
                first_byte_at=arrived,
            )
            self.jobs.append(job)
            del self.jobs[: -self.keep]
        return job

    def _finish(self, job: PrintJob) -> None:
        with self._changed:
            job.complete = True
            self._changed.notify_all()
