"""Tenant security settings (GET/PATCH /api/v1/settings/security) and what
they enforce: account lockout after exactly N failures (not N-1), unlock by
an admin or by time, password length and character classes, password
expiry, per-tenant session idle timeout. Time moves through kurad's test
clock, never by sleeping for minutes."""

import pytest

import kura_e2e as k
from test_auth import Clock

SETTINGS = "/api/v1/settings/security"


@pytest.fixture
def clocked(binaries):
    tmp = k.new_tempdir("kura-e2e-settings-")
    clock_file = tmp / "clock"
    clock_file.write_text("0\n")
    w = k.make_world(env={"KURA_TEST_CLOCK_OFFSET_FILE": str(clock_file)})
    try:
        yield w, Clock(w.server, clock_file)
    finally:
        k.destroy_world(w)
        k.remove_tempdir(tmp)


def patch(c, body, **kw):
    return c.request("PATCH", SETTINGS, json=body, **kw)


def test_defaults_and_change_is_audited(world):
    admin = world.login("acme_admin")
    r = admin.get(SETTINGS)
    assert r.status_code == 200
    assert r.json() == {"passwordMinLength": 12, "passwordRequiredClasses": [],
                        "passwordExpiryDays": 0, "lockoutThreshold": 5, "lockoutMinutes": 30,
                        "sessionIdleMinutes": 0, "sessionAbsoluteMinutes": 0,
                        "passwordHistory": 5, "concurrentSessions": "allow",
                        "ipAllowlist": [], "mfaRequired": False,
                        "clientCertRequired": False, "clientCas": [], "apiKeyIpAllowlist": []}
    r = patch(admin, {"passwordMinLength": 14, "passwordRequiredClasses": ["digit"]})
    assert r.status_code == 200, r.text
    assert r.json()["passwordMinLength"] == 14
    assert admin.get(SETTINGS).json()["passwordRequiredClasses"] == ["digit"]
    entries = admin.get("/api/v1/audit", params={"action": "settings.update"}).json()["results"]
    assert entries and entries[0]["target"]["properties"] == "passwordMinLength,passwordRequiredClasses"
    assert entries[0]["actor"]["email"] == "admin@acme.example"
    # another tenant is untouched
    other = world.login("globex_admin").get(SETTINGS).json()
    assert other["passwordMinLength"] == 12
    # put it back for the other tests of this module
    assert patch(admin, {"passwordMinLength": 12, "passwordRequiredClasses": []}).status_code == 200


@pytest.mark.parametrize("body,fields", [
    ({"bogus": 1}, {"bogus"}),
    ({"passwordMinLength": 7}, {"passwordMinLength"}),
    ({"passwordMinLength": 31}, {"passwordMinLength"}),
    ({"passwordMinLength": "12"}, {"passwordMinLength"}),
    ({"lockoutThreshold": 2}, {"lockoutThreshold"}),
    ({"lockoutThreshold": 10}, {"lockoutThreshold"}),
    ({"passwordExpiryDays": 29}, {"passwordExpiryDays"}),
    ({"passwordRequiredClasses": ["digit", "emoji"]}, {"passwordRequiredClasses"}),
    ({"passwordRequiredClasses": "digit"}, {"passwordRequiredClasses"}),
    ({"concurrentSessions": "never"}, {"concurrentSessions"}),
    ({"concurrentSessions": 1}, {"concurrentSessions"}),
    ({"ipAllowlist": ["10.0.0.0/33"]}, {"ipAllowlist"}),
    ({"ipAllowlist": "127.0.0.1/32"}, {"ipAllowlist"}),
    ({"ipAllowlist": ["127.0.0.1/32,10.0.0.0/8"]}, {"ipAllowlist"}),
    ({"ipAllowlist": ["localhost"]}, {"ipAllowlist"}),
    ({"ipAllowlist": [f"10.0.{i}.0/24" for i in range(51)]}, {"ipAllowlist"}),
    ({"sessionIdleMinutes": 4, "lockoutMinutes": 0, "passwordMinLength": 16},
     {"sessionIdleMinutes", "lockoutMinutes"}),
])
def test_invalid_patch_changes_nothing(world, body, fields):
    admin = world.login("acme_admin")
    before = admin.get(SETTINGS).json()
    err = k.assert_error(patch(admin, body), 422, "validation_failed")
    assert {d["field"] for d in err["details"]} == fields
    assert admin.get(SETTINGS).json() == before


