"""The tenant's security health check (GET /api/v1/security/health): the
findings of a fresh tenant, each finding appearing and disappearing as the
tenant's state changes (settings, super admins, API keys, and, with kurad's
test clock, the 90-day rules), the score's arithmetic, who may call it, and
that another tenant's state never shows up in it."""

import datetime

import pytest

import kura_e2e as k
from test_auth import Clock

HEALTH = "/api/v1/security/health"
SETTINGS = "/api/v1/settings/security"
WEIGHTS = {"high": 25, "medium": 10, "low": 5}
FRESH = {"mfa_not_required", "no_ip_allowlist", "single_super_admin"}
DAY = 86400


@pytest.fixture
def clocked(binaries):
    tmp = k.new_tempdir("kura-e2e-health-")
    clock_file = tmp / "clock"
    clock_file.write_text("0\n")
    w = k.make_world(env={"KURA_TEST_CLOCK_OFFSET_FILE": str(clock_file)})
    try:
        yield w, Clock(w.server, clock_file)
    finally:
        k.destroy_world(w)
        k.remove_tempdir(tmp)


def health(c) -> dict:
    """The check's answer, after verifying its shape and its score."""
    r = c.get(HEALTH)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"score", "findings"}
    ids = [f["id"] for f in body["findings"]]
    assert len(ids) == len(set(ids)), f"a finding is listed twice: {ids}"
    for f in body["findings"]:
        assert set(f) == {"id", "severity", "title", "detail", "action"}, f
        assert f["severity"] in WEIGHTS, f
        assert f["title"] and f["detail"] and f["action"], f
    want = max(0, 100 - sum(WEIGHTS[f["severity"]] for f in body["findings"]))
    assert body["score"] == want, body
    return body


def ids(c) -> set:
    return {f["id"] for f in health(c)["findings"]}


def finding(c, fid) -> dict:
    return {f["id"]: f for f in health(c)["findings"]}[fid]


def patch(c, body):
    r = c.request("PATCH", SETTINGS, json=body)
    assert r.status_code == 200, r.text


def new_super(w, tenant="acme") -> str:
    """A second, third ... active super admin (created by the CLI); its id."""
    a = w.new_user(tenant, "super_admin", prefix="boss")
    users = w.login(f"{tenant}_admin").get("/api/v1/users").json()["results"]
    return next(u["id"] for u in users if u["email"] == a.email)


def test_fresh_tenant(world):
    body = health(world.login("acme_admin"))
    assert {f["id"] for f in body["findings"]} == FRESH
    assert body["score"] == 100 - 25 - 5 - 5
    by_id = {f["id"]: f for f in body["findings"]}
    assert by_id["mfa_not_required"]["severity"] == "high"
    assert "0 of 1 active administrators and 0 of 2 active users" in \
        by_id["mfa_not_required"]["detail"], by_id["mfa_not_required"]
    assert by_id["no_ip_allowlist"]["severity"] == "low"
    assert "from any address" in by_id["no_ip_allowlist"]["detail"]
    assert "second" in by_id["single_super_admin"]["action"]


def test_unauthenticated(world):
    k.assert_error(world.server.get(HEALTH), 401, "unauthenticated")


@pytest.mark.parametrize("role", ["admin", "member", "read_only"])
def test_forbidden_roles(world, role):
    a = world.activate(world.new_user("acme", role, prefix=role.replace("_", "")))
    c = world.server.login(a.tenant, a.email, a.password)
    k.assert_error(c.get(HEALTH), 403, "forbidden")


def test_settings_findings(fresh_world):
    w = fresh_world
    admin = w.login("acme_admin")
    other = w.login("globex_admin")
    patch(admin, {"lockoutThreshold": 0})
    assert ids(admin) == FRESH | {"lockout_off"}
    assert finding(admin, "lockout_off")["severity"] == "high"
    assert health(admin)["score"] == 40
    patch(admin, {"passwordMinLength": 8})
    assert ids(admin) == FRESH | {"lockout_off", "weak_password_policy"}
    assert "8" in finding(admin, "weak_password_policy")["detail"]
    assert health(admin)["score"] == 30
    # the other tenant's own settings are untouched, and so is its check
    assert ids(other) == FRESH
    patch(admin, {"lockoutThreshold": 5})
    assert ids(admin) == FRESH | {"weak_password_policy"}
    patch(admin, {"passwordMinLength": 12, "passwordRequiredClasses": ["digit"]})
    assert ids(admin) == FRESH
    assert health(admin)["score"] == 65


