"""The one way balances change: entries appended and the cached balance moved together.

`post()` moves the member's cached balances with a single conditional UPDATE … RETURNING that
refuses to take any account below zero (race-free on PostgreSQL and SQLite alike), then appends
one entry per movement with its balance_after. Callers lock and read the member first with
`lock_member()` when the amounts depend on the balances (proportional spending).
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from flask_babel import gettext

from app.actor import Actor
from app.db import db, utcnow
from app.errors import Conflict, NotFound
from app.members.models import Account, EntryKind, LedgerEntry, Member

_COLUMNS = {Account.PRINCIPAL: Member.principal_cents, Account.BONUS: Member.bonus_cents,
            Account.POINTS: Member.points}


@functools.cache
def _move_statement(accounts: tuple[Account, ...]) -> sa.Update:
    """The conditional UPDATE … RETURNING that moves these accounts of one member, built once per
    set of accounts (the amounts are parameters): no account may go below zero."""
    table = Member.__table__
    stmt = sa.update(table).where(table.c.id == sa.bindparam("member_id"))
    for account in accounts:
        column = table.c[_COLUMNS[account].key]
        delta = sa.bindparam(f"delta_{account.label}", type_=sa.BigInteger)
        stmt = stmt.where(column + delta >= 0).values({column: column + delta})
    return stmt.returning(table.c.principal_cents, table.c.bonus_cents, table.c.points)


@dataclass(frozen=True)
class Move:
    account: Account
    kind: EntryKind
    delta: int
    note: str = ""
    ref_entry_id: int | None = None


@dataclass(frozen=True)
class Refs:
    """What the movement belongs to: order, payment and where it happened."""

    order_id: int | None = None
    payment_id: int | None = None
    store_id: int | None = None


class InsufficientFunds(Conflict):
    error_code = "insufficient_balance"


def lock_member(member_id: int, merchant_id: int | None = None, *, actor: Actor) -> Member:
    """The member row of the actor's merchant, locked until the end of the transaction
    (PostgreSQL row lock; SQLite writers already queue). 404 if it is not the merchant's."""
    if merchant_id is None:
        merchant_id = actor.merchant_id
    elif merchant_id != actor.merchant_id:
        raise NotFound("member")
    member = db.session.scalars(
        sa.select(Member).where(Member.id == member_id, Member.merchant_id == merchant_id)
        .with_for_update().execution_options(populate_existing=True)
    ).one_or_none()
    if member is None:
        raise NotFound("member")
    return member


def post(member: Member, key: str, moves: Sequence[Move], refs: Refs = Refs(), *,
         actor: Actor) -> list[LedgerEntry]:
    """Apply `moves` to `member` atomically; raise InsufficientFunds and change nothing if any
    account would go below zero. `key` is the operation's idempotency key; each entry's key is
    derived from it, so the UNIQUE constraint refuses a second application. The entries name the
    actor's staff member, device and (unless `refs` names one) store."""
    moves = [m for m in moves if m.delta != 0]
    if not moves:
        return []
    totals: dict[Account, int] = defaultdict(int)
    for move in moves:
        totals[move.account] += move.delta
    accounts = tuple(totals)
    row = db.session.execute(_move_statement(accounts), {
        "member_id": member.id, **{f"delta_{account.label}": totals[account] for account in accounts}}).one_or_none()
    if row is None:
        points_short = totals.get(Account.POINTS, 0) < 0 and member.points + totals[Account.POINTS] < 0
        raise InsufficientFunds(
            gettext("Not enough points.") if points_short else gettext("Not enough stored value."),
            error_code="insufficient_points" if points_short else "insufficient_balance")
    after = {Account.PRINCIPAL: row[0], Account.BONUS: row[1], Account.POINTS: row[2]}
    db.session.expire(member, ["principal_cents", "bonus_cents", "points"])

    # balance_after of each entry: the final balance less the moves that come after it.
    running = dict(after)
    balances = []
    for move in reversed(moves):
        balances.append(running[move.account])
        running[move.account] -= move.delta
    balances.reverse()

    rows, created_at = [], utcnow()
    seen: dict[tuple, int] = defaultdict(int)
    for move, balance_after in zip(moves, balances, strict=True):
        n = seen[(move.kind, move.account)]
        seen[(move.kind, move.account)] += 1
        rows.append({
            "merchant_id": member.merchant_id, "member_id": member.id, "account": move.account, "kind": move.kind,
            "delta": move.delta, "balance_after": balance_after,
            "idempotency_key": f"{key}:{move.kind.label}:{move.account.label}" + (f":{n}" if n else ""),
            "order_id": refs.order_id, "payment_id": refs.payment_id, "ref_entry_id": move.ref_entry_id,
            "store_id": refs.store_id or actor.store_id, "staff_id": actor.staff_id, "device_id": actor.device_id,
            "note": move.note, "created_at": created_at})
    return list(db.session.scalars(_INSERT_ENTRIES, rows))


# The entries as one INSERT … RETURNING, answered as instances in the moves' order: the unit of
# work's flush of new instances costs several times the statement itself.
_INSERT_ENTRIES = sa.insert(LedgerEntry).returning(LedgerEntry, sort_by_parameter_order=True)
