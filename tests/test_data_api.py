"""The file-system API (``<prefix>/fs/...``) through the real service: what each operation
does, its errors with errno names, and who may do what in each domain."""

import os
import random
import shutil
import stat
from typing import Any

import pytest

from tests.conftest import register, start_service
from tests.test_data_setup import World, world_fixture  # noqa: F401

ROLES = ("anon", "carol", "dave", "bob", "root")

#: name: (prefix, folder below the data root, readers, writers, an existing file)
DOMAINS = {
    "shared": ("/shared", "shared", set(ROLES), set(), "readme.txt"),
    "home": ("/users/carol", "home/carol", {"carol", "root"}, {"carol", "root"}, "notes.txt"),
    "group": ("/groups/lab", "groups/lab", {"carol", "dave", "root"}, {"carol", "dave", "root"},
              "corpus.txt"),
    "job": ("/jobs/{job}", "pits/{job}", {"carol", "dave", "root"}, set(), "pit.log"),
    "private job": ("/jobs/{private}", "pits/{private}", {"carol", "root"}, set(), "pit.log"),
}  # fmt: skip


def expected(domain: str, role: str, write: bool) -> tuple[int, str | None]:
    """The status and errno ``role`` gets for a read or write in ``domain``."""
    _, _, readers, writers, _ = DOMAINS[domain]
    if role == "anon" and domain != "shared":
        return 401, None
    if role not in readers:
        return 403, "EACCES"
    if write and role not in writers:
        return 403, "EROFS"
    return 200, None


def operations(file: str, mine: str) -> list[tuple[str, str, Any, bool]]:
    """(method, path after the prefix, JSON body or raw bytes, writes?) for every route;
    ``mine`` is a file name prepared for this role, so that each write succeeds once."""
    return [
        ("GET", f"/fs/attr/{file}", None, False),
        ("GET", "/fs/attr", None, False),
        ("GET", "/fs/dir/", None, False),
        ("GET", f"/fs/data/{file}", None, False),
        ("GET", "/fs/statfs", None, False),
        ("GET", f"/simplefs/stats/{file}", None, False),
        ("GET", "/simplefs/content/", None, False),
        ("GET", f"/simplefs/content/{file}", None, False),
        ("PUT", f"/fs/data/{mine}?offset=1", b"xyz", True),
        ("POST", f"/fs/setattr/{mine}", {"mode": 0o640}, True),
        ("POST", f"/fs/create/{mine}.new", {}, True),
        ("POST", f"/fs/mkdir/{mine}.dir", {"mode": 0o750}, True),
        ("POST", f"/fs/rename/{mine}.new", {"to": f"{mine}.dir/moved"}, True),
        ("DELETE", f"/fs/file/{mine}.dir/moved", None, True),
        ("DELETE", f"/fs/dir/{mine}.dir", None, True),
        ("PUT", f"/simplefs/stats/{mine}.d/e", {"type": "directory"}, True),
        ("PUT", f"/simplefs/stats/{mine}.d/f", {"type": "file", "size": 3}, True),
        ("PUT", f"/simplefs/content/{mine}.d/f", b"abc", True),
        ("DELETE", f"/simplefs/stats/{mine}.d", None, True),
    ]


@pytest.mark.parametrize("domain", list(DOMAINS))
async def test_every_route_answers_every_role_by_the_domains_rights(world: World, domain):
    prefix, folder, _, _, file = DOMAINS[domain]
    prefix = prefix.format(job=world.job, private=world.private)
    folder_path = world.data / folder.format(job=world.job, private=world.private)
    for role in ROLES:
        mine = f"{role}-file"
        (folder_path / mine).write_text("0123456789")
        for method, path, body, write in operations(file, mine):
            raw = isinstance(body, bytes)
            answer = await world.client(role).request(
                method,
                prefix + path,
                content=body if raw else None,
                json=None if raw else body,
            )
            status, errno_name = expected(domain, role, write)
            assert answer.status_code == status, (role, method, path, answer.text)
            if status == 200:
                continue
            assert answer.json()["message"]
            assert answer.json().get("errno") == errno_name, (role, method, path)
    writers = DOMAINS[domain][3]
    for role in ROLES:
        written = (folder_path / f"{role}-file").read_bytes()
        assert written == (b"0xyz456789" if role in writers else b"0123456789")
        if role in writers:
            assert stat.S_IMODE((folder_path / f"{role}-file").stat().st_mode) == 0o640
            assert not (folder_path / f"{role}-file.new").exists()  # renamed, then removed
            assert not (folder_path / f"{role}-file.dir").exists()
            assert not (folder_path / f"{role}-file.d").exists()


