"""The cluster request grammar of spec 4.1: what parses, what not, and what the errors say."""

import subprocess
import sys

import pytest

from snakepit import scheduling
from snakepit.scheduling import (
    MAX_PER_NAME,
    MAX_PROCESSES,
    MAX_REQUEST_LENGTH,
    ClusterRequest,
    ProcessGroupRequest,
    RequestError,
    RequestLimitError,
    RequestSyntaxError,
    ResourceRequest,
    parse_request,
)


def group(count: int, *resources: tuple[int, str]) -> ProcessGroupRequest:
    return ProcessGroupRequest(count, tuple(ResourceRequest(n, name) for n, name in resources))


@pytest.mark.parametrize(
    ("text", "groups"),
    [
        ("[2:gtx1070]", [group(1, (2, "gtx1070"))]),
        ("2:[gtx1070]", [group(2, (1, "gtx1070"))]),
        ("2:[4:gtx1070]", [group(2, (4, "gtx1070"))]),
        ("[]", [group(1)]),
        ("2:[],4:[gtx1070,2:gtx1060]", [group(2), group(4, (1, "gtx1070"), (2, "gtx1060"))]),
        ("0:[0:a]", [group(0, (0, "a"))]),
        (
            "[A100,v100,GeForceGTX1080Ti]",
            [group(1, (1, "A100"), (1, "v100"), (1, "GeForceGTX1080Ti"))],
        ),
        ("[],[],[]", [group(1), group(1), group(1)]),
    ],
)
def test_the_examples_parse_and_render_back(text, groups):
    request = parse_request(text)
    assert request == ClusterRequest(tuple(groups))
    assert str(request) == text
    assert parse_request(str(request)) == request


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("1:[1:gtx]", "[gtx]"),
        ("01:[002:gtx]", "[2:gtx]"),
        ("[1:a,1:a]", "[2:a]"),
        ("[a,b,2:a]", "[3:a,b]"),
        ("2:[a],3:[a]", "2:[a],3:[a]"),
        ("[A,a]", "[A,a]"),
    ],
)
def test_counts_of_one_are_left_out_and_names_within_a_process_are_merged(text, canonical):
    assert str(parse_request(text)) == canonical
    assert parse_request(canonical) == parse_request(text)


def test_demand_and_names_count_what_a_job_really_needs():
    request = parse_request("2:[],4:[gtx1070,2:gtx1060],0:[v100],[0:a100,a]")
    assert dict(request.demand) == {"gtx1070": 4, "gtx1060": 8, "a": 1}
    assert request.names == {"gtx1070", "gtx1060", "a"}
    assert request.process_count == 7
    assert parse_request("3:[]").names == frozenset()


@pytest.mark.parametrize(
    ("text", "position", "message"),
    [
        ("", 0, 'expected a count or "[" at position 0 in "", found the end of the request'),
        ("2:gtx", 2, 'expected "[" at position 2 in "2:gtx", found "g"'),
        ("gtx", 0, 'expected a count or "[" at position 0 in "gtx", found "g"'),
        ("2", 1, 'expected ":" at position 1 in "2", found the end of the request'),
        ("2[a]", 1, 'expected ":" at position 1 in "2[a]", found "["'),
        (
            "[",
            1,
            'expected a resource name, a count or "]" at position 1 in "[", '
            "found the end of the request",
        ),
        ("[a", 2, 'expected "," or "]" at position 2 in "[a", found the end of the request'),
        ("[a-1]", 2, 'expected "," or "]" at position 2 in "[a-1]", found "-"'),
        ("[a,]", 3, 'expected a resource name or a count at position 3 in "[a,]", found "]"'),
        ("[2:3]", 3, 'expected a resource name at position 3 in "[2:3]", found "3"'),
        ("[2gtx]", 2, 'expected ":" at position 2 in "[2gtx]", found "g"'),
        ("[1gtx]", 2, 'expected ":" at position 2 in "[1gtx]", found "g"'),
        ("[_a]", 1, 'expected a resource name, a count or "]" at position 1 in "[_a]", found "_"'),
        ("[a]x", 3, 'expected "," or the end of the request at position 3 in "[a]x", found "x"'),
        (
            "[a],",
            4,
            'expected a count or "[" at position 4 in "[a],", found the end of the request',
        ),
        (
            "[a];[b]",
            3,
            'expected "," or the end of the request at position 3 in "[a];[b]", found ";"',
        ),
        ("[a]]", 3, 'expected "," or the end of the request at position 3 in "[a]]", found "]"'),
        (
            "[[a]]",
            1,
            'expected a resource name, a count or "]" at position 1 in "[[a]]", found "["',
        ),
        ("-1:[a]", 0, 'expected a count or "[" at position 0 in "-1:[a]", found "-"'),
        ('[a"]', 2, 'expected "," or "]" at position 2 in "[a"]", found \'"\''),
        ("[é]", 1, 'expected a resource name, a count or "]" at position 1 in "[é]", found "é"'),
        ("[a\x00]", 2, 'expected "," or "]" at position 2 in "[a?]", found U+0000'),
    ],
)
def test_syntax_errors_say_where_and_what_was_expected(text, position, message):
    with pytest.raises(RequestSyntaxError) as caught:
        parse_request(text)
    assert caught.value.position == position
    assert str(caught.value) == message
    assert caught.value.request == text
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("text", "position"),
    [
        (" []", 0),
        ("[] ", 2),
        ("2: [a]", 2),
        ("[2: a]", 3),
        ("[a, b]", 3),
        ("[a ]", 2),
        ("[\ta]", 1),
    ],
)
def test_whitespace_is_refused_anywhere(text, position):
    with pytest.raises(RequestSyntaxError, match=r"found whitespace \(none is allowed\)") as caught:
        parse_request(text)
    assert caught.value.position == position


