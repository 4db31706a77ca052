"""
User management and sessions, black-box: invite (create with a one-time
password), change (name, role, status), delete, one's own sessions and any
user's sessions (forced sign-out). For every endpoint: success, validation
failure, forbidden (member and read_only; admin against super admin), and
another tenant's data (answered exactly like a missing id, nothing changed).
Every successful change leaves one audit entry.

Rules on the number of super admins are tested in tenants of their own, so
the shared world's acme and globex keep their one super admin each.
"""

import json
import re
import threading

import pytest

import kura_e2e as k

RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
USER_FIELDS = {"id", "email", "displayName", "role", "status", "createdAt"}
SESSION_FIELDS = {"id", "createdAt", "lastSeenAt", "expiresAt", "ip", "userAgent", "current"}
MISSING_ID = "987654321"
MUTATIONS = [
    ("POST", "/api/v1/users"),
    ("PATCH", "/api/v1/users/{id}"),
    ("DELETE", "/api/v1/users/{id}"),
    ("DELETE", "/api/v1/users/{id}/sessions"),
    ("DELETE", "/api/v1/sessions/{sid}"),
]


# ---------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def acme(world):
    """acme's callers by role: the world's super admin and member, plus an
    admin and a read_only user made here. Tests must not end these
    accounts' sessions or change them; they use throwaway users for that."""
    return {
        "super_admin": world.account("acme_admin"),
        "admin": k.active_user(world, "acme", "admin", prefix="acme-admin"),
        "member": world.account("acme_member"),
        "read_only": k.active_user(world, "acme", "read_only", prefix="acme-ro"),
    }


@pytest.fixture(scope="module")
def globex_admin(world):
    """globex's user manager of role admin (the world has its super admin)."""
    return k.active_user(world, "globex", "admin", prefix="globex-admin")


def login(world, acct, **kw) -> k.Client:
    return world.server.login(acct.tenant, acct.email, acct.password, **kw)


def unique_email(tenant: str, prefix: str = "new") -> str:
    return f"{prefix}-{k.secrets.token_hex(4)}@{tenant}.example"


def throwaway(world, tenant="acme", role="member", prefix="tmp") -> k.Account:
    return k.active_user(world, tenant, role, prefix=prefix)


def user_id_of(world, acct) -> str:
    c = login(world, acct)
    try:
        return c.user_id
    finally:
        c.logout()
        c.close()


def assert_user_shape(u: dict):
    assert USER_FIELDS <= set(u), f"user lacks fields: {u}"
    assert isinstance(u["id"], str) and u["id"], u
    assert u["role"] in ("super_admin", "admin", "member", "read_only"), u
    assert u["status"] in ("active", "disabled"), u
    assert RFC3339.match(u["createdAt"]), u
    assert "$argon2" not in str(u) and not any("password" in key.lower() for key in u), u


def get_user(client, uid) -> dict:
    r = client.get(f"/api/v1/users/{uid}")
    assert r.status_code == 200, f"GET /api/v1/users/{uid}: {r.status_code} {r.text[:300]}"
    return r.json()


def list_users(client) -> list:
    r = client.get("/api/v1/users")
    assert r.status_code == 200, r.text
    return r.json()["results"]


def sessions_of(client) -> list:
    r = client.get("/api/v1/sessions")
    assert r.status_code == 200, r.text
    body = r.json()
    assert isinstance(body.get("results"), list), body
    return body["results"]


def session_ids(client, uid) -> set:
    r = client.get(f"/api/v1/users/{uid}/sessions")
    assert r.status_code == 200, r.text
    return {x["id"] for x in r.json()["results"]}


def current_sid(client) -> str:
    cur = [s for s in sessions_of(client) if s["current"]]
    assert len(cur) == 1, cur
    return cur[0]["id"]


def one_audit(client, action, target_id, actor=None) -> dict:
    """The single successful audit entry of action on target_id."""
    entries = [e for e in k.audit_entries(client, action=action, targetId=target_id)
               if e.get("outcome") == "success"]
    assert len(entries) == 1, f"expected one {action} entry for {target_id}, got {entries}"
    e = entries[0]
    assert e["action"] == action and e["target"]["id"] == target_id, e
    if actor is not None:
        assert e["actor"]["type"] == "user", e
        assert e["actor"].get("id") == actor.user_id, (e, actor.user_id)
    return e


def no_audit(client, action, target_id):
    entries = [e for e in k.audit_entries(client, action=action, targetId=target_id)
               if e.get("outcome") == "success"]
    assert not entries, f"a refused request left {action} entries: {entries}"


def foreign_ids(world, acme_client, globex_client, want=1) -> list:
    """Ids of globex users that acme lacks (ids are per tenant, so check)."""
    acme_ids = {u["id"] for u in list_users(acme_client)}
    ids = [u["id"] for u in list_users(globex_client) if u["id"] not in acme_ids]
    while len(ids) < want:
        throwaway(world, "globex", prefix="filler")
        ids = [u["id"] for u in list_users(globex_client) if u["id"] not in acme_ids]
    return ids


def same_404(r, reference):
    k.assert_error(r, 404, "not_found")
    assert k.error_without_request_id(r) == k.error_without_request_id(reference), \
        f"answers unlike a missing id: {r.text} vs {reference.text}"
    ignore = {"X-Request-Id", "Date", "Content-Length"}
    assert set(r.headers) - ignore == set(reference.headers) - ignore


