"""The one scheduler process (`flask scheduler run`): APScheduler 3 with its jobs in the database.

Web workers never start a scheduler. Each job opens an app context, runs for every merchant and
commits; a job that was missed while the process was down runs once when it comes back
(coalesce), never twice at the same time (max_instances=1).
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import logging
from collections.abc import Callable, Iterable
from datetime import datetime

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from app.actor import Actor
from app.db import utcnow

log = logging.getLogger(__name__)

scheduler_cli = AppGroup("scheduler", help="The scheduler process (exactly one per installation).")

JOBS = (
    # id, function, cron fields (Asia/Shanghai)
    ("expire_points", "app.scheduler:expire_points", {"hour": 3, "minute": 10}),
    ("review_tiers", "app.scheduler:review_tiers", {"day": 1, "hour": 4, "minute": 0}),
    ("expire_coupons", "app.scheduler:expire_coupons", {"hour": 3, "minute": 20}),
    ("reconcile_payments", "app.scheduler:reconcile_payments", {"minute": "*/5"}),
    ("housekeeping", "app.scheduler:housekeeping", {"hour": 4, "minute": 40}),
    # Often, so that the pyramid's rollup moves on soon after local midnight (and is built for a
    # new merchant): cheap when there is nothing to do.
    ("keep_figures", "app.scheduler:keep_figures", {"minute": "*/10"}),
    # Likewise the sales rollup: a day is kept from the first run after it ended.
    ("keep_sales_days", "app.scheduler:keep_sales_days", {"minute": "*/10"}),
    ("retag_members", "app.scheduler:retag_members", {"hour": 4, "minute": 20}),
    ("send_campaigns", "app.scheduler:send_campaigns", {"minute": "*"}),
    ("campaign_automations", "app.scheduler:campaign_automations", {"hour": 10, "minute": 0}),
)


@functools.cache
def _app():
    from app import create_app

    return create_app()


Work = Callable[..., object]  # work(now, *, actor) for one merchant


def for_every_merchant(work: Work, now: datetime, merchant_ids: Iterable[int] | None = None) -> dict[int, object]:
    """Run `work` for each merchant (every merchant, or the ids given) as that merchant's system
    actor, one transaction each: one merchant's trouble is logged and never holds up the others.
    Answers each merchant's result (None where it failed)."""
    import sqlalchemy as sa

    from app.db import db
    from app.tenants.models import Merchant

    if merchant_ids is None:
        merchant_ids = db.session.scalars(sa.select(Merchant.id).order_by(Merchant.id)).all()
    results: dict[int, object] = {}
    for merchant_id in list(merchant_ids):
        try:
            results[merchant_id] = work(now, actor=Actor.system(merchant_id))
            db.session.commit()
        except Exception:
            db.session.rollback()
            results[merchant_id] = None
            log.exception("%s for merchant %s failed", getattr(work, "__name__", work), merchant_id)
    return results


def expire_points() -> None:
    with _app().app_context():
        from app.members.service import expire_all_points

        for_every_merchant(expire_all_points, utcnow())


def review_tiers() -> None:
    with _app().app_context():
        from app.members.jobs import review_tiers as review

        for_every_merchant(review, utcnow())


def expire_coupons() -> None:
    with _app().app_context():
        from app.coupons.service import expire_coupons as expire

        for_every_merchant(expire, utcnow())


def reconcile_payments() -> None:
    """WeChat Pay trades still pending after a few minutes: settle the paid, close the expired."""
    with _app().app_context():
        import sqlalchemy as sa

        from app.db import db
        from app.payments.reconcile import reconcile_pending
        from app.wechat.models import WeChatSettings

        def reconcile(now: datetime, *, actor: Actor) -> object:
            return reconcile_pending(now, actor=actor)

        for_every_merchant(reconcile, utcnow(), db.session.scalars(sa.select(WeChatSettings.merchant_id)).all())


def retag_members() -> None:
    """Every member's rule tags again: time alone moves them ("spent ¥2000 in 90 days")."""
    with _app().app_context():
        from app.crm.service import retag_all

        for_every_merchant(retag_all, utcnow())


def housekeeping() -> None:
    """Expired idempotency records and finished outbox messages (all merchants, in batches)."""
    with _app().app_context():
        from app.housekeeping import run

        run(utcnow())


def keep_figures() -> None:
    """The members' figures of the pyramid window, moved on to today's window (app.orders.figures)."""
    with _app().app_context():
        from app.analytics.service import keep_figures as keep

        for_every_merchant(keep, utcnow())
def keep_sales_days() -> None:
    """The sales of the days before today, kept for the dashboard (app.orders.sales_days)."""
    with _app().app_context():
        from app.analytics.sales import keep_sales_days as keep

        for_every_merchant(keep, utcnow())


def send_campaigns() -> None:
    """Start the scheduled campaigns that are due and send what is pending, in batches that each
    commit: a send cut short (the process killed) goes on from its pending rows the next minute."""
    with _app().app_context():
        from app.campaigns.service import run_due

        for_every_merchant(run_due, utcnow())


def campaign_automations() -> None:
    """Birthday and win-back: this period's campaign of each active automation (sent by send_campaigns)."""
    with _app().app_context():
        from app.campaigns.service import run_automations

        for_every_merchant(run_automations, utcnow())


@scheduler_cli.command("run")
@with_appcontext
def run_scheduler() -> None:
    """Run the scheduled jobs until stopped."""
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.blocking import BlockingScheduler

    url = current_app.config["SQLALCHEMY_DATABASE_URI"]
    scheduler = BlockingScheduler(
        jobstores={"default": SQLAlchemyJobStore(url=url, tablename="scheduler_job")},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
        timezone="Asia/Shanghai",
    )
    for job_id, func, cron in JOBS:
        scheduler.add_job(func, "cron", id=job_id, replace_existing=True, **cron)
    click.echo("scheduler started: " + ", ".join(job_id for job_id, _, _ in JOBS))
    with contextlib.suppress(KeyboardInterrupt, SystemExit):
        scheduler.start()


@scheduler_cli.command("run-once")
@click.argument("job", type=click.Choice([job_id for job_id, _, _ in JOBS]))
@with_appcontext
def run_once(job: str) -> None:
    """Run one job now (for operators and tests)."""
    target = next(func for job_id, func, _ in JOBS if job_id == job)
    module, _, name = target.partition(":")
    getattr(importlib.import_module(module), name)()
    click.echo(f"{job} done")
