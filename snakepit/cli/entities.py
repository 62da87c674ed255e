"""``add``, ``remove``, ``set``, ``get``, ``show``, ``add-group``, ``remove-group``, ``passwd``."""

import argparse
import json
import sys
from typing import Any

from snakepit.cli import prompts
from snakepit.cli.context import Context
from snakepit.cli.tables import RENDERERS, fields, job_row, job_table_header, resource_width
from snakepit.client import jobs
from snakepit.client.connection import route
from snakepit.client.domains import Entity, parse_entity
from snakepit.client.errors import ClientError

LISTS = {"users": "users", "groups": "groups", "nodes": "nodes", "aliases": "aliases"}


def parse_properties(assignments: list[str]) -> dict[str, Any]:
    """``key=value`` words as a JSON object, with the published client's coercions."""
    body: dict[str, Any] = {}
    for assignment in assignments:
        key, sep, value = assignment.partition("=")
        if not sep or not key:
            raise ClientError(f'Property assignments look like key=value, not "{assignment}"')
        if key == "cvd":
            try:
                body[key] = [int(part) for part in value.split(",") if part]
            except ValueError:
                raise ClientError(f"cvd takes numbers separated by commas: {value}") from None
        elif key == "autoshare":
            body[key] = [part for part in value.split(",") if part]
        elif key == "admin":
            body[key] = value.lower() in ("yes", "y", "true")
        else:
            body[key] = value
    return body


def _ask_missing(body: dict[str, Any], key: str, prompt: str, *, secret: bool = False) -> None:
    if key not in body:
        ask = prompts.ask_secret if secret else prompts.ask
        body[key] = ask(prompt)


def add(ctx: Context, args: argparse.Namespace) -> int:
    kinds = ("user", "node", "alias", "group")
    kind = args.entity.split(":")[0]
    if kind not in kinds:
        raise ClientError(f'Unknown entity type "{kind}"')
    entity = parse_entity(args.entity, kinds)
    body = parse_properties(args.properties)
    if entity.kind == "user":
        _ask_missing(body, "fullname", "Full name: ")
        if "email" not in body:
            body["email"] = prompts.ask_email()
        if "password" not in body:
            body["password"] = prompts.ask_new_password()
    elif entity.kind == "node":
        _ask_missing(body, "endpoint", "LXD endpoint: ")
        _ask_missing(body, "password", "LXD endpoint password: ", secret=True)
    elif entity.kind == "alias":
        _ask_missing(body, "name", "Exact resource name: ")
    else:
        _ask_missing(body, "title", "Group title: ")
    with ctx.session() as session:
        session.request("PUT", entity.route, body)
    return 0


def remove(ctx: Context, args: argparse.Namespace) -> int:
    entity = parse_entity(args.entity, ("user", "node", "job", "alias", "group"))
    with ctx.session() as session:
        session.request("DELETE", entity.route)
    return 0


def set_(ctx: Context, args: argparse.Namespace) -> int:
    entity = parse_entity(args.entity, ("user", "alias", "group"))
    body = parse_properties(args.assignments)
    with ctx.session() as session:
        if entity.kind == "user" and "verification" not in body:
            body["verification"] = ctx.password()
        session.request("POST", entity.route, body)
    return 0


def passwd(ctx: Context, args: argparse.Namespace) -> int:
    with ctx.session() as session:
        verification = ctx.password("Own password for verification: ")
        password = prompts.ask_new_password()
        session.request(
            "POST",
            route("users", args.username or "~"),
            {"verification": verification, "password": password},
        )
    return 0


def _print_value(value: Any) -> None:
    print(value if isinstance(value, str) else json.dumps(value))


def get(ctx: Context, args: argparse.Namespace) -> int:
    entity = parse_entity(args.entity, ("user", "node", "job", "alias", "group"))
    with ctx.session() as session:
        body = session.json("GET", entity.route)
    if not isinstance(body, dict) or args.property not in body:
        raise ClientError(f'The {entity.kind} has no property "{args.property}"')
    _print_value(body[args.property])
    return 0


def _emit_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2)
    sys.stdout.write("\n")


def show(ctx: Context, args: argparse.Namespace) -> int:
    what = args.entity
    with ctx.session() as session:
        if what in LISTS:
            answer = session.json("GET", LISTS[what])
            if args.json:
                _emit_json(answer)
            else:
                sys.stdout.write("".join(f"{item}\n" for item in answer or []))
            return 0
        if what == "jobs":
            filters = {}
            for assignment in args.params:
                key, sep, value = assignment.partition("=")
                if not sep:
                    raise ClientError(f'Job filters look like key=value, not "{assignment}"')
                filters[key] = value
            summaries, raw = jobs.list_jobs(session, filters)
            if args.json:
                _emit_json(raw)
                return 0
            width = resource_width()
            out = [job_table_header(width, with_date=True)]
            out.extend(job_row(job, width, with_date=True) for job in summaries)
            sys.stdout.write("".join(out))
            return 0
        entity = (
            Entity("user", "~")
            if what == "me"
            else parse_entity(what, ("user", "node", "job", "alias", "group"))
        )
        body = session.json("GET", entity.route)
    if args.json:
        _emit_json(body)
    else:
        sys.stdout.write(fields(RENDERERS[entity.kind](body or {})))
    return 0


def change_group(ctx: Context, args: argparse.Namespace, verb: str) -> int:
    entity = parse_entity(args.entity, ("user", "node", "job"), indices=True)
    with ctx.session() as session:
        session.request(verb, entity.route + "/groups/" + route(args.group))
    return 0


def add_group(ctx: Context, args: argparse.Namespace) -> int:
    return change_group(ctx, args, "PUT")


def remove_group(ctx: Context, args: argparse.Namespace) -> int:
    return change_group(ctx, args, "DELETE")
