"""The official account's access token: shared by all workers through Redis, refreshed by one."""

import threading

import redis

from app.wechat import client as wechat_client
from app.wechat.models import WeChatSettings

REDIS_URL = "redis://127.0.0.1:6379/13"


def test_workers_share_one_token_and_only_one_fetches_it(app, db, oa):
    redis.Redis.from_url(REDIS_URL).flushdb()
    saved = app.config.get("REDIS_URL")
    app.config["REDIS_URL"] = REDIS_URL
    wechat_client._storages.clear()
    issued_before = len(oa.sim.state.access_tokens)
    tokens, errors = [], []
    barrier = threading.Barrier(8)
    settings_id = oa.settings.id  # read here: ORM objects of the test's session stay in this thread

    def worker():
        try:
            with app.app_context():
                settings = db.session.get(WeChatSettings, settings_id)
                client = wechat_client.official_account(settings)  # a client per request, as the app does
                barrier.wait()
                tokens.append(client.access_token)
        except Exception as error:
            errors.append(error)

    try:
        threads = [threading.Thread(target=worker) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
    finally:
        app.config["REDIS_URL"] = saved
        wechat_client._storages.clear()
    assert errors == []
    assert len(set(tokens)) == 1 and tokens[0]
    assert len(oa.sim.state.access_tokens) - issued_before == 1
