"""Walk the API's URL map, so that tests of roles, tenancy and bad input cover new routes by themselves."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

_ARG = re.compile(r"<(?:[^:>]+:)?([^>]+)>")


@dataclass(frozen=True)
class ApiRoute:
    rule: str
    method: str
    endpoint: str
    view: Any

    @property
    def args(self) -> list[str]:
        return _ARG.findall(self.rule)

    @property
    def id_args(self) -> list[str]:
        """The arguments the guard resolves within the caller's merchant."""
        return [arg for arg in self.args if arg.endswith("_id")]

    @property
    def permission(self):
        return getattr(self.view, "_permission", None)

    @property
    def is_public(self) -> bool:
        return getattr(self.view, "_public", False)

    def url(self, **values: Any) -> str:
        # Arguments that are not ids (a signed table token, say) get a value that matches nothing.
        return _ARG.sub(lambda m: str(values.get(m.group(1), 1 if "id:" in m.group(0) else "x")), self.rule)

    def schemas(self, location: str) -> list:
        params = getattr(self.view, "_apidoc", {}).get("arguments", {}).get("parameters", [])
        found = []
        for param in params:
            if param.get("in") == location:
                schema = param["schema"]
                found.append(schema() if isinstance(schema, type) else schema)
        return found


def api_routes(app) -> Iterator[ApiRoute]:
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield ApiRoute(rule.rule, method, rule.endpoint, app.view_functions[rule.endpoint])
