"""
Every operation of docs/openapi.json (which a unit test keeps equal to the
route table), called by every built-in role with a valid session and CSRF
token: a role that holds the operation's x-kura-permission never gets 401 or
403; any other role gets exactly 403 "forbidden" and changes nothing. And
every operation that needs a session answers 401 "unauthenticated" without
one (for state-changing methods also when a CSRF token is sent without a
cookie), while operations with `security: []` answer without a session.

The role -> permission table mirrors src/auth/rbac.c on purpose: a change
there must be a deliberate change here too.
"""

import json
import re
import secrets

import pytest

import kura_e2e as k

DOC = json.loads((k.REPO / "docs" / "openapi.json").read_text())
METHODS = ("get", "put", "post", "patch", "delete", "head", "options")

# Mirror of src/auth/rbac.c. "self" is granted to every role; super_admin has "*".
ROLE_PERMISSIONS = {
    "super_admin": {"*"},
    "admin": {"records.read", "records.write", "records.delete", "records.export",
              "properties.manage", "users.read", "users.manage", "audit.read", "forms.manage",
              "mail.send", "apikeys.manage"},
    "member": {"records.read", "records.write", "mail.send"},
    "read_only": {"records.read"},
}
ROLES = list(ROLE_PERMISSIONS)


def _session_scheme_names():
    """The security schemes that are Kura's session cookie."""
    schemes = DOC.get("components", {}).get("securitySchemes", {})
    return {name for name, s in schemes.items()
            if s.get("type") == "apiKey" and s.get("in") == "cookie" and s.get("name") == k.COOKIE_NAME}


SESSION_SCHEMES = _session_scheme_names()


def _operations():
    ops = []
    for path, item in DOC["paths"].items():
        for method in METHODS:
            if method in item:
                ops.append((method.upper(), path, item[method]))
    return ops


OPERATIONS = _operations()


def security_of(op) -> list:
    return op.get("security", DOC.get("security", []))


def kind_of(op) -> str:
    """"none" (no session needed), "session", or "other:<schemes>"."""
    sec = security_of(op)
    if sec == []:
        return "none"
    names = [set(req) for req in sec]
    if any(req and req <= SESSION_SCHEMES for req in names):
        return "session"
    return "other:" + ",".join(sorted(set().union(*names)))


def op_id(o) -> str:
    return f"{o[0]} {o[1]}"


NO_SESSION_OPS = [o for o in OPERATIONS if kind_of(o[2]) == "none"]
SESSION_OPS = [o for o in OPERATIONS if kind_of(o[2]) != "none"]


def skip_unless_session(op):
    kind = kind_of(op)
    if kind != "session":
        pytest.skip(f"security scheme {kind.split(':', 1)[1]} is not the session cookie "
                    f"({', '.join(sorted(SESSION_SCHEMES))}); not part of the role matrix")


def allowed(role: str, permission: str) -> bool:
    perms = ROLE_PERMISSIONS[role]
    return permission == "self" or "*" in perms or permission in perms


# ---------------------------------------------------------------- request bodies from the schema


def _resolve(schema: dict) -> dict:
    seen = 0
    while isinstance(schema, dict) and "$ref" in schema and seen < 10:
        ref = schema["$ref"]
        assert ref.startswith("#/"), ref
        node = DOC
        for part in ref[2:].split("/"):
            node = node[part]
        schema = node
        seen += 1
    return schema or {}


def sample_value(name: str, schema: dict, tenant: str):
    schema = _resolve(schema)
    if "enum" in schema:
        values = schema["enum"]
        # the least privileged choice, so that an allowed role is not refused by a business rule
        for v in ("member", "read_only", "active"):
            if v in values:
                return v
        return values[0]
    t = schema.get("type")
    lname = name.lower()
    if t == "object":
        return sample_object(schema, tenant)
    if t == "array":
        return []
    if t == "boolean":
        return False
    if t in ("integer", "number"):
        return schema.get("minimum", 1)
    if schema.get("format") == "email" or "email" in lname:
        return f"matrix-{secrets.token_hex(4)}@{tenant}.example"
    if "password" in lname:
        # a wrong current password is a 422 and changes nothing: fine for "allowed"
        return k.strong_password()
    s = "e2e-" + secrets.token_hex(4)
    s = s.ljust(int(schema.get("minLength", 0)), "x")
    return s[:int(schema.get("maxLength", len(s)))]