def test_not_an_object(world):
    admin = world.login("acme_admin")
    k.assert_error(admin.request("PATCH", SETTINGS, data=b"[1]",
                                 headers={"Content-Type": "application/json"}),
                   422, "validation_failed")


def test_forbidden_without_permission(world):
    for key in ("acme_member",):
        c = world.login(key)
        k.assert_error(c.get(SETTINGS), 403, "forbidden")
        k.assert_error(patch(c, {"lockoutThreshold": 3}), 403, "forbidden")
    # admin lacks settings.security too (super_admin only)
    acct = world.activate(world.new_user("acme", role="admin", prefix="adm"))
    c = world.server.login("acme", acct.email, acct.password)
    k.assert_error(c.get(SETTINGS), 403, "forbidden")


def test_lockout_after_exactly_n_failures(fresh_world):
    w = fresh_world
    admin = w.login("acme_admin")
    assert patch(admin, {"lockoutThreshold": 3}).status_code == 200
    acct = w.activate(w.new_user("acme", role="member", prefix="lock"))
    bad = lambda: w.server.login_raw("acme", acct.email, "not-the-password-at-all")
    good = lambda: w.server.login_raw("acme", acct.email, acct.password)
    # N-1 failures do not lock; a success resets the count
    for _ in range(2):
        k.assert_error(bad(), 401, "invalid_credentials")
    assert good().status_code == 200
    for _ in range(2):
        k.assert_error(bad(), 401, "invalid_credentials")
    assert good().status_code == 200, "two failures after a success must not lock"
    # exactly N consecutive failures lock
    wrong = [bad() for _ in range(3)]
    locked = good()
    e_locked = k.assert_error(locked, 401, "invalid_credentials")
    # indistinguishable from a wrong password, and from an unknown account
    e_wrong = k.assert_error(wrong[-1], 401, "invalid_credentials")
    e_none = k.assert_error(w.server.login_raw("acme", "nobody-here@acme.example", "x" * 20),
                            401, "invalid_credentials")
    for e in (e_wrong, e_none):
        assert {**e, "requestId": ""} == {**e_locked, "requestId": ""}
    # the lock is audited, by the system
    uid = [u["id"] for u in admin.get("/api/v1/users").json()["results"] if u["email"] == acct.email][0]
    audit = admin.get("/api/v1/audit", params={"action": "auth.lockout"}).json()["results"]
    assert len(audit) == 1 and audit[0]["actor"]["type"] == "system"
    assert audit[0]["target"] == {"type": "user", "id": uid, "properties": ""}
    refusals = admin.get("/api/v1/audit", params={"action": "auth.login", "outcome": "denied",
                                                  "actorEmail": acct.email}).json()["results"]
    assert refusals[0]["errorCode"] == "account_locked"
    # an admin unlocks
    k.assert_error(w.login("acme_member").post(f"/api/v1/users/{uid}/unlock"), 403, "forbidden")
    assert admin.post(f"/api/v1/users/{uid}/unlock").status_code == 204
    assert good().status_code == 200


def test_lock_expires_by_time_and_off_means_off(clocked):
    w, clock = clocked
    admin = w.login("acme_admin")
    assert patch(admin, {"lockoutThreshold": 3, "lockoutMinutes": 10}).status_code == 200
    acct = w.activate(w.new_user("acme", role="member", prefix="time"))
    for _ in range(3):
        w.server.login_raw("acme", acct.email, "wrong-wrong-wrong")
    k.assert_error(w.server.login_raw("acme", acct.email, acct.password), 401, "invalid_credentials")
    clock.set(9 * 60)
    k.assert_error(w.server.login_raw("acme", acct.email, acct.password), 401, "invalid_credentials")
    clock.set(11 * 60)
    assert w.server.login_raw("acme", acct.email, acct.password).status_code == 200
    # lockout off: many failures never lock
    admin = w.login("acme_admin")
    assert patch(admin, {"lockoutThreshold": 0}).status_code == 200
    for _ in range(12):
        w.server.login_raw("acme", acct.email, "wrong-wrong-wrong")
    assert w.server.login_raw("acme", acct.email, acct.password).status_code == 200


