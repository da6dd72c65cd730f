"""Another merchant's id answers 404 on every id-taking route, exactly like a missing one."""

from tests.routes import api_routes


def _objects_of(make, tenant):
    """One object of `tenant` for each URL id argument. A new id argument must be added here."""
    return {
        "store_id": lambda: tenant.store.id,
        "staff_id": lambda: make.staff(tenant, "cashier").id,
        "device_id": lambda: make.device(tenant, name=f"till-{make.staff(tenant, 'kitchen').id}")[0].id,
    }


def test_every_id_route_answers_404_for_another_merchants_id(make):
    victim, intruder = make.tenant(), make.tenant()
    factories = _objects_of(make, victim)
    intruder_api = make.api(intruder.owner)
    checked = 0
    for route in api_routes(make.client.application):
        if not route.id_args:
            continue
        missing = [arg for arg in route.id_args if arg not in factories]
        assert not missing, f"{route.endpoint}: add a factory for {missing} in tests/integration/test_tenancy.py"
        url = route.url(**{arg: factories[arg]() for arg in route.id_args})
        response = intruder_api.request(route.method, url, json={})
        assert response.status_code == 404, (route.method, url, response.get_json())
        assert response.get_json()["error"]["code"] == "not_found"
        checked += 1
    assert checked >= 5


def test_the_owner_of_an_object_does_reach_it(make):
    tenant = make.tenant()
    api = make.api(tenant.owner)
    assert api.get(f"/stores/{tenant.store.id}").status_code == 200
    assert api.get(f"/staff/{tenant.owner.id}").status_code == 200


def test_lists_show_only_the_callers_merchant(make):
    mine, other = make.tenant(), make.tenant()
    make.staff(other, "cashier")
    staff = make.api(mine.owner).get("/staff").get_json()["staff"]
    assert {s["merchant_id"] for s in staff} == {mine.merchant.id}
    stores = make.api(mine.owner).get("/stores").get_json()["stores"]
    assert [s["id"] for s in stores] == [mine.store.id]
