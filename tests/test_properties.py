"""Property tests (hypothesis) of the three parsers hostile input meets first: the cluster request
grammar, the time-value parser and the data path resolver.

Each parser must either accept its input or refuse it with its own error type, whatever the
text; what it accepts must mean what a simple reference says it means; and no path, however
built, may resolve to anything outside its domain.
"""

import math
import os
from pathlib import Path
from urllib.parse import quote_from_bytes

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from snakepit.data.domains import Domain, Kind, Right
from snakepit.data.paths import NAME_MAX, PATH_MAX, split_encoded, split_path
from snakepit.data.resolver import resolve
from snakepit.durations import MAX_SECONDS, UNIT_SECONDS, DurationError, parse_duration_s
from snakepit.errors import ApiError
from snakepit.scheduling import (
    MAX_PER_NAME,
    ClusterRequest,
    ProcessGroupRequest,
    RequestError,
    ResourceRequest,
    parse_request,
)

#: No example database in the repository; no deadline on the shared 2-core machines.
PROPERTIES = settings(max_examples=400, deadline=None, database=None)

# -- the cluster request grammar -------------------------------------------------------------

GRAMMAR_TEXT = st.one_of(
    st.text(),
    st.text(alphabet="0123456789[]:,ab ", max_size=40),
    st.lists(st.sampled_from(["[", "]", ":", ",", "2", "0", "gtx", "[]", "\0", "é"])).map("".join),
)


@PROPERTIES
@given(GRAMMAR_TEXT)
def test_the_grammar_accepts_or_refuses_with_its_own_error(text: str) -> None:
    try:
        request = parse_request(text)
    except RequestError as error:
        check_points_into(error, text)
        return
    # Its canonical text reads back as the same request.
    assert parse_request(str(request)) == request


def check_points_into(error: RequestError, text: str) -> None:
    """The error's position lies in the text, and its pointer puts a caret under it."""
    assert 0 <= error.position <= len(text)
    excerpt, caret = error.pointer.split("\n")
    assert caret.endswith("^")
    assert len(caret) - 1 <= len(excerpt)


NAMES = st.from_regex(r"[a-zA-Z][a-zA-Z0-9]{0,8}", fullmatch=True)


@st.composite
def cluster_requests(draw: st.DrawFn) -> tuple[str, ClusterRequest]:
    """A request text written as a person might (counts of 1 given or left out), and what it
    means."""
    texts, groups = [], []
    for _ in range(draw(st.integers(1, 4))):
        names = draw(st.lists(NAMES, max_size=4, unique=True))
        resources, parts = [], []
        for name in names:
            count = draw(st.integers(0, MAX_PER_NAME))
            resources.append(ResourceRequest(count, name))
            spelled = name if count == 1 and draw(st.booleans()) else f"{count}:{name}"
            parts.append(spelled)
        count = draw(st.integers(0, 200))
        process = "[" + ",".join(parts) + "]"
        texts.append(process if count == 1 and draw(st.booleans()) else f"{count}:{process}")
        groups.append(ProcessGroupRequest(count, tuple(resources)))
    return ",".join(texts), ClusterRequest(tuple(groups))


@PROPERTIES
@given(cluster_requests())
def test_the_grammar_reads_valid_requests_as_written(written: tuple[str, ClusterRequest]) -> None:
    text, meant = written
    assert parse_request(text) == meant
    assert parse_request(str(meant)) == meant


@PROPERTIES
@given(NAMES, st.lists(st.integers(0, 20), min_size=2, max_size=5))
def test_a_name_repeated_in_one_process_is_merged(name: str, counts: list[int]) -> None:
    text = "[" + ",".join(f"{count}:{name}" for count in counts) + "]"
    if sum(counts) > MAX_PER_NAME:
        with pytest.raises(RequestError):
            parse_request(text)
    else:
        resources = parse_request(text).groups[0].resources
        assert resources == (ResourceRequest(sum(counts), name),)


# -- the time-value parser -------------------------------------------------------------------


@PROPERTIES
@given(st.one_of(st.text(), st.text(alphabet="0123456789.smhdwyµ μ\t", max_size=30)))
def test_a_time_value_is_read_or_refused_with_its_own_error(text: str) -> None:
    try:
        seconds = parse_duration_s(text)
    except DurationError:
        return
    assert isinstance(seconds, float)
    assert seconds >= 0
    assert not math.isnan(seconds)


#: Units with a plural form that means the same (``ms`` is not the plural of ``m``).
PLURALS = [unit for unit in UNIT_SECONDS if f"{unit}s" not in UNIT_SECONDS]
NUMBERS = st.one_of(
    st.integers(0, 10**6).map(str),
    st.tuples(st.integers(0, 999), st.integers(0, 999)).map(lambda pair: f"{pair[0]}.{pair[1]}"),
    st.integers(0, 999).map(lambda digits: f".{digits}"),
)


@st.composite
def durations(draw: st.DrawFn) -> tuple[str, float]:
    """A time value in the accepted syntax, and its length by a plain sum of the units."""
    texts, total = [], 0.0
    for _ in range(draw(st.integers(1, 4))):
        number = draw(NUMBERS)
        unit = draw(st.sampled_from(sorted(UNIT_SECONDS)))
        seconds = UNIT_SECONDS[unit]
        if unit in PLURALS and draw(st.booleans()):
            unit += "s"
        if unit.isascii() and draw(st.booleans()):
            unit = unit.upper()
        space = draw(st.sampled_from(["", " ", "\t"]))
        texts.append(f"{number}{space}{unit}")
        total += float(number) * seconds
    separator = draw(st.sampled_from(["", " ", "  "]))
    return separator.join(texts), total