async def test_the_tilde_is_the_signed_in_user(world: World):
    assert (await world.carol.get("/users/~/fs/attr/notes.txt")).status_code == 200
    answer = await world.bob.get("/users/~/fs/data/secret.txt")
    assert answer.content == b"bob's secret\n"
    assert (await world.anon.get("/users/~/fs/attr")).status_code == 401


async def test_attributes_are_those_of_the_file_and_stable(world: World):
    path = world.data / "home" / "carol" / "notes.txt"
    attr = (await world.carol.get("/users/~/fs/attr/notes.txt")).json()
    status = path.stat()
    assert attr == {
        "name": "notes.txt",
        "type": "file",
        "inode": status.st_ino,
        "size": status.st_size,
        "mode": stat.S_IMODE(status.st_mode),
        "nlink": 1,
        "mtimeNs": status.st_mtime_ns,
        "ctimeNs": status.st_ctime_ns,
        "atimeNs": status.st_atime_ns,
    }
    root = (await world.carol.get("/users/~/fs/attr/")).json()
    assert (root["name"], root["type"]) == ("", "dir")
    assert root["inode"] == (await world.carol.get("/users/~/fs/attr")).json()["inode"]
    renamed = await world.carol.post("/users/~/fs/rename/notes.txt", json={"to": "kept.txt"})
    assert renamed.json()["inode"] == attr["inode"]
    assert renamed.json()["name"] == "kept.txt"


async def test_a_listing_gives_every_entry_with_its_attributes_in_one_answer(world: World):
    home = world.data / "home" / "carol"
    (home / "sub").mkdir()
    os.mkfifo(home / "pipe")
    for number in range(50):
        (home / "sub" / f"f{number:02}").write_bytes(b"x" * number)
    entries = (await world.carol.get("/users/~/fs/dir/sub")).json()["entries"]
    assert [entry["name"] for entry in entries] == [f"f{number:02}" for number in range(50)]
    assert [entry["size"] for entry in entries] == list(range(50))
    top = (await world.carol.get("/users/~/fs/dir")).json()["entries"]
    assert {entry["name"]: entry["type"] for entry in top} == {
        "notes.txt": "file",
        "pipe": "other",
        "sub": "dir",
    }
    answer = await world.carol.get("/users/~/fs/data/pipe")  # must not hang on the FIFO
    assert (answer.status_code, answer.json()["errno"]) == (400, "EINVAL")