def simultaneously(server, requests_):
    """Sends several requests at the same moment: each on its own TLS
    connection, opened and handshaken first, then all written at once.
    requests_ are (client, method, path, json body or None); answers come
    back as RawResponse, in order."""
    socks, payloads = [], []
    for c, method, path, body in requests_:
        hdrs = [("Cookie", f"{k.COOKIE_NAME}={c.cookie}"), (k.CSRF_HEADER, c.csrf)]
        data = b""
        if body is not None:
            hdrs.append(("Content-Type", "application/json"))
            data = json.dumps(body).encode()
        payloads.append(k.http_request_bytes(method, path, hdrs, data))
        socks.append(server.tls_connect())
    barrier = threading.Barrier(len(socks))
    out = [None] * len(socks)

    def go(i):
        try:
            barrier.wait()
            socks[i].sendall(payloads[i])
            out[i] = k.read_response(socks[i])
        except Exception as e:  # reported below, not lost in the thread
            out[i] = e

    threads = [threading.Thread(target=go, args=(i,)) for i in range(len(socks))]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        for sk in socks:
            sk.close()
    for i, r in enumerate(out):
        assert isinstance(r, k.RawResponse), f"request {i} got no answer: {r!r}"
    return out


def fresh_tenant_with_super(world, prefix="s"):
    """A tenant of its own with exactly one (active, password changed) super admin."""
    tid = k.new_tenant(world, prefix=prefix)
    return tid, k.active_user(world, tid, "super_admin", prefix="owner")


# ---------------------------------------------------------------- POST /api/v1/users


@pytest.mark.parametrize("caller", ["super_admin", "admin"])
@pytest.mark.parametrize("role", ["admin", "member", "read_only"])
def test_create_user(world, acme, caller, role):
    c = login(world, acme[caller])
    email = unique_email("acme")
    r = c.post("/api/v1/users", json={"email": email, "role": role, "displayName": "New Person"})
    assert r.status_code == 201, r.text
    body = r.json()
    assert set(body) == {"user", "oneTimePassword"}, body
    u = body["user"]
    assert_user_shape(u)
    assert (u["email"], u["role"], u["status"], u["displayName"]) == \
        (email, role, "active", "New Person"), u
    otp = body["oneTimePassword"]
    assert isinstance(otp, str) and len(otp) >= 12, body
    # what was answered is what is stored
    assert get_user(c, u["id"]) == u
    assert u["id"] in {x["id"] for x in list_users(c)}
    # the one-time password is never shown again, nor written to the audit log
    assert otp not in c.get("/api/v1/users").text
    assert otp not in c.get(f"/api/v1/users/{u['id']}").text
    e = one_audit(c, "user.create", u["id"], actor=c)
    assert e["target"]["type"] == "user", e
    assert otp not in str(e)


def test_create_without_display_name(world, acme):
    c = login(world, acme["admin"])
    email = unique_email("acme", "noname")
    r = c.post("/api/v1/users", json={"email": email, "role": "member"})
    assert r.status_code == 201, r.text
    u = r.json()["user"]
    assert_user_shape(u)
    assert isinstance(u["displayName"], str)
    assert get_user(c, u["id"]) == u


def test_super_admin_creates_super_admin(world, acme):
    c = login(world, acme["super_admin"])
    email = unique_email("acme", "super")
    r = c.post("/api/v1/users", json={"email": email, "role": "super_admin"})
    assert r.status_code == 201, r.text
    assert r.json()["user"]["role"] == "super_admin"
    one_audit(c, "user.create", r.json()["user"]["id"], actor=c)


def test_admin_cannot_create_super_admin(world, acme):
    c = login(world, acme["admin"])
    email = unique_email("acme", "notsuper")
    r = c.post("/api/v1/users", json={"email": email, "role": "super_admin"})
    k.assert_error(r, 403, "forbidden")
    assert email not in {u["email"] for u in list_users(c)}
    # the address is still free: no half-made user behind the refusal
    r = c.post("/api/v1/users", json={"email": email, "role": "member"})
    assert r.status_code == 201, r.text


def test_invite_flow_end_to_end(world, acme):
    admin = login(world, acme["admin"])
    email = unique_email("acme", "invitee")
    r = admin.post("/api/v1/users", json={"email": email, "role": "admin", "displayName": "Invitee"})
    assert r.status_code == 201, r.text
    uid, otp = r.json()["user"]["id"], r.json()["oneTimePassword"]

    r = world.server.login_raw("acme", email, otp)
    assert r.status_code == 200, r.text
    assert r.json()["passwordChangeRequired"] is True
    assert r.json()["user"]["id"] == uid and r.json()["user"]["role"] == "admin"
    c = k.Client.from_login(world.server, r)
    assert c.me().json()["passwordChangeRequired"] is True
    # nothing but /me, own sessions, password and logout until the change
    k.assert_error(c.get("/api/v1/users"), 403, "password_change_required")
    k.assert_error(c.post("/api/v1/users", json={"email": unique_email("acme"), "role": "member"}),
                   403, "password_change_required")
    new = k.strong_password()
    assert c.change_password(otp, new).status_code == 204
    assert c.me().json()["passwordChangeRequired"] is False
    assert c.get("/api/v1/users").status_code == 200
    k.assert_error(world.server.login_raw("acme", email, otp), 401, "invalid_credentials")
    r = world.server.login_raw("acme", email, new)
    assert r.status_code == 200 and r.json()["passwordChangeRequired"] is False, r.text


def test_create_duplicate_email_is_409(world, acme):
    c = login(world, acme["super_admin"])
    email = unique_email("acme", "dup")
    assert c.post("/api/v1/users", json={"email": email, "role": "member"}).status_code == 201
    before = list_users(c)
    for variant in (email, email.upper(), email.capitalize()):
        r = c.post("/api/v1/users", json={"email": variant, "role": "admin"})
        k.assert_error(r, 409, "already_exists")
    # a fixture's address too
    r = c.post("/api/v1/users", json={"email": "member@acme.example", "role": "member"})
    k.assert_error(r, 409, "already_exists")
    assert list_users(c) == before
    # unique per tenant only: globex may have the same address
    g = world.login("globex_admin")
    r = g.post("/api/v1/users", json={"email": email, "role": "member"})
    assert r.status_code == 201, r.text


def test_created_email_case_matches_stored(world, acme):
    """The 201 describes the user as stored: GET answers the same object."""
    c = login(world, acme["super_admin"])
    email = unique_email("acme", "MixedCase")
    r = c.post("/api/v1/users", json={"email": email, "role": "member"})
    assert r.status_code == 201, r.text
    u = r.json()["user"]
    assert get_user(c, u["id"]) == u, "the created user answers differently from GET"


