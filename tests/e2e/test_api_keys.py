"""API keys (POST/GET /api/v1/api-keys, DELETE /api/v1/api-keys/{id}) and
what a key may do: "Authorization: Bearer kura_<tenant>_<secret>" instead
of the session cookie, no CSRF token, no cookies in replies, only within
its scopes AND its creator's current role, only from its address ranges,
until it expires or is revoked or its creator is disabled. Audit entries of
key requests name the key (actor type api_key); the token itself never
appears in the audit log or in kurad's log."""

import base64
import datetime
import hashlib

import pytest

import kura_e2e as k
from test_auth import Clock

KEYS = "/api/v1/api-keys"
KEY_FIELDS = {"id", "userId", "name", "prefix", "scopes", "cidrs", "expiresAt", "createdAt",
              "lastUsedAt", "lastUsedIp", "revoked"}


def create(client, body, status=201):
    r = client.post(KEYS, json=body)
    assert r.status_code == status, f"POST {KEYS} {body}: {r.status_code} {r.text[:300]}"
    return r.json()


def new_key(client, scopes, **extra):
    """(key JSON, token) of a fresh key of client's user."""
    body = {"name": f"key {len(scopes)}", "scopes": scopes}
    body.update(extra)
    out = create(client, body)
    return out["apiKey"], out["token"]


def call(server, token, method, path, headers=None, **kw):
    h = dict(headers or {})
    h["Authorization"] = f"Bearer {token}"
    return server.request(method, path, headers=h, **kw)


def fresh_admin(world, tenant="acme", role="super_admin"):
    acct = world.activate(world.new_user(tenant, role=role, prefix="keys"))
    return acct, world.server.login(acct.tenant, acct.email, acct.password)


def in_future(seconds):
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=seconds)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


# -- the endpoints


def test_create_list_revoke(world):
    admin = world.login("acme_admin")
    out = create(admin, {"name": "ci", "scopes": ["users.read"], "cidrs": ["127.0.0.0/8"],
                         "expiresAt": in_future(3600)})
    key, token = out["apiKey"], out["token"]
    assert set(key) == KEY_FIELDS
    assert key["name"] == "ci" and key["scopes"] == ["users.read"]
    assert key["cidrs"] == ["127.0.0.0/8"] and key["revoked"] is False
    assert key["lastUsedAt"] is None and key["lastUsedIp"] is None
    assert key["expiresAt"] is not None and key["userId"] == admin.user_id
    assert token.startswith("kura_acme_") and len(token) == len("kura_acme_") + 43
    assert key["prefix"] == token[len("kura_acme_"):][:8]
    listed = admin.get(KEYS).json()["results"]
    mine = [x for x in listed if x["id"] == key["id"]]
    assert len(mine) == 1 and set(mine[0]) == KEY_FIELDS
    # the secret is never shown again
    assert token not in admin.get(KEYS).text
    assert token[len("kura_acme_"):] not in admin.get(KEYS).text
    # used once: last use recorded
    assert call(world.server, token, "GET", "/api/v1/me").status_code == 200
    again = [x for x in admin.get(KEYS).json()["results"] if x["id"] == key["id"]][0]
    assert again["lastUsedAt"] is not None and again["lastUsedIp"] == "127.0.0.1"
    r = admin.request("DELETE", f"{KEYS}/{key['id']}")
    assert r.status_code == 204, r.text
    gone = [x for x in admin.get(KEYS).json()["results"] if x["id"] == key["id"]][0]
    assert gone["revoked"] is True
    r = call(world.server, token, "GET", "/api/v1/me")
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthenticated"
    # both changes audited, by the user
    for action in ("apikey.create", "apikey.revoke"):
        entries = k.audit_entries(admin, action=action, targetId=key["id"])
        assert len(entries) == 1, (action, entries)
        assert entries[0]["actor"]["type"] == "user" and entries[0]["outcome"] == "success"
        assert entries[0]["target"]["type"] == "api_key"


