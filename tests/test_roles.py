"""The table of every route against every role: anonymous, a forged token, another user, the
user themselves, and an administrator. It must cover every declared route; tests/test_rights.py
runs it (with a group member and a non-member besides) against one service."""

import importlib
import itertools
import pkgutil
from typing import Any

import tests
from snakepit.api import create_app, route_specs
from tests.conftest import (
    PASSWORD,
)
from tests.roles_common import (
    ADMIN_ONLY,
    SELF_OR_ADMIN,
    SIGNED_IN,
    Case,
    everyone,
)

_counter = itertools.count()

CORE_CASES = [
    Case("GET", "/hello", "/hello", everyone(200)),
    Case("GET", "/users/<user>/exists", "/users/{user}/exists", everyone(200)),
    Case(
        "PUT",
        "/users/<user>",
        "/users/{new}",
        {**everyone(200), "forged": 401},
        {"password": PASSWORD},
    ),
    Case(
        "POST",
        "/users/<user>/authenticate",
        "/users/{user}/authenticate",
        everyone(200),
        {"password": PASSWORD},
    ),
    Case("GET", "/users", "/users", ADMIN_ONLY),
    Case("GET", "/users/<user>", "/users/{user}", SELF_OR_ADMIN),
    Case(
        "POST",
        "/users/<user>",
        "/users/{user}",
        SELF_OR_ADMIN,
        {"fullname": "Changed", "verification": PASSWORD},
    ),
    Case("DELETE", "/users/<user>", "/users/{user}", SELF_OR_ADMIN),
    Case("PUT", "/users/<user>/groups/<group>", "/users/{user}/groups/lab", ADMIN_ONLY),
    Case("DELETE", "/users/<user>/groups/<group>", "/users/{user}/groups/lab", ADMIN_ONLY),
    Case("GET", "/groups", "/groups", SIGNED_IN),
    Case("GET", "/groups/<group>", "/groups/lab", SIGNED_IN),
    Case("PUT", "/groups/<group>", "/groups/{newgroup}", ADMIN_ONLY, {"title": "T"}),
    Case("POST", "/groups/<group>", "/groups/lab", ADMIN_ONLY, {"title": "T"}),
    Case("DELETE", "/groups/<group>", "/groups/lab", ADMIN_ONLY),
    Case("GET", "/aliases", "/aliases", SIGNED_IN),
    Case("GET", "/aliases/<alias>", "/aliases/gtx", SIGNED_IN),
    Case("PUT", "/aliases/<alias>", "/aliases/{new}", ADMIN_ONLY, {"name": "{new}"}),
    Case("POST", "/aliases/<alias>", "/aliases/gtx", ADMIN_ONLY, {"name": "GTX {new}"}),
    Case("DELETE", "/aliases/<alias>", "/aliases/gtx", ADMIN_ONLY),
    Case("GET", "/nodes", "/nodes", SIGNED_IN),
    Case("GET", "/nodes/<node>", "/nodes/nx", SIGNED_IN),
    Case(
        "PUT",
        "/nodes/<node>",
        "/nodes/{new}",
        {**ADMIN_ONLY, "admin": 400},  # the endpoint is a closed port: "Problem adding node"
        {"endpoint": "https://127.0.0.1:9", "password": "x"},
    ),
    Case("DELETE", "/nodes/<node>", "/nodes/nx", ADMIN_ONLY),
    Case("PUT", "/nodes/<node>/groups/<group>", "/nodes/nx/groups/lab", ADMIN_ONLY),
    Case("DELETE", "/nodes/<node>/groups/<group>", "/nodes/nx/groups/lab", ADMIN_ONLY),
    Case(
        "PUT",
        "/nodes/<node>/resources/<resource>/groups/<group>",
        "/nodes/nx/resources/1/groups/lab",
        ADMIN_ONLY,
    ),
    Case(
        "DELETE",
        "/nodes/<node>/resources/<resource>/groups/<group>",
        "/nodes/nx/resources/1/groups/lab",
        ADMIN_ONLY,
    ),
    Case("POST", "/jobs", "/jobs", SIGNED_IN, {"clusterRequest": "[]", "script": "echo hi"}),
    Case(
        "POST",
        "/jobs/<job>/stop",
        "/jobs/{job}/stop",
        {**SELF_OR_ADMIN, "self": 412, "admin": 412},  # the job is DONE already
    ),
    Case("GET", "/jobs", "/jobs", SIGNED_IN),
    Case("GET", "/jobs/status", "/jobs/status", SIGNED_IN),
    Case("GET", "/jobs/<job>", "/jobs/{job}", SIGNED_IN),
    Case("PUT", "/jobs/<job>/groups/<group>", "/jobs/{job}/groups/lab", SELF_OR_ADMIN),
    Case("DELETE", "/jobs/<job>/groups/<group>", "/jobs/{job}/groups/lab", SELF_OR_ADMIN),
    Case("DELETE", "/jobs/<job>", "/jobs/{job}", SELF_OR_ADMIN),
    Case("GET", "/jobs/<job>/log", "/jobs/{job}/log", SELF_OR_ADMIN),
]


def family_cases() -> list[Case]:
    """The rows of every ``tests/roles_<family>.py`` module."""
    cases: list[Case] = []
    for module in pkgutil.iter_modules(tests.__path__):
        if module.name.startswith("roles_") and module.name != "roles_common":
            cases.extend(importlib.import_module(f"tests.{module.name}").CASES)
    return cases


CASES = CORE_CASES + family_cases()


def test_the_table_covers_every_route(make_config):
    from snakepit.services import Services

    config = make_config()
    app = create_app(Services.build(config, database=None))  # type: ignore[arg-type]
    declared = {(spec.method, spec.rule) for spec in route_specs(app)}
    assert declared == {(case.method, case.rule) for case in CASES}


def letters(number: int) -> str:
    """A group id (letters only) that differs for every number."""
    text = "g"
    while True:
        number, digit = divmod(number, 26)
        text += chr(ord("a") + digit)
        if number == 0:
            return text


def fill(template: Any, values: dict[str, str]) -> Any:
    if isinstance(template, str):
        return template.format(**values)
    if isinstance(template, dict):
        return {key: fill(value, values) for key, value in template.items()}
    return template