@pytest.mark.parametrize("body,fields", [
    ({"email": "a@acme.example", "role": "member", "bogus": 1}, {"bogus"}),
    ({"email": "a@acme.example", "role": "member", "password": "x"}, {"password"}),
    ({"email": "a@acme.example", "role": "member", "status": "active"}, {"status"}),
    ({"email": "not-an-email", "role": "member"}, {"email"}),
    ({"email": "two@@acme.example", "role": "member"}, {"email"}),
    ({"email": "a b@acme.example", "role": "member"}, {"email"}),
    ({"email": "a@acme.example", "role": "owner"}, {"role"}),
    ({"email": "a@acme.example", "role": "Admin"}, {"role"}),
    ({"email": "a@acme.example", "role": ""}, {"role"}),
    ({"email": "a@acme.example"}, {"role"}),
    ({"role": "member"}, {"email"}),
    ({}, {"email", "role"}),
    ({"email": 5, "role": ["member"]}, {"email", "role"}),
    ({"email": None, "role": "member"}, {"email"}),
    ({"email": "a@acme.example", "role": "member", "displayName": 7}, {"displayName"}),
    ({"email": "a@acme.example", "role": "member", "displayName": "x" * 2000}, {"displayName"}),
    ({"email": "a" * 300 + "@acme.example", "role": "member"}, {"email"}),
])
def test_create_validation(world, acme, body, fields):
    c = login(world, acme["super_admin"])
    before = list_users(c)
    r = c.post("/api/v1/users", json=body)
    err = k.assert_error(r, 422, "validation_failed")
    details = err.get("details")
    assert isinstance(details, list) and details, err
    for d in details:
        assert {"field", "code", "message"} <= set(d), d
    assert fields <= {d["field"] for d in details}, err
    assert list_users(c) == before


NOT_OBJECTS = ["[]", '"x"', "5", "null", "true", '[{"email": "a@acme.example", "role": "member"}]']


@pytest.mark.parametrize("text", NOT_OBJECTS)
def test_create_body_not_an_object(world, acme, text):
    c = login(world, acme["super_admin"])
    before = list_users(c)
    r = c.post("/api/v1/users", data=text, headers={"Content-Type": "application/json"})
    k.assert_error(r, 422, "validation_failed")
    assert list_users(c) == before


@pytest.mark.parametrize("caller", ["member", "read_only"])
def test_create_forbidden(world, acme, caller):
    c = login(world, acme[caller])
    email = unique_email("acme", "nope")
    for role in ("member", "read_only", "super_admin"):
        r = c.post("/api/v1/users", json={"email": email, "role": role})
        k.assert_error(r, 403, "forbidden")
    # even an invalid body: the permission is checked first
    k.assert_error(c.post("/api/v1/users", json={"bogus": 1}), 403, "forbidden")
    a = login(world, acme["super_admin"])
    assert email not in {u["email"] for u in list_users(a)}


# ---------------------------------------------------------------- GET /api/v1/users[/{id}]


@pytest.mark.parametrize("caller", ["super_admin", "admin"])
def test_read_users(world, acme, caller):
    c = login(world, acme[caller])
    users = list_users(c)
    for u in users:
        assert_user_shape(u)
        assert u["email"].endswith("@acme.example"), u
        assert get_user(c, u["id"]) == u
    assert {"admin@acme.example", "member@acme.example", acme["read_only"].email} <= \
        {u["email"] for u in users}
    globex_ids = {u["id"] for u in list_users(world.login("globex_admin"))}
    assert not globex_ids & {u["id"] for u in users}, "acme's list holds globex users"


@pytest.mark.parametrize("caller", ["member", "read_only"])
def test_read_users_forbidden(world, acme, caller):
    c = login(world, acme[caller])
    k.assert_error(c.get("/api/v1/users"), 403, "forbidden")
    k.assert_error(c.get(f"/api/v1/users/{c.user_id}"), 403, "forbidden")
    k.assert_error(c.get(f"/api/v1/users/{MISSING_ID}"), 403, "forbidden")


# ---------------------------------------------------------------- PATCH /api/v1/users/{id}


def test_patch_display_name(world, acme):
    target = throwaway(world, prefix="rename")
    t = login(world, target)
    c = login(world, acme["admin"])
    r = c.request("PATCH", f"/api/v1/users/{t.user_id}", json={"displayName": "Renamed Person"})
    assert r.status_code == 200, r.text
    u = r.json()
    assert_user_shape(u)
    assert u["displayName"] == "Renamed Person" and u["role"] == "member" and u["status"] == "active"
    assert get_user(c, t.user_id) == u
    e = one_audit(c, "user.update", t.user_id, actor=c)
    assert e["target"]["type"] == "user" and e["target"]["properties"] == "displayName", e
    # a rename is not a reason to sign the user out
    assert t.me().status_code == 200


def test_patch_role_and_status_audit_lists_fields(world, acme):
    target = throwaway(world, prefix="rolestat")
    uid = user_id_of(world, target)
    c = login(world, acme["super_admin"])
    r = c.request("PATCH", f"/api/v1/users/{uid}", json={"role": "read_only", "status": "disabled"})
    assert r.status_code == 200, r.text
    assert (r.json()["role"], r.json()["status"]) == ("read_only", "disabled")
    e = one_audit(c, "user.update", uid, actor=c)
    assert e["target"]["properties"] == "role,status", e
    r = c.request("PATCH", f"/api/v1/users/{uid}",
                  json={"displayName": "All Three", "role": "admin", "status": "active"})
    assert r.status_code == 200, r.text
    entries = [x for x in k.audit_entries(c, action="user.update", targetId=uid)]
    assert len(entries) == 2, entries
    assert entries[0]["target"]["properties"] == "displayName,role,status", entries[0]