def sample_object(schema: dict, tenant: str) -> dict:
    schema = _resolve(schema)
    props = schema.get("properties", {})
    return {p: sample_value(p, props.get(p, {}), tenant) for p in schema.get("required", [])}


def request_body(op, tenant: str):
    rb = op.get("requestBody")
    if not rb:
        return None
    content = rb.get("content", {})
    schema = content.get("application/json", {}).get("schema", {"type": "object"})
    return sample_object(schema, tenant)


# ---------------------------------------------------------------- callers


@pytest.fixture(scope="module")
def callers(world):
    """An acme account for each built-in role, passwords changed: the
    world's super admin and member, an admin made with the CLI, and a
    read_only user invited through the API."""
    accts = {
        "super_admin": world.account("acme_admin"),
        "admin": k.active_user(world, "acme", "admin", prefix="matrix-admin"),
        "member": world.account("acme_member"),
    }
    boss = world.login("acme_admin")
    email = f"matrix-ro-{secrets.token_hex(4)}@acme.example"
    r = boss.post("/api/v1/users", json={"email": email, "role": "read_only", "displayName": "RO"})
    assert r.status_code == 201, r.text
    ro = k.Account(email, "acme", email, "read_only", "RO", r.json()["oneTimePassword"])
    accts["read_only"] = world.activate(ro)
    boss.logout()
    for role, a in accts.items():
        c = world.server.login(a.tenant, a.email, a.password)
        assert c.me().json()["user"]["role"] == role
        c.logout()
    return accts


def login(world, acct) -> k.Client:
    return world.server.login(acct.tenant, acct.email, acct.password)


def fill_path(world, callers, caller: k.Client, role: str, path: str):
    """The path with its parameters filled: an id that exists in the
    caller's tenant where there is one to name, else any id. Returns
    (path, user id or None) -- the user id of a throwaway target."""
    target_uid = None
    if "{" not in path:
        return path, None
    boss = login(world, callers["super_admin"])
    out = path
    if path.startswith("/api/v1/users/{id}"):
        # a throwaway member of the caller's tenant, so that a change or delete is harmless
        email = f"matrix-target-{secrets.token_hex(4)}@acme.example"
        r = boss.post("/api/v1/users", json={"email": email, "role": "member"})
        assert r.status_code == 201, r.text
        target_uid = r.json()["user"]["id"]
        out = out.replace("{id}", target_uid)
    elif path.startswith("/api/v1/sessions/{id}"):
        # another session of the caller's own account
        other = login(world, callers[role])
        sid = [s for s in other.get("/api/v1/sessions").json()["results"] if s["current"]][0]["id"]
        out = out.replace("{id}", sid)
    while "{" in out:
        a, _, rest = out.partition("{")
        out = a + "1" + rest.partition("}")[2]
    boss.close()
    return out, target_uid


# ---------------------------------------------------------------- the document


def test_document_covers_the_served_routes(world):
    """What this file walks is what the server serves as its OpenAPI document."""
    r = world.server.get("/api/v1/openapi.json")
    assert r.status_code == 200, r.text[:300]
    served = r.json()
    got = {(m.upper(), p) for p, item in served["paths"].items() for m in METHODS if m in item}
    assert got == {(m, p) for m, p, _ in OPERATIONS}
    assert SESSION_SCHEMES, "docs/openapi.json defines no session-cookie security scheme"
    assert len(SESSION_OPS) >= 10 and len(NO_SESSION_OPS) >= 3


