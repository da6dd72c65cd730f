def test_creating_staff_is_audited_with_actor_and_store(make):
    tenant = make.tenant()
    api = make.api(tenant.owner)
    created = api.post("/staff", json={"username": "cashier_li", "password": "password123", "role": "cashier",
                                       "store_id": tenant.store.id}).get_json()
    entries = api.get("/audit", query_string={"object_type": "staff"}).get_json()["entries"]
    assert len(entries) == 1
    entry = entries[0]
    assert entry["action"] == "staff.create"
    assert entry["object_id"] == created["id"]
    assert entry["staff_id"] == tenant.owner.id
    assert entry["store_id"] == tenant.store.id
    assert entry["details"] == {"role": "cashier"}


def test_audit_is_per_merchant(make):
    mine, other = make.tenant(), make.tenant()
    make.device(other)
    assert make.api(mine.owner).get("/audit").get_json()["entries"] == []
