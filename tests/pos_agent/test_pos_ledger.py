import sqlite3
import threading

import pytest

from pos_agent.printing.ledger import PrintLedger


@pytest.fixture
def ledger(tmp_path):
    ledger = PrintLedger(tmp_path / "ledger.sqlite3")
    yield ledger
    ledger.close()


def record(ledger, document_id="line-1", version=1, printer="kitchen", copy=0):
    return ledger.record(
        document_id=document_id,
        version=version,
        printer=printer,
        kind="kitchen_ticket",
        document={"table": "A1"},
        payload=b"\x1b@x",
        now="2024-05-01T04:30:00Z",
        copy=copy,
    )


def test_the_same_document_version_is_recorded_once(ledger):
    first, created = record(ledger)
    again, created_again = record(ledger)
    assert created and not created_again
    assert again.id == first.id
    newer, created_newer = record(ledger, version=2)
    assert created_newer and newer.id != first.id


def test_the_unique_key_is_in_the_database_not_only_in_code(ledger, tmp_path):
    record(ledger)
    db = sqlite3.connect(tmp_path / "ledger.sqlite3")
    try:
        with pytest.raises(sqlite3.IntegrityError):
            db.execute(
                "INSERT INTO print_job (document_id, version, printer, copy, kind, document, payload, created_at)"
                " VALUES ('line-1', 1, 'kitchen', 0, 'k', '{}', x'00', 'now')"
            )
        with pytest.raises(sqlite3.IntegrityError):
            db.execute("UPDATE print_job SET state = 'lost'")
    finally:
        db.close()


def test_claim_succeeds_once(ledger):
    job, _ = record(ledger)
    results = []
    barrier = threading.Barrier(8)

    def claim():
        barrier.wait()
        results.append(ledger.claim(job.id))

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count(True) == 1
    assert ledger.get(job.id).state == "printing" and ledger.get(job.id).attempts == 1


def test_states_move_one_way(ledger):
    job, _ = record(ledger)
    assert ledger.claim(job.id)
    ledger.release(job.id, "paper_out", "out of paper")
    released = ledger.get(job.id)
    assert (released.state, released.error_code) == ("pending", "paper_out")
    assert [j.id for j in ledger.pending("kitchen")] == [job.id]
    assert ledger.claim(job.id)
    ledger.mark_printed(job.id, "2024-05-01T04:31:00Z")
    printed = ledger.get(job.id)
    assert (printed.state, printed.attempts, printed.error_code) == ("printed", 2, None)
    assert not ledger.claim(job.id)  # a printed job is never sent again
    assert ledger.pending() == []


def test_interrupted_jobs_wait_for_a_person(ledger):
    job, _ = record(ledger)
    ledger.claim(job.id)
    assert ledger.recover_interrupted() == 1  # the agent died while this was "printing"
    assert ledger.get(job.id).state == "uncertain"
    assert not ledger.claim(job.id)
    assert ledger.requeue(job.id)
    assert ledger.get(job.id).state == "pending"


def test_reprints_are_new_rows_with_a_copy_number(ledger):
    record(ledger)
    assert ledger.next_copy("line-1", 1, "kitchen") == 1
    reprint, created = record(ledger, copy=1)
    assert created and reprint.is_reprint
    assert ledger.next_copy("line-1", 1, "kitchen") == 2
    assert [j.copy for j in ledger.find("line-1")] == [0, 1]
    assert ledger.counts() == {"kitchen": {"pending": 2}}


def test_survives_a_restart(tmp_path):
    path = tmp_path / "ledger.sqlite3"
    first = PrintLedger(path)
    job, _ = record(first)
    first.close()
    second = PrintLedger(path)
    try:
        assert second.get(job.id).document == {"table": "A1"}
        assert second.get(job.id).payload == b"\x1b@x"
        _, created = record(second)
        assert not created
    finally:
        second.close()
