"""`make run | tee run.log`, then Ctrl-C, stops every process (bin/run, the Procfile launcher).

A terminal's Ctrl-C sends SIGINT to the whole foreground process group: make, the launcher and
tee. tee dies at once, so the launcher's next line of output fails; plain `honcho start` died of
that before stopping anything, and the processes (each in its own session, out of reach of the
Ctrl-C) ran on. These tests start the launcher on a small Procfile of shell loops in a session of
their own, with a pipe to tee, signal the session's process group as the terminal would, and
check that every process is gone.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAUNCHER = ROOT / "bin" / "run"
PATIENCE = 15  # seconds; the launcher's own grace before SIGKILL is 5


def _procfile(tmp_path: Path, *, stubborn: bool = False) -> list[Path]:
    """A Procfile whose processes write their pid (the process group honcho signals) to a file."""
    lines = {
        "quiet": f"echo $$ > {tmp_path}/quiet.pid && exec sleep 300",
        "chatty": f"echo $$ > {tmp_path}/chatty.pid; while :; do echo tick; sleep 0.05; done",
    }
    if stubborn:  # deaf to SIGTERM: only the SIGKILL after the grace stops it
        lines["stubborn"] = f"trap '' TERM; echo $$ > {tmp_path}/stubborn.pid; while :; do sleep 0.1; done"
    (tmp_path / "Procfile").write_text("".join(f"{name}: {cmd}\n" for name, cmd in lines.items()))
    return [tmp_path / f"{name}.pid" for name in lines]


def _stat(pid: int | str) -> list[str] | None:
    """State, parent, process group, session, … of a running process; None once it has ended."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None if fields[0] in {"Z", "X"} else fields


def _alive(pid: int) -> bool:
    return _stat(pid) is not None


def _group(pgid: int) -> list[int]:
    """The running processes of a process group: the command line's shell, make, the launcher
    and its relays, tee."""
    return [int(pid) for pid in os.listdir("/proc")
            if pid.isdigit() and (fields := _stat(pid)) is not None and int(fields[2]) == pgid]


def _until(condition, what: str) -> None:
    deadline = time.monotonic() + PATIENCE
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


class Session:
    """A shell command line run as a terminal would run it: its own session and process group."""

    def __init__(self, command: str, cwd: Path) -> None:
        with open(cwd / "stderr.log", "wb") as stderr:
            self.shell = subprocess.Popen(["bash", "-c", command], cwd=cwd, start_new_session=True,
                                          stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr)
        self.pids: list[int] = []

    def started(self, pid_files: list[Path]) -> None:
        _until(lambda: all(f.exists() and f.read_text().strip() for f in pid_files), "the processes did not start")
        self.pids = [int(f.read_text()) for f in pid_files]
        assert all(_alive(pid) for pid in self.pids)

    def signal_group(self, signum: int) -> None:
        os.killpg(self.shell.pid, signum)

    def running(self) -> list[int]:
        """The Procfile's processes still running."""
        return [pid for pid in self.pids if _alive(pid)]

    def survivors(self) -> list[int]:
        """The Procfile's processes still running, and what is left of the command line itself."""
        return self.running() + _group(self.shell.pid)

    def close(self) -> None:
        for pgid in [*self.pids, self.shell.pid]:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)
        self.shell.wait(PATIENCE)


@pytest.fixture
def session():
    sessions: list[Session] = []

    def start(command: str, cwd: Path) -> Session:
        sessions.append(Session(command, cwd))
        return sessions[-1]

    yield start
    for s in sessions:
        s.close()


def _everything_stops(s: Session, signum: int) -> None:
    s.signal_group(signum)
    _until(lambda: not s.survivors(), f"still running after {signal.Signals(signum).name}: {s.survivors()}")
    s.shell.wait(PATIENCE)  # and the command line itself ends


def test_ctrl_c_under_tee_stops_every_process(tmp_path, session):
    pid_files = _procfile(tmp_path)
    s = session(f"{sys.executable} {LAUNCHER} -f Procfile | tee run.log", tmp_path)
    s.started(pid_files)
    _until(lambda: "tick" in (tmp_path / "run.log").read_text(), "no output reached tee")
    _everything_stops(s, signal.SIGINT)


@pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")
def test_make_start_under_tee_stops_every_process_on_ctrl_c(tmp_path, session):
    """The recipe `make run` ends with, on the tiny Procfile instead of the real system."""
    pid_files = _procfile(tmp_path)
    python = Path(sys.executable)
    s = session(f"make -s -C {ROOT} start PROCFILE={tmp_path / 'Procfile'} BIN={python.parent} | tee run.log",
                tmp_path)
    s.started(pid_files)
    _everything_stops(s, signal.SIGINT)


def test_ctrl_c_while_the_processes_are_starting_stops_them_too(tmp_path, session):
    """The launcher learns each process's id from its relay a moment after the start; a Ctrl-C
    in between must still reach it."""
    pid_files = _procfile(tmp_path)
    s = session(f"{sys.executable} {LAUNCHER} -f Procfile | tee run.log", tmp_path)
    _until(lambda: any(f.exists() and f.read_text().strip() for f in pid_files), "nothing started")
    s.signal_group(signal.SIGINT)
    _until(lambda: not _group(s.shell.pid), f"the command line is still running: {_group(s.shell.pid)}")
    s.shell.wait(PATIENCE)
    s.pids = [int(text) for f in pid_files if f.exists() and (text := f.read_text().strip())]
    assert s.running() == []


def test_a_closed_terminal_stops_every_process(tmp_path, session):
    pid_files = _procfile(tmp_path)
    s = session(f"{sys.executable} {LAUNCHER} -f Procfile | tee run.log", tmp_path)
    s.started(pid_files)
    _everything_stops(s, signal.SIGHUP)


def test_a_reader_that_goes_away_stops_every_process(tmp_path, session):
    pid_files = _procfile(tmp_path)
    s = session(f"{sys.executable} {LAUNCHER} -f Procfile | head -n 5 > head.log", tmp_path)
    s.started(pid_files)
    _until(lambda: not s.survivors(), f"still running after the reader left: {s.survivors()}")
    s.shell.wait(PATIENCE)


def test_a_process_deaf_to_sigterm_is_killed_after_the_grace(tmp_path, session):
    pid_files = _procfile(tmp_path, stubborn=True)
    s = session(f"{sys.executable} {LAUNCHER} -f Procfile | tee run.log", tmp_path)
    s.started(pid_files)
    stubborn = s.pids[-1]
    s.signal_group(signal.SIGINT)
    _until(lambda: s.running() == [stubborn], "SIGTERM did not stop the others")
    _until(lambda: not s.survivors(), "the process deaf to SIGTERM was never killed")
    s.shell.wait(PATIENCE)