def test_list_is_own_keys_super_admin_sees_all(world):
    acct, admin = fresh_admin(world, role="admin")
    key, _ = new_key(admin, ["users.read"])
    assert [x["id"] for x in admin.get(KEYS).json()["results"]] == [key["id"]]
    sup = world.login("acme_admin")
    assert key["id"] in [x["id"] for x in sup.get(KEYS).json()["results"]]
    # an admin cannot revoke another user's key: not found
    sk, _ = new_key(sup, ["users.read"])
    assert admin.request("DELETE", f"{KEYS}/{sk['id']}").status_code == 404
    # a super admin can revoke anyone's in the tenant
    assert sup.request("DELETE", f"{KEYS}/{key['id']}").status_code == 204


@pytest.mark.parametrize("body,field", [
    ({"name": "x", "scopes": ["users.read"], "bogus": 1}, "bogus"),
    ({"scopes": ["users.read"]}, "name"),
    ({"name": "", "scopes": ["users.read"]}, "name"),
    ({"name": "n" * 65, "scopes": ["users.read"]}, "name"),
    ({"name": "x"}, "scopes"),
    ({"name": "x", "scopes": "users.read"}, "scopes"),
    ({"name": "x", "scopes": ["*"]}, "scopes"),
    ({"name": "x", "scopes": ["self"]}, "scopes"),
    ({"name": "x", "scopes": ["no.such"]}, "scopes"),
    ({"name": "x", "scopes": [1]}, "scopes"),
    ({"name": "x", "scopes": ["users.read", "users.read"]}, "scopes"),
    ({"name": "x", "scopes": ["users.read"], "cidrs": ["10.0.0.0"]}, "cidrs"),
    ({"name": "x", "scopes": ["users.read"], "cidrs": ["10.1.2.3/8"]}, "cidrs"),
    ({"name": "x", "scopes": ["users.read"], "cidrs": ["10.0.0.0/33"]}, "cidrs"),
    ({"name": "x", "scopes": ["users.read"], "cidrs": ["x" * 100]}, "cidrs"),
    ({"name": "x", "scopes": ["users.read"], "cidrs": [f"10.{i}.0.0/16" for i in range(33)]},
     "cidrs"),
    ({"name": "x", "scopes": ["users.read"], "expiresAt": "tomorrow"}, "expiresAt"),
    ({"name": "x", "scopes": ["users.read"], "expiresAt": "2000-01-01T00:00:00Z"}, "expiresAt"),
    ({"name": "x", "scopes": ["users.read"], "expiresAt": in_future(3 * 366 * 86400)},
     "expiresAt"),
])
def test_create_validation(world, body, field):
    admin = world.login("acme_admin")
    before = len(admin.get(KEYS).json()["results"])
    r = admin.post(KEYS, json=body)
    assert r.status_code == 422, r.text
    assert field in {d["field"] for d in r.json()["error"]["details"]}, r.text
    assert len(admin.get(KEYS).json()["results"]) == before


def test_scope_must_be_granted_to_the_creator(world):
    acct, admin = fresh_admin(world, role="admin")
    r = admin.post(KEYS, json={"name": "x", "scopes": ["settings.security"]})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["details"][0]["code"] == "not_granted"


def test_member_cannot_manage_keys(world):
    member = world.login("acme_member")
    assert member.get(KEYS).status_code == 403
    assert member.post(KEYS, json={"name": "x", "scopes": ["records.read"]}).status_code == 403
    assert member.request("DELETE", f"{KEYS}/1").status_code == 403


def test_other_tenants_key_is_not_found(world):
    gk, gtoken = new_key(world.login("globex_admin"), ["users.read"])
    acme = world.login("acme_admin")
    r = acme.request("DELETE", f"{KEYS}/{gk['id']}")
    assert r.status_code == 404, r.text
    assert gk["id"] not in [x["id"] for x in acme.get(KEYS).json()["results"]]
    assert call(world.server, gtoken, "GET", "/api/v1/me").status_code == 200
    for bad in ("abc", "0", "-1", "99999999999999999999999"):
        assert acme.request("DELETE", f"{KEYS}/{bad}").status_code == 404


# -- using a key


