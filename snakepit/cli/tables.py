"""Text layouts of the published client: the job table and the ``show`` field lists."""

import math
import shutil
import sys
from collections.abc import Iterable, Mapping
from typing import Any

from snakepit.client.jobs import WAITING, JobSummary, state_letters

#: Width of the RESOURCE column when stdout is not a terminal of at least 84 columns.
DEFAULT_RESOURCE_WIDTH = 30
FIXED_WIDTH = 84


def resource_width() -> int:
    if sys.stdout.isatty():
        columns = shutil.get_terminal_size((0, 0)).columns
        if columns >= FIXED_WIDTH:
            return columns - FIXED_WIDTH
    return DEFAULT_RESOURCE_WIDTH


def _cell(text: str, width: int, right: bool = False) -> str:
    text = text[:width]
    return text.rjust(width) if right else text.ljust(width)


def percent(value: Any) -> str:
    """``round(value * 100)`` as the published client (``0`` for null, halves rounded up)."""
    if value is None:
        return "0"
    try:
        return str(math.floor(float(value) * 100 + 0.5))
    except (TypeError, ValueError):
        return "NaN"


def duration(since: tuple[int, int, int, int]) -> str:
    days, hours, minutes, seconds = since
    if days > 99:
        return f"{days}d"
    return f"{days:02d}d {hours:02d}:{minutes:02d}:{seconds:02d}"


def short_date(date: str) -> str:
    """An ISO timestamp in UTC as ``...Z`` (fits the 24-character DATE column)."""
    return date[:-6] + "Z" if date.endswith("+00:00") else date


def job_line(columns: Iterable[tuple[str, int, bool]]) -> str:
    cells = [_cell(text, width, right) for text, width, right in columns]
    return " ".join(cells) + "\n"


def job_table_header(width: int, *, with_date: bool = False) -> str:
    third = ("DATE", 24, False) if with_date else ("SINCE", 12, False)
    return job_line(
        [
            ("JOB", 6, True),
            ("S", 3, True),
            third,
            ("UC%", 3, True),
            ("UM%", 3, True),
            ("USER", 10, False),
            ("TITLE", 40, False),
            ("RESOURCE", width, False),
        ]
    )


def job_row(job: JobSummary, width: int, *, with_date: bool = False) -> str:
    third = (short_date(job.date), 24, False) if with_date else (duration(job.since), 12, False)
    return job_line(
        [
            (str(job.id), 6, True),
            (state_letters(job.state), 3, True),
            third,
            (percent(job.util_compute), 3, True),
            (percent(job.util_memory), 3, True),
            (job.user, 10, False),
            (job.title, 40, False),
            (job.resources, width, False),
        ]
    )


def fields(pairs: Iterable[tuple[str, str]]) -> str:
    """``Label: value`` lines with the values aligned after the longest label."""
    rows = list(pairs)
    if not rows:
        return ""
    longest = max(len(label) for label, _ in rows)
    return "".join(f"{label}:{' ' * (longest - len(label))} {value}\n" for label, value in rows)


def _joined(values: Any) -> str:
    return " ".join(str(value) for value in values) if isinstance(values, list) else ""


def user_fields(user: Mapping[str, Any]) -> list[tuple[str, str]]:
    rows = [("Username", str(user.get("id", "")))]
    if user.get("fullname"):
        rows.append(("Full name", str(user["fullname"])))
    if user.get("email"):
        rows.append(("E-Mail address", str(user["email"])))
    if user.get("groups"):
        rows.append(("Groups", _joined(user["groups"])))
    if user.get("autoshare"):
        rows.append(("Auto share", _joined(user["autoshare"])))
    rows.append(("Is administrator", "yes" if user.get("admin") else "no"))
    return rows


def node_fields(node: Mapping[str, Any]) -> list[tuple[str, str]]:
    rows = [("Node name", str(node.get("id", "")))]
    if node.get("address"):
        rows.append(("Address", str(node["address"])))
    rows.append(("State", "ONLINE" if node.get("online") else "OFFLINE"))
    if node.get("since"):
        rows.append(("Since", str(node["since"])))
    resources = node.get("resources") or []
    if resources:
        lines = []
        for position, resource in enumerate(resources):
            line = f'  {position}: "{resource.get("name")}"'
            if resource.get("alias"):
                line += f' aka "{resource["alias"]}"'
            line += f" ({resource.get('type')} {resource.get('index')})"
            if resource.get("groups"):
                line += " - Groups: " + _joined(resource["groups"])
            lines.append(line)
        rows.append(("Resources", "\n" + "\n".join(lines)))
    return rows


def job_fields(job: Mapping[str, Any]) -> list[tuple[str, str]]:
    rows = [("Job number", str(job.get("id", "")))]
    if job.get("continueJob"):
        rows.append(("Continued job", str(job["continueJob"])))
    rows.append(("Title", str(job.get("description") or "")))
    rows.append(("Owner", str(job.get("user") or "")))
    if job.get("groups"):
        rows.append(("Groups", _joined(job["groups"])))
    if job.get("error"):
        rows.append(("Error", f'"{job["error"]}"'))
    if job.get("provisioning"):
        rows.append(("Provisioning", str(job["provisioning"])))
    rows.append(("Resources", str(job.get("allocation") or job.get("resources") or "")))
    for label, key in (("Util. GPU", "utilComp"), ("Util. memory", "utilMem")):
        if job.get(key):
            rows.append((label, percent(job[key]) + " %"))
    state = state_letters(job.get("state"))
    if job.get("state") == WAITING:
        state += f" (position {job.get('schedulePosition')})"
    rows.append(("State", state))
    processes = job.get("processes") or []
    if processes:
        lines = []
        for process in processes:
            line = f"  [{process.get('groupIndex')}, {process.get('processIndex')}]: "
            status = process.get("status")
            line += f"Status code: {'?' if status is None else status}"
            if process.get("result"):
                line += f" - {process['result']}"
            lines.append(line)
        rows.append(("Processes", "\n" + "\n".join(lines)))
    changes = job.get("stateChanges") or []
    if changes:
        lines = []
        for change in changes:
            line = f"  {state_letters(change.get('state'))}: {change.get('since')}"
            if change.get("reason"):
                line += f" - {change['reason']}"
            lines.append(line)
        rows.append(("State changes", "\n" + "\n".join(lines)))
    return rows


def alias_fields(alias: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [("Alias", str(alias.get("id", ""))), ("For", str(alias.get("name", "")))]


def group_fields(group: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [("Name", str(group.get("id", ""))), ("Title", str(group.get("title") or ""))]


RENDERERS = {
    "user": user_fields,
    "node": node_fields,
    "job": job_fields,
    "alias": alias_fields,
    "group": group_fields,
}
