"""Accounts through the real HTTP server: registration, sign-in, profiles, passwords."""

import functools

import trio

from tests.conftest import PASSWORD, register, sign_in


async def test_first_user_becomes_administrator_and_later_ones_do_not(anon, service):
    assert (await anon.put("/users/first", json={"password": PASSWORD})).json()["admin"] is True
    assert (await anon.put("/users/second", json={"password": PASSWORD})).json()["admin"] is False
    async with service.client(await sign_in(anon, "first")) as first:
        assert (await first.get("/users/first")).json()["admin"] is True
        assert (await first.get("/users/second")).json()["admin"] is False


async def test_registration_creates_home_folder(anon, service):
    await register(anon, "carol")
    assert (service.config.data_root / "home" / "carol").is_dir()


async def test_registering_a_taken_name_is_refused(anon):
    await register(anon, "carol")
    answer = await anon.put("/users/carol", json={"password": "another password"})
    assert answer.status_code == 403
    assert answer.json()["message"] == "User already existing"
    # The original password still works: nothing was overwritten.
    await sign_in(anon, "carol")


async def test_registration_needs_a_password(anon):
    answer = await anon.put("/users/carol", json={"fullname": "Carol"})
    assert answer.status_code == 400
    assert answer.json()["message"] == "Missing field 'password'"
    assert (await anon.get("/users/carol/exists")).status_code == 404


async def test_ordinary_user_cannot_register_an_administrator(users, anon):
    answer = await anon.put("/users/mallory", json={"password": PASSWORD, "admin": True})
    assert answer.status_code == 403
    answer = await users.admin.put("/users/dave", json={"password": PASSWORD, "admin": True})
    assert answer.status_code == 200
    assert answer.json()["admin"] is True


async def test_exists(anon):
    await register(anon, "carol")
    assert (await anon.get("/users/carol/exists")).status_code == 200
    missing = await anon.get("/users/nobody/exists")
    assert missing.status_code == 404
    assert missing.json()["message"] == "User not found"


async def test_profile_shows_the_published_fields(users):
    alice = (await users.alice.get("/users/~")).json()
    assert alice == {
        "id": "alice",
        "fullname": "Alice",
        "email": "alice@example.org",
        "admin": False,
    }


async def test_only_self_or_admin_sees_a_profile(users):
    assert (await users.bob.get("/users/alice")).status_code == 403
    assert (await users.admin.get("/users/alice")).status_code == 200
    assert (await users.admin.get("/users/nobody")).status_code == 404


async def test_wrong_password_is_refused(users, anon):
    answer = await anon.post("/users/alice/authenticate", json={"password": "wrong"})
    assert answer.status_code == 400
    assert answer.json()["message"] == "Wrong password"
    unknown = await anon.post("/users/nobody/authenticate", json={"password": "x"})
    assert unknown.status_code == 404


async def test_repeated_failed_logins_are_slowed_down(users, anon, service):
    base = service.config.login_delay_s
    durations = []
    for _ in range(6):
        started = trio.current_time()
        answer = await anon.post("/users/alice/authenticate", json={"password": "guess"})
        durations.append(trio.current_time() - started)
        assert answer.status_code == 400
    # The first three failures are free; then the delay doubles: base, 2 base, 4 base.
    assert durations[3] >= base
    assert durations[5] >= 4 * base
    # Parallel guesses are queued behind each other, not answered at once.
    guess = functools.partial(anon.post, "/users/alice/authenticate", json={"password": "x"})
    started = trio.current_time()
    async with trio.open_nursery() as nursery:
        for _ in range(3):
            nursery.start_soon(guess)
    assert trio.current_time() - started >= (8 + 16 + 32) * base
    # The right password still works, after which the count starts again.
    await sign_in(anon, "alice")
    started = trio.current_time()
    await anon.post("/users/alice/authenticate", json={"password": "guess"})
    assert trio.current_time() - started < base


async def test_other_users_logins_are_not_slowed_by_a_guessing_attack(users, anon):
    for _ in range(5):
        await anon.post("/users/alice/authenticate", json={"password": "guess"})
    started = trio.current_time()
    await sign_in(anon, "bob")
    assert trio.current_time() - started < 1.0


