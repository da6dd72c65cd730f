"""POST /api/v1/devices/me/status: an on-site agent's report, kept on its device; a printer's
changed state (and only that) goes on the store's event log as `device_status`."""

from __future__ import annotations

from app.events.models import EventKind, StoreEvent


def _report(kitchen: str = "online", **extra) -> dict:
    return {"printers": [{"name": "front", "role": "receipt", "stations": [], "state": "online", "message": ""},
                         {"name": "kitchen", "role": "kitchen", "stations": ["*"], "state": kitchen,
                          "message": "打印机「kitchen」缺纸，请装纸" if kitchen == "paper_out" else ""}],
            "cursor": 7, "outbox_pending": 0, "version": "0.1.0", **extra}


def _status_events(db, store_id: int) -> list[dict]:
    db.session.rollback()
    return [e.payload for e in db.session.scalars(db.select(StoreEvent).where(
        StoreEvent.store_id == store_id, StoreEvent.kind == EventKind.DEVICE_STATUS).order_by(StoreEvent.seq))]


def test_a_report_is_kept_and_only_a_change_is_logged(make, db):
    tenant = make.tenant()
    device, token = make.device(tenant)
    agent = make.api(token=token)
    first = agent.post("/devices/me/status", json=_report())
    assert first.status_code == 200 and first.get_json()["changed"] is True
    again = agent.post("/devices/me/status", json=_report(cursor=9, outbox_pending=2))  # the heartbeat
    assert again.get_json()["changed"] is False
    out = agent.post("/devices/me/status", json=_report("paper_out", cursor=10))
    assert out.get_json()["changed"] is True
    events = _status_events(db, tenant.store.id)
    assert [[p["state"] for p in e["printers"]] for e in events] == [["online", "online"], ["online", "paper_out"]]
    assert events[-1]["device_id"] == device.id and events[-1]["cursor"] == 10

    listed = make.api(tenant.owner).get("/devices").get_json()["devices"]
    (mine,) = [d for d in listed if d["id"] == device.id]
    assert mine["last_seen_at"] is not None and mine["status"]["printers"][1]["state"] == "paper_out"
    assert mine["status"]["outbox_pending"] == 0 and mine["status"]["version"] == "0.1.0"


def test_bad_reports_are_refused_and_change_nothing(make, db):
    tenant = make.tenant()
    device, token = make.device(tenant)
    agent = make.api(token=token)
    for body in ({"printers": [{"name": "front", "role": "receipt", "state": "smoking"}]},
                 {"printers": [{"name": "", "role": "receipt", "state": "online"}]},
                 {"printers": [{"name": "front", "role": "bar", "state": "online"}]},
                 {"outbox_pending": -1}, {"cursor": "abc"}, {"printers": "front"}):
        response = agent.post("/devices/me/status", json=body)
        assert response.status_code == 422, body
        assert response.get_json()["error"]["code"]
    assert _status_events(db, tenant.store.id) == []
    db.session.refresh(device)
    assert device.status is None and device.last_seen_at is None
    # Staff tokens are not devices; no token at all is 401.
    assert make.api(tenant.owner).post("/devices/me/status", json=_report()).status_code == 403
    assert make.api().post("/devices/me/status", json=_report()).status_code == 401