def test_token_works_without_csrf_and_sets_no_cookie(world):
    admin = world.login("acme_admin")
    _, token = new_key(admin, ["users.read"])
    r = call(world.server, token, "GET", "/api/v1/me")
    assert r.status_code == 200, r.text
    assert r.json()["user"]["email"] == "admin@acme.example"
    assert k.set_cookie_headers(r) == []
    r = call(world.server, token, "GET", "/api/v1/users")
    assert r.status_code == 200, r.text
    assert k.set_cookie_headers(r) == []
    # an unsafe method needs no X-CSRF-Token with a key (logout has no session to end)
    r = call(world.server, token, "POST", "/api/v1/auth/logout")
    assert r.status_code != 403 or r.json()["error"]["code"] != "csrf_failed", r.text
    assert k.set_cookie_headers(r) == []
    # "Bearer" is case-insensitive (RFC 6750)
    r = world.server.get("/api/v1/me", headers={"Authorization": f"bearer {token}"})
    assert r.status_code == 200


def test_unsafe_method_without_csrf(world):
    sup = world.login("acme_admin")
    _, token = new_key(sup, ["apikeys.manage"])
    victim, _ = new_key(sup, ["users.read"])
    r = call(world.server, token, "DELETE", f"{KEYS}/{victim['id']}")
    assert r.status_code == 204, r.text
    assert k.set_cookie_headers(r) == []
    # keys make no keys: their scopes could otherwise be widened
    r = call(world.server, token, "POST", KEYS, json={"name": "x", "scopes": ["users.read"]})
    assert r.status_code == 403, r.text


def test_missing_scope_is_forbidden(world):
    admin = world.login("acme_admin")
    key, token = new_key(admin, ["users.read"])
    r = call(world.server, token, "GET", "/api/v1/audit")
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden", r.text
    denied = k.audit_entries(admin, action="access.denied", actorId=key["id"])
    assert denied and denied[0]["actor"]["type"] == "api_key"
    assert denied[0]["target"]["id"] == "GET /api/v1/audit"


def test_route_beyond_creators_role_is_forbidden_even_if_scoped(world):
    acct, creator = fresh_admin(world, role="super_admin")
    key, token = new_key(creator, ["settings.security", "users.read"])
    assert call(world.server, token, "GET", "/api/v1/settings/security").status_code == 200
    sup = world.login("acme_admin")
    r = sup.request("PATCH", f"/api/v1/users/{creator.user_id}", json={"role": "admin"})
    assert r.status_code == 200, r.text
    r = call(world.server, token, "GET", "/api/v1/settings/security")
    assert r.status_code == 403, r.text
    assert call(world.server, token, "GET", "/api/v1/users").status_code == 200


def test_cidrs(world):
    admin = world.login("acme_admin")
    key, far = new_key(admin, ["users.read"], cidrs=["10.0.0.0/8"])
    r = call(world.server, far, "GET", "/api/v1/users")
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden", r.text
    denied = k.audit_entries(admin, action="access.denied", actorId=key["id"])
    assert denied and denied[0]["actor"]["type"] == "api_key"
    _, near = new_key(admin, ["users.read"], cidrs=["10.0.0.0/8", "127.0.0.0/8"])
    assert call(world.server, near, "GET", "/api/v1/users").status_code == 200
    _, v6 = new_key(admin, ["users.read"], cidrs=["::1/128"])
    assert call(world.server, v6, "GET", "/api/v1/users").status_code == 403


def test_revoked_and_disabled_creator(world):
    acct, creator = fresh_admin(world, role="admin")
    key, token = new_key(creator, ["users.read"])
    assert call(world.server, token, "GET", "/api/v1/users").status_code == 200
    sup = world.login("acme_admin")
    r = sup.request("PATCH", f"/api/v1/users/{creator.user_id}", json={"status": "disabled"})
    assert r.status_code == 200, r.text
    r = call(world.server, token, "GET", "/api/v1/users")
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthenticated"
    # same answer as for no credentials at all
    assert r.json()["error"]["message"] == world.server.get("/api/v1/me").json()["error"]["message"]
    r = sup.request("PATCH", f"/api/v1/users/{creator.user_id}", json={"status": "active"})
    assert r.status_code == 200, r.text
    assert call(world.server, token, "GET", "/api/v1/users").status_code == 200
    assert sup.request("DELETE", f"{KEYS}/{key['id']}").status_code == 204
    assert call(world.server, token, "GET", "/api/v1/users").status_code == 401


