"""Stored value under concurrency, on the real database: never overdrawn, never applied twice."""

import threading
import uuid

import sqlalchemy as sa

from app.actor import Actor
from app.db import begin_write
from app.errors import APIError
from app.members import service
from app.members.ledger import Refs, lock_member
from app.members.models import Account, LedgerEntry, Member
from tests.factories import create_member

THREADS = 50


def _run_in_threads(target, count=THREADS):
    barrier = threading.Barrier(count)
    results, errors = [], []

    def run(i):
        barrier.wait()
        try:
            results.append(target(i))
        except Exception as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results, errors


def _ledger_sums(db, member_id):
    rows = db.session.execute(sa.select(LedgerEntry.account, sa.func.sum(LedgerEntry.delta))
                              .where(LedgerEntry.member_id == member_id).group_by(LedgerEntry.account)).all()
    return {account: total for account, total in rows}


def test_fifty_concurrent_spends_never_overdraw(app, make, db):
    tenant = make.tenant()
    member = create_member(make, tenant)
    make.api(tenant.owner).post(f"/members/{member['id']}/topups", json={
        "amount_cents": 10_000, "tender": "cash", "idempotency_key": uuid.uuid4().hex})  # 100 + 0 bonus
    merchant_id = tenant.merchant.id  # read here: ORM objects of this session stay in this thread

    def spend(i):
        with app.test_request_context():
            begin_write()
            try:
                actor = Actor.system(merchant_id)
                locked = lock_member(member["id"], actor=actor)
                service.spend_stored_value(locked, 700, key=f"spend-{i}", refs=Refs(), actor=actor)
                db.session.commit()
                return "spent"
            except APIError as error:
                db.session.rollback()
                return error.error_code

    results, errors = _run_in_threads(spend)
    assert errors == []
    assert results.count("spent") == 10_000 // 700  # 14 spends fit, the rest are refused
    assert results.count("insufficient_balance") == THREADS - 14
    db.session.rollback()  # a fresh snapshot, after the threads' commits
    fresh = db.session.get(Member, member["id"])
    assert fresh.principal_cents == 10_000 - 14 * 700
    assert _ledger_sums(db, member["id"]) == {Account.PRINCIPAL: fresh.principal_cents}


def test_the_same_key_sent_concurrently_applies_once(app, make, db):
    tenant = make.tenant()
    member = create_member(make, tenant)
    token = make.token(tenant.owner)
    body = {"amount_cents": 8_800, "tender": "cash", "idempotency_key": uuid.uuid4().hex}

    def topup(_i):
        response = app.test_client().post(f"/api/v1/members/{member['id']}/topups", json=body,
                                          headers={"Authorization": f"Bearer {token}"})
        return response.status_code, response.get_json()

    results, errors = _run_in_threads(topup, count=20)
    assert errors == []
    assert {status for status, _ in results} == {201}
    assert len({str(body) for _, body in results}) == 1
    db.session.rollback()
    assert db.session.get(Member, member["id"]).principal_cents == 8_800
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LedgerEntry)) == 1
