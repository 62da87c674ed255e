"""No path leaves its domain: traversal attempts, symlink tricks and cross-user and cross-job
names, against the real service and against the resolver directly."""

import os
from pathlib import Path

import pytest

from snakepit.data import Domain, Kind, Right, resolve, split_path
from snakepit.errors import ApiError
from tests.conftest import register
from tests.test_data_setup import World, world_fixture  # noqa: F401

SECRET = "bob's secret"


@pytest.mark.parametrize(
    ("text", "errno_name"),
    [
        ("..", "EINVAL"),
        ("a/../b", "EINVAL"),
        (".", "EINVAL"),
        ("a/./b", "EINVAL"),
        ("/etc/passwd", "EINVAL"),
        ("/", "EINVAL"),
        ("a//b", "EINVAL"),
        ("a/b\0c", "EINVAL"),
        ("x" * 256, "ENAMETOOLONG"),
        ("/".join(["d" * 200] * 21), "ENAMETOOLONG"),
        ("/".join(["ü" * 100] * 21), "ENAMETOOLONG"),
        ("a/\ud800", "EINVAL"),
    ],
)
def test_bad_components_are_refused_before_any_disk_access(text, errno_name):
    with pytest.raises(ApiError) as caught:
        split_path(text)
    assert caught.value.body()["errno"] == errno_name
    assert caught.value.status == 400


def test_plain_paths_split_into_components():
    assert split_path("") == ()
    assert split_path("a") == ("a",)
    assert split_path("a/b c/ü.txt") == ("a", "b c", "ü.txt")
    assert split_path("dir/") == ("dir",)
    assert split_path("..\\..\\etc") == ("..\\..\\etc",)  # a backslash is just a character
    assert split_path("x" * 255) == ("x" * 255,)


def make_tree(tmp_path: Path) -> tuple[Domain, Path]:
    """home/al (the domain) next to home/alice, with symlinks planted in al's folder."""
    al, alice = tmp_path / "home" / "al", tmp_path / "home" / "alice"
    for folder in (al / "sub", alice):
        folder.mkdir(parents=True)
    (alice / "private.txt").write_text("alice only")
    (al / "own.txt").write_text("al's")
    (al / "to-alice").symlink_to(alice)
    (al / "to-alice-file").symlink_to(alice / "private.txt")
    (al / "sub" / "up").symlink_to("../../alice")
    return Domain(Kind.HOME, al, may_read=True, may_write=True), alice


@pytest.mark.parametrize(
    "text",
    ["to-alice/private.txt", "sub/up/private.txt", "to-alice/x/y"],
)
def test_the_resolver_refuses_symlinks_on_the_way(tmp_path, text):
    domain, _ = make_tree(tmp_path)
    with pytest.raises(ApiError) as caught, resolve(domain, split_path(text), Right.READ):
        pass
    assert (caught.value.status, caught.value.body()["errno"]) == (403, "EACCES")


def test_the_resolver_stops_at_the_last_component_and_never_follows_it(tmp_path):
    domain, _ = make_tree(tmp_path)
    with resolve(domain, ("to-alice-file",), Right.READ) as target:
        assert target.lstat().st_size == len(os.fsencode(str(tmp_path / "home/alice/private.txt")))
        with pytest.raises(OSError, match="symbolic links"):
            target.open(os.O_RDONLY)
    with resolve(domain, ("own.txt",), Right.READ) as target:
        fd = target.open(os.O_RDONLY)
        assert os.read(fd, 10) == b"al's"
        os.close(fd)


def test_the_resolver_checks_the_right_before_the_path(tmp_path):
    domain, _ = make_tree(tmp_path)
    read_only = Domain(Kind.JOB, domain.root, may_read=True, may_write=False)
    nobody = Domain(Kind.HOME, tmp_path / "missing", may_read=False, may_write=False)
    for target, right, errno_name in [
        (read_only, Right.WRITE, "EROFS"),
        (nobody, Right.READ, "EACCES"),
        (nobody, Right.WRITE, "EACCES"),
    ]:
        with pytest.raises(ApiError) as caught, resolve(target, ("to-alice", "x"), right):
            pass
        assert caught.value.body()["errno"] == errno_name


