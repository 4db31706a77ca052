"""
Multi-factor authentication (TOTP) end to end, against a kurad whose clock
the tests move (so that a new 30-second step comes at once): enrolment and
confirmation, the two-step sign-in, replayed and wrong codes, the 5-minute
challenge, lockout through wrong codes, recovery codes, the tenant setting
"mfaRequired", turning MFA off, an administrator's reset, API keys kept out,
other tenants, the audit trail, and the secret never stored in clear.

Codes are computed by the tests' own RFC 6238 implementation (kura_e2e.totp),
independent of the server's liboath.
"""

import base64
import glob
import json
import math
import secrets
import sqlite3

import pytest

import kura_e2e as k


@pytest.fixture(scope="module")
def mw(binaries):
    tmp = k.new_tempdir("kura-e2e-mfa-")
    clock_file = tmp / "clock"
    clock_file.write_text("0\n")
    w = k.make_world(env={"KURA_TEST_CLOCK_OFFSET_FILE": str(clock_file)})
    w.clock = k.Clock(w.server, clock_file)
    try:
        yield w
    finally:
        k.destroy_world(w)
        k.remove_tempdir(tmp)


def next_step(w):
    """Moves the server's clock into a step no code was used for yet, one
    second past the step's start: the clock is the real one plus an offset,
    so landing anywhere else could let the next step begin while a test
    still means the current one (a code "from the next step" would then be
    right)."""
    now = w.clock.now()
    start = (int(now // 30) + 1) * 30
    w.clock.set(w.clock.offset + math.ceil(start + 1 - now))


def member(w, tenant="acme", role="member"):
    acct = k.active_user(w, tenant, role, prefix="mfa")
    return acct, w.server.login(acct.tenant, acct.email, acct.password)


def step1(w, acct) -> str:
    r = w.server.login_raw(acct.tenant, acct.email, acct.password)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body.get("mfaRequired") is True, body
    assert k.session_cookie_from(r) is None, "a session before the second factor"
    assert set(body) == {"mfaRequired", "mfaToken", "mfaExpiresAt"}, body
    return body["mfaToken"]


def mfa_login(w, acct, secret) -> k.Client:
    next_step(w)
    r = k.login_mfa_raw(w.server, step1(w, acct), code=k.totp(secret, w.clock.now()))
    assert r.status_code == 200, r.text
    return k.Client.from_login(w.server, r)


def audit(w, **params):
    """acme's audit entries matching params, newest first."""
    boss = w.login("acme_admin")
    try:
        return k.audit_entries(boss, **params)
    finally:
        boss.close()


# ---------------------------------------------------------------- enrolment


def test_enrol_confirm_and_sign_in(mw):
    acct, c = member(mw)
    st = c.get("/api/v1/me/mfa").json()
    assert st == {"enabled": False, "pending": False, "confirmedAt": None, "recoveryCodesLeft": 0,
                  "required": False, "enrolmentRequired": False}
    r = c.post("/api/v1/me/mfa/totp", json={"password": acct.password})
    assert r.status_code == 201, r.text
    e = r.json()
    secret = e["secret"]
    assert len(base64.b32decode(secret + "=" * (-len(secret) % 8))) == 20
    assert e["otpauthUri"].startswith("otpauth://totp/Kura:")
    assert f"secret={secret}" in e["otpauthUri"] and "issuer=Kura" in e["otpauthUri"]
    assert e["qrSvg"].startswith("<svg") and e["qrSvg"].endswith("</svg>")
    assert (e["digits"], e["period"], e["algorithm"]) == (6, 30, "SHA1")
    assert c.get("/api/v1/me/mfa").json()["pending"] is True
    # still off until confirmed: signing in needs no code
    other = mw.server.login(acct.tenant, acct.email, acct.password)
    # a wrong first code leaves it off
    wrong = f"{(int(k.totp(secret, mw.clock.now())) + 500000) % 1000000:06d}"
    r = c.post("/api/v1/me/mfa/totp/confirm", json={"code": wrong})
    k.assert_error(r, 422, "validation_failed")
    assert r.json()["error"]["details"][0]["field"] == "code"
    assert c.get("/api/v1/me/mfa").json()["enabled"] is False
    r = c.post("/api/v1/me/mfa/totp/confirm", json={"code": k.totp(secret, mw.clock.now())})
    assert r.status_code == 200, r.text
    codes = r.json()["recoveryCodes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    st = c.get("/api/v1/me/mfa").json()
    assert st["enabled"] is True and st["pending"] is False and st["recoveryCodesLeft"] == 10
    assert c.me().json()["user"]["mfaEnabled"] is True
    # the confirming session stays; the user's other sessions end
    k.assert_error(other.me(), 401, "unauthenticated")
    # a second enrolment is refused while one is confirmed
    k.assert_error(c.post("/api/v1/me/mfa/totp", json={"password": acct.password}), 409)
    # sign-in now takes two steps
    s = mfa_login(mw, acct, secret)
    me = s.me().json()
    assert me["user"]["mfaEnabled"] is True and me["mfaEnrolmentRequired"] is False
    assert s.get("/api/v1/objects/contacts").status_code == 200


def test_enrol_needs_the_password(mw):
    acct, c = member(mw)
    r = c.post("/api/v1/me/mfa/totp", json={"password": "not-" + acct.password})
    k.assert_error(r, 422, "validation_failed")
    assert r.json()["error"]["details"][0] == {"field": "password", "code": "incorrect",
                                                "message": "the password is wrong"}
    assert c.get("/api/v1/me/mfa").json()["pending"] is False
    k.assert_error(c.post("/api/v1/me/mfa/totp", json={}), 422, "validation_failed")
    k.assert_error(c.post("/api/v1/me/mfa/totp", json={"password": acct.password, "x": 1}), 422)
    k.assert_error(c.post("/api/v1/me/mfa/totp/confirm", json={"code": "123456"}), 404, "not_found")
    k.assert_error(c.post("/api/v1/me/mfa/totp/confirm", json={"code": 123456}), 422)
    entries = audit(mw, action="mfa.enrol", actorId=c.user_id)
    assert [(e["outcome"], e["errorCode"]) for e in entries][:1] == [("failed", "validation_failed")]


def test_enrol_again_replaces_an_unconfirmed_secret(mw):
    acct, c = member(mw)
    first = c.post("/api/v1/me/mfa/totp", json={"password": acct.password}).json()["secret"]
    second = c.post("/api/v1/me/mfa/totp", json={"password": acct.password}).json()["secret"]
    assert first != second
    r = c.post("/api/v1/me/mfa/totp/confirm", json={"code": k.totp(first, mw.clock.now())})
    k.assert_error(r, 422, "validation_failed")
    r = c.post("/api/v1/me/mfa/totp/confirm", json={"code": k.totp(second, mw.clock.now())})
    assert r.status_code == 200, r.text


# ---------------------------------------------------------------- the second step


def test_codes_work_once_and_only_in_their_window(mw):
    acct, c = member(mw)
    next_step(mw)
    secret, _ = k.enrol_mfa(c, acct.password, mw.clock.now())
    # the confirming code's step is used: the same code cannot sign in
    r = k.login_mfa_raw(mw.server, step1(mw, acct), code=k.totp(secret, mw.clock.now()))
    k.assert_error(r, 401, "mfa_code_invalid")
    next_step(mw)
    now = mw.clock.now()
    code = k.totp(secret, now)
    r = k.login_mfa_raw(mw.server, step1(mw, acct), code=code)
    assert r.status_code == 200, r.text
    # the same code again, on a new challenge: a replay
    r = k.login_mfa_raw(mw.server, step1(mw, acct), code=code)
    k.assert_error(r, 401, "mfa_code_invalid")
    replays = audit(mw, action="auth.login", actorId=c.user_id, outcome="denied")
    assert replays and replays[0]["errorCode"] == "mfa_code_replayed", replays[:2]
    # a code two steps old, and one from the next step, are wrong
    next_step(mw)
    now = mw.clock.now()
    for step in (int(now // 30) - 2, int(now // 30) + 1):
        r = k.login_mfa_raw(mw.server, step1(mw, acct), code=k.totp(secret, step=step))
        k.assert_error(r, 401, "mfa_code_invalid")
    # the previous step's code still works when it is newer than the last one used
    next_step(mw)
    now = mw.clock.now()
    r = k.login_mfa_raw(mw.server, step1(mw, acct), code=k.totp(secret, step=int(now // 30) - 1))
    assert r.status_code == 200, r.text
    # unlock: the wrong codes above counted toward the lockout
    boss = mw.login("acme_admin")
    assert boss.post(f"/api/v1/users/{c.user_id}/unlock").status_code == 204


def test_concurrent_use_of_one_code_signs_in_once(mw):
    from concurrent.futures import ThreadPoolExecutor

    acct, c = member(mw)
    secret, _ = k.enrol_mfa(c, acct.password, mw.clock.now())
    next_step(mw)
    tokens = [step1(mw, acct) for _ in range(4)]
    code = k.totp(secret, mw.clock.now())
    with ThreadPoolExecutor(4) as ex:
        results = list(ex.map(lambda t: k.login_mfa_raw(mw.server, t, code=code), tokens))
    assert sorted(r.status_code for r in results) == [200, 401, 401, 401], \
        [(r.status_code, r.text[:100]) for r in results]
    boss = mw.login("acme_admin")
    assert boss.post(f"/api/v1/users/{c.user_id}/unlock").status_code == 204


def test_second_step_validation(mw):
    acct, c = member(mw)
    secret, _ = k.enrol_mfa(c, acct.password, mw.clock.now())
    token = step1(mw, acct)
    for body in ({"mfaToken": token}, {"mfaToken": token, "code": "1", "recoveryCode": "x"},
                 {"code": "123456"}, {"mfaToken": token, "code": 123456},
                 {"mfaToken": token, "code": "123456", "extra": True},
                 {"mfaToken": "x" * 200, "code": "123456"}):
        r = mw.server.post("/api/v1/auth/login/mfa", json=body)
        k.assert_error(r, 422, "validation_failed")
    for bad in ("nonsense", "acme." + "A" * 43, token.replace("acme.", "globex."), token + "x"):
        k.assert_error(k.login_mfa_raw(mw.server, bad, code="123456"), 401, "mfa_challenge_invalid")
    # none of that spent the real challenge
    next_step(mw)
    r = k.login_mfa_raw(mw.server, token, code=k.totp(secret, mw.clock.now()))
    assert r.status_code == 200, r.text
    # and a used challenge is gone
    k.assert_error(k.login_mfa_raw(mw.server, token, code=k.totp(secret, mw.clock.now())), 401,
                   "mfa_challenge_invalid")


def test_challenge_expires_after_five_minutes(mw):
    acct, c = member(mw)
    secret, _ = k.enrol_mfa(c, acct.password, mw.clock.now())
    token = step1(mw, acct)
    mw.clock.advance(301)
    r = k.login_mfa_raw(mw.server, token, code=k.totp(secret, mw.clock.now()))
    k.assert_error(r, 401, "mfa_challenge_invalid")


def test_wrong_codes_end_the_challenge_and_lock_the_account(mw):
    """Five wrong codes: the challenge ends; the same five failures lock the
    account (the tenant's default threshold), so the password no longer
    opens a second step either -- and says no more than a wrong password."""
    acct, c = member(mw)
    secret, _ = k.enrol_mfa(c, acct.password, mw.clock.now())
    next_step(mw)
    good = k.totp(secret, mw.clock.now())
    wrong = f"{(int(good) + 1) % 1000000:06d}"
    token = step1(mw, acct)
    for _ in range(4):
        k.assert_error(k.login_mfa_raw(mw.server, token, code=wrong), 401, "mfa_code_invalid")
    k.assert_error(k.login_mfa_raw(mw.server, token, code=wrong), 401, "mfa_code_invalid")
    # the sixth try finds no challenge, even with the right code
    k.assert_error(k.login_mfa_raw(mw.server, token, code=good), 401, "mfa_challenge_invalid")
    k.assert_error(mw.server.login_raw(acct.tenant, acct.email, acct.password), 401,
                   "invalid_credentials")
    locks = audit(mw, action="auth.lockout", targetId=c.user_id)
    assert len(locks) == 1, locks
    boss = mw.login("acme_admin")
    assert boss.post(f"/api/v1/users/{c.user_id}/unlock").status_code == 204
    s = mfa_login(mw, acct, secret)
    assert s.me().status_code == 200


def test_parallel_wrong_codes_get_at_most_five_tries(mw):
    """Wrong codes sent at once on one challenge: each try is taken before
    its code is checked, so exactly five are counted -- the challenge then
    ends, even for the right code, and the account locks once. The requests
    wait on open connections for their last byte, which all get at once;
    several rounds, as one round may happen not to overlap on the server."""
    n, rounds = 16, 8
    boss = mw.login("acme_admin")
    for rnd in range(rounds):
        acct, c = member(mw)
        secret, _ = k.enrol_mfa(c, acct.password, mw.clock.now())
        next_step(mw)
        good = k.totp(secret, mw.clock.now())
        token = step1(mw, acct)
        socks = []
        for i in range(n):
            body = json.dumps({"mfaToken": token,
                               "code": f"{(int(good) + 1 + i) % 1000000:06d}"}).encode()
            req = (b"POST /api/v1/auth/login/mfa HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   b"Content-Type: application/json\r\nConnection: close\r\n"
                   b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
            s = mw.server.tls_connect()
            s.sendall(req[:-1])
            socks.append((s, req[-1:]))
        for s, last in socks:
            s.sendall(last)
        results = []
        for s, _ in socks:
            results.append(k.read_response(s))
            s.close()
        assert all(r.status == 401 for r in results), [(r.status, r.body[:100]) for r in results]
        codes = [r.json()["error"]["code"] for r in results]
        assert set(codes) <= {"mfa_code_invalid", "mfa_challenge_invalid"}, codes
        # five tries were checked (and counted as wrong codes), no more
        assert codes.count("mfa_code_invalid") == 5, (rnd, codes)
        # the challenge is over, even with the right code
        k.assert_error(k.login_mfa_raw(mw.server, token, code=good), 401, "mfa_challenge_invalid")
        refused = k.audit_entries(boss, action="auth.login", actorId=c.user_id, outcome="denied",
                                  limit=100)
        wrong_codes = [e for e in refused if e["errorCode"] == "mfa_code_invalid"]
        assert len(wrong_codes) == 5, (rnd, refused)
        # five failures reach the default threshold: locked, exactly once
        k.assert_error(mw.server.login_raw(acct.tenant, acct.email, acct.password), 401,
                       "invalid_credentials")
        locks = k.audit_entries(boss, action="auth.lockout", targetId=c.user_id)
        assert len(locks) == 1, (rnd, locks)
        assert boss.post(f"/api/v1/users/{c.user_id}/unlock").status_code == 204
        assert mfa_login(mw, acct, secret).me().status_code == 200


def test_password_success_does_not_reset_failures_while_a_code_is_owed(mw):
    """Wrong codes spread over new challenges still add up to a lockout:
    entering the password again must not start the count afresh."""
    acct, c = member(mw)
    secret, _ = k.enrol_mfa(c, acct.password, mw.clock.now())
    next_step(mw)
    wrong = f"{(int(k.totp(secret, mw.clock.now())) + 7) % 1000000:06d}"
    for _ in range(5):
        k.assert_error(k.login_mfa_raw(mw.server, step1(mw, acct), code=wrong), 401,
                       "mfa_code_invalid")
    k.assert_error(mw.server.login_raw(acct.tenant, acct.email, acct.password), 401,
                   "invalid_credentials")
    boss = mw.login("acme_admin")
    assert boss.post(f"/api/v1/users/{c.user_id}/unlock").status_code == 204


# ---------------------------------------------------------------- recovery codes


def test_recovery_codes_work_once(mw):
    acct, c = member(mw)
    secret, codes = k.enrol_mfa(c, acct.password, mw.clock.now())
    s = k.login_with_recovery(mw.server, acct, codes[0].upper().replace("-", " "))
    assert s.get("/api/v1/me/mfa").json()["recoveryCodesLeft"] == 9
    r = k.login_mfa_raw(mw.server, step1(mw, acct), recovery=codes[0])
    k.assert_error(r, 401, "mfa_code_invalid")
    k.assert_error(k.login_mfa_raw(mw.server, step1(mw, acct), recovery="not a code"), 401,
                   "mfa_code_invalid")
    # new codes replace the old ones, with the password again
    k.assert_error(s.post("/api/v1/me/mfa/recovery-codes", json={"password": "x" + acct.password}),
                   422, "validation_failed")
    r = s.post("/api/v1/me/mfa/recovery-codes", json={"password": acct.password})
    assert r.status_code == 200, r.text
    fresh = r.json()["recoveryCodes"]
    assert len(fresh) == 10 and not set(fresh) & set(codes)
    k.assert_error(k.login_mfa_raw(mw.server, step1(mw, acct), recovery=codes[1]), 401,
                   "mfa_code_invalid")
    assert k.login_with_recovery(mw.server, acct, fresh[3]).me().status_code == 200
    login = audit(mw, action="auth.login", actorId=c.user_id, outcome="success")[0]
    assert login["target"]["properties"] == "mfa:recovery", login
    boss = mw.login("acme_admin")
    assert boss.post(f"/api/v1/users/{c.user_id}/unlock").status_code == 204


# ---------------------------------------------------------------- turning it off, resets


def test_disable_needs_the_password_and_ends_other_sessions(mw):
    acct, c = member(mw)
    secret, _ = k.enrol_mfa(c, acct.password, mw.clock.now())
    other = mfa_login(mw, acct, secret)
    k.assert_error(c.post("/api/v1/me/mfa/disable", json={"password": "no"}), 422)
    assert other.me().status_code == 200
    r = c.post("/api/v1/me/mfa/disable", json={"password": acct.password})
    assert r.status_code == 204, r.text
    k.assert_error(other.me(), 401, "unauthenticated")
    assert c.me().json()["user"]["mfaEnabled"] is False
    # signing in takes one step again
    r = mw.server.login_raw(acct.tenant, acct.email, acct.password)
    assert r.status_code == 200 and r.json()["mfaRequired"] is False, r.text
    k.assert_error(c.post("/api/v1/me/mfa/disable", json={"password": acct.password}), 404)
    k.assert_error(c.post("/api/v1/me/mfa/recovery-codes", json={"password": acct.password}), 404)


def test_admin_reset(mw):
    acct, c = member(mw)
    k.enrol_mfa(c, acct.password, mw.clock.now())
    admin_acct = k.active_user(mw, "acme", "admin", prefix="mfa-adm")
    admin = mw.server.login(admin_acct.tenant, admin_acct.email, admin_acct.password)
    member_admin = mw.login("acme_member")
    # a member may not; another tenant's admin finds no such user
    k.assert_error(member_admin.request("DELETE", f"/api/v1/users/{c.user_id}/mfa"), 403, "forbidden")
    g = mw.login("globex_admin")
    k.assert_error(g.request("DELETE", f"/api/v1/users/{c.user_id}/mfa"), 404, "not_found")
    k.assert_error(g.request("DELETE", f"/api/v1/users/{k.CRM_MISSING_ID}/mfa"), 404, "not_found")
    r = admin.request("DELETE", f"/api/v1/users/{c.user_id}/mfa")
    assert r.status_code == 204, r.text
    k.assert_error(c.me(), 401, "unauthenticated")
    r = mw.server.login_raw(acct.tenant, acct.email, acct.password)
    assert r.json()["mfaRequired"] is False, r.text
    k.assert_error(admin.request("DELETE", f"/api/v1/users/{c.user_id}/mfa"), 404)
    # an admin cannot reset a super admin's authenticator
    sa_acct = k.active_user(mw, "acme", "super_admin", prefix="mfa-sa")
    sa = mw.server.login(sa_acct.tenant, sa_acct.email, sa_acct.password)
    k.enrol_mfa(sa, sa_acct.password, mw.clock.now())
    k.assert_error(admin.request("DELETE", f"/api/v1/users/{sa.user_id}/mfa"), 403, "forbidden")


def test_admin_cannot_reset_their_own_mfa(mw):
    """Resetting one's own authenticator as an administrator would skip the
    password and the tenant's requirement that POST /me/mfa/disable checks."""
    acct = k.active_user(mw, "acme", "admin", prefix="mfa-self")
    admin = mw.server.login(acct.tenant, acct.email, acct.password)
    secret, _ = k.enrol_mfa(admin, acct.password, mw.clock.now())
    r = admin.request("DELETE", f"/api/v1/users/{admin.user_id}/mfa")
    k.assert_error(r, 409, "conflict")
    assert "/api/v1/me/mfa/disable" in r.json()["error"]["message"], r.text
    # nothing changed: MFA is still on, the session still works
    st = admin.get("/api/v1/me/mfa").json()
    assert st["enabled"] is True and st["recoveryCodesLeft"] == 10, st
    assert admin.me().status_code == 200
    r = mw.server.login_raw(acct.tenant, acct.email, acct.password)
    assert r.json()["mfaRequired"] is True, r.text
    refused = audit(mw, action="mfa.reset", targetId=admin.user_id)
    assert [(e["outcome"], e["errorCode"]) for e in refused][:1] == [("failed", "conflict")], refused
    assert not [e for e in refused if e["outcome"] == "success"], refused


def test_api_keys_cannot_manage_mfa(mw):
    acct, c = member(mw, role="admin")
    _, token = k.crm_api_key(c, ["records.read"])
    for method, path, body in (("GET", "/api/v1/me/mfa", None),
                               ("POST", "/api/v1/me/mfa/totp", {"password": acct.password}),
                               ("POST", "/api/v1/me/mfa/totp/confirm", {"code": "123456"}),
                               ("POST", "/api/v1/me/mfa/disable", {"password": acct.password}),
                               ("POST", "/api/v1/me/mfa/recovery-codes",
                                {"password": acct.password})):
        r = k.bearer(mw.server, token, method, path, json=body)
        k.assert_error(r, 403, "forbidden")
    assert c.get("/api/v1/me/mfa").json()["pending"] is False


# ---------------------------------------------------------------- the tenant requires it


def test_tenant_requires_mfa(mw):
    t = k.new_tenant(mw, "mfareq")
    boss_acct = k.active_user(mw, t, "super_admin", prefix="boss")
    boss = mw.server.login(boss_acct.tenant, boss_acct.email, boss_acct.password)
    m_acct = k.active_user(mw, t, "member", prefix="m")
    m = mw.server.login(m_acct.tenant, m_acct.email, m_acct.password)
    # without MFA of their own, the admin would lock themselves out
    r = boss.request("PATCH", "/api/v1/settings/security", json={"mfaRequired": True})
    k.assert_error(r, 422, "validation_failed")
    assert r.json()["error"]["details"][0]["code"] == "would_lock_you_out"
    k.assert_error(boss.request("PATCH", "/api/v1/settings/security", json={"mfaRequired": 1}), 422)
    secret, _ = k.enrol_mfa(boss, boss_acct.password, mw.clock.now())
    # the session that confirmed counts as signed in with MFA
    r = boss.request("PATCH", "/api/v1/settings/security", json={"mfaRequired": True})
    assert r.status_code == 200 and r.json()["mfaRequired"] is True, r.text
    assert boss.me().status_code == 200
    # the member's session, opened without MFA, has ended
    k.assert_error(m.me(), 401, "unauthenticated")
    r = mw.server.login_raw(m_acct.tenant, m_acct.email, m_acct.password)
    assert r.status_code == 200, r.text
    assert r.json()["mfaEnrolmentRequired"] is True
    m = k.Client.from_login(mw.server, r)
    # only enrolment (and a few of one's own things) is open
    k.assert_error(m.get("/api/v1/objects/contacts"), 403, "mfa_enrolment_required")
    k.assert_error(m.post("/api/v1/objects/contacts", json={"properties": {}}), 403,
                   "mfa_enrolment_required")
    assert m.me().json()["mfaEnrolmentRequired"] is True
    st = m.get("/api/v1/me/mfa").json()
    assert st["required"] is True and st["enrolmentRequired"] is True
    assert m.get("/api/v1/sessions").status_code == 200
    secret_m, _ = k.enrol_mfa(m, m_acct.password, mw.clock.now())
    assert m.me().json()["mfaEnrolmentRequired"] is False
    assert m.get("/api/v1/objects/contacts").status_code == 200
    # turning MFA off is refused while the tenant requires it
    r = m.post("/api/v1/me/mfa/disable", json={"password": m_acct.password})
    k.assert_error(r, 409, "conflict")
    # an admin's reset sends the member back to enrolment at the next sign-in
    assert boss.request("DELETE", f"/api/v1/users/{m.user_id}/mfa").status_code == 204
    r = mw.server.login_raw(m_acct.tenant, m_acct.email, m_acct.password)
    assert r.json()["mfaEnrolmentRequired"] is True, r.text
    waiting = k.Client.from_login(mw.server, r)
    k.assert_error(waiting.get("/api/v1/objects/contacts"), 403, "mfa_enrolment_required")
    # switched off again: waiting sessions become ordinary ones
    r = boss.request("PATCH", "/api/v1/settings/security", json={"mfaRequired": False})
    assert r.status_code == 200, r.text
    assert waiting.get("/api/v1/objects/contacts").status_code == 200
    boss.close()


def test_api_key_can_require_mfa(mw):
    """API keys are not subject to MFA: the "sign in with it first" refusal
    is for sessions only."""
    t = k.new_tenant(mw, "mfakey")
    acct = k.active_user(mw, t, "super_admin", prefix="boss")
    boss = mw.server.login(acct.tenant, acct.email, acct.password)
    _, token = k.crm_api_key(boss, ["settings.security"])
    r = k.bearer(mw.server, token, "PATCH", "/api/v1/settings/security", json={"mfaRequired": True})
    assert r.status_code == 200 and r.json()["mfaRequired"] is True, r.text
    assert k.bearer(mw.server, token, "GET", "/api/v1/settings/security").json()["mfaRequired"] is True
    r = k.bearer(mw.server, token, "PATCH", "/api/v1/settings/security",
                 json={"mfaRequired": False})
    assert r.status_code == 200 and r.json()["mfaRequired"] is False, r.text


def test_required_setting_is_audited(mw):
    t = k.new_tenant(mw, "mfaaud")
    acct = k.active_user(mw, t, "super_admin", prefix="boss")
    boss = mw.server.login(acct.tenant, acct.email, acct.password)
    k.enrol_mfa(boss, acct.password, mw.clock.now())
    assert boss.request("PATCH", "/api/v1/settings/security",
                        json={"mfaRequired": True}).status_code == 200
    e = k.audit_entries(boss, action="settings.update")[0]
    assert e["target"]["properties"] == "mfaRequired" and e["outcome"] == "success", e
    assert boss.get("/api/v1/settings/security").json()["mfaRequired"] is True


# ---------------------------------------------------------------- nothing in clear


def test_secret_and_codes_never_stored_or_logged_in_clear(mw):
    acct, c = member(mw)
    r = c.post("/api/v1/me/mfa/totp", json={"password": acct.password})
    secret = r.json()["secret"]
    raw = base64.b32decode(secret + "=" * (-len(secret) % 8))
    r = c.post("/api/v1/me/mfa/totp/confirm", json={"code": k.totp(secret, mw.clock.now())})
    codes = r.json()["recoveryCodes"]
    needles = [raw, secret.encode(), secret.lower().encode()] + \
              [x.encode() for x in codes] + [x.replace("-", "").encode() for x in codes]
    files = glob.glob(str(mw.data_dir / "tenants" / "acme" / "*")) + \
        glob.glob(str(mw.data_dir / "system.db*"))
    assert any(f.endswith("tenant.db") for f in files)
    for f in files:
        with open(f, "rb") as fh:
            data = fh.read()
        for n in needles:
            assert n not in data, f"{n!r} in clear in {f}"
    log = mw.server.log().encode()
    for n in needles:
        assert n not in log, f"{n!r} in the server log"
    boss = mw.login("acme_admin")
    dump = json.dumps(k.audit_entries(boss, actorId=c.user_id)).encode()
    for n in needles[1:]:
        assert n not in dump
    # the stored secret is a ciphertext bound to its user: moved to another user it does not open
    db = sqlite3.connect(str(mw.data_dir / "tenants" / "acme" / "tenant.db"), timeout=10)
    try:
        (ct,) = db.execute("SELECT secret FROM mfa_totp WHERE user_id = ?", (int(c.user_id),)).fetchone()
        assert raw not in ct and len(ct) == 1 + 4 + 12 + 20 + 16
        acct2, c2 = member(mw)
        k.enrol_mfa(c2, acct2.password, mw.clock.now())
        with db:
            db.execute("UPDATE mfa_totp SET secret = ? WHERE user_id = ?", (ct, int(c2.user_id)))
    finally:
        db.close()
    next_step(mw)
    r = k.login_mfa_raw(mw.server, step1(mw, acct2), code=k.totp(secret, mw.clock.now()))
    assert r.status_code == 500 and r.json()["error"]["code"] == "internal_error", r.text


def test_operator_reset_from_the_cli(mw):
    """The tenant's only super admin lost device and codes: the operator
    removes their second factor; the password still counts."""
    t = k.new_tenant(mw, "mfacli")
    acct = k.active_user(mw, t, "super_admin", prefix="only")
    c = mw.server.login(acct.tenant, acct.email, acct.password)
    k.enrol_mfa(c, acct.password, mw.clock.now())
    p = mw.cli.run("user", "mfa-reset", "--tenant", t, "--email", acct.email)
    assert "removed" in p.stdout, p.stdout
    k.assert_error(c.me(), 401, "unauthenticated")
    r = mw.server.login_raw(acct.tenant, acct.email, acct.password)
    assert r.status_code == 200 and r.json()["mfaRequired"] is False, r.text
    k.assert_error(mw.server.login_raw(acct.tenant, acct.email, "wrong" + acct.password), 401)
    boss = k.Client.from_login(mw.server, r)
    e = k.audit_entries(boss, action="mfa.reset")[0]
    assert e["actor"]["type"] == "operator" and e["target"]["id"] == boss.user_id, e
    # nothing to reset, no such user, no such tenant: refused, non-zero
    for args in (("--tenant", t, "--email", acct.email), ("--tenant", t, "--email", "x@y.example"),
                 ("--tenant", "nosuchtenant", "--email", acct.email), ("--tenant", t)):
        p = mw.cli.run("user", "mfa-reset", *args, check=False)
        assert p.returncode != 0, (args, p.stdout)
