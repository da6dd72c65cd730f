"""The fuzz run's figures at the end of the pytest output: requests by phase, answers by status,
and the operations that never answered 2xx (no generated request got through to real work there)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pytest


@dataclass
class FuzzStats:
    answers: Counter = field(default_factory=Counter)  # (operation, status) → answers
    phases: Counter = field(default_factory=Counter)  # schemathesis phase → requests
    seed: int | None = None


_STATS = pytest.StashKey[FuzzStats]()


@pytest.fixture(scope="session")
def fuzz_stats(pytestconfig) -> FuzzStats:
    return pytestconfig.stash.setdefault(_STATS, FuzzStats())


def pytest_terminal_summary(terminalreporter, config) -> None:
    stats = config.stash.get(_STATS, None)
    if stats is None or not stats.answers:
        return
    by_status: Counter = Counter()
    operations: set[str] = set()
    succeeded: set[str] = set()
    for (operation, status), count in stats.answers.items():
        by_status[status] += count
        operations.add(operation)
        if 200 <= status < 300:
            succeeded.add(operation)
    write = terminalreporter.write_line
    terminalreporter.section("API fuzzing")
    write(f"{sum(by_status.values())} requests over {len(operations)} operations ("
          + ", ".join(f"{phase}: {count}" for phase, count in sorted(stats.phases.items()))
          + f"); FUZZ_SEED={stats.seed} repeats this run")
    write("answers by status: " + ", ".join(f"{status}: {count}" for status, count in sorted(by_status.items())))
    never = sorted(operations - succeeded)
    if never:
        write(f"never answered 2xx ({len(never)}): " + "; ".join(never))