def test_wrong_tenant_and_tampered_tokens(world):
    admin = world.login("acme_admin")
    _, token = new_key(admin, ["users.read"])
    secret = token[len("kura_acme_"):]
    flipped = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    bad = [
        f"kura_globex_{secret}",            # right secret, other tenant
        f"kura_nosuch_{secret}",
        f"kura_acme_{flipped}",
        f"kura_acme_{secret[:-1]}",
        f"kura_acme_{secret}x",
        f"kura_acme{secret}",
        f"kura__{secret}",
        secret,
        f"kura_acme_{base64.urlsafe_b64encode(hashlib.sha256(secret.encode()).digest()).decode().rstrip('=')}",
        "",
    ]
    for t in bad:
        r = call(world.server, t, "GET", "/api/v1/me")
        assert r.status_code == 401, (t, r.status_code, r.text)
        assert r.json()["error"]["code"] == "unauthenticated"
    for h in (f"Basic {secret}", "Bearer", token):
        r = world.server.get("/api/v1/me", headers={"Authorization": h})
        assert r.status_code == 401, (h, r.text)
    assert call(world.server, token, "GET", "/api/v1/me").status_code == 200


def test_cookie_and_bearer_is_ambiguous(world):
    admin = world.login("acme_admin")
    _, token = new_key(admin, ["users.read"])
    r = admin.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_request", r.text
    assert "ambiguous" in r.json()["error"]["message"]


def test_audit_names_the_key_and_never_the_token(world):
    sup = world.login("acme_admin")
    key, token = new_key(sup, ["users.manage", "users.read", "audit.read"])
    email = f"via-key-{key['id'][-6:]}@acme.example"
    r = call(world.server, token, "POST", "/api/v1/users",
             json={"email": email, "role": "member"})
    assert r.status_code == 201, r.text
    uid = r.json()["user"]["id"]
    entries = k.audit_entries(sup, action="user.create", targetId=uid)
    assert len(entries) == 1
    assert entries[0]["actor"]["type"] == "api_key" and entries[0]["actor"]["id"] == key["id"]
    assert entries[0]["actor"]["email"] == "admin@acme.example"
    # a key with audit.read sees the log too; the token is nowhere in it
    r = call(world.server, token, "GET", "/api/v1/audit/export")
    assert r.status_code == 200, r.text
    secret = token[len("kura_acme_"):]
    export = sup.get("/api/v1/audit/export").text
    assert key["id"] in export
    for text in (r.text, export, world.server.log()):
        assert secret not in text
        assert token not in text


# -- expiry, with kurad's test clock


@pytest.fixture
def clocked(binaries):
    tmp = k.new_tempdir("kura-e2e-keys-")
    clock_file = tmp / "clock"
    clock_file.write_text("0\n")
    w = k.make_world(env={"KURA_TEST_CLOCK_OFFSET_FILE": str(clock_file)})
    try:
        yield w, Clock(w.server, clock_file)
    finally:
        k.destroy_world(w)
        k.remove_tempdir(tmp)


def test_expired_key_is_refused(clocked):
    w, clock = clocked
    admin = w.login("acme_admin")
    _, token = new_key(admin, ["users.read"], expiresAt=in_future(3600))
    _, forever = new_key(admin, ["users.read"])
    assert call(w.server, token, "GET", "/api/v1/users").status_code == 200
    clock.set(3601)
    r = call(w.server, token, "GET", "/api/v1/users")
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthenticated", r.text
    assert call(w.server, forever, "GET", "/api/v1/users").status_code == 200


def test_suspended_tenant(clocked):
    w, _ = clocked
    admin = w.login("acme_admin")
    _, token = new_key(admin, ["users.read"])
    w.cli.tenant_suspend("acme")
    try:
        r = call(w.server, token, "GET", "/api/v1/users")
        assert r.status_code == 403 and r.json()["error"]["code"] == "tenant_suspended", r.text
    finally:
        w.cli.tenant_resume("acme")
    assert call(w.server, token, "GET", "/api/v1/users").status_code == 200


def test_logout_with_a_key_ends_nothing_and_sets_no_cookie(world):
    admin = world.login("acme_admin")
    _, token = new_key(admin, ["users.read"])
    r = call(world.server, token, "POST", "/api/v1/auth/logout")
    assert r.status_code in (204, 404), r.text
    assert k.set_cookie_headers(r) == []
    assert admin.me().status_code == 200
    assert call(world.server, token, "GET", "/api/v1/me").status_code == 200