def test_unicode_digits_and_letters_are_not_ascii_ones():
    for text in ["[\uff12:a]", "\u0662:[a]", "[\uff41]"]:
        with pytest.raises(RequestSyntaxError):
            parse_request(text)


def test_the_pointer_shows_a_caret_under_the_position():
    with pytest.raises(RequestSyntaxError) as caught:
        parse_request("2:[],4:[gtx1070;2:gtx1060]")
    assert caught.value.pointer == "2:[],4:[gtx1070;2:gtx1060]\n               ^"


def test_long_requests_are_quoted_as_an_excerpt():
    text = "[" + ",".join(["gtx"] * 40) + ";]"
    with pytest.raises(RequestSyntaxError) as caught:
        parse_request(text)
    position = text.index(";")
    assert caught.value.position == position
    excerpt, caret = caught.value.pointer.split("\n")
    assert excerpt.startswith("...")
    assert caret.index("^") == excerpt.index(";")
    assert f'in "{excerpt}"' in str(caught.value)
    assert len(str(caught.value)) < 160


def test_limits_on_one_name_per_process():
    assert parse_request(f"[{MAX_PER_NAME}:a]").groups[0].resources[0].count == MAX_PER_NAME
    with pytest.raises(RequestLimitError) as caught:
        parse_request(f"[b,{MAX_PER_NAME + 1}:a]")
    assert caught.value.position == 3
    assert str(caught.value) == (
        f'asked for {MAX_PER_NAME + 1} of "a" in one process at position 3 in '
        f'"[b,{MAX_PER_NAME + 1}:a]"; at most {MAX_PER_NAME} of one name are allowed per process'
    )


def test_merged_names_count_against_the_limit():
    assert str(parse_request(f"[{MAX_PER_NAME - 1}:a,a]")) == f"[{MAX_PER_NAME}:a]"
    with pytest.raises(RequestLimitError, match=f'asked for {MAX_PER_NAME + 1} of "a"') as caught:
        parse_request(f"[{MAX_PER_NAME}:a,b,a]")
    assert caught.value.position == len(f"[{MAX_PER_NAME}:a,b,")


def test_limits_on_processes_in_total():
    assert parse_request(f"{MAX_PROCESSES}:[]").process_count == MAX_PROCESSES
    assert parse_request(f"{MAX_PROCESSES - 1}:[],[a]").process_count == MAX_PROCESSES
    with pytest.raises(RequestLimitError) as caught:
        parse_request(f"{MAX_PROCESSES - 1}:[],2:[a]")
    assert caught.value.position == len(f"{MAX_PROCESSES - 1}:[],")
    assert str(caught.value).startswith(f"asked for {MAX_PROCESSES + 1} processes at position")
    assert str(caught.value).endswith(f"; at most {MAX_PROCESSES} are allowed in total")
    with pytest.raises(RequestLimitError):
        parse_request("9" * 400 + ":[]")


def test_limit_on_the_length():
    longest = "[" + "a" * (MAX_REQUEST_LENGTH - 2) + "]"
    assert parse_request(longest).names == {longest[1:-1]}
    text = longest + ","
    with pytest.raises(RequestLimitError) as caught:
        parse_request(text)
    assert str(caught.value) == (
        f"request is {len(text)} characters long; at most {MAX_REQUEST_LENGTH} are allowed"
    )
    assert caught.value.position == MAX_REQUEST_LENGTH


def test_every_request_error_is_a_value_error_with_a_position():
    for text in ["[", f"[{MAX_PER_NAME + 1}:a]", "x" * (MAX_REQUEST_LENGTH + 1)]:
        with pytest.raises(RequestError) as caught:
            parse_request(text)
        assert isinstance(caught.value, ValueError)
        assert 0 <= caught.value.position <= len(text)
        assert caught.value.pointer.count("\n") == 1


def test_the_package_is_pure_and_names_its_public_surface():
    assert len(set(scheduling.__all__)) == len(scheduling.__all__)
    assert all(hasattr(scheduling, name) for name in scheduling.__all__)
    probe = (
        "import sys, snakepit.scheduling; "
        "print(sorted({'trio', 'sqlite3', 'httpx', 'quart', 'socket'} & set(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"
