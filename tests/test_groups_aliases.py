"""Groups and aliases through the real HTTP server."""

from tests.conftest import PASSWORD


async def test_group_lifecycle(users, service):
    answer = await users.admin.put("/groups/lab", json={"title": "The Lab"})
    assert answer.status_code == 200
    assert (service.config.data_root / "groups" / "lab").is_dir()
    assert (await users.alice.get("/groups")).json() == ["lab"]
    assert (await users.alice.get("/groups/lab")).json() == {"id": "lab", "title": "The Lab"}
    again = await users.admin.put("/groups/lab", json={"title": "Again"})
    assert (again.status_code, again.json()["message"]) == (403, "Group already existing")
    assert (await users.admin.post("/groups/lab", json={"title": "Lab 2"})).status_code == 200
    assert (await users.alice.get("/groups/lab")).json()["title"] == "Lab 2"
    assert (await users.admin.post("/groups/nolab", json={"title": "x"})).status_code == 404


async def test_group_needs_a_title(users):
    answer = await users.admin.put("/groups/lab", json={})
    assert (answer.status_code, answer.json()["message"]) == (400, "Missing field 'title'")
    assert (await users.admin.get("/groups/lab")).status_code == 404


async def test_only_admins_change_groups(users):
    assert (await users.alice.put("/groups/lab", json={"title": "x"})).status_code == 403
    await users.admin.put("/groups/lab", json={"title": "x"})
    assert (await users.alice.post("/groups/lab", json={"title": "y"})).status_code == 403
    assert (await users.alice.delete("/groups/lab")).status_code == 403
    assert (await users.alice.get("/groups/lab")).json()["title"] == "x"


async def test_deleting_a_group_moves_its_data_aside_and_ends_memberships(users, service):
    await users.admin.put("/groups/lab", json={"title": "The Lab"})
    await users.admin.put("/users/alice/groups/lab")
    await users.alice.post("/users/~", json={"autoshare": ["lab"], "verification": PASSWORD})
    (service.config.data_root / "groups" / "lab" / "corpus.txt").write_text("data")
    answer = await users.admin.delete("/groups/lab")
    assert answer.status_code == 200
    moved_to = answer.json()["movedTo"]
    assert (service.config.data_root / moved_to / "corpus.txt").read_text() == "data"
    profile = (await users.alice.get("/users/~")).json()
    assert "groups" not in profile
    assert "autoshare" not in profile
    assert (await users.admin.delete("/groups/lab")).status_code == 404


async def test_alias_lifecycle(users):
    answer = await users.admin.put("/aliases/gtx", json={"name": "GeForce GTX 1070"})
    assert answer.status_code == 200
    assert (await users.alice.get("/aliases")).json() == ["gtx"]
    assert (await users.alice.get("/aliases/gtx")).json() == {
        "id": "gtx",
        "name": "GeForce GTX 1070",
    }
    again = await users.admin.put("/aliases/gtx", json={"name": "Other"})
    assert (again.status_code, again.json()["message"]) == (400, "Alias already existing")
    assert (await users.admin.post("/aliases/gtx", json={"name": "GTX 1080"})).status_code == 200
    assert (await users.alice.get("/aliases/gtx")).json()["name"] == "GTX 1080"
    assert (await users.alice.delete("/aliases/gtx")).status_code == 403
    assert (await users.admin.delete("/aliases/gtx")).status_code == 200
    assert (await users.admin.get("/aliases/gtx")).status_code == 404
    assert (await users.admin.delete("/aliases/gtx")).status_code == 404


async def test_two_aliases_cannot_name_the_same_model(users):
    await users.admin.put("/aliases/gtx", json={"name": "GeForce GTX 1070"})
    answer = await users.admin.put("/aliases/other", json={"name": "GeForce GTX 1070"})
    assert answer.status_code == 400
    assert "already has the alias gtx" in answer.json()["message"]
    await users.admin.put("/aliases/other", json={"name": "Tesla V100"})
    answer = await users.admin.post("/aliases/other", json={"name": "GeForce GTX 1070"})
    assert answer.status_code == 400
    assert (await users.admin.get("/aliases/other")).json()["name"] == "Tesla V100"