@PROPERTIES
@given(durations())
def test_a_time_value_is_the_sum_of_its_parts(written: tuple[str, float]) -> None:
    text, seconds = written
    if seconds > MAX_SECONDS * (1 + 1e-9):
        with pytest.raises(DurationError, match="longer than a hundred years"):
            parse_duration_s(text)
        return
    assert math.isclose(parse_duration_s(text), seconds, rel_tol=1e-9, abs_tol=1e-12)


@PROPERTIES
@given(st.one_of(st.integers(0, 10**12), st.floats(0, 1e12)))
def test_a_bare_number_is_milliseconds(number: float) -> None:
    assert parse_duration_s(number) == number / 1000
    if isinstance(number, int):
        assert math.isclose(parse_duration_s(str(number)), number / 1000, rel_tol=1e-12)


@PROPERTIES
@given(st.one_of(st.integers(max_value=-1), st.floats(max_value=-1e-9), st.booleans()))
def test_a_negative_number_or_a_boolean_is_refused(value: float) -> None:
    with pytest.raises(DurationError):
        parse_duration_s(value)


# -- the path resolver -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def domain(tmp_path_factory: pytest.TempPathFactory) -> Domain:
    """A domain folder with symlinks planted to outside it, next to a folder it must not reach."""
    base = tmp_path_factory.mktemp("resolver")
    outside = base / "outside"
    outside.mkdir()
    (outside / "secret").write_text("not yours")
    root = base / "home" / "alice"
    (root / "dir" / "sub").mkdir(parents=True)
    (root / "file").write_text("mine")
    (root / "dir" / "file").write_text("mine")
    for link, target in [
        ("link", outside),
        ("root", Path("/")),
        ("up", Path("..")),
        ("dir/up2", Path("../..")),
        ("dir/sub/escape", Path("../../../../outside")),
        ("self", Path(".")),
        ("dangling", base / "nothing"),
        ("secret", outside / "secret"),
    ]:
        (root / link).symlink_to(target)
    return Domain(Kind.HOME, root, may_read=True, may_write=True)


PATH_PARTS = st.one_of(
    st.sampled_from(
        [
            "..",
            ".",
            "",
            "dir",
            "sub",
            "file",
            "link",
            "root",
            "up",
            "up2",
            "escape",
            "self",
            "dangling",
            "secret",
            "outside",
            "alice",
            "home",
            "\0",
            "a\0b",
            "é",
            "\udcff",
            "\\",
            "a" * NAME_MAX,
            "a" * (NAME_MAX + 1),
            "é" * 128,
        ]
    ),
    st.text(max_size=12),
)
PATHS = st.one_of(
    st.lists(PATH_PARTS, max_size=8).map("/".join),
    st.lists(PATH_PARTS, max_size=3).map(lambda parts: "/" + "/".join(parts)),
    st.text(),
    st.just("dir/" * (PATH_MAX // 4 + 1)),
)


def check_file_error(error: ApiError, names: tuple[str, ...]) -> None:
    """A refusal the client understands: a 4xx with one of the errno ``names``."""
    assert 400 <= error.status < 500
    assert error.extra["errno"] in names


def real_path(fd: int) -> str:
    return os.readlink(f"/proc/self/fd/{fd}")


@PROPERTIES
@given(text=PATHS, right=st.sampled_from(list(Right)))
@example(text="dir/file", right=Right.WRITE)
@example(text="secret", right=Right.READ)
@example(text="link/secret", right=Right.READ)
@example(text="up/outside/secret", right=Right.READ)
@example(text="dir/up2/outside/secret", right=Right.READ)
@example(text="dir/sub/escape/secret", right=Right.READ)
@example(text="root/etc/passwd", right=Right.READ)
@example(text="self/self/link/secret", right=Right.WRITE)
@example(text="../outside/secret", right=Right.READ)
def test_no_path_resolves_outside_its_domain(domain: Domain, text: str, right: Right) -> None:
    root = os.path.realpath(domain.root)
    try:
        parts = split_path(text)
        with resolve(domain, parts, right) as target:
            parent = real_path(target.dir_fd)
            assert parent == root or parent.startswith(root + "/")
            assert "/" not in target.name
            assert "\0" not in target.name
            assert target.name not in ("..", "")
            assert target.name != "." or not parts
            if target.is_root:
                return
            try:
                fd = target.open(os.O_RDONLY)
            except OSError:
                return  # a symlink, a missing file: refused, never followed
            try:
                opened = real_path(fd)
                assert opened == root or opened.startswith(root + "/"), (text, opened)
            finally:
                os.close(fd)
    except ApiError as error:
        check_file_error(error, ("EINVAL", "ENAMETOOLONG", "ENOENT", "EACCES", "ENOTDIR"))


@PROPERTIES
@given(st.lists(st.binary(max_size=20), max_size=6))
def test_raw_url_segments_give_plain_names_or_a_clear_refusal(segments: list[bytes]) -> None:
    encoded = [quote_from_bytes(segment).encode() for segment in segments]
    try:
        parts = split_encoded(encoded)
    except ApiError as error:
        check_file_error(error, ("EINVAL", "ENAMETOOLONG"))
        return
    for part in parts:
        assert part not in ("", ".", "..")
        assert "/" not in part
        assert "\0" not in part
        assert os.fsencode(part) in segments
