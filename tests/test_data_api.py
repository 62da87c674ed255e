"""The file-system API (``<prefix>/fs/...``) through the real service: what each operation
does, its errors with errno names, and who may do what in each domain."""

from tests.test_data_setup import World, world_fixture  # noqa: F401


async def test_attr_and_listing_of_a_home(world: World):
    answer = await world.carol.get("/users/~/fs/attr/notes.txt")
    assert answer.status_code == 200, answer.text
    attr = answer.json()
    assert attr["name"] == "notes.txt"
    assert attr["type"] == "file"
    assert attr["size"] == len("carol's notes\n")
    assert attr["inode"] == (world.data / "home" / "carol" / "notes.txt").stat().st_ino
    listing = (await world.carol.get("/users/carol/fs/dir")).json()
    assert [entry["name"] for entry in listing["entries"]] == ["notes.txt"]
