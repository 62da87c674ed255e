"""The published "simplefs" routes (``<prefix>/simplefs/<aspect>/<path>``), as the published
``pit`` client uses them: stats, listings, ranged downloads, create/truncate, mkdir -p,
uploads at an offset, recursive delete, and the read-only domains."""

import os
import re

import pytest

from tests.test_data_setup import World, world_fixture  # noqa: F401

ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


async def test_stats_of_files_and_directories(world: World):
    stats = (await world.carol.get("/users/~/simplefs/stats/notes.txt")).json()
    assert set(stats) == {"isFile", "size", "mtime", "atime", "ctime"}
    assert (stats["isFile"], stats["size"]) == (True, len("carol's notes\n"))
    assert all(ISO.fullmatch(stats[key]) for key in ("mtime", "atime", "ctime"))
    root = (await world.carol.get("/users/~/simplefs/stats/")).json()
    assert root["isFile"] is False
    os.mkfifo(world.data / "home" / "carol" / "pipe")
    for path, status in [("missing", 404), ("pipe", 404), ("notes.txt/x", 400)]:
        answer = await world.carol.get(f"/users/~/simplefs/stats/{path}")
        assert answer.status_code == status, path
        assert answer.json()["message"]


async def test_directory_content_lists_files_and_directories_only(world: World):
    home = world.data / "home" / "carol"
    (home / "b-dir").mkdir()
    (home / "a-dir").mkdir()
    (home / "link").symlink_to(home / "notes.txt")
    os.mkfifo(home / "pipe")
    answer = await world.carol.get("/users/~/simplefs/content/")
    assert answer.json() == {"dirs": ["a-dir", "b-dir"], "files": ["notes.txt"]}
    assert (await world.carol.get("/users/~/simplefs/content/a-dir")).json() == {
        "dirs": [],
        "files": [],
    }


@pytest.mark.parametrize(
    ("header", "status", "body", "content_range"),
    [
        (None, 200, b"0123456789", None),
        ("bytes=2-5", 206, b"2345", "bytes 2-5/10"),
        ("bytes=7-", 206, b"789", "bytes 7-9/10"),
        ("bytes=0-", 206, b"0123456789", "bytes 0-9/10"),
        ("bytes=8-100", 206, b"89", "bytes 8-9/10"),
        ("bytes=-3", 206, b"789", "bytes 7-9/10"),
        ("bytes=10-", 416, None, None),
        ("bytes=0-1,4-5", 416, None, None),
        ("bytes=abc", 400, None, None),
        ("items=0-1", 400, None, None),
        ("bytes=5-2", 400, None, None),
        ("bytes=-", 400, None, None),
    ],
)
async def test_file_content_with_and_without_a_range(world: World, header, status, body,
                                                     content_range):  # fmt: skip
    (world.data / "home" / "carol" / "digits").write_bytes(b"0123456789")
    headers = {"Range": header} if header else {}
    for route in ("/users/~/simplefs/content/digits", "/users/~/fs/data/digits"):
        answer = await world.carol.get(route, headers=headers)
        assert answer.status_code == status, (route, answer.text)
        if body is None:
            assert answer.json()["errno"] == "EINVAL"
            continue
        assert answer.content == body
        assert answer.headers["Content-Type"] == "application/octet-stream"
        assert answer.headers["Content-Length"] == str(len(body))
        assert answer.headers.get("Content-Range") == content_range


async def test_any_range_of_an_empty_file_is_not_satisfiable(world: World):
    (world.data / "home" / "carol" / "empty").write_bytes(b"")
    answer = await world.carol.get("/users/~/simplefs/content/empty")
    assert (answer.status_code, answer.content) == (200, b"")
    answer = await world.carol.get("/users/~/simplefs/content/empty", headers={"Range": "bytes=0-"})
    assert (answer.status_code, answer.json()["size"]) == (416, 0)


async def test_put_stats_creates_truncates_and_makes_directories(world: World):
    carol, home = world.carol, world.data / "home" / "carol"
    answer = await carol.put("/users/~/simplefs/stats/new.txt", json={"type": "file"})
    assert (answer.status_code, answer.content) == (200, b"")
    assert (home / "new.txt").read_bytes() == b""
    await carol.put("/users/~/simplefs/stats/sized", json={"type": "file", "size": 4})
    assert (home / "sized").read_bytes() == b"\0\0\0\0"
    await carol.put("/users/~/simplefs/stats/notes.txt", json={"type": "file", "size": 5})
    assert (home / "notes.txt").read_bytes() == b"carol"
    answer = await carol.put("/users/~/simplefs/stats/a/b/c", json={"type": "directory"})
    assert answer.status_code == 200
    assert (home / "a" / "b" / "c").is_dir()
    refusals = [
        ("a/b", {"type": "directory"}, 400),  # exists already
        ("notes.txt", {"type": "directory"}, 400),
        ("notes.txt/x", {"type": "directory"}, 400),
        ("a", {"type": "file"}, 400),  # a directory
        ("x", {"type": "fifo"}, 400),
        ("x", {}, 400),
        ("missing/x", {"type": "file"}, 404),
        ("", {"type": "directory"}, 400),
    ]
    for path, body, status in refusals:
        answer = await carol.put(f"/users/~/simplefs/stats/{path}", json=body)
        assert answer.status_code == status, (path, body, answer.text)
        assert answer.json()["message"]