def test_super_admin_findings(fresh_world):
    w = fresh_world
    admin = w.login("acme_admin")
    ids_ = [new_super(w)]
    assert ids(admin) == FRESH - {"single_super_admin"}
    assert health(admin)["score"] == 70
    ids_ += [new_super(w), new_super(w)]
    assert ids(admin) == (FRESH - {"single_super_admin"}) | {"too_many_super_admins"}
    assert "4" in finding(admin, "too_many_super_admins")["detail"]
    assert health(admin)["score"] == 60
    # globex has one super admin still
    assert ids(w.login("globex_admin")) == FRESH
    # a disabled super admin does not count
    r = admin.request("PATCH", f"/api/v1/users/{ids_[0]}", json={"status": "disabled"})
    assert r.status_code == 200, r.text
    assert ids(admin) == FRESH - {"single_super_admin"}
    r = admin.request("DELETE", f"/api/v1/users/{ids_[1]}")
    assert r.status_code == 204, r.text
    r = admin.request("DELETE", f"/api/v1/users/{ids_[2]}")
    assert r.status_code == 204, r.text
    assert ids(admin) == FRESH


def test_api_key_without_expiry(fresh_world):
    w = fresh_world
    admin = w.login("acme_admin")
    r = admin.post("/api/v1/api-keys", json={"name": "ci", "scopes": ["users.read"]})
    assert r.status_code == 201, r.text
    key_id = r.json()["apiKey"]["id"]
    assert ids(admin) == FRESH | {"api_keys_without_expiry"}
    assert finding(admin, "api_keys_without_expiry")["severity"] == "medium"
    assert ids(w.login("globex_admin")) == FRESH
    # a key that expires is no finding
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=300)
    r = admin.post("/api/v1/api-keys", json={"name": "temp", "scopes": ["users.read"],
                                             "expiresAt": t.strftime("%Y-%m-%dT%H:%M:%SZ")})
    assert r.status_code == 201, r.text
    assert ids(admin) == FRESH | {"api_keys_without_expiry"}
    assert admin.request("DELETE", f"/api/v1/api-keys/{key_id}").status_code == 204
    assert ids(admin) == FRESH


def test_ninety_day_rules_with_clock(clocked):
    """Inactive users and unused keys, with time moved 91 days on; and the
    worst tenant scores exactly 0."""
    w, clock = clocked
    admin = w.login("acme_admin")
    r = admin.post("/api/v1/api-keys", json={"name": "ci", "scopes": ["users.read"]})
    assert r.status_code == 201, r.text
    token = r.json()["token"]
    assert ids(admin) == FRESH | {"api_keys_without_expiry"}
    clock.set(89 * DAY)
    admin = w.login("acme_admin")
    assert ids(admin) == FRESH | {"api_keys_without_expiry"}, "flagged before 90 days"
    clock.set(91 * DAY)
    admin = w.login("acme_admin")   # the admin signs in again; the member does not
    got = health(admin)
    assert {f["id"] for f in got["findings"]} == \
        FRESH | {"api_keys_without_expiry", "api_keys_unused_90_days", "inactive_users"}
    inactive = finding(admin, "inactive_users")
    assert inactive["detail"].startswith("1 active user ")
    assert "audit log" in inactive["detail"] and "sessions" in inactive["detail"]
    # globex's users are as idle, but its check has no API-key findings of acme's
    assert ids(w.login("globex_admin")) == FRESH | {"inactive_users"}
    # using the key makes it used; the member signing in makes it active
    r = w.server.get("/api/v1/users", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    assert "api_keys_unused_90_days" not in ids(admin)
    # signing in counts even after the session is gone (the audit log's record)
    assert w.login("acme_member").logout().status_code == 204
    assert ids(admin) == FRESH | {"api_keys_without_expiry"}
    # the worst tenant: everything at once scores 0
    patch(admin, {"lockoutThreshold": 0, "passwordMinLength": 8})
    for _ in range(3):
        new_super(w)
    clock.set(182 * DAY)
    admin = w.login("acme_admin")
    # the member and the new super admins never signed in since: inactive
    got = health(admin)
    assert {f["id"] for f in got["findings"]} == {
        "mfa_not_required", "no_ip_allowlist", "lockout_off", "weak_password_policy",
        "too_many_super_admins", "inactive_users", "api_keys_without_expiry",
        "api_keys_unused_90_days"}
    assert got["score"] == 0


def test_mfa_counts_and_required(fresh_world):
    """The MFA finding counts who has it and goes once the tenant requires it."""
    w = fresh_world
    admin = w.login("acme_admin")
    k.enrol_mfa(admin, w.account("acme_admin").password)
    detail = {f["id"]: f for f in health(admin)["findings"]}["mfa_not_required"]["detail"]
    assert "1 of 1 active administrators and 1 of 2 active users" in detail, detail
    before = health(admin)["score"]
    patch(admin, {"mfaRequired": True})
    assert ids(admin) == FRESH - {"mfa_not_required"}
    assert health(admin)["score"] == before + 25