def test_password_policy_is_enforced(fresh_world):
    w = fresh_world
    admin = w.login("acme_admin")
    assert patch(admin, {"passwordMinLength": 16,
                         "passwordRequiredClasses": ["upper", "digit", "symbol"]}).status_code == 200
    acct = w.new_user("acme", role="member", prefix="pol")
    c = w.server.login("acme", acct.email, acct.password)
    err = k.assert_error(c.change_password(acct.password, "abcdefghijklmno"), 422, "validation_failed")
    codes = {d["code"] for d in err["details"]}
    assert {"too_short", "needs_upper", "needs_digit", "needs_symbol"} <= codes
    err = k.assert_error(c.change_password(acct.password, "Abcdefghijklmnop1"), 422,
                         "validation_failed")
    assert {d["code"] for d in err["details"]} == {"needs_symbol"}
    assert c.change_password(acct.password, "Abcdefghijklmnop1!").status_code == 204
    # a passphrase of 128+ characters needs no classes
    long_pw = "a" * 130
    assert c.change_password("Abcdefghijklmnop1!", long_pw).status_code == 204
    # an invited user's one-time password is at least the minimum length
    r = admin.post("/api/v1/users", json={"email": "otp-len@acme.example", "role": "member"})
    assert r.status_code == 201 and len(r.json()["oneTimePassword"]) >= 16


def test_password_expiry_forces_a_change(clocked):
    w, clock = clocked
    admin = w.login("acme_admin")
    assert patch(admin, {"passwordExpiryDays": 30}).status_code == 200
    acct = w.activate(w.new_user("acme", role="admin", prefix="exp"))
    assert w.server.login_raw("acme", acct.email, acct.password).json()["passwordChangeRequired"] is False
    clock.set(31 * 86400)
    r = w.server.login_raw("acme", acct.email, acct.password)
    assert r.status_code == 200 and r.json()["passwordChangeRequired"] is True
    c = k.Client.from_login(w.server, r)
    k.assert_error(c.get("/api/v1/users"), 403, "password_change_required")
    assert c.change_password(acct.password, k.strong_password()).status_code == 204
    assert c.get("/api/v1/users").status_code == 200


def test_tenant_idle_timeout_applies_to_new_sessions(clocked):
    w, clock = clocked
    admin = w.login("acme_admin")
    assert patch(admin, {"sessionIdleMinutes": 5}).status_code == 200
    new = w.login("acme_admin")
    old_default = admin  # opened before the change: keeps the server's 30 minutes
    clock.set(6 * 60)
    k.assert_error(new.me(), 401, "unauthenticated")
    assert old_default.me().status_code == 200
    # globex keeps the server default
    g = w.login("globex_admin")
    clock.set(12 * 60)
    assert g.me().status_code == 200


def test_concurrent_sessions_end_older(fresh_world):
    w = fresh_world
    admin = w.login("acme_admin")
    assert patch(admin, {"concurrentSessions": "end_older"}).json()["concurrentSessions"] == "end_older"
    acct = w.activate(w.new_user("acme", role="member", prefix="conc"))
    first = w.server.login("acme", acct.email, acct.password)
    assert first.me().status_code == 200
    second = w.server.login("acme", acct.email, acct.password)
    assert second.me().status_code == 200
    k.assert_error(first.me(), 401, "unauthenticated")
    # other users' sessions are untouched
    assert admin.me().status_code == 200


