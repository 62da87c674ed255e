"""The OpenAPI document served at ``/openapi.json``: valid, complete, and in step with the routes
and with the body fields the handlers read."""

import re
from typing import Any

import schemathesis

from snakepit.api import create_app, files, route_specs
from snakepit.api.openapi import FS_DOCS, openapi_path, route_docs
from snakepit.jobs.states import JobState
from snakepit.services import Services
from tests.conftest import PASSWORD, insert_job_directly, insert_node_directly

#: Values for body fields whose plain placeholder the service would refuse early.
FIELD_VALUES = {
    "password": PASSWORD,
    "verification": PASSWORD,
    "endpoint": "https://127.0.0.1:9",  # a closed loopback port: refused, never contacted
    "clusterRequest": "[]",
    "to": "renamed.txt",
    "type": "file",
    "title": "Title",
    "name": "GeForce GTX 1080",
}
#: A field-name problem as ``read_json`` words it.
NAME_PROBLEM = re.compile(r"^(Unknown|Missing) field ")


def declared_routes(make_config: Any) -> set[tuple[str, str]]:
    app = create_app(Services.build(make_config(), database=None))  # type: ignore[arg-type]
    return {(spec.method, spec.rule) for spec in route_specs(app)}


def test_every_route_has_an_entry_and_every_entry_a_route(make_config):
    declared = declared_routes(make_config)
    documented = set(route_docs())
    assert declared - documented == set(), "routes without an entry in snakepit/api/openapi.py"
    assert documented - declared == set(), "entries in snakepit/api/openapi.py without a route"


def test_the_file_operations_documented_are_the_ones_served():
    assert set(FS_DOCS) == set(files.FS_OPERATIONS)


async def test_the_served_document_is_valid_openapi(anon):
    answer = await anon.get("/openapi.json")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    document = answer.json()
    assert document["openapi"].startswith("3.1")
    schema = schemathesis.openapi.from_dict(document)
    schema.validate()  # against the OpenAPI meta-schema; raises on any error
    assert list(schema.iter_schema_warnings()) == []
    assert len(list(schema.get_all_operations())) == sum(
        len(methods) for methods in document["paths"].values()
    )


async def test_the_document_lists_every_route_in_openapi_form(anon, make_config):
    document = (await anon.get("/openapi.json")).json()
    listed = {
        (method.upper(), path) for path, methods in document["paths"].items() for method in methods
    }
    expected = {
        (method, openapi_path(rule, fixed))
        for (method, rule), variants in route_docs().items()
        for fixed, _ in variants
    }
    assert listed == expected
    for method, rule in declared_routes(make_config):
        assert any(openapi_path(rule, fixed) in document["paths"] for fixed, _ in
                   route_docs()[(method, rule)]), (method, rule)  # fmt: skip
    for path, methods in document["paths"].items():
        assert "<" not in path
        for operation in methods.values():
            named = {p["name"] for p in operation["parameters"] if p["in"] == "path"}
            assert named == set(re.findall(r"{(\w+)}", path)), path
    assert "/users/{user}/fs/data/{rest}" in document["paths"]
    assert "/jobs/{job}/instances/{instance}/exec" in document["paths"]


def value_for(name: str, schema: dict[str, Any]) -> Any:
    """A valid value of a body field."""
    if name in FIELD_VALUES:
        return FIELD_VALUES[name]
    if "anyOf" in schema:  # a whole number
        return 0
    return {"boolean": False, "array": [], "string": "x"}[schema["type"]]


async def test_request_bodies_name_the_fields_the_service_reads(service, users):
    """For each operation with a JSON body: the schema's required fields, and then all its
    fields, are accepted by name (the service may still refuse the values or the target)."""
    document = (await users.admin.get("/openapi.json")).json()
    await users.admin.put("/groups/lab", json={"title": "Lab"})
    await users.admin.put("/aliases/gtx", json={"name": "GeForce GTX 1070"})
    insert_node_directly(service.config, "nx")
    job = insert_job_directly(service.config, "alice", JobState.DONE, b"log\n")
    values = {"user": "alice", "group": "lab", "alias": "gtx", "node": "nx", "job": str(job),
              "instance": "0", "resource": "0", "rest": "file.txt"}  # fmt: skip
    checked = []
    problems = []
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            content = operation.get("requestBody", {}).get("content", {})
            body_schema = content.get("application/json", {}).get("schema")
            if not body_schema or not body_schema["properties"]:
                continue
            url = path.format(**values)
            properties = body_schema["properties"]
            required = {name: value_for(name, properties[name])
                        for name in body_schema.get("required", [])}  # fmt: skip
            every = {name: value_for(name, schema) for name, schema in properties.items()}
            for body in (required, every):
                answer = await users.admin.request(method.upper(), url, json=body)
                message = answer.json().get("message", "") if answer.status_code >= 400 else ""
                if NAME_PROBLEM.match(message):
                    problems.append((method, url, body, message))
            checked.append((method, path))
    assert problems == []
    assert ("post", "/jobs") in checked
    assert ("post", "/users/{user}/fs/rename/{rest}") in checked
    assert len(checked) > 40
    # The check above would see a wrong name: the service names it.
    answer = await users.admin.put("/groups/lab", json={"title": "T", "titel": "T"})
    assert answer.status_code == 400
    assert NAME_PROBLEM.match(answer.json()["message"])
