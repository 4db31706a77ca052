"""
The tenant's own roles (named permission sets beside the built-in ones) and
teams: what a custom role grants on every request (changes take effect at
once), that nobody can hand out or manage permissions they do not hold,
validation and limits, other tenants, and the audit trail.
"""

import secrets

import pytest

import kura_e2e as k

ALL_PERMS = ["records.read", "records.write", "records.delete", "records.export",
             "properties.manage", "users.read", "users.manage", "audit.read", "forms.manage",
             "mail.send", "apikeys.manage", "settings.security"]


def rname(prefix="r"):
    return f"{prefix}_{secrets.token_hex(3)}"


def make_role(c, perms, name=None, **extra):
    body = {"name": name or rname(), "label": "Role", "permissions": perms, **extra}
    r = c.post("/api/v1/roles", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def invite(world, boss, role, tenant="acme"):
    """A user of the given role, signed in with a changed password."""
    email = f"rt-{secrets.token_hex(4)}@{tenant}.example"
    r = boss.post("/api/v1/users", json={"email": email, "role": role})
    assert r.status_code == 201, r.text
    acct = k.Account(email, tenant, email, role, email, r.json()["oneTimePassword"])
    world.activate(acct)
    return acct, world.server.login(acct.tenant, acct.email, acct.password)


@pytest.fixture(scope="module")
def boss(world):
    c = world.login("acme_admin")
    yield c
    c.close()


@pytest.fixture(scope="module")
def admin(world):
    acct = k.active_user(world, "acme", "admin", prefix="rt-admin")
    c = world.server.login(acct.tenant, acct.email, acct.password)
    yield c
    c.close()


# ---------------------------------------------------------------- roles


def test_builtin_roles_are_listed_and_fixed(boss):
    r = boss.get("/api/v1/roles")
    assert r.status_code == 200, r.text
    by = {x["name"]: x for x in r.json()["results"]}
    assert {"super_admin", "admin", "member", "read_only"} <= set(by)
    assert by["super_admin"]["permissions"] == ["*"] and by["super_admin"]["builtIn"] is True
    assert by["read_only"]["permissions"] == ["records.read"]
    assert "settings.security" not in by["admin"]["permissions"]
    got = boss.get("/api/v1/roles/member")
    assert got.status_code == 200 and got.json()["builtIn"] is True
    for method, body in (("PATCH", {"label": "x"}), ("DELETE", None)):
        r = boss.request(method, "/api/v1/roles/admin", json=body)
        k.assert_error(r, 409, "conflict")


def test_custom_role_grants_exactly_its_permissions_at_once(world, boss):
    role = make_role(boss, ["records.read", "records.write"], description="support desk")
    assert role["builtIn"] is False and role["permissions"] == ["records.read", "records.write"]
    assert role["users"] == 0
    acct, c = invite(world, boss, role["name"])
    assert c.me().json()["user"]["role"] == role["name"]
    rec = k.crm_create(c, "contacts", {"email": f"{secrets.token_hex(4)}@x.example"})
    assert c.get(f"/api/v1/objects/contacts/{rec['id']}").status_code == 200
    k.assert_error(c.request("DELETE", f"/api/v1/objects/contacts/{rec['id']}"), 403, "forbidden")
    k.assert_error(c.get("/api/v1/users"), 403, "forbidden")
    assert c.get("/api/v1/me").status_code == 200      # "self" comes with every role
    # widened: the very next request may delete; no new sign-in needed
    r = boss.request("PATCH", f"/api/v1/roles/{role['name']}",
                     json={"permissions": ["records.read", "records.write", "records.delete"]})
    assert r.status_code == 200 and r.json()["users"] == 1, r.text
    assert c.request("DELETE", f"/api/v1/objects/contacts/{rec['id']}").status_code == 204
    # narrowed: writing stops at once
    r = boss.request("PATCH", f"/api/v1/roles/{role['name']}", json={"permissions": ["records.read"]})
    assert r.status_code == 200, r.text
    r = c.post("/api/v1/objects/contacts", json={"properties": {}})
    k.assert_error(r, 403, "forbidden")
    # held: cannot be deleted; given up: can
    k.assert_error(boss.request("DELETE", f"/api/v1/roles/{role['name']}"), 409, "conflict")
    uid = c.user_id
    assert boss.request("PATCH", f"/api/v1/users/{uid}", json={"role": "member"}).status_code == 200
    assert boss.request("DELETE", f"/api/v1/roles/{role['name']}").status_code == 204
    k.assert_error(boss.get(f"/api/v1/roles/{role['name']}"), 404, "not_found")
    # the audit trail names each change
    acts = [e["action"] for e in k.audit_entries(boss, targetType="role", targetId=role["name"])]
    assert acts == ["role.delete", "role.update", "role.update", "role.create"], acts
    upd = k.audit_entries(boss, action="role.update", targetId=role["name"])[0]
    assert upd["target"]["properties"] == "permissions"


def test_role_validation(boss):
    bad = [
        {"name": "admin", "label": "x", "permissions": []},            # built-in name
        {"name": "Support", "label": "x", "permissions": []},          # upper case
        {"name": "s", "label": "x", "permissions": []},                # too short
        {"name": "x" * 33, "label": "x", "permissions": []},           # too long
        {"name": "9lives", "label": "x", "permissions": []},
        {"name": rname(), "label": "x", "permissions": ["*"]},
        {"name": rname(), "label": "x", "permissions": ["records.read", "records.read"]},
        {"name": rname(), "label": "x", "permissions": ["records.fly"]},
        {"name": rname(), "label": "x", "permissions": "records.read"},
        {"name": rname(), "label": "", "permissions": []},
        {"name": rname(), "permissions": []},
        {"name": rname(), "label": "x", "permissions": [], "extra": 1},
    ]
    for body in bad:
        r = boss.post("/api/v1/roles", json=body)
        k.assert_error(r, 422, "validation_failed")
        assert r.json()["error"]["details"], body
    name = rname()
    make_role(boss, [], name=name)
    k.assert_error(boss.post("/api/v1/roles", json={"name": name, "label": "x", "permissions": []}),
                   409, "already_exists")
    k.assert_error(boss.request("PATCH", f"/api/v1/roles/{name}", json={"permissions": ["nope"]}),
                   422, "validation_failed")
    k.assert_error(boss.request("PATCH", "/api/v1/roles/no_such_role", json={"label": "x"}), 404)
    k.assert_error(boss.request("DELETE", "/api/v1/roles/no_such_role"), 404)


def test_a_custom_user_manager_cannot_hand_out_built_in_roles_above_it(world, boss):
    """A custom role with users.read and users.manage only: its holders cannot
    make themselves or anyone an admin, a member (records.* are not theirs) or
    a super admin, nor change, delete or sign out an admin; a role within
    their own permissions they can still give."""
    hr = make_role(boss, ["users.read", "users.manage"])
    me_acct, me = invite(world, boss, hr["name"])
    _, admin_user = invite(world, boss, "admin")
    for role in ("admin", "member", "super_admin"):
        k.assert_error(me.request("PATCH", f"/api/v1/users/{me.user_id}", json={"role": role}),
                       403, "forbidden")
        email = f"rt-{secrets.token_hex(4)}@acme.example"
        k.assert_error(me.post("/api/v1/users", json={"email": email, "role": role}), 403,
                       "forbidden")
    assert me.me().json()["user"]["role"] == hr["name"]
    for method, path, body in (("PATCH", f"/api/v1/users/{admin_user.user_id}",
                                {"status": "disabled"}),
                               ("DELETE", f"/api/v1/users/{admin_user.user_id}", None),
                               ("DELETE", f"/api/v1/users/{admin_user.user_id}/sessions", None)):
        kw = {"json": body} if body is not None else {}
        k.assert_error(me.request(method, path, **kw), 403, "forbidden")
    assert admin_user.me().status_code == 200
    # a role within its own permissions is still fine
    email = f"rt-{secrets.token_hex(4)}@acme.example"
    assert me.post("/api/v1/users", json={"email": email, "role": hr["name"]}).status_code == 201


def test_no_handing_out_what_one_does_not_hold(world, boss, admin):
    """An admin (users.manage, no settings.security) cannot give a role that
    holds settings.security, nor manage someone who holds it; a role within
    the admin's own permissions is fine."""
    officer = make_role(boss, ["audit.read", "settings.security"])
    helper = make_role(boss, ["records.read", "users.read"])
    email = f"rt-{secrets.token_hex(4)}@acme.example"
    r = admin.post("/api/v1/users", json={"email": email, "role": officer["name"]})
    k.assert_error(r, 403, "forbidden")
    emails = {u["email"] for u in boss.get("/api/v1/users").json()["results"]}
    assert email not in emails
    _, plain = invite(world, admin, helper["name"])
    k.assert_error(admin.request("PATCH", f"/api/v1/users/{plain.user_id}",
                                 json={"role": officer["name"]}), 403, "forbidden")
    _, sec = invite(world, boss, officer["name"])
    for method, body in (("PATCH", {"displayName": "x"}), ("DELETE", None)):
        r = admin.request(method, f"/api/v1/users/{sec.user_id}", json=body)
        k.assert_error(r, 403, "forbidden")
    # the officer may do what the role says (security settings), not more
    assert sec.get("/api/v1/settings/security").status_code == 200
    k.assert_error(sec.get("/api/v1/users"), 403, "forbidden")
    # and may not create a role wider than their own
    r = sec.post("/api/v1/roles", json={"name": rname(), "label": "x",
                                        "permissions": ["records.delete"]})
    k.assert_error(r, 422, "validation_failed")
    assert r.json()["error"]["details"][0]["code"] == "not_granted"
    # nor change or delete one that holds more than they do
    wide = make_role(boss, ["records.delete"])
    k.assert_error(sec.request("PATCH", f"/api/v1/roles/{wide['name']}", json={"label": "x"}), 403)
    k.assert_error(sec.request("DELETE", f"/api/v1/roles/{wide['name']}"), 403)
    # unknown role names are refused, not stored
    r = admin.post("/api/v1/users", json={"email": f"rt-{secrets.token_hex(4)}@acme.example",
                                          "role": "no_such_role"})
    k.assert_error(r, 422, "validation_failed")
    assert r.json()["error"]["details"][0]["field"] == "role"


def test_api_key_scopes_follow_the_custom_role(world, boss):
    role = make_role(boss, ["records.read", "apikeys.manage"])
    _, c = invite(world, boss, role["name"])
    k.assert_error(c.post("/api/v1/api-keys", json={"name": "k", "scopes": ["records.write"]}), 422)
    kid, token = k.crm_api_key(c, ["records.read"])
    assert k.bearer(world.server, token, "GET", "/api/v1/objects/contacts").status_code == 200
    # the creator's role loses records.read: the key loses it too, at once
    assert boss.request("PATCH", f"/api/v1/roles/{role['name']}",
                        json={"permissions": ["apikeys.manage"]}).status_code == 200
    k.assert_error(k.bearer(world.server, token, "GET", "/api/v1/objects/contacts"), 403)


def test_roles_limit(world):
    t = k.new_tenant(world, "roles")
    acct = k.active_user(world, t, "super_admin", prefix="boss")
    c = world.server.login(acct.tenant, acct.email, acct.password)
    for i in range(50):
        make_role(c, ["records.read"], name=f"r{i:02d}")
    r = c.post("/api/v1/roles", json={"name": "r50", "label": "x", "permissions": []})
    k.assert_error(r, 409, "conflict")
    assert len(c.get("/api/v1/roles").json()["results"]) == 54


def test_roles_of_another_tenant_are_not_found(world, boss):
    role = make_role(boss, ["records.read"])
    g = world.login("globex_admin")
    k.assert_error(g.get(f"/api/v1/roles/{role['name']}"), 404, "not_found")
    k.assert_error(g.request("PATCH", f"/api/v1/roles/{role['name']}", json={"label": "x"}), 404)
    k.assert_error(g.request("DELETE", f"/api/v1/roles/{role['name']}"), 404)
    r = g.post("/api/v1/users", json={"email": f"rt-{secrets.token_hex(4)}@globex.example",
                                      "role": role["name"]})
    k.assert_error(r, 422, "validation_failed")
    assert role["name"] not in {x["name"] for x in g.get("/api/v1/roles").json()["results"]}


# ---------------------------------------------------------------- teams


def test_teams(world, boss, admin):
    r = admin.post("/api/v1/teams", json={"name": "Sales 東京", "description": "first floor"})
    assert r.status_code == 201, r.text
    team = r.json()
    tid = team["id"]
    assert team["members"] == [] and team["memberCount"] == 0
    k.assert_error(admin.post("/api/v1/teams", json={"name": "SALES 東京"}), 409, "already_exists")
    for body in ({}, {"name": ""}, {"name": "x" * 513}, {"name": "x", "color": "red"},
                 {"name": 5}):
        k.assert_error(admin.post("/api/v1/teams", json=body), 422, "validation_failed")
    member = world.login("acme_member")
    r = admin.request("PUT", f"/api/v1/teams/{tid}/members/{member.user_id}")
    assert r.status_code == 200 and r.json()["members"] == [member.user_id], r.text
    # again: no change
    r = admin.request("PUT", f"/api/v1/teams/{tid}/members/{member.user_id}")
    assert r.status_code == 200 and r.json()["memberCount"] == 1
    k.assert_error(admin.request("PUT", f"/api/v1/teams/{tid}/members/{k.CRM_MISSING_ID}"), 404)
    g_member = world.login("globex_member")
    k.assert_error(admin.request("PUT", f"/api/v1/teams/{tid}/members/{g_member.user_id}"), 404)
    listed = admin.get("/api/v1/teams").json()["results"]
    assert any(t["id"] == tid and t["memberCount"] == 1 for t in listed)
    # a member may read teams? no: users.read is needed
    k.assert_error(member.get("/api/v1/teams"), 403, "forbidden")
    k.assert_error(member.request("PUT", f"/api/v1/teams/{tid}/members/{member.user_id}"), 403)
    r = admin.request("PATCH", f"/api/v1/teams/{tid}", json={"name": "Sales Tokyo"})
    assert r.status_code == 200 and r.json()["name"] == "Sales Tokyo", r.text
    for body in ({"name": ""}, {"name": 5}, {"color": "red"}, {"name": "x" * 513}):
        k.assert_error(admin.request("PATCH", f"/api/v1/teams/{tid}", json=body), 422,
                       "validation_failed")
    other_tid = admin.post("/api/v1/teams", json={"name": "Support"}).json()["id"]
    k.assert_error(admin.request("PATCH", f"/api/v1/teams/{tid}", json={"name": "support"}), 409,
                   "already_exists")
    k.assert_error(admin.request("PATCH", f"/api/v1/teams/{k.CRM_MISSING_ID}",
                                 json={"name": "x"}), 404, "not_found")
    r = admin.get(f"/api/v1/teams/{tid}")
    assert r.status_code == 200, r.text
    assert (r.json()["id"], r.json()["name"], r.json()["members"]) == \
        (tid, "Sales Tokyo", [member.user_id])
    # another tenant: its list holds none of acme's teams, and it can change nothing here
    g = world.login("globex_admin")
    assert not {t["name"] for t in g.get("/api/v1/teams").json()["results"]} & \
        {"Sales Tokyo", "Support"}
    k.assert_error(g.request("PATCH", f"/api/v1/teams/{tid}", json={"name": "x"}), 404,
                   "not_found")
    k.assert_error(g.request("DELETE", f"/api/v1/teams/{tid}/members/{member.user_id}"), 404,
                   "not_found")
    r = admin.get(f"/api/v1/teams/{tid}").json()
    assert r["name"] == "Sales Tokyo" and r["members"] == [member.user_id], r
    assert admin.request("DELETE", f"/api/v1/teams/{other_tid}").status_code == 204
    r = admin.request("DELETE", f"/api/v1/teams/{tid}/members/{member.user_id}")
    assert r.status_code == 200 and r.json()["members"] == []
    k.assert_error(admin.request("DELETE", f"/api/v1/teams/{tid}/members/{member.user_id}"), 404)
    # another tenant sees no such team
    g = world.login("globex_admin")
    for method, path in (("GET", f"/api/v1/teams/{tid}"), ("DELETE", f"/api/v1/teams/{tid}"),
                         ("PUT", f"/api/v1/teams/{tid}/members/{g_member.user_id}")):
        k.assert_error(g.request(method, path), 404, "not_found")
    assert admin.request("DELETE", f"/api/v1/teams/{tid}").status_code == 204
    k.assert_error(admin.get(f"/api/v1/teams/{tid}"), 404)
    k.assert_error(admin.request("DELETE", f"/api/v1/teams/{tid}"), 404, "not_found")
    k.assert_error(admin.request("DELETE", "/api/v1/teams/abc"), 404, "not_found")
    for bad in ("abc", "0", "-1", "99999999999999999999"):
        k.assert_error(admin.get(f"/api/v1/teams/{bad}"), 404, "not_found")
    acts = [e["action"] for e in k.audit_entries(boss, targetType="team", targetId=tid)]
    assert acts == ["team.delete", "team.member_remove", "team.update", "team.member_add",
                    "team.member_add", "team.create"], acts


def test_deleting_a_user_leaves_their_teams(world, boss):
    r = boss.post("/api/v1/teams", json={"name": f"t-{secrets.token_hex(3)}"})
    tid = r.json()["id"]
    _, c = invite(world, boss, "member")
    assert boss.request("PUT", f"/api/v1/teams/{tid}/members/{c.user_id}").status_code == 200
    assert boss.request("DELETE", f"/api/v1/users/{c.user_id}").status_code == 204
    assert boss.get(f"/api/v1/teams/{tid}").json()["members"] == []


# ---------------------------------------------------------------- field permissions by role and team


def test_field_permissions_for_custom_roles_and_teams(world):
    """A sensitive property visible to a custom role and to a team, and
    editable only by that team: membership and role take effect on the next
    request; names that do not exist here are refused."""
    t = k.new_tenant(world, "fperm")
    boss_acct = k.active_user(world, t, "super_admin", prefix="boss")
    boss = world.server.login(boss_acct.tenant, boss_acct.email, boss_acct.password)
    auditor = make_role(boss, ["records.read"], name="auditor")
    team = boss.post("/api/v1/teams", json={"name": "KYC"}).json()
    tid = team["id"]
    perms = {"view": ["auditor", f"team:{tid}"], "edit": [f"team:{tid}"]}
    r = boss.post("/api/v1/properties/contacts", json={
        "name": "passport", "labels": {"en": "Passport"}, "type": "string", "sensitive": True,
        "permissions": perms})
    assert r.status_code == 201, r.text
    assert r.json()["permissions"] == perms
    rec = k.crm_create(boss, "contacts", {"email": "p@x.example", "passport": "TK1234567"})
    path = f"/api/v1/objects/contacts/{rec['id']}"
    _, m = invite(world, boss, "member", tenant=t)
    _, a = invite(world, boss, "auditor", tenant=t)
    # neither in the team nor of the role: omitted, and no filtering on it
    assert "passport" not in m.get(path).json()["properties"]
    r = m.post("/api/v1/objects/contacts/search", json={"filterGroups": [{"filters": [
        {"propertyName": "passport", "operator": "EQ", "value": "TK1234567"}]}]})
    k.assert_error(r, 403, "forbidden")
    # the custom role sees it, cannot change it
    assert a.get(path).json()["properties"]["passport"] == "TK1234567"
    k.assert_error(a.request("PATCH", path, json={"properties": {"passport": "X"}}), 403)
    # joining the team: the member's next request sees and edits it
    assert boss.request("PUT", f"/api/v1/teams/{tid}/members/{m.user_id}").status_code == 200
    assert m.get(path).json()["properties"]["passport"] == "TK1234567"
    r = m.request("PATCH", path, json={"properties": {"passport": "TK7654321"}})
    assert r.status_code == 200, r.text
    found = k.crm_search(m, "contacts", {"filterGroups": [{"filters": [
        {"propertyName": "passport", "operator": "EQ", "value": "TK7654321"}]}]})
    assert [x["id"] for x in found["results"]] == [rec["id"]]
    # leaving it: gone again
    assert boss.request("DELETE", f"/api/v1/teams/{tid}/members/{m.user_id}").status_code == 200
    assert "passport" not in m.get(path).json()["properties"]
    # grantees must exist in this tenant
    for bad in ({"view": ["no_such_role"]}, {"view": [f"team:{int(tid) + 1000}"]},
                {"view": ["team:999999999"]}, {"edit": ["Team:1"]}, {"view": ["team:"]},
                {"view": ["team:01"]}, {"view": ["auditor"] * 101}):
        r = boss.request("PATCH", "/api/v1/properties/contacts/passport", json={"permissions": bad})
        k.assert_error(r, 422, "validation_failed")
    # a role or team named in a permission can still be deleted; the grant then matches nobody
    assert boss.request("DELETE", f"/api/v1/teams/{tid}").status_code == 204
    assert "passport" not in m.get(path).json()["properties"]