def test_role_change_ends_sessions_at_once(world, acme):
    target = throwaway(world, prefix="demote")
    s1, s2 = login(world, target), login(world, target)
    bystander = login(world, acme["member"])
    c = login(world, acme["admin"])
    r = c.request("PATCH", f"/api/v1/users/{s1.user_id}", json={"role": "read_only"})
    assert r.status_code == 200 and r.json()["role"] == "read_only", r.text
    k.assert_error(s1.me(), 401, "unauthenticated")
    k.assert_error(s2.get("/api/v1/sessions"), 401, "unauthenticated")
    assert bystander.me().status_code == 200
    assert c.me().status_code == 200
    # signing in again gives the new role
    again = login(world, target)
    assert again.me().json()["user"]["role"] == "read_only"
    r = c.get(f"/api/v1/users/{s1.user_id}/sessions")
    assert r.status_code == 200 and len(r.json()["results"]) == 1, r.text
    e = one_audit(c, "user.update", s1.user_id, actor=c)
    assert e["target"]["properties"] == "role", e


def test_disable_ends_sessions_and_blocks_login(world, acme):
    target = throwaway(world, prefix="disable")
    s1, s2 = login(world, target), login(world, target)
    c = login(world, acme["admin"])
    r = c.request("PATCH", f"/api/v1/users/{s1.user_id}", json={"status": "disabled"})
    assert r.status_code == 200 and r.json()["status"] == "disabled", r.text
    k.assert_error(s1.me(), 401, "unauthenticated")
    k.assert_error(s2.me(), 401, "unauthenticated")
    # a disabled user's login fails exactly like a wrong password
    disabled = world.server.login_raw(target.tenant, target.email, target.password)
    k.assert_error(disabled, 401, "invalid_credentials")
    assert not k.session_cookie_from(disabled)
    wrong = world.server.login_raw(target.tenant, target.email, target.password + "x")
    k.assert_error(wrong, 401, "invalid_credentials")
    assert k.error_without_request_id(disabled) == k.error_without_request_id(wrong)
    assert get_user(c, s1.user_id)["status"] == "disabled"
    e = one_audit(c, "user.update", s1.user_id, actor=c)
    assert e["target"]["properties"] == "status", e
    # enabled again: signs in with the same password
    r = c.request("PATCH", f"/api/v1/users/{s1.user_id}", json={"status": "active"})
    assert r.status_code == 200 and r.json()["status"] == "active", r.text
    assert login(world, target).me().status_code == 200


@pytest.fixture(scope="module")
def patch_target(world):
    return throwaway(world, prefix="pval")


@pytest.mark.parametrize("body,fields", [
    ({"bogus": 1}, {"bogus"}),
    ({"displayName": "ok", "email": "x@acme.example"}, {"email"}),
    ({"role": "owner"}, {"role"}),
    ({"role": "SUPER_ADMIN"}, {"role"}),
    ({"role": 3}, {"role"}),
    ({"role": None}, {"role"}),
    ({"status": "deleted"}, {"status"}),
    ({"status": "Disabled"}, {"status"}),
    ({"status": False}, {"status"}),
    ({"displayName": ""}, {"displayName"}),
    ({"displayName": 12}, {"displayName"}),
    ({"displayName": "x" * 2000}, {"displayName"}),
    ({"role": "admin", "status": "gone"}, {"status"}),
])
def test_patch_validation(world, acme, patch_target, body, fields):
    t = login(world, patch_target)
    c = login(world, acme["super_admin"])
    before = get_user(c, t.user_id)
    r = c.request("PATCH", f"/api/v1/users/{t.user_id}", json=body)
    err = k.assert_error(r, 422, "validation_failed")
    details = err.get("details")
    assert isinstance(details, list) and details, err
    assert fields <= {d["field"] for d in details}, err
    assert get_user(c, t.user_id) == before
    assert t.me().status_code == 200, "a refused change ended the user's session"
    no_audit(c, "user.update", t.user_id)


@pytest.mark.parametrize("text", NOT_OBJECTS)
def test_patch_body_not_an_object(world, acme, patch_target, text):
    t = login(world, patch_target)
    c = login(world, acme["super_admin"])
    before = get_user(c, t.user_id)
    r = c.request("PATCH", f"/api/v1/users/{t.user_id}", data=text,
                  headers={"Content-Type": "application/json"})
    k.assert_error(r, 422, "validation_failed")
    assert get_user(c, t.user_id) == before


@pytest.mark.parametrize("caller", ["member", "read_only"])
def test_patch_forbidden(world, acme, caller):
    target = throwaway(world, prefix="pforb")
    t = login(world, target)
    c = login(world, acme[caller])
    a = login(world, acme["super_admin"])
    before = get_user(a, t.user_id)
    for body in ({"displayName": "Hacked"}, {"role": "super_admin"}, {"status": "disabled"}):
        k.assert_error(c.request("PATCH", f"/api/v1/users/{t.user_id}", json=body), 403, "forbidden")
    # not even on oneself
    k.assert_error(c.request("PATCH", f"/api/v1/users/{c.user_id}", json={"role": "admin"}),
                   403, "forbidden")
    assert get_user(a, t.user_id) == before
    assert t.me().status_code == 200
    assert c.me().json()["user"]["role"] == caller


def test_admin_cannot_touch_super_admin(world, acme):
    sup = throwaway(world, role="super_admin", prefix="protected")
    s = login(world, sup)
    c = login(world, acme["admin"])
    a = login(world, acme["super_admin"])
    before = get_user(a, s.user_id)
    for body in ({"displayName": "Renamed"}, {"role": "member"}, {"status": "disabled"},
                 {"role": "super_admin"}):
        r = c.request("PATCH", f"/api/v1/users/{s.user_id}", json=body)
        k.assert_error(r, 403, "forbidden")
    k.assert_error(c.request("DELETE", f"/api/v1/users/{s.user_id}"), 403, "forbidden")
    k.assert_error(c.request("DELETE", f"/api/v1/users/{s.user_id}/sessions"), 403, "forbidden")
    assert get_user(a, s.user_id) == before
    assert s.me().status_code == 200, "the super admin was signed out by an admin"
    no_audit(a, "user.update", s.user_id)
    no_audit(a, "user.delete", s.user_id)
    no_audit(a, "user.sessions_revoke", s.user_id)


