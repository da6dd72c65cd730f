"""The one scheduler process (`flask scheduler run`): APScheduler 3 with its jobs in the database.

Web workers never start a scheduler. Each job opens an app context, runs for every merchant and
commits; a job that was missed while the process was down runs once when it comes back
(coalesce), never twice at the same time (max_instances=1).
"""

from __future__ import annotations

import contextlib
import functools
import logging

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from app.db import utcnow

scheduler_cli = AppGroup("scheduler", help="The scheduler process (exactly one per installation).")

JOBS = (
    # id, function, cron fields (Asia/Shanghai)
    ("expire_points", "app.scheduler:expire_points", {"hour": 3, "minute": 10}),
    ("review_tiers", "app.scheduler:review_tiers", {"day": 1, "hour": 4, "minute": 0}),
    ("expire_coupons", "app.scheduler:expire_coupons", {"hour": 3, "minute": 20}),
    ("reconcile_payments", "app.scheduler:reconcile_payments", {"minute": "*/5"}),
)


@functools.cache
def _app():
    from app import create_app

    return create_app()


def expire_points() -> None:
    with _app().app_context():
        from app.members.jobs import run_for_every_merchant

        run_for_every_merchant("expire_points", utcnow())


def review_tiers() -> None:
    with _app().app_context():
        from app.members.jobs import run_for_every_merchant

        run_for_every_merchant("review_tiers", utcnow())


def expire_coupons() -> None:
    with _app().app_context():
        import sqlalchemy as sa

        from app.coupons import service as coupons
        from app.db import db
        from app.tenants.models import Merchant

        for merchant_id in db.session.scalars(sa.select(Merchant.id)).all():
            coupons.expire_coupons(merchant_id, utcnow())
            db.session.commit()


def reconcile_payments() -> None:
    """WeChat Pay trades still pending after a few minutes: settle the paid, close the expired."""
    with _app().app_context():
        import sqlalchemy as sa

        from app.db import db
        from app.payments.reconcile import reconcile_pending
        from app.wechat.models import WeChatSettings

        for merchant_id in db.session.scalars(sa.select(WeChatSettings.merchant_id)).all():
            try:
                reconcile_pending(merchant_id, utcnow())
            except Exception:  # one merchant's trouble must not hold up the others
                logging.getLogger(__name__).exception("reconciling merchant %s failed", merchant_id)
            db.session.rollback()


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
    {"expire_points": expire_points, "review_tiers": review_tiers, "expire_coupons": expire_coupons,
     "reconcile_payments": reconcile_payments}[job]()
    click.echo(f"{job} done")