# The same attempts over HTTP: (who, method, URL, JSON body, status, errno).
TRAVERSALS = [
    ("carol", "GET", "/users/carol/fs/data/%2e%2e/bob/secret.txt", None, 400, "EINVAL"),
    ("carol", "GET", "/users/carol/fs/data/%2E%2E%2Fbob%2Fsecret.txt", None, 400, "EINVAL"),
    ("carol", "GET", "/users/carol/fs/attr/sub/%2e%2e/%2e%2e/bob", None, 400, "EINVAL"),
    ("carol", "GET", "/users/carol/fs/attr/%2e", None, 400, "EINVAL"),
    ("carol", "GET", "/users/carol/fs/data/a%00b", None, 400, "EINVAL"),
    ("carol", "GET", "/users/carol/fs/data/..%5c..%5cbob%5csecret.txt", None, 404, "ENOENT"),
    ("carol", "GET", "/users/carol/fs/data/" + "n" * 256, None, 400, "ENAMETOOLONG"),
    ("carol", "GET", "/users/carol/simplefs/content/%2e%2e/bob/secret.txt", None, 400, "EINVAL"),
    ("carol", "GET", "/users/carol/simplefs/stats/%2e%2e", None, 400, "EINVAL"),
    ("carol", "GET", "/users/bob/fs/data/secret.txt", None, 403, "EACCES"),
    ("carol", "GET", "/users/bob/simplefs/content/secret.txt", None, 403, "EACCES"),
    ("bob", "GET", "/groups/lab/fs/data/corpus.txt", None, 403, "EACCES"),
    ("bob", "GET", "/jobs/{job}/fs/data/pit.log", None, 403, "EACCES"),
    ("dave", "GET", "/jobs/{private}/fs/data/pit.log", None, 403, "EACCES"),
    ("dave", "GET", "/jobs/{job}/fs/data/%2e%2e/{private}/pit.log", None, 400, "EINVAL"),
    ("carol", "GET", "/shared/fs/data/%2e%2e/home/bob/secret.txt", None, 400, "EINVAL"),
    ("carol", "POST", "/users/carol/fs/rename/notes.txt", {"to": "../bob/x"}, 400, "EINVAL"),
    ("carol", "POST", "/users/carol/fs/rename/notes.txt", {"to": "/tmp/x"}, 400, "EINVAL"),
    ("carol", "POST", "/users/carol/fs/create/%2e%2e%2fbob%2fplanted", {}, 400, "EINVAL"),
    (
        "carol",
        "PUT",
        "/users/carol/simplefs/stats/%2e%2e/bob/planted",
        {"type": "file"},
        400,
        "EINVAL",
    ),
    # Symlinks planted in carol's home and in the job's own folder (as a running job could).
    ("carol", "GET", "/users/carol/fs/data/to-bob/secret.txt", None, 403, "EACCES"),
    ("carol", "GET", "/users/carol/fs/data/to-bob-file", None, 403, "EACCES"),
    ("carol", "GET", "/users/carol/fs/dir/to-bob", None, 403, "EACCES"),
    ("carol", "GET", "/users/carol/fs/data/linked-parent/secret.txt", None, 403, "EACCES"),
    ("carol", "PUT", "/users/carol/fs/data/to-bob-file?offset=0", None, 403, "EACCES"),
    ("carol", "POST", "/users/carol/fs/setattr/to-bob-file", {"size": 0}, 403, "EACCES"),
    ("carol", "POST", "/users/carol/fs/create/to-bob/new", {}, 403, "EACCES"),
    ("carol", "GET", "/users/carol/simplefs/content/to-bob/secret.txt", None, 403, "EACCES"),
    ("carol", "GET", "/users/carol/simplefs/stats/to-bob-file", None, 403, "EACCES"),
    ("carol", "DELETE", "/users/carol/simplefs/stats/to-bob/secret.txt", None, 403, "EACCES"),
    ("dave", "GET", "/jobs/{job}/fs/data/results/secret.txt", None, 403, "EACCES"),
    ("dave", "GET", "/jobs/{job}/fs/dir/results", None, 403, "EACCES"),
    ("carol", "GET", "/jobs/{job}/simplefs/content/results/secret.txt", None, 403, "EACCES"),
    ("root", "GET", "/jobs/{job}/simplefs/content/results", None, 403, "EACCES"),
]