def test_admin_cannot_make_super_admin(world, acme):
    target = throwaway(world, prefix="promote")
    t = login(world, target)
    me = throwaway(world, role="admin", prefix="climber")
    c = login(world, me)
    a = login(world, acme["super_admin"])
    k.assert_error(c.request("PATCH", f"/api/v1/users/{t.user_id}", json={"role": "super_admin"}),
                   403, "forbidden")
    # not themselves either
    k.assert_error(c.request("PATCH", f"/api/v1/users/{c.user_id}", json={"role": "super_admin"}),
                   403, "forbidden")
    assert get_user(a, t.user_id)["role"] == "member"
    assert get_user(a, c.user_id)["role"] == "admin"
    assert t.me().status_code == 200 and c.me().status_code == 200
    # but an admin may manage members and other admins
    other_admin = throwaway(world, role="admin", prefix="peer")
    oid = user_id_of(world, other_admin)
    r = c.request("PATCH", f"/api/v1/users/{oid}", json={"role": "member"})
    assert r.status_code == 200 and r.json()["role"] == "member", r.text
    r = c.request("PATCH", f"/api/v1/users/{t.user_id}", json={"role": "admin"})
    assert r.status_code == 200 and r.json()["role"] == "admin", r.text
    # and a super admin may promote
    r = a.request("PATCH", f"/api/v1/users/{t.user_id}", json={"role": "super_admin"})
    assert r.status_code == 200 and r.json()["role"] == "super_admin", r.text


def test_patch_without_change_keeps_sessions(world, acme):
    target = throwaway(world, prefix="same")
    t = login(world, target)
    c = login(world, acme["admin"])
    r = c.request("PATCH", f"/api/v1/users/{t.user_id}", json={"role": "member", "status": "active"})
    assert r.status_code == 200, r.text
    assert t.me().status_code == 200
    r = c.request("PATCH", f"/api/v1/users/{t.user_id}", json={})
    assert r.status_code == 200 and r.json()["id"] == t.user_id, r.text


# ---------------------------------------------------------------- the last active super admin


def test_last_super_admin_cannot_be_demoted_or_disabled(world):
    tid, owner = fresh_tenant_with_super(world, "last")
    o = login(world, owner)
    for body in ({"role": "admin"}, {"role": "member"}, {"role": "read_only"},
                 {"status": "disabled"}, {"role": "admin", "status": "disabled"}):
        r = o.request("PATCH", f"/api/v1/users/{o.user_id}", json=body)
        k.assert_error(r, 409, "conflict")
        assert o.me().status_code == 200, f"{body}: the refused change ended the session"
    u = get_user(o, o.user_id)
    assert (u["role"], u["status"]) == ("super_admin", "active"), u
    no_audit(o, "user.update", o.user_id)
    # a rename is fine
    r = o.request("PATCH", f"/api/v1/users/{o.user_id}", json={"displayName": "Still Owner"})
    assert r.status_code == 200, r.text


def test_with_two_super_admins_one_can_be_demoted(world):
    tid, owner = fresh_tenant_with_super(world, "two")
    second = k.active_user(world, tid, "super_admin", prefix="second")
    o = login(world, owner)
    s = login(world, second)
    # the second demotes itself: allowed, and its session ends
    r = s.request("PATCH", f"/api/v1/users/{s.user_id}", json={"role": "admin"})
    assert r.status_code == 200 and r.json()["role"] == "admin", r.text
    k.assert_error(s.me(), 401, "unauthenticated")
    one_audit(o, "user.update", s.user_id)
    # now the owner is the last one again
    k.assert_error(o.request("PATCH", f"/api/v1/users/{o.user_id}", json={"role": "admin"}),
                   409, "conflict")
    # promoted back: the owner may be disabled (by the other super admin)
    r = o.request("PATCH", f"/api/v1/users/{s.user_id}", json={"role": "super_admin"})
    assert r.status_code == 200, r.text
    s = login(world, second)
    r = s.request("PATCH", f"/api/v1/users/{o.user_id}", json={"status": "disabled"})
    assert r.status_code == 200 and r.json()["status"] == "disabled", r.text
    k.assert_error(o.me(), 401, "unauthenticated")
    # a disabled super admin does not count: the second is now the last active one
    for body in ({"role": "admin"}, {"status": "disabled"}):
        k.assert_error(s.request("PATCH", f"/api/v1/users/{s.user_id}", json=body), 409, "conflict")
    k.assert_error(s.request("DELETE", f"/api/v1/users/{s.user_id}"), 409, "conflict")
    # a disabled super admin may be demoted (it is not the last active one)
    r = s.request("PATCH", f"/api/v1/users/{o.user_id}", json={"role": "admin"})
    assert r.status_code == 200, r.text
    assert s.me().status_code == 200