async def test_update_needs_the_callers_own_password(users):
    answer = await users.alice.post("/users/~", json={"fullname": "Alice B."})
    assert answer.status_code == 403
    assert answer.json()["message"] == "Only verified access"
    answer = await users.alice.post(
        "/users/~", json={"fullname": "Alice B.", "verification": "wrong"}
    )
    assert answer.status_code == 401
    assert answer.json()["message"] == "Verification failed"
    answer = await users.alice.post(
        "/users/~", json={"fullname": "Alice B.", "email": "a@b.c", "verification": PASSWORD}
    )
    assert answer.status_code == 200
    profile = (await users.alice.get("/users/alice")).json()
    assert (profile["fullname"], profile["email"]) == ("Alice B.", "a@b.c")


async def test_admin_changes_another_user_with_the_admins_password(users):
    answer = await users.admin.post(
        "/users/alice", json={"fullname": "By Admin", "verification": PASSWORD}
    )
    assert answer.status_code == 200
    assert (await users.alice.get("/users/~")).json()["fullname"] == "By Admin"
    answer = await users.bob.post("/users/alice", json={"fullname": "x", "verification": PASSWORD})
    assert answer.status_code == 403


async def test_only_admins_grant_admin(users):
    answer = await users.alice.post("/users/~", json={"admin": True, "verification": PASSWORD})
    assert answer.status_code == 403
    assert answer.json()["message"] == "Not allowed"
    answer = await users.admin.post("/users/alice", json={"admin": True, "verification": PASSWORD})
    assert answer.status_code == 200
    assert (await users.alice.get("/users")).status_code == 200


async def test_the_last_administrator_cannot_be_demoted_or_deleted(users):
    answer = await users.admin.post("/users/~", json={"admin": False, "verification": PASSWORD})
    assert answer.status_code == 409
    assert "last administrator" in answer.json()["message"]
    assert (await users.admin.delete("/users/root")).status_code == 409
    assert (await users.admin.get("/users/root")).json()["admin"] is True


async def test_password_change_revokes_older_tokens(users, service, anon):
    old_token = users.alice.headers["X-Auth-Token"]
    answer = await users.alice.post(
        "/users/~", json={"password": "a brand new password", "verification": PASSWORD}
    )
    assert answer.status_code == 200
    new_token = answer.json()["token"]
    stale = await users.alice.get("/users/~")
    assert stale.status_code == 401
    assert "password has changed" in stale.json()["message"]
    async with service.client(new_token) as fresh:
        assert (await fresh.get("/users/~")).status_code == 200
    assert old_token != new_token
    assert (
        await anon.post("/users/alice/authenticate", json={"password": PASSWORD})
    ).status_code == 400
    await sign_in(anon, "alice", "a brand new password")


async def test_admin_resets_a_password(users, anon):
    answer = await users.admin.post(
        "/users/bob", json={"password": "reset by admin!", "verification": PASSWORD}
    )
    assert answer.status_code == 200
    assert "token" not in answer.json()
    assert (await users.bob.get("/users/~")).status_code == 401
    await sign_in(anon, "bob", "reset by admin!")


async def test_autoshare_is_replaced_and_cleared(users):
    for group in ("alpha", "beta"):
        await users.admin.put(f"/groups/{group}", json={"title": group})
    answer = await users.alice.post(
        "/users/~", json={"autoshare": ["beta", "alpha"], "verification": PASSWORD}
    )
    assert answer.status_code == 200
    assert (await users.alice.get("/users/~")).json()["autoshare"] == ["alpha", "beta"]
    missing = await users.alice.post(
        "/users/~", json={"autoshare": ["gamma"], "verification": PASSWORD}
    )
    assert missing.status_code == 404
    assert missing.json()["message"] == "Group not found: gamma"
    await users.alice.post("/users/~", json={"autoshare": [], "verification": PASSWORD})
    assert "autoshare" not in (await users.alice.get("/users/~")).json()


