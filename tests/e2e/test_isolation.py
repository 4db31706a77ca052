"""
Tenant isolation and roles: a tenant's users never see another tenant's
users, by list or by id (another tenant's id answers exactly like a missing
one); a session cookie moved to another tenant is worthless; members may not
read the user directory.
"""

import pytest

import kura_e2e as k


def users_of(client):
    r = client.get("/api/v1/users")
    assert r.status_code == 200, r.text
    body = r.json()
    assert isinstance(body.get("results"), list), body
    for u in body["results"]:
        assert {"id", "email", "displayName", "role", "status"} <= set(u), u
        assert isinstance(u["id"], str)
        assert "$argon2" not in str(u) and not any("password" in key.lower() for key in u), u
    return body["results"]


def test_user_list_shows_only_own_tenant(world):
    acme = users_of(world.login("acme_admin"))
    globex = users_of(world.login("globex_admin"))
    acme_emails = {u["email"] for u in acme}
    globex_emails = {u["email"] for u in globex}
    assert {"admin@acme.example", "member@acme.example"} <= acme_emails
    assert {"admin@globex.example", "member@globex.example"} <= globex_emails
    assert not any(e.endswith("@globex.example") for e in acme_emails), acme_emails
    assert not any(e.endswith("@acme.example") for e in globex_emails), globex_emails
    roles = {u["email"]: u["role"] for u in acme}
    assert roles["admin@acme.example"] == "super_admin"
    assert roles["member@acme.example"] == "member"


def test_user_by_id(world):
    c = world.login("acme_admin")
    for u in users_of(c):
        r = c.get(f"/api/v1/users/{u['id']}")
        assert r.status_code == 200, r.text
        got = r.json()
        assert got["id"] == u["id"] and got["email"] == u["email"], (got, u)


def test_other_tenants_user_id_is_404_like_a_missing_id(world):
    """Ids may be per-tenant sequences, so a globex id that acme also has
    would name acme's own user: pick globex ids acme does not have (adding
    globex users until there is one), and check each answers as a missing id
    does, down to the message."""
    a = world.login("acme_admin")
    g = world.login("globex_admin")
    acme_ids = {u["id"] for u in users_of(a)}
    for _ in range(8):
        foreign = [u for u in users_of(g) if u["id"] not in acme_ids]
        if foreign:
            break
        world.new_user("globex", role="member", prefix="filler")
    assert foreign, "could not find a globex user id that acme lacks"

    missing = a.get("/api/v1/users/987654321")
    k.assert_error(missing, 404, "not_found")
    reference = k.error_without_request_id(missing)
    for u in foreign:
        # globex itself can read it, so the id is real
        assert g.get(f"/api/v1/users/{u['id']}").status_code == 200
        r = a.get(f"/api/v1/users/{u['id']}")
        k.assert_error(r, 404, "not_found")
        assert u["email"] not in r.text
        assert k.error_without_request_id(r) == reference, "a foreign id answers unlike a missing one"
        assert set(r.headers) - {"X-Request-Id", "Date", "Content-Length"} == \
            set(missing.headers) - {"X-Request-Id", "Date", "Content-Length"}


def test_shared_ids_show_own_users_only(world):
    """Where both tenants have a user with the same id, each sees its own."""
    a = world.login("acme_admin")
    g = world.login("globex_admin")
    acme = {u["id"]: u["email"] for u in users_of(a)}
    globex = {u["id"]: u["email"] for u in users_of(g)}
    for uid in set(acme) & set(globex):
        assert a.get(f"/api/v1/users/{uid}").json()["email"] == acme[uid]
        assert g.get(f"/api/v1/users/{uid}").json()["email"] == globex[uid]


@pytest.mark.parametrize("bad_id", ["0", "-1", "abc", "1e3", "+1", " 1", "0x1", "99999999999999999999999"])
def test_malformed_user_id_is_404(world, bad_id):
    c = world.login("acme_admin")
    r = c.get(f"/api/v1/users/{bad_id}")
    k.assert_error(r, 404, "not_found")


@pytest.mark.parametrize("bad_id", ["1%00", "1%00x", "%31", "1%2f..", "1;x"])
def test_encoded_user_id_never_reads_a_user(world, bad_id):
    """An id with an encoded NUL or slash must not be cut down to "1" and
    answer user 1: it is 400 or 404."""
    c = world.login("acme_admin")
    r = c.get(f"/api/v1/users/{bad_id}")
    if bad_id == "%31":   # an encoded digit is just "1": either way, never another tenant's
        assert r.status_code in (200, 404)
        return
    assert r.status_code in (400, 404), f"{bad_id!r} answered {r.status_code}: {r.text[:200]}"
    k.assert_error(r, r.status_code)


