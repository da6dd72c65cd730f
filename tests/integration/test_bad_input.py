"""Bad input of every kind gets the error shape and a 4xx, never a 500, on every route."""

import json

import pytest
from marshmallow import fields

from tests.routes import api_routes

EVIL_VALUES = [None, "", "x" * 5000, -1, 0, 10**30, -(10**30), 1.5, True, [], {}, "1", "\u0000", "🍜" * 50]


def _assert_error_shape(response, route=""):
    assert 400 <= response.status_code < 500, (route, response.status_code, response.get_data(as_text=True)[:300])
    assert response.is_json, route
    error = response.get_json()["error"]
    assert set(error) == {"code", "message", "details"}
    assert error["code"].replace("_", "").isalpha() and error["code"].islower()


@pytest.fixture
def owner_api(make):
    return make.api(make.tenant().owner)


def _routes_with_body(app):
    return [r for r in api_routes(app) if r.method in {"POST", "PATCH", "PUT"}]


def test_malformed_json_gets_malformed_json(owner_api, app):
    for route in _routes_with_body(app):
        if not route.schemas("json"):
            continue
        url = route.url(**{arg: 1 for arg in route.id_args})
        response = owner_api.request(route.method, url, data="{not json", headers={"Content-Type": "application/json"})
        _assert_error_shape(response, route.endpoint)
        if response.status_code == 400:
            assert response.get_json()["error"]["code"] == "malformed_json"


def test_bodies_that_are_not_objects_are_refused(owner_api, app):
    for route in _routes_with_body(app):
        url = route.url(**{arg: 1 for arg in route.id_args})
        for body in ([1, 2], "text", 42, None):
            response = owner_api.request(route.method, url, data=json.dumps(body),
                                         headers={"Content-Type": "application/json"})
            if route.schemas("json"):
                _assert_error_shape(response, route.endpoint)


def test_unknown_fields_are_refused(owner_api, app):
    for route in _routes_with_body(app):
        if not route.schemas("json"):
            continue
        url = route.url(**{arg: 1 for arg in route.id_args})
        response = owner_api.request(route.method, url, json={"surprise_field": 1})
        _assert_error_shape(response, route.endpoint)


def test_every_field_with_every_evil_value_never_gives_a_500(owner_api, app):
    for route in _routes_with_body(app):
        for schema in route.schemas("json"):
            url = route.url(**{arg: 1 for arg in route.id_args})
            for name, field in schema.fields.items():
                for value in EVIL_VALUES:
                    response = owner_api.request(route.method, url, json={name: value})
                    assert response.status_code < 500, (route.endpoint, name, value, response.get_json())
                    if response.status_code >= 400:
                        _assert_error_shape(response, route.endpoint)
                if isinstance(field, fields.Integer):
                    response = owner_api.request(route.method, url, json={name: 10**30})
                    _assert_error_shape(response, f"{route.endpoint}.{name}")


def test_query_strings_with_bad_values_are_refused(owner_api, app):
    for route in api_routes(app):
        for schema in route.schemas("query"):
            url = route.url(**{arg: 1 for arg in route.id_args})
            for name in schema.fields:
                for value in ("abc", "99999999999999999999999", "-1", ""):
                    response = owner_api.request(route.method, f"{url}?{name}={value}")
                    assert response.status_code < 500, (route.endpoint, name, value)


@pytest.mark.parametrize("raw_id", ["abc", "0", "-1", "99999999999999999999", "1.5", "%00"])
def test_bad_ids_in_urls_answer_404_json(owner_api, raw_id):
    response = owner_api.get(f"/staff/{raw_id}")
    assert response.status_code == 404
    _assert_error_shape(response)


def test_unknown_api_paths_and_methods_answer_json_not_html(owner_api):
    _assert_error_shape(owner_api.get("/no-such-thing"))
    response = owner_api.request("PUT", "/staff")
    assert response.status_code == 405
    _assert_error_shape(response)


def test_validation_errors_name_the_fields(owner_api):
    response = owner_api.post("/staff", json={"username": "ok_name", "password": "short", "role": "chef"})
    assert response.status_code == 422
    details = response.get_json()["error"]["details"]["fields"]
    assert set(details) == {"password", "role"}


def test_a_refused_request_changes_nothing(make):
    tenant = make.tenant()
    api = make.api(tenant.owner)
    before = api.get("/staff").get_json()
    api.post("/staff", json={"username": "x1y2z3", "password": "password123", "role": "cashier"})
    assert api.get("/staff").get_json() == before