async def test_list_users_is_for_admins(users, anon):
    assert (await users.admin.get("/users")).json() == ["alice", "bob", "root"]
    assert (await users.alice.get("/users")).status_code == 403
    no_token = await anon.get("/users")
    assert no_token.status_code == 401
    assert no_token.json()["message"] == "No token"


async def test_membership_is_managed_by_admins(users):
    await users.admin.put("/groups/lab", json={"title": "The Lab"})
    assert (await users.alice.put("/users/alice/groups/lab")).status_code == 403
    assert (await users.admin.put("/users/alice/groups/lab")).status_code == 200
    assert (await users.admin.put("/users/alice/groups/lab")).status_code == 200  # idempotent
    assert (await users.alice.get("/users/~")).json()["groups"] == ["lab"]
    assert (await users.admin.put("/users/alice/groups/nolab")).status_code == 404
    assert (await users.admin.put("/users/nobody/groups/lab")).status_code == 404
    assert (await users.admin.delete("/users/alice/groups/lab")).status_code == 200
    assert "groups" not in (await users.alice.get("/users/~")).json()


async def test_deleting_a_user_moves_the_home_folder_aside(users, service, anon):
    home = service.config.data_root / "home" / "alice"
    (home / "results.txt").write_text("months of training")
    answer = await users.alice.delete("/users/~")
    assert answer.status_code == 200
    moved_to = answer.json()["movedTo"]
    assert moved_to.startswith("trash/user-alice-")
    assert moved_to in answer.json()["message"]
    kept = service.config.data_root / moved_to / "results.txt"
    assert kept.read_text() == "months of training"
    assert not home.exists()
    assert (await anon.get("/users/alice/exists")).status_code == 404
    # A new account of the same name starts with an empty home.
    await register(anon, "alice")
    assert list(home.iterdir()) == []


async def test_users_cannot_delete_each_other(users):
    assert (await users.bob.delete("/users/alice")).status_code == 403
    assert (await users.admin.delete("/users/alice")).status_code == 200


async def test_closed_registration_lets_only_admins_add_users(nursery, make_config):
    from tests.conftest import start_service

    service = await start_service(nursery, make_config(openRegistration=False))
    async with service.client() as anon:
        # The very first user can always register: otherwise nobody could administer.
        root_token = await register(anon, "root")
        refused = await anon.put("/users/eve", json={"password": PASSWORD})
        assert refused.status_code == 403
        assert "Registration is closed" in refused.json()["message"]
        async with service.client(root_token) as admin:
            assert (await admin.put("/users/eve", json={"password": PASSWORD})).status_code == 200
        await sign_in(anon, "eve")
    await service.stop()


async def test_password_hashing_does_not_block_other_requests(nursery, make_config):
    from tests.conftest import start_service

    # Cost 13 takes about half a second of CPU per hash.
    service = await start_service(nursery, make_config(hashRounds=13))
    async with service.client() as anon, service.client() as prober:
        registered = trio.Event()

        async def register_slowly() -> None:
            await anon.put("/users/carol", json={"password": PASSWORD})
            registered.set()

        hashing_started = trio.current_time()
        nursery.start_soon(register_slowly)
        slowest = 0.0
        probes = 0
        while not registered.is_set():
            started = trio.current_time()
            assert (await prober.get("/hello")).status_code == 200
            slowest = max(slowest, trio.current_time() - started)
            probes += 1
        hashing = trio.current_time() - hashing_started
        assert probes >= 5, "the hash finished too fast to observe anything"
        # Relative to the hash, not a fixed time (the machines are shared): a blocking hash
        # would hold a probe for the whole hash.
        assert slowest < hashing / 3, f"/hello took {slowest:.3f}s during a {hashing:.3f}s hash"
    await service.stop()


async def test_an_account_with_jobs_is_recreated_only_by_admins(users, service, anon):
    from tests.conftest import insert_job_directly

    assert (await users.bob.delete("/users/~")).status_code == 200
    insert_job_directly(service.config, "bob", title="left behind")
    refused = await anon.put("/users/bob", json={"password": PASSWORD})
    assert refused.status_code == 403
    assert refused.json()["message"].startswith("Only admins can re-create this account")
    assert (await users.admin.put("/users/bob", json={"password": PASSWORD})).status_code == 200