def test_concurrent_sessions_refuse(clocked):
    w, clock = clocked
    admin = w.login("acme_admin")
    acct = w.activate(w.new_user("acme", role="member", prefix="one"))
    # the activation's own session is still live: end it, as an admin would
    uid = [u["id"] for u in admin.get("/api/v1/users").json()["results"] if u["email"] == acct.email][0]
    assert admin.request("DELETE", f"/api/v1/users/{uid}/sessions").status_code == 204
    assert patch(admin, {"concurrentSessions": "refuse", "sessionIdleMinutes": 10}).status_code == 200
    first = w.server.login("acme", acct.email, acct.password)
    err = k.assert_error(w.server.login_raw("acme", acct.email, acct.password), 409, "conflict")
    assert "signed in elsewhere" in err["message"]
    assert first.me().status_code == 200, "the refused sign-in must not end the live session"
    # a wrong password still gets the ordinary answer (nothing learnt about sessions)
    k.assert_error(w.server.login_raw("acme", acct.email, "wrong-wrong-wrong"), 401,
                   "invalid_credentials")
    # signing out frees the slot
    assert first.logout().status_code == 204
    second = w.server.login("acme", acct.email, acct.password)
    # a session that ended by idle time does not block
    clock.set(11 * 60)
    third = w.server.login("acme", acct.email, acct.password)
    assert third.me().status_code == 200
    k.assert_error(second.me(), 401, "unauthenticated")
    # the refusal is in the audit log (the admin's own session, opened before
    # "refuse", is still the one live session it has)
    refused = admin.get("/api/v1/audit", params={"action": "auth.login", "errorCode": "x"})
    assert refused.status_code == 422  # errorCode is not a filter: refused, not ignored
    entries = admin.get("/api/v1/audit", params={"action": "auth.login", "outcome": "failed",
                                                 "actorEmail": acct.email}).json()["results"]
    assert [e["errorCode"] for e in entries] == ["conflict"]


@pytest.mark.parametrize("path,field,body", [
    ("/api/v1/me/mfa/totp", "password", lambda pw: {"password": pw}),
    ("/api/v1/auth/password", "currentPassword",
     lambda pw: {"currentPassword": pw, "newPassword": "a new and long enough passphrase 7"}),
])
def test_password_rechecks_count_toward_lockout(fresh_world, path, field, body):
    """A signed-in caller who must type the password again (MFA changes, a
    new password) gets no more guesses than a sign-in: wrong ones count
    toward the lockout, the one that locks ends the user's sessions, and no
    password is checked while the account is locked."""
    w = fresh_world
    admin = w.login("acme_admin")
    assert patch(admin, {"lockoutThreshold": 3}).status_code == 200
    acct = w.activate(w.new_user("acme", role="member", prefix="rechk"))
    uid = [u["id"] for u in admin.get("/api/v1/users").json()["results"] if u["email"] == acct.email][0]
    c = w.server.login("acme", acct.email, acct.password)
    other = w.server.login("acme", acct.email, acct.password)
    # a correct re-check ends a run of failures, as a sign-in does
    for _ in range(2):
        e = k.assert_error(c.post(path, json=body("wrong-password-number-1")), 422, "validation_failed")
        assert [d["field"] for d in e["details"]] == [field]
    assert w.server.login_raw("acme", acct.email, acct.password).status_code == 200
    for _ in range(2):
        k.assert_error(c.post(path, json=body("wrong-password-number-2")), 422, "validation_failed")
    # failed sign-ins and failed re-checks are one count: this sign-in locks
    k.assert_error(w.server.login_raw("acme", acct.email, "wrong-password-number-3"), 401,
                   "invalid_credentials")
    k.assert_error(w.server.login_raw("acme", acct.email, acct.password), 401, "invalid_credentials")
    # locked: the session may not try the password at all, right or wrong
    k.assert_error(c.post(path, json=body(acct.password)), 401, "account_locked")
    assert admin.post(f"/api/v1/users/{uid}/unlock").status_code == 204
    # the third wrong re-check in a row locks the account and ends every session of the user
    for _ in range(2):
        k.assert_error(c.post(path, json=body("wrong-password-number-4")), 422, "validation_failed")
    k.assert_error(c.post(path, json=body("wrong-password-number-5")), 401, "account_locked")
    k.assert_error(c.get("/api/v1/me"), 401, "unauthenticated")
    k.assert_error(other.get("/api/v1/me"), 401, "unauthenticated")
    k.assert_error(w.server.login_raw("acme", acct.email, acct.password), 401, "invalid_credentials")
    audit = admin.get("/api/v1/audit", params={"action": "auth.lockout"}).json()["results"]
    assert [a["target"]["id"] for a in audit] == [uid, uid]
    # the password was never changed and the account works again once unlocked
    assert admin.post(f"/api/v1/users/{uid}/unlock").status_code == 204
    assert w.server.login_raw("acme", acct.email, acct.password).status_code == 200