def test_cookie_moved_to_other_tenant_is_401(world):
    c = world.login("acme_admin")
    assert c.me().status_code == 200
    tenant, dot, secret = c.cookie.partition(".")
    assert tenant == "acme" and dot, f"cookie value is not <tenant>.<secret>: {c.cookie!r}"
    for other in ("globex", "nosuchtenant"):
        r = c.get("/api/v1/me", cookie=f"{other}.{secret}")
        k.assert_error(r, 401, "unauthenticated")
        r = c.get("/api/v1/users", cookie=f"{other}.{secret}")
        k.assert_error(r, 401, "unauthenticated")
    # the genuine cookie still works
    assert c.me().json()["tenant"]["id"] == "acme"


def test_cross_tenant_login_refused(world):
    a = world.account("acme_admin")
    r = world.server.login_raw("globex", a.email, a.password)
    k.assert_error(r, 401, "invalid_credentials")


def test_csrf_token_is_bound_to_session(world):
    a = world.login("acme_admin")
    g = world.login("globex_admin")
    r = a.logout(csrf=g.csrf)
    k.assert_error(r, 403, "csrf_token_invalid")
    assert a.me().status_code == 200


@pytest.mark.parametrize("who", ["acme_member", "globex_member"])
def test_member_cannot_read_users(world, who):
    c = world.login(who)
    me = c.me()
    assert me.status_code == 200 and me.json()["user"]["role"] == "member"
    k.assert_error(c.get("/api/v1/users"), 403, "forbidden")
    k.assert_error(c.get(f"/api/v1/users/{c.user_id}"), 403, "forbidden")
    k.assert_error(c.get("/api/v1/users/987654321"), 403, "forbidden")


def test_member_created_by_cli_has_member_role(world):
    acct = world.new_user("acme", role="member", prefix="m2")
    r = world.server.login_raw(acct.tenant, acct.email, acct.password)
    assert r.status_code == 200, r.text
    assert r.json()["user"]["role"] == "member"


def test_same_email_in_two_tenants(world):
    """An e-mail is unique per tenant only: the same address in two tenants
    is two accounts, each with its own password and data."""
    email = f"shared-{k.secrets.token_hex(3)}@both.example"
    a = k.Account(email, "acme", email, "super_admin", "Shared Acme",
                  world.cli.user_create("acme", email, "super_admin", name="Shared Acme"))
    g = k.Account(email, "globex", email, "member", "Shared Globex",
                  world.cli.user_create("globex", email, "member", name="Shared Globex"))
    world.activate(a)
    world.activate(g)
    assert a.password != g.password
    k.assert_error(world.server.login_raw("acme", email, g.password), 401, "invalid_credentials")
    k.assert_error(world.server.login_raw("globex", email, a.password), 401, "invalid_credentials")
    ca = world.server.login("acme", email, a.password)
    cg = world.server.login("globex", email, g.password)
    assert ca.me().json()["user"]["role"] == "super_admin"
    assert cg.me().json()["user"]["role"] == "member"
    assert ca.me().json()["tenant"]["id"] == "acme" and cg.me().json()["tenant"]["id"] == "globex"
    # globex's session cookie secret, moved to acme, is not acme's session
    secret = cg.cookie.partition(".")[2]
    k.assert_error(ca.get("/api/v1/me", cookie=f"acme.{secret}"), 401, "unauthenticated")


def test_concurrent_sessions_never_cross(world):
    """Many requests at once from sessions of both tenants (and a member):
    every answer belongs to the session that asked, and no list ever holds
    the other tenant's users. Checks the per-tenant handle cache under
    concurrency; bounded to a few hundred requests."""
    import concurrent.futures
    clients = {key: world.login(key) for key in ("acme_admin", "globex_admin", "acme_member",
                                                  "globex_member")}
    jobs = []
    for i in range(60):
        for key in clients:
            jobs.append((key, "/api/v1/me" if i % 2 else "/api/v1/users"))

    def run(job):
        key, path = job
        c = clients[key]
        # a Session is not thread-safe: one plain request each
        r = k.requests.get(c.server.base + path, verify=c.server.cert, timeout=60,
                           headers={"Cookie": f"{k.COOKIE_NAME}={c.cookie}"})
        return key, path, r.status_code, r.text

    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as ex:
        results = list(ex.map(run, jobs))
    for key, path, status, text in results:
        acct = world.account(key)
        other = "globex" if acct.tenant == "acme" else "acme"
        if path == "/api/v1/me":
            assert status == 200, (key, status, text[:200])
            assert f'"email":"{acct.email}"' in text.replace(" ", ""), (key, text[:300])
        elif acct.role == "member":
            assert status == 403, (key, path, status)
        else:
            assert status == 200, (key, status, text[:200])
            assert f"@{other}.example" not in text, f"{key} saw {other}'s users: {text[:300]}"
            assert f"@{acct.tenant}.example" in text
