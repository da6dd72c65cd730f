"""The OpenAPI document describes the answers as they are sent (the fuzz run relies on it)."""

from __future__ import annotations

import pytest


@pytest.fixture
def document(client) -> dict:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def _resolve(document: dict, node: dict) -> dict:
    while "$ref" in node:
        *_, kind, name = node["$ref"].split("/")
        node = document["components"][kind][name]
    return node


def test_every_error_answer_is_documented_as_the_error_shape_that_is_sent(document, client):
    error = document["components"]["schemas"]["Error"]
    body = _resolve(document, error["properties"]["error"])
    assert error["required"] == ["error"]
    assert set(body["required"]) == set(body["properties"]) == {"code", "message", "details"}

    sent = client.get("/api/v1/members/1").get_json()  # no token: 401
    assert set(sent) == {"error"} and set(sent["error"]) == {"code", "message", "details"}

    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if method == "parameters":
                continue
            default = _resolve(document, operation["responses"]["default"])
            assert default["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}, \
                (method, path)


def test_the_event_stream_is_documented_as_an_event_stream(document):
    responses = document["paths"]["/api/v1/stores/{store_id}/events/stream"]["get"]["responses"]
    event = responses["200"]["content"]["text/event-stream"]["schema"]
    assert set(event["required"]) == {"id", "event", "data"}


def test_a_name_is_documented_as_not_blank(document):
    name = document["components"]["schemas"]["CouponTemplateIn"]["properties"]["name"]  # app.api.Text
    assert name["minLength"] == 1 and name["pattern"] == r"\S"