def test_concurrent_demotions_keep_a_super_admin(world):
    """Two super admins demoting each other at the same moment: at most one
    may succeed; the tenant is never left without an active super admin.
    (Check and change must be one transaction, or both see "two".)"""
    tid, owner = fresh_tenant_with_super(world, "race")
    second = k.active_user(world, tid, "super_admin", prefix="second")
    accts = [owner, second]
    for round_ in range(30):
        clients = [login(world, a) for a in accts]
        ids = [c.user_id for c in clients]
        body = {"role": "admin"} if round_ % 2 == 0 else {"status": "disabled"}
        # each demotes (or disables) the *other* one, with its own session, a few
        # times over so that the two kinds meet on different server threads
        results = simultaneously(world.server, [
            (clients[i % 2], "PATCH", f"/api/v1/users/{ids[1 - i % 2]}", body) for i in range(6)])
        codes = [r.status for r in results]
        # a demoted caller's session may already be gone (401) when its own request runs;
        # a repeat of a done change is a 200 that changes nothing
        for r in results:
            assert r.status in (200, 401, 409), (r.status, r.body)
        # whoever is still an active super admin brings the other back
        supers = [c for c in (world.server.login_raw(a.tenant, a.email, a.password) for a in accts)
                  if c.status_code == 200 and c.json()["user"]["role"] == "super_admin"]
        assert supers, (f"round {round_} ({body}): both super admins lost it, tenant {tid} has "
                        f"no active super admin left; answers {codes}")
        boss = k.Client.from_login(world.server, supers[0])
        for uid in ids:
            r = boss.request("PATCH", f"/api/v1/users/{uid}",
                             json={"role": "super_admin", "status": "active"})
            assert r.status_code == 200, r.text
        active_supers = [u for u in list_users(boss)
                         if u["role"] == "super_admin" and u["status"] == "active"]
        assert len(active_supers) == 2


def test_concurrent_deletes_keep_a_super_admin(world):
    """The only two super admins deleting each other at once: one must remain."""
    for round_ in range(12):
        tid, owner = fresh_tenant_with_super(world, "drace")
        second = k.active_user(world, tid, "super_admin", prefix="second")
        clients = [login(world, owner), login(world, second)]
        ids = [c.user_id for c in clients]
        results = simultaneously(world.server, [
            (clients[i % 2], "DELETE", f"/api/v1/users/{ids[1 - i % 2]}", None) for i in range(6)])
        codes = [r.status for r in results]
        for r in results:
            assert r.status in (204, 401, 404, 409), (r.status, r.body)
        assert codes.count(204) <= 1, f"round {round_}: both super admins were deleted: {codes}"
        left = [a for a in (owner, second)
                if world.server.login_raw(a.tenant, a.email, a.password).status_code == 200]
        assert left, f"round {round_}: tenant {tid} has no user left ({codes})"


# ---------------------------------------------------------------- DELETE /api/v1/users/{id}


@pytest.mark.parametrize("caller", ["super_admin", "admin"])
def test_delete_user(world, acme, caller):
    target = throwaway(world, prefix="del")
    s1, s2 = login(world, target), login(world, target)
    c = login(world, acme[caller])
    r = c.request("DELETE", f"/api/v1/users/{s1.user_id}")
    assert r.status_code == 204, r.text
    assert r.content == b""
    k.assert_error(c.get(f"/api/v1/users/{s1.user_id}"), 404, "not_found")
    assert s1.user_id not in {u["id"] for u in list_users(c)}
    k.assert_error(s1.me(), 401, "unauthenticated")
    k.assert_error(s2.get("/api/v1/sessions"), 401, "unauthenticated")
    k.assert_error(world.server.login_raw(target.tenant, target.email, target.password), 401,
                   "invalid_credentials")
    e = one_audit(c, "user.delete", s1.user_id, actor=c)
    assert e["target"]["type"] == "user", e
    # gone means gone: a second delete is a 404
    k.assert_error(c.request("DELETE", f"/api/v1/users/{s1.user_id}"), 404, "not_found")
    # the address is free again, and the old sessions stay dead for the new user
    r = c.post("/api/v1/users", json={"email": target.email, "role": "member"})
    assert r.status_code == 201, r.text
    k.assert_error(s1.me(), 401, "unauthenticated")


def test_delete_last_super_admin_is_409(world):
    tid, owner = fresh_tenant_with_super(world, "dlast")
    o = login(world, owner)
    k.assert_error(o.request("DELETE", f"/api/v1/users/{o.user_id}"), 409, "conflict")
    assert o.me().status_code == 200
    assert get_user(o, o.user_id)["status"] == "active"
    no_audit(o, "user.delete", o.user_id)
    # with two, one can go (even oneself)
    second = k.active_user(world, tid, "super_admin", prefix="second")
    s = login(world, second)
    r = o.request("DELETE", f"/api/v1/users/{o.user_id}")
    assert r.status_code == 204, r.text
    k.assert_error(o.me(), 401, "unauthenticated")
    one_audit(s, "user.delete", o.user_id)
    k.assert_error(s.request("DELETE", f"/api/v1/users/{s.user_id}"), 409, "conflict")


def test_admin_deletes_admin_and_member_not_super(world, acme):
    c = login(world, acme["admin"])
    for role in ("admin", "member", "read_only"):
        uid = user_id_of(world, throwaway(world, role=role, prefix=f"d{role}"))
        assert c.request("DELETE", f"/api/v1/users/{uid}").status_code == 204
    sup = throwaway(world, role="super_admin", prefix="dsuper")
    s = login(world, sup)
    k.assert_error(c.request("DELETE", f"/api/v1/users/{s.user_id}"), 403, "forbidden")
    assert s.me().status_code == 200


@pytest.mark.parametrize("caller", ["member", "read_only"])
def test_delete_forbidden(world, acme, caller):
    target = throwaway(world, prefix="dforb")
    t = login(world, target)
    c = login(world, acme[caller])
    k.assert_error(c.request("DELETE", f"/api/v1/users/{t.user_id}"), 403, "forbidden")
    k.assert_error(c.request("DELETE", f"/api/v1/users/{c.user_id}"), 403, "forbidden")
    k.assert_error(c.request("DELETE", f"/api/v1/users/{MISSING_ID}"), 403, "forbidden")
    assert t.me().status_code == 200 and c.me().status_code == 200


# ---------------------------------------------------------------- unknown, malformed and foreign ids


ID_ROUTES = [
    ("GET", "/api/v1/users/{id}", None),
    ("PATCH", "/api/v1/users/{id}", {"displayName": "Taken Over"}),
    ("PATCH", "/api/v1/users/{id}", {"role": "read_only", "status": "disabled"}),
    ("DELETE", "/api/v1/users/{id}", None),
    ("GET", "/api/v1/users/{id}/sessions", None),
    ("DELETE", "/api/v1/users/{id}/sessions", None),
]