async def test_no_traversal_or_symlink_reaches_another_users_data(world: World):
    home = world.data / "home" / "carol"
    (home / "sub").mkdir()
    (home / "to-bob").symlink_to(world.data / "home" / "bob")
    (home / "to-bob-file").symlink_to(world.data / "home" / "bob" / "secret.txt")
    (home / "linked-parent").symlink_to("../bob")
    (world.pit() / "results").symlink_to(world.data / "home" / "bob")
    before = sorted(str(path) for path in world.data.rglob("*") if "carol" not in path.parts)
    for who, method, url, body, status, errno_name in TRAVERSALS:
        url = url.format(job=world.job, private=world.private)
        answer = await world.client(who).request(method, url, json=body)
        assert (answer.status_code, answer.json().get("errno")) == (status, errno_name), url
        assert SECRET not in answer.text
    assert (world.data / "home" / "bob" / "secret.txt").read_text() == SECRET + "\n"
    after = sorted(str(path) for path in world.data.rglob("*") if "carol" not in path.parts)
    assert after == before


async def test_symlinks_are_listed_as_links_but_never_followed(world: World):
    home = world.data / "home" / "carol"
    (home / "to-bob-file").symlink_to(world.data / "home" / "bob" / "secret.txt")
    attr = (await world.carol.get("/users/~/fs/attr/to-bob-file")).json()
    assert attr["type"] == "link"
    assert attr["size"] == len(str(world.data / "home" / "bob" / "secret.txt"))
    entries = (await world.carol.get("/users/~/fs/dir")).json()["entries"]
    assert {entry["name"]: entry["type"] for entry in entries} == {
        "notes.txt": "file",
        "to-bob-file": "link",
    }
    listing = (await world.carol.get("/users/~/simplefs/content/")).json()
    assert listing == {"dirs": [], "files": ["notes.txt"]}
    # Removing the link removes the link, not its target.
    assert (await world.carol.delete("/users/~/fs/file/to-bob-file")).status_code == 200
    assert (world.data / "home" / "bob" / "secret.txt").exists()


async def test_a_user_whose_name_prefixes_another_stays_in_their_own_home(world: World, anon):
    async with (
        world.service.client(await register(anon, "al")) as al,
        world.service.client(await register(anon, "alice")) as _,
    ):
        (world.data / "home" / "alice" / "diary.txt").write_text("alice's diary")
        for url in [
            "/users/al/fs/data/%2e%2e/alice/diary.txt",
            "/users/al/simplefs/content/%2e%2e/alice/diary.txt",
            "/users/al/simplefs/content/..%2Falice%2Fdiary.txt",
        ]:
            answer = await al.get(url)
            assert (answer.status_code, answer.json()["errno"]) == (400, "EINVAL")
        answer = await al.get("/users/alice/fs/data/diary.txt")
        assert (answer.status_code, answer.json()["errno"]) == (403, "EACCES")
        assert (await al.get("/users/al/fs/dir")).json() == {"entries": []}


async def test_an_absolute_path_never_reaches_the_root_file_system(world: World):
    # The router merges the doubled slash and redirects into the domain itself.
    for url in ["/users/carol/fs/data/%2fetc%2fpasswd", "/users/carol/fs/data//etc/passwd"]:
        answer = await world.carol.get(url)
        assert answer.status_code == 308
        assert answer.headers["Location"].endswith("/users/carol/fs/data/etc/passwd")
        assert "root:" not in answer.text
        answer = await world.carol.get(answer.headers["Location"])
        assert (answer.status_code, answer.json()["errno"]) == (404, "ENOENT")


async def test_names_that_are_not_text_are_refused(world: World):
    body = b'{"to": "x/\\udcff/\\ud800"}'  # JSON escapes of lone surrogates
    answer = await world.carol.post("/users/~/fs/rename/notes.txt", content=body)
    assert (answer.status_code, answer.json()["errno"]) == (400, "EINVAL")


async def test_a_name_that_is_not_utf8_is_listed_and_reached_byte_for_byte(world: World):
    home = os.fsencode(world.data / "home" / "carol")
    fd = os.open(home + b"/caf\xe9", os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC)
    os.write(fd, b"latin-1 name")
    os.close(fd)
    entries = (await world.carol.get("/users/~/fs/dir")).json()["entries"]
    name = next(entry["name"] for entry in entries if entry["name"] != "notes.txt")
    assert os.fsencode(name) == b"caf\xe9"
    assert (await world.carol.get("/users/~/fs/data/caf%E9")).content == b"latin-1 name"
    assert (await world.carol.get("/users/~/simplefs/content/caf%E9")).content == b"latin-1 name"
    answer = await world.carol.get("/users/~/fs/data/caf%E9%2Fx")
    assert (answer.status_code, answer.json()["errno"]) == (400, "EINVAL")