async def test_put_content_truncates_at_the_offset_then_appends(world: World):
    carol, home = world.carol, world.data / "home" / "carol"
    (home / "upload").write_bytes(b"0123456789")
    answer = await carol.put(
        "/users/~/simplefs/content/upload",
        content=b"abc",
        headers={"Content-Offset": "4", "Content-Type": "application/octet-stream"},
    )
    assert (answer.status_code, answer.content) == (200, b"")
    assert (home / "upload").read_bytes() == b"0123abc"
    await carol.put("/users/~/simplefs/content/upload", content=b"new")
    assert (home / "upload").read_bytes() == b"new"
    for path, headers, status in [
        ("missing", {}, 400),
        ("", {}, 400),
        ("upload", {"Content-Offset": "x"}, 400),
        ("upload", {"Content-Offset": "-1"}, 400),
    ]:
        answer = await carol.put(f"/users/~/simplefs/content/{path}", content=b"z", headers=headers)
        assert answer.status_code == status, (path, headers)
    assert (home / "upload").read_bytes() == b"new"


async def test_a_resumed_upload_and_download_as_the_published_client_does_them(world: World):
    carol, home = world.carol, world.data / "home" / "carol"
    data = bytes(range(256)) * 100
    assert (await carol.get("/users/~/simplefs/stats/big")).status_code == 404
    await carol.put("/users/~/simplefs/stats/big", json={"type": "file"})
    await carol.put("/users/~/simplefs/content/big", content=data[:10000])
    remote = (await carol.get("/users/~/simplefs/stats/big")).json()["size"]
    await carol.put(
        "/users/~/simplefs/content/big",
        content=data[remote:],
        headers={"Content-Offset": str(remote)},
    )
    assert (home / "big").read_bytes() == data
    first = await carol.get("/users/~/simplefs/content/big", headers={"Range": "bytes=0-999"})
    rest = await carol.get("/users/~/simplefs/content/big", headers={"Range": "bytes=1000-"})
    assert first.content + rest.content == data


async def test_delete_is_recursive_and_never_takes_the_root(world: World):
    carol, home = world.carol, world.data / "home" / "carol"
    (home / "tree" / "deep" / "er").mkdir(parents=True)
    (home / "tree" / "deep" / "er" / "f").write_text("x")
    (home / "tree" / "bobs").symlink_to(world.data / "home" / "bob")
    assert (await carol.delete("/users/~/simplefs/stats/tree")).status_code == 200
    assert not (home / "tree").exists()
    assert (world.data / "home" / "bob" / "secret.txt").exists()  # not followed
    assert (await carol.delete("/users/~/simplefs/stats/notes.txt")).status_code == 200
    assert (await carol.delete("/users/~/simplefs/stats/notes.txt")).status_code == 404
    answer = await carol.delete("/users/~/simplefs/stats/")
    assert answer.status_code == 403
    assert home.is_dir()
    answer = await carol.delete("/users/~/simplefs/content/x")
    assert answer.status_code == 400


async def test_shared_is_read_only_for_everyone_and_open_to_anonymous_readers(world: World):
    assert (await world.anon.get("/shared/simplefs/content/readme.txt")).content == b"shared data\n"
    assert (await world.anon.get("/shared/simplefs/content/")).json()["files"] == ["readme.txt"]
    for client in (world.anon, world.carol, world.root):
        for method, path, body in [
            ("PUT", "/shared/simplefs/stats/x", {"type": "file"}),
            ("PUT", "/shared/simplefs/content/readme.txt", None),
            ("DELETE", "/shared/simplefs/stats/readme.txt", None),
            ("PUT", "/shared/simplefs/other/x", None),
        ]:
            answer = await client.request(method, path, json=body)
            assert (answer.status_code, answer.json()["errno"]) == (403, "EROFS")
    assert (world.data / "shared" / "readme.txt").read_text() == "shared data\n"
    forged = await world.anon.get("/shared/simplefs/stats/", headers={"X-Auth-Token": "bad"})
    assert forged.status_code == 401


async def test_a_jobs_folder_is_read_only_even_for_its_owner(world: World):
    prefix = f"/jobs/{world.job}/simplefs"
    assert (await world.carol.get(f"{prefix}/content/pit.log")).content == b"line 1\nline 2\n"
    assert (await world.dave.get(f"{prefix}/content/keep")).json() == {
        "dirs": [],
        "files": ["model.bin"],
    }
    for client in (world.carol, world.root):
        for method, path in [("PUT", "content/pit.log"), ("DELETE", "stats/keep")]:
            answer = await client.request(method, f"{prefix}/{path}", content=b"x")
            assert (answer.status_code, answer.json()["errno"]) == (403, "EROFS")
    answer = await world.bob.get(f"{prefix}/content/pit.log")
    assert (answer.status_code, answer.json()["errno"]) == (403, "EACCES")
    assert (world.pit() / "pit.log").read_bytes() == b"line 1\nline 2\n"


async def test_unknown_aspects_are_refused(world: World):
    answer = await world.carol.get("/users/~/simplefs/nothing/notes.txt")
    assert (answer.status_code, answer.json()["message"]) == (
        400,
        "Unknown simplefs aspect 'nothing': use stats or content",
    )
    answer = await world.carol.put("/users/~/simplefs/nothing/notes.txt")
    assert answer.status_code == 400