async def test_create_write_read_truncate_and_set_times(world: World):
    carol = world.carol
    created = await carol.post("/users/~/fs/create/new.bin", json={"mode": 0o600})
    assert created.status_code == 200
    assert (created.json()["size"], created.json()["mode"]) == (0, 0o600)
    again = await carol.post("/users/~/fs/create/new.bin", json={})
    assert (again.status_code, again.json()["errno"]) == (409, "EEXIST")
    written = await carol.put("/users/~/fs/data/new.bin?offset=0", content=b"hello world")
    assert written.json() == {"size": 11}
    written = await carol.put("/users/~/fs/data/new.bin?offset=6", content=b"WORLD")
    assert written.json() == {"size": 11}  # no truncation
    written = await carol.put("/users/~/fs/data/new.bin?offset=13", content=b"!")
    assert written.json() == {"size": 14}  # a hole before it
    assert (await carol.get("/users/~/fs/data/new.bin")).content == b"hello WORLD\0\0!"
    changed = await carol.post(
        "/users/~/fs/setattr/new.bin",
        json={"size": 5, "atimeNs": 1_000_000_123, "mtimeNs": 2_000_000_456, "mode": 0o644},
    )
    assert changed.status_code == 200
    attr = changed.json()
    assert (attr["size"], attr["mode"], attr["atimeNs"], attr["mtimeNs"]) == (
        5,
        0o644,
        1_000_000_123,
        2_000_000_456,
    )
    only_mtime = await carol.post("/users/~/fs/setattr/new.bin", json={"mtimeNs": 7})
    assert (only_mtime.json()["atimeNs"], only_mtime.json()["mtimeNs"]) == (1_000_000_123, 7)
    assert (await carol.get("/users/~/fs/data/new.bin")).content == b"hello"
    truncated = await carol.post("/users/~/fs/create/new.bin", json={"exclusive": False})
    assert truncated.json()["size"] == 0
    assert truncated.json()["inode"] == attr["inode"]


async def test_set_id_bits_are_not_for_remote_clients(world: World):
    answer = await world.carol.post("/users/~/fs/create/tool", json={"mode": 0o4755})
    assert answer.json()["mode"] == 0o755
    answer = await world.carol.post("/users/~/fs/setattr/tool", json={"mode": 0o2777})
    assert answer.json()["mode"] == 0o777
    answer = await world.carol.post("/users/~/fs/setattr/tool", json={"mode": 0o17777})
    assert (answer.status_code, answer.json()["errno"]) == (400, "EINVAL")


async def test_directories_rename_and_removal(world: World):
    carol = world.carol
    assert (await carol.post("/users/~/fs/mkdir/a", json={})).json()["type"] == "dir"
    assert (await carol.post("/users/~/fs/mkdir/a/b", json={})).status_code == 200
    assert (await carol.post("/users/~/fs/create/a/b/f", json={})).status_code == 200
    checks = [
        ("POST", "/fs/mkdir/a", {}, 409, "EEXIST"),
        ("POST", "/fs/mkdir/missing/x", {}, 404, "ENOENT"),
        ("POST", "/fs/create/notes.txt/x", {}, 400, "ENOTDIR"),
        ("GET", "/fs/attr/notes.txt/x", None, 400, "ENOTDIR"),
        ("GET", "/fs/data/a", None, 400, "EISDIR"),
        ("PUT", "/fs/data/a?offset=0", None, 400, "EISDIR"),
        ("PUT", "/fs/data/nothing?offset=0", None, 404, "ENOENT"),
        ("PUT", "/fs/data/notes.txt?offset=-1", None, 400, "EINVAL"),
        ("GET", "/fs/dir/notes.txt", None, 400, "ENOTDIR"),
        ("DELETE", "/fs/dir/a", None, 409, "ENOTEMPTY"),
        ("DELETE", "/fs/dir/notes.txt", None, 400, "ENOTDIR"),
        ("DELETE", "/fs/file/a", None, 400, "EISDIR"),
        ("DELETE", "/fs/file/none", None, 404, "ENOENT"),
        ("DELETE", "/fs/dir", None, 403, "EACCES"),
        ("DELETE", "/fs/file/", None, 403, "EACCES"),
        ("POST", "/fs/rename", {"to": "x"}, 403, "EACCES"),
        ("POST", "/fs/rename/a", {"to": "a/b/c"}, 400, "EINVAL"),
        ("POST", "/fs/rename/a", {"to": ""}, 403, "EACCES"),
        ("POST", "/fs/rename/none", {"to": "x"}, 404, "ENOENT"),
        ("POST", "/fs/rename/notes.txt", {"to": "a", "noReplace": True}, 409, "EEXIST"),
        ("POST", "/fs/rename/notes.txt", {"to": "a"}, 400, "EISDIR"),
        ("POST", "/fs/setattr/a", {"size": 0}, 400, "EISDIR"),
        ("GET", "/fs/statfs/a", None, 400, "EINVAL"),
        ("GET", "/fs/data/" + "x" * 300, None, 400, "ENAMETOOLONG"),
    ]
    for method, path, body, status, errno_name in checks:
        answer = await carol.request(method, "/users/~" + path, json=body)
        assert (answer.status_code, answer.json().get("errno")) == (status, errno_name), path
        assert answer.json()["message"]
    moved = await carol.post("/users/~/fs/rename/a/b/f", json={"to": "g", "noReplace": True})
    assert moved.json()["name"] == "g"
    replaced = await carol.post("/users/~/fs/rename/g", json={"to": "notes.txt"})
    assert replaced.json()["size"] == 0
    assert (await carol.delete("/users/~/fs/dir/a/b")).json() == {}
    assert (await carol.delete("/users/~/fs/dir/a/")).json() == {}
    assert sorted(path.name for path in (world.data / "home" / "carol").iterdir()) == ["notes.txt"]