@pytest.mark.parametrize("method,path,body", ID_ROUTES)
def test_unknown_or_malformed_id_is_404(world, acme, method, path, body):
    c = login(world, acme["super_admin"])
    reference = c.get(f"/api/v1/users/{MISSING_ID}")
    k.assert_error(reference, 404, "not_found")
    for bad_id in [MISSING_ID, "0", "-1", "abc", "1e3", "0x10", "+1", "1.0",
                   "99999999999999999999999", str(2 ** 63)]:
        r = c.request(method, path.format(id=bad_id), json=body)
        same_404(r, reference)
    assert c.me().status_code == 200


@pytest.mark.parametrize("caller", ["super_admin", "admin"])
def test_other_tenants_users_are_404_and_untouched(world, acme, globex_admin, caller):
    a = login(world, acme[caller])
    g = world.login("globex_admin")
    # a globex member with live sessions, and globex's own admins
    victim = throwaway(world, "globex", prefix="victim")
    v = login(world, victim)
    targets = [v.user_id, user_id_of(world, globex_admin), g.user_id]
    targets += foreign_ids(world, a, g)
    acme_ids = {u["id"] for u in list_users(a)}
    targets = [t for t in dict.fromkeys(targets) if t not in acme_ids]
    assert v.user_id in targets
    before = {t: get_user(g, t) for t in targets}
    sessions_before = {t: session_ids(g, t) for t in targets}
    last_seq = max(int(e["seq"]) for e in k.audit_entries(g, limit=1))
    for method, path, body in ID_ROUTES:
        reference = a.request(method, path.format(id=MISSING_ID), json=body)
        k.assert_error(reference, 404, "not_found")
        for t in targets:
            r = a.request(method, path.format(id=t), json=body)
            same_404(r, reference)
            assert before[t]["email"] not in r.text
    # nothing changed in globex
    for t in targets:
        assert get_user(g, t) == before[t]
        assert session_ids(g, t) == sessions_before[t]
    assert v.me().status_code == 200, "acme signed a globex user out"
    assert g.me().status_code == 200
    # and acme's attempts left nothing in globex's audit log
    new = [e for e in k.audit_entries(g, limit=100) if int(e["seq"]) > last_seq]
    assert not [e for e in new if e["action"].startswith(("user.", "session."))], new
    assert not [e for e in new if e.get("actor", {}).get("email", "").endswith("@acme.example")], new


def test_other_tenants_session_id_is_404(world, acme):
    a = login(world, acme["super_admin"])
    g = world.login("globex_member")
    gsid = current_sid(g)
    reference = a.request("DELETE", "/api/v1/sessions/" + "0" * 16)
    k.assert_error(reference, 404, "not_found")
    r = a.request("DELETE", f"/api/v1/sessions/{gsid}")
    same_404(r, reference)
    assert g.me().status_code == 200


# ---------------------------------------------------------------- GET/DELETE /api/v1/sessions


@pytest.mark.parametrize("caller", ["super_admin", "admin", "member", "read_only"])
def test_own_sessions_list(world, acme, caller):
    acct = acme[caller]
    ua = f"kura-e2e/{k.secrets.token_hex(3)}"
    r = world.server.login_raw(acct.tenant, acct.email, acct.password, headers={"User-Agent": ua})
    assert r.status_code == 200, r.text
    c = k.Client.from_login(world.server, r)
    second = login(world, acct)
    # someone else's session never shows
    stranger = login(world, acme["member"] if caller != "member" else acme["read_only"])
    foreigner = world.login("globex_admin")
    results = sessions_of(c)
    assert len(results) >= 2
    for s in results:
        assert SESSION_FIELDS <= set(s), s
        assert re.fullmatch(r"[0-9a-f]{16}", s["id"]), s
        for f in ("createdAt", "lastSeenAt", "expiresAt"):
            assert RFC3339.match(s[f]), s
        assert s["expiresAt"] > s["createdAt"], s
        assert isinstance(s["current"], bool)
        assert "cookie" not in str(s).lower() and c.cookie.split(".", 1)[1] not in str(s)
    current = [s for s in results if s["current"]]
    assert len(current) == 1, results
    assert current[0]["userAgent"] == ua and current[0]["ip"] == "127.0.0.1", current[0]
    ids = {s["id"] for s in results}
    assert current_sid(second) in ids and current_sid(second) != current[0]["id"]
    assert current_sid(stranger) not in ids
    assert current_sid(foreigner) not in ids
    # the same list from the other session marks the other one current
    assert current_sid(second) == [s for s in sessions_of(second) if s["current"]][0]["id"]


def test_end_own_other_session(world, acme):
    acct = throwaway(world, prefix="ownsess")
    c, other = login(world, acct), login(world, acct)
    sid = current_sid(other)
    r = c.request("DELETE", f"/api/v1/sessions/{sid}")
    assert r.status_code == 204, r.text
    assert r.content == b""
    k.assert_error(other.me(), 401, "unauthenticated")
    assert c.me().status_code == 200
    assert sid not in {s["id"] for s in sessions_of(c)}
    a = login(world, acme["super_admin"])
    e = one_audit(a, "session.revoke", sid, actor=c)
    assert e["target"]["type"] == "session", e
    # ended is gone: a second time it is a 404
    k.assert_error(c.request("DELETE", f"/api/v1/sessions/{sid}"), 404, "not_found")


def test_end_own_current_session(world, acme):
    acct = throwaway(world, role="read_only", prefix="selfend")
    c = login(world, acct)
    sid = current_sid(c)
    r = c.request("DELETE", f"/api/v1/sessions/{sid}")
    assert r.status_code == 204, r.text
    k.assert_error(c.me(), 401, "unauthenticated")


@pytest.mark.parametrize("bad", ["0" * 16, "f" * 16, "nothex", "0" * 15, "0" * 17, "abc%00def"])
def test_end_unknown_session_is_404(world, acme, bad):
    c = login(world, acme["member"])
    r = c.request("DELETE", f"/api/v1/sessions/{bad}")
    assert r.status_code in (400, 404), r.text
    k.assert_error(r, r.status_code)
    assert c.me().status_code == 200