@pytest.mark.parametrize("o", SESSION_OPS, ids=op_id)
def test_operation_declares_a_permission(o):
    """A permission no built-in role but super_admin holds (settings.security)
    is fine: the matrix then expects 403 for all the others."""
    skip_unless_session(o[2])
    perm = o[2].get("x-kura-permission")
    assert isinstance(perm, str) and perm, f"{op_id(o)} has no x-kura-permission"
    assert perm == "self" or re.fullmatch(r"[a-z_]+\.[a-z_]+", perm), \
        f"{op_id(o)}: odd permission name {perm!r}"


# ---------------------------------------------------------------- the role matrix


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("o", SESSION_OPS, ids=op_id)
def test_role_matrix(world, callers, o, role):
    method, path, op = o
    skip_unless_session(op)
    perm = op["x-kura-permission"]
    c = login(world, callers[role])
    url, target_uid = fill_path(world, callers, c, role, path)
    boss = login(world, callers["super_admin"])
    before = boss.get(f"/api/v1/users/{target_uid}").json() if target_uid else None
    body = request_body(op, "acme")
    kw = {"json": body} if body is not None else {}
    r = c.request(method, url, **kw)
    if allowed(role, perm):
        assert r.status_code not in (401, 403), \
            f"{method} {url} ({perm}) as {role}: {r.status_code} {r.text[:300]}"
        assert r.status_code < 500, f"{method} {url} as {role}: {r.status_code} {r.text[:300]}"
    else:
        k.assert_error(r, 403, "forbidden")
        # refused means nothing happened
        assert c.me().status_code == 200, f"a refused {method} {path} ended the caller's session"
        if target_uid:
            assert boss.get(f"/api/v1/users/{target_uid}").json() == before
        if method == "POST" and isinstance(body, dict) and "email" in body:
            emails = {u["email"] for u in boss.get("/api/v1/users").json()["results"]}
            assert body["email"] not in emails, "a refused POST created the user anyway"


@pytest.mark.parametrize("o", SESSION_OPS, ids=op_id)
def test_needs_a_session(world, callers, o):
    method, path, op = o
    skip_unless_session(op)
    url = path
    while "{" in url:
        a, _, rest = url.partition("{")
        url = a + "1" + rest.partition("}")[2]
    body = request_body(op, "acme")
    kw = {"json": body} if body is not None else {}
    r = world.server.request(method, url, **kw)
    k.assert_error(r, 401, "unauthenticated")
    ended = login(world, callers["member"])
    token, cookie = ended.csrf, ended.cookie
    assert ended.logout().status_code == 204
    if method in ("POST", "PUT", "PATCH", "DELETE"):
        # a CSRF token (a real one, of a live session) without any cookie
        live = login(world, callers["super_admin"])
        r = world.server.request(method, url, headers={k.CSRF_HEADER: live.csrf}, **kw)
        k.assert_error(r, 401, "unauthenticated")
        r = world.server.request(method, url, headers={k.CSRF_HEADER: token}, **kw)
        k.assert_error(r, 401, "unauthenticated")
    # the cookie of an ended session is no session either
    r = world.server.request(method, url, headers={"Cookie": f"{k.COOKIE_NAME}={cookie}",
                                                   k.CSRF_HEADER: token}, **kw)
    k.assert_error(r, 401, "unauthenticated")


@pytest.mark.parametrize("o", NO_SESSION_OPS, ids=op_id)
def test_open_operations_need_no_session(world, o):
    method, path, op = o
    body = request_body(op, "acme")
    kw = {"json": body} if body is not None else {}
    r = world.server.request(method, path, **kw)
    assert r.status_code not in (401, 403) or \
        r.json().get("error", {}).get("code") == "invalid_credentials", \
        f"{method} {path} wants a session: {r.status_code} {r.text[:300]}"
    assert r.status_code < 500, f"{method} {path}: {r.status_code} {r.text[:300]}"