async def test_statfs_says_read_only_where_the_caller_may_not_write(world: World):
    for client, prefix, read_only in [
        (world.carol, "/users/~", False),
        (world.dave, "/groups/lab", False),
        (world.anon, "/shared", True),
        (world.root, "/shared", True),
        (world.dave, f"/jobs/{world.job}", True),
        (world.root, f"/jobs/{world.job}", True),
    ]:
        answer = (await client.get(prefix + "/fs/statfs")).json()
        assert answer["readOnly"] is read_only
        assert answer["nameMax"] == 255
        assert answer["blocks"] >= answer["blocksFree"] >= answer["blocksAvail"] >= 0


async def test_a_missing_domain_folder_is_not_found(world: World):
    shutil.rmtree(world.pit())
    answer = await world.carol.get(f"/jobs/{world.job}/fs/attr")
    assert (answer.status_code, answer.json()["errno"]) == (404, "ENOENT")
    answer = await world.carol.get(f"/jobs/{world.job}/simplefs/content/")
    assert answer.status_code == 404
    shutil.rmtree(world.data / "groups" / "lab")
    answer = await world.dave.get("/groups/lab/fs/dir")
    assert (answer.status_code, answer.json()["errno"]) == (404, "ENOENT")


async def test_deleted_users_and_groups_and_unknown_jobs(world: World):
    assert (await world.bob.delete("/users/bob")).status_code == 200
    answer = await world.root.get("/users/bob/fs/attr")
    assert (answer.status_code, answer.json()["message"]) == (404, "User not found")
    assert answer.json()["errno"] == "ENOENT"
    assert (await world.root.delete("/groups/lab")).status_code == 200
    answer = await world.root.get("/groups/lab/fs/dir")
    assert (answer.status_code, answer.json()["errno"]) == (404, "ENOENT")
    answer = await world.carol.get("/groups/lab/fs/dir")  # no longer a member
    assert (answer.status_code, answer.json()["errno"]) == (403, "EACCES")
    answer = await world.carol.get("/jobs/99999/fs/attr")
    assert (answer.status_code, answer.json()["message"]) == (404, "Job not found")