def test_end_another_users_session_is_404(world, acme):
    victim = throwaway(world, prefix="sessvictim")
    v = login(world, victim)
    vsid = current_sid(v)
    for caller in ("super_admin", "admin", "member", "read_only"):
        c = login(world, acme[caller])
        reference = c.request("DELETE", "/api/v1/sessions/" + "0" * 16)
        r = c.request("DELETE", f"/api/v1/sessions/{vsid}")
        same_404(r, reference)
    assert v.me().status_code == 200
    a = login(world, acme["super_admin"])
    no_audit(a, "session.revoke", vsid)


# ---------------------------------------------------------------- /api/v1/users/{id}/sessions


@pytest.mark.parametrize("caller", ["super_admin", "admin"])
def test_list_users_sessions(world, acme, caller):
    target = throwaway(world, prefix="lsess")
    t1, t2 = login(world, target), login(world, target)
    c = login(world, acme[caller])
    r = c.get(f"/api/v1/users/{t1.user_id}/sessions")
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    # exactly the sessions the user itself sees (the two here, and the one that set the password)
    assert {s["id"] for s in results} == {s["id"] for s in sessions_of(t1)}
    assert {current_sid(t1), current_sid(t2)} <= {s["id"] for s in results}
    assert current_sid(c) not in {s["id"] for s in results}
    for s in results:
        assert SESSION_FIELDS <= set(s), s
        assert s["current"] is False, s   # none of them is the caller's
    # the caller's own, through this route: its session is the current one
    mine = c.get(f"/api/v1/users/{c.user_id}/sessions").json()["results"]
    assert [s["id"] for s in mine if s["current"]] == [current_sid(c)]


def test_user_with_no_sessions_lists_empty(world, acme):
    c = login(world, acme["admin"])
    r = c.post("/api/v1/users", json={"email": unique_email("acme", "nosess"), "role": "member"})
    assert r.status_code == 201, r.text
    uid = r.json()["user"]["id"]   # invited, never signed in
    r = c.get(f"/api/v1/users/{uid}/sessions")
    assert r.status_code == 200 and r.json() == {"results": []}, r.text


@pytest.mark.parametrize("caller", ["super_admin", "admin"])
def test_force_sign_out(world, acme, caller):
    target = throwaway(world, role="admin", prefix="kick")
    t1, t2 = login(world, target), login(world, target)
    bystander = login(world, acme["read_only"])
    c = login(world, acme[caller])
    r = c.request("DELETE", f"/api/v1/users/{t1.user_id}/sessions")
    assert r.status_code == 204, r.text
    assert r.content == b""
    k.assert_error(t1.me(), 401, "unauthenticated")
    k.assert_error(t2.request("DELETE", f"/api/v1/users/{c.user_id}/sessions"), 401, "unauthenticated")
    assert bystander.me().status_code == 200 and c.me().status_code == 200
    assert c.get(f"/api/v1/users/{t1.user_id}/sessions").json() == {"results": []}
    e = one_audit(c, "user.sessions_revoke", t1.user_id, actor=c)
    assert e["target"]["type"] == "user", e
    # the user may simply sign in again, with the same role
    again = login(world, target)
    assert again.me().json()["user"]["role"] == "admin"


def test_super_admin_signs_out_super_admin(world, acme):
    sup = throwaway(world, role="super_admin", prefix="kicksuper")
    s = login(world, sup)
    c = login(world, acme["super_admin"])
    assert c.request("DELETE", f"/api/v1/users/{s.user_id}/sessions").status_code == 204
    k.assert_error(s.me(), 401, "unauthenticated")


@pytest.mark.parametrize("caller", ["member", "read_only"])
def test_users_sessions_forbidden(world, acme, caller):
    target = throwaway(world, prefix="sforb")
    t = login(world, target)
    c = login(world, acme[caller])
    for path in (f"/api/v1/users/{t.user_id}/sessions", f"/api/v1/users/{c.user_id}/sessions"):
        k.assert_error(c.get(path), 403, "forbidden")
        k.assert_error(c.request("DELETE", path), 403, "forbidden")
    assert t.me().status_code == 200 and c.me().status_code == 200


# ---------------------------------------------------------------- CSRF on every change


@pytest.mark.parametrize("method,path", MUTATIONS)
def test_changes_need_csrf_token(world, acme, method, path):
    target = throwaway(world, prefix="csrf")
    t = login(world, target)
    c = login(world, acme["super_admin"])
    other = login(world, acme["super_admin"])
    before = get_user(c, t.user_id)
    body = {"POST": {"email": unique_email("acme", "csrf"), "role": "member"},
            "PATCH": {"role": "read_only", "status": "disabled"}}.get(method)
    # DELETE /sessions/{sid} can only name the caller's own session: the target's own client asks
    caller = t if path.startswith("/api/v1/sessions/") else c
    url = path.format(id=t.user_id, sid=current_sid(t))
    last_seq = max(int(e["seq"]) for e in k.audit_entries(c, limit=1))
    for token in (None, "", "wrong-token", other.csrf):   # None: no header at all
        r = caller.request(method, url, json=body, csrf=token)
        k.assert_error(r, 403, "csrf_token_invalid")
        assert get_user(c, t.user_id) == before
        assert t.me().status_code == 200, "a request without a valid CSRF token signed the user out"
        if method == "POST":
            assert body["email"] not in {u["email"] for u in list_users(c)}
    new = [e for e in k.audit_entries(c, limit=100) if int(e["seq"]) > last_seq
           and e["outcome"] == "success" and e["action"].startswith(("user.", "session."))]
    assert not new, f"refused requests left audit entries of changes: {new}"
    # the control: with the token it works
    r = caller.request(method, url, json=body)
    assert r.status_code in (200, 201, 204), r.text
