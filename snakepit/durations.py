"""Parsing of human time values such as ``30s``, ``5m``, ``1h30m`` or ``1d``.

The published service parsed these with npm ``parse-duration``: the value is the sum of all
``<number><unit>`` fragments and a number without a unit counts as milliseconds. We keep that
meaning, but reject anything that does not parse completely instead of silently reading zero.
"""

import math
import re

#: Seconds per unit; plural forms are accepted by stripping a trailing ``s``.
#: Longest time value accepted: a hundred years.
MAX_SECONDS = 100 * 365 * 86400.0

UNIT_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "microsecond": 1e-6,
    "ms": 1e-3,
    "millisecond": 1e-3,
    "s": 1.0,
    "sec": 1.0,
    "second": 1.0,
    "m": 60.0,
    "min": 60.0,
    "minute": 60.0,
    "h": 3600.0,
    "hr": 3600.0,
    "hour": 3600.0,
    "d": 86400.0,
    "day": 86400.0,
    "w": 604800.0,
    "wk": 604800.0,
    "week": 604800.0,
    "month": 30.4375 * 86400.0,
    "y": 365.25 * 86400.0,
    "yr": 365.25 * 86400.0,
    "year": 365.25 * 86400.0,
}

_FRAGMENT = re.compile(r"\s*(\d+(?:\.\d+)?|\.\d+)\s*([a-zA-Zµμ]*)\s*")


class DurationError(ValueError):
    """A time value that cannot be read."""


def _unit_seconds(unit: str) -> float:
    if unit == "":
        return 1e-3
    unit = unit.lower()
    if unit in UNIT_SECONDS:
        return UNIT_SECONDS[unit]
    if unit.endswith("s") and unit[:-1] in UNIT_SECONDS:
        return UNIT_SECONDS[unit[:-1]]
    raise DurationError(f"unknown time unit {unit!r}")


def parse_duration_s(value: str | int | float) -> float:
    """Read a time value and return it in seconds.

    Args:
        value: ``"1h30m"``, ``"30s"``, ``"1d"``, ``"1500"`` (milliseconds) or a plain number
            (milliseconds, as the published service read ``pollInterval: 1000``).

    Raises:
        DurationError: the value is empty, negative, has an unknown unit, trailing garbage,
            or mixes fragments with and without units.
    """
    if isinstance(value, bool):
        raise DurationError("expected a time such as 30s, 5m or 1h30m, got a boolean")
    if isinstance(value, int | float):
        if value < 0:
            raise DurationError("a time cannot be negative")
        return _finite(float(value) / 1000.0, value)
    if not isinstance(value, str):
        raise DurationError(f"expected a time such as 30s, 5m or 1h30m, got {type(value).__name__}")
    text = value.strip()
    if not text:
        raise DurationError("empty time value")
    fragments = []
    position = 0
    while position < len(text):
        match = _FRAGMENT.match(text, position)
        if match is None or match.end() == position:
            raise DurationError(f"cannot read {value!r} as a time such as 30s, 5m or 1h30m")
        fragments.append((float(match.group(1)), match.group(2)))
        position = match.end()
    if len(fragments) > 1 and any(unit == "" for _, unit in fragments):
        # "1h30" would silently mean 1 h + 30 ms; make the author say what they mean.
        raise DurationError(f"a number in {value!r} has no unit; write 1h30m, not 1h30")
    return _finite(sum(number * _unit_seconds(unit) for number, unit in fragments), value)


def _finite(seconds: float, value: object) -> float:
    # A hundred digits make an infinite float: a deadline nobody meant.
    if not math.isfinite(seconds) or seconds > MAX_SECONDS:
        raise DurationError(f"{value!r} is longer than a hundred years")
    return seconds