@pytest.mark.parametrize(
    ("method", "url", "body", "status", "message"),
    [
        ("GET", "/users/Carol/fs/attr", None, 400, "Wrong user id format"),
        ("GET", "/groups/lab1/fs/attr", None, 400, "Wrong group id format"),
        ("GET", "/jobs/x1/fs/attr", None, 400, "Wrong job id format"),
        ("GET", "/users/~/fs/nothing/x", None, 404, "No such file-system operation: 'nothing'"),
        ("PUT", "/users/~/fs/attr/x", None, 405, "Method PUT not allowed for fs/attr"),
        ("POST", "/users/~/fs/create/x", [1], 400, "JSON body must be an object"),
        ("POST", "/users/~/fs/create/x", {"modes": 1}, 400, "Unknown field 'modes'"),
        ("POST", "/users/~/fs/create/x", {"mode": "rw"}, 400,
         "Field 'mode' must be a whole number"),
        ("POST", "/users/~/fs/rename/notes.txt", {}, 400, "Missing field 'to'"),
        ("POST", "/users/~/fs/setattr/notes.txt", {"size": 2**64}, 400,
         "Field 'size' is too large (at most 9223372036854775807)"),
        ("GET", "/users/~/fs/attr?offset=1&x=2", None, 400, "Unknown query parameter x"),
        ("PUT", "/users/~/fs/data/notes.txt?offset=1x", None, 400,
         "Query parameter offset must be a whole number, not '1x'"),
    ],
)  # fmt: skip
async def test_bad_input_is_a_400_naming_the_problem(world: World, method, url, body, status,
                                                     message):  # fmt: skip
    answer = await world.carol.request(method, url, json=body)
    assert (answer.status_code, answer.json()["message"]) == (status, message)


async def test_writes_larger_than_the_body_limit_are_refused(nursery, make_config):
    service = await start_service(nursery, make_config(maxBodySize=4096))
    async with service.client() as anon:
        token = await register(anon, "carol")
    async with service.client(token) as carol:
        (service.config.data_root / "home" / "carol" / "f").write_bytes(b"")

        async def chunks():
            for _ in range(10):
                yield b"y" * 1000

        answer = await carol.put("/users/~/fs/data/f?offset=0", content=chunks())
        assert (answer.status_code, answer.json()["errno"]) == (413, "EFBIG"), answer.text
        answer = await carol.put("/users/~/fs/data/f?offset=0", content=b"z" * 5000)
        assert answer.status_code == 413
        answer = await carol.put("/users/~/fs/data/f?offset=0", content=b"z" * 4000)
        assert answer.json() == {"size": 4000}
        # simplefs refuses a declared length over the limit before it truncates anything,
        answer = await carol.put("/users/~/simplefs/content/f", content=b"w" * 5000)
        assert (answer.status_code, answer.json()["errno"]) == (413, "EFBIG")
        assert (service.config.data_root / "home" / "carol" / "f").read_bytes() == b"z" * 4000
        # and takes a chunked upload of any length, as the published client sends one.
        answer = await carol.put("/users/~/simplefs/content/f", content=chunks())
        assert answer.status_code == 200
        assert (service.config.data_root / "home" / "carol" / "f").read_bytes() == b"y" * 10000
    await service.stop()


async def test_random_bodies_and_heads_never_cause_a_server_error(world: World):
    generator = random.Random(5)
    alphabet = b'{}[]":,0123456789abcdefnulltruemodesizetoexclusive \\\x00\xff'
    routes = [
        ("POST", "/users/~/fs/create/fuzz"),
        ("POST", "/users/~/fs/mkdir/fuzzdir"),
        ("POST", "/users/~/fs/rename/notes.txt"),
        ("POST", "/users/~/fs/setattr/notes.txt"),
        ("PUT", "/users/~/simplefs/stats/fuzz2"),
        ("DELETE", "/users/~/fs/file/none"),
    ]
    for _ in range(15):
        for method, path in routes:
            body = bytes(generator.choice(alphabet) for _ in range(generator.randrange(0, 80)))
            answer = await world.carol.request(method, path, content=body)
            assert answer.status_code < 500, (method, path, body, answer.text)
            if answer.status_code >= 400:
                assert answer.json()["message"]
    for path in ("/users/~/fs/data/notes.txt", "/users/~/simplefs/content/notes.txt"):
        answer = await world.carol.head(path)
        assert (answer.status_code, answer.content) == (200, b"")
        assert answer.headers["Content-Length"] == str(len("carol's notes\n"))
    assert (await world.carol.get("/users/~/fs/attr/notes.txt")).status_code == 200
