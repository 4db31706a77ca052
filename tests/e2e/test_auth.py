"""
Sign-in: login, logout, /me, the session cookie's flags, CSRF, the forced
password change, uniform login failures, suspended tenants, ending other
sessions on a password change, session timeouts, restarts, and start-up
refusing bad configuration.
"""

import datetime as dt
import re
import subprocess
import time

import pytest

import kura_e2e as k

RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def parse_rfc3339(s: str) -> dt.datetime:
    assert RFC3339.match(s), f"not RFC 3339: {s!r}"
    s2 = s.replace("Z", "+00:00")
    m = re.match(r"^(.*T\d{2}:\d{2}:\d{2})(\.\d+)?(.*)$", s2)
    frac = (m.group(2) or "")[:7]  # fromisoformat takes at most 6 digits
    if frac:
        frac = frac.ljust(7, "0")
    return dt.datetime.fromisoformat(m.group(1) + frac + m.group(3))


def parse_set_cookie(h: str):
    parts = [p.strip() for p in h.split(";")]
    name, _, value = parts[0].partition("=")
    attrs = {}
    for p in parts[1:]:
        if not p:
            continue
        a, eq, v = p.partition("=")
        attrs[a.strip().lower()] = v.strip() if eq else True
    return name.strip(), value.strip(), attrs


def session_set_cookies(r):
    return [parse_set_cookie(h) for h in k.set_cookie_headers(r)
            if h.split("=", 1)[0].strip() == k.COOKIE_NAME]


# ---------------------------------------------------------------- login / me / logout


def test_login_response(world):
    a = world.account("acme_admin")
    t0 = dt.datetime.now(dt.timezone.utc)
    r = world.server.login_raw(a.tenant, a.email, a.password)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    assert "no-store" in r.headers.get("Cache-Control", "")
    b = r.json()
    u = b["user"]
    assert isinstance(u["id"], str) and u["id"], u
    assert u["email"] == a.email
    assert u["displayName"] == a.name
    assert u["role"] == "super_admin"
    assert b["tenant"]["id"] == "acme" and b["tenant"]["name"] == "Acme Corporation", b["tenant"]
    assert isinstance(b["csrfToken"], str) and len(b["csrfToken"]) >= 16
    assert b["passwordChangeRequired"] is False
    exp = parse_rfc3339(b["expiresAt"])
    # default absolute timeout is 3 h; allow a generous margin for clock noise
    delta = (exp - t0).total_seconds()
    assert 10800 - 600 <= delta <= 10800 + 600, f"expiresAt {b['expiresAt']} is {delta}s away"
    # never any password material in the answer
    assert "$argon2" not in r.text
    assert not any("password" in key.lower() for key in u), u


def test_session_cookie_flags(world):
    a = world.account("acme_admin")
    r = world.server.login_raw(a.tenant, a.email, a.password)
    assert r.status_code == 200, r.text
    cookies = session_set_cookies(r)
    assert len(cookies) == 1, f"expected one {k.COOKIE_NAME} Set-Cookie, got {k.set_cookie_headers(r)}"
    name, value, attrs = cookies[0]
    assert name.startswith("__Host-")
    assert attrs.get("secure") is True, attrs
    assert attrs.get("httponly") is True, attrs
    assert str(attrs.get("samesite", "")).lower() == "strict", attrs
    assert attrs.get("path") == "/", attrs
    assert "domain" not in attrs, f"a __Host- cookie must not have Domain: {attrs}"
    assert re.fullmatch(r"\d+", str(attrs.get("max-age", ""))), attrs
    assert 0 < int(attrs["max-age"]) <= 10800, attrs
    # value: <tenant>.<secret>, the secret long and URL-safe
    assert value.startswith("acme."), value
    assert re.fullmatch(r"[A-Za-z0-9_-]{40,}", value.split(".", 1)[1]), value


def test_login_and_me(world):
    c = world.login("acme_member")
    r = c.me()
    assert r.status_code == 200, r.text
    b = r.json()
    assert b["user"]["email"] == world.account("acme_member").email
    assert b["user"]["role"] == "member"
    assert b["user"]["id"] == c.user_id
    assert b["tenant"]["id"] == "acme"
    assert b["passwordChangeRequired"] is False
    assert isinstance(b["csrfToken"], str) and b["csrfToken"]
    # the token /me gives is one the server accepts for this session
    r = c.logout(csrf=b["csrfToken"])
    assert r.status_code == 204, r.text


def test_me_needs_a_session(world):
    k.assert_error(world.server.get("/api/v1/me"), 401, "unauthenticated")


def test_session_cookie_among_others(world):
    c = world.login("acme_admin")
    hdr = {"Cookie": f"theme=dark; {k.COOKIE_NAME}={c.cookie}; lang=ja"}
    r = c.get("/api/v1/me", cookie=False, headers=hdr)
    assert r.status_code == 200, r.text


def test_tossed_lowercase_cookie_does_not_win(world):
    """Cookie names are case-sensitive (RFC 6265). A "__host-" cookie does
    not get the __Host- prefix's protection in every browser, so a sibling
    site or a clear-text response can plant one; if the server took it for
    the session cookie, the victim would act inside the attacker's session."""
    victim = world.login("acme_admin")
    attacker = world.login("acme_member")
    hdr = {"Cookie": f"__host-kura_session={attacker.cookie}; {k.COOKIE_NAME}={victim.cookie}"}
    r = victim.get("/api/v1/me", cookie=False, headers=hdr)
    assert r.status_code == 200, r.text
    assert r.json()["user"]["email"] == world.account("acme_admin").email, \
        "the planted lower-case cookie was used as the session"


@pytest.mark.parametrize("name", ["kura_session", "__Secure-kura_session", "__host-kura_session",
                                  "__Host-kura_session2"])
def test_only_the_exact_cookie_name_counts(world, name):
    c = world.login("acme_admin")
    r = c.get("/api/v1/me", cookie=False, headers={"Cookie": f"{name}={c.cookie}"})
    k.assert_error(r, 401, "unauthenticated")


def test_logout(world):
    c = world.login("acme_admin")
    assert c.me().status_code == 200
    r = c.logout()
    assert r.status_code == 204, r.text
    assert r.content == b""
    cookies = session_set_cookies(r)
    assert len(cookies) == 1, f"logout did not clear the cookie: {k.set_cookie_headers(r)}"
    _, value, attrs = cookies[0]
    assert attrs.get("max-age") == "0", attrs
    assert value == "", f"the clearing cookie still carries a value: {value!r}"
    assert attrs.get("secure") is True and attrs.get("path") == "/"
    # the old cookie is dead
    k.assert_error(c.me(), 401, "unauthenticated")
    k.assert_error(c.logout(), 401, "unauthenticated")


def test_logout_ends_only_that_session(world):
    c1 = world.login("globex_admin")
    c2 = world.login("globex_admin")
    assert c1.logout().status_code == 204
    k.assert_error(c1.me(), 401, "unauthenticated")
    assert c2.me().status_code == 200


# ---------------------------------------------------------------- CSRF


def test_csrf_required_on_state_change(world):
    c = world.login("acme_admin")
    other = world.login("acme_admin")   # same user, another session: another token
    assert other.csrf != c.csrf, "two sessions share a CSRF token"
    for bad in (None, "", "0" * len(c.csrf), c.csrf[:-1], c.csrf + "A", other.csrf):
        r = c.request("POST", "/api/v1/auth/logout", csrf=bad)   # None: no header at all
        k.assert_error(r, 403, "csrf_token_invalid")
        assert c.me().status_code == 200, "a refused logout ended the session anyway"
    # GET needs no token
    assert c.get("/api/v1/me", csrf=None).status_code == 200
    # and the right one works
    assert c.logout().status_code == 204


def test_csrf_protects_password_change(world):
    acct = world.activate(world.new_user("acme", prefix="csrf"))
    c = world.server.login(acct.tenant, acct.email, acct.password)
    new = k.strong_password()
    r = c.change_password(acct.password, new, csrf=None)
    k.assert_error(r, 403, "csrf_token_invalid")
    r = c.change_password(acct.password, new, csrf="wrong-token")
    k.assert_error(r, 403, "csrf_token_invalid")
    # the password did not change
    assert world.server.login_raw(acct.tenant, acct.email, acct.password).status_code == 200
    assert world.server.login_raw(acct.tenant, acct.email, new).status_code == 401


# ---------------------------------------------------------------- forced password change


def test_forced_password_change_flow(world):
    acct = world.new_user("acme", role="super_admin", prefix="fresh")
    otp = acct.password
    r = world.server.login_raw(acct.tenant, acct.email, otp)
    assert r.status_code == 200, r.text
    assert r.json()["passwordChangeRequired"] is True
    c = k.Client.from_login(world.server, r)

    # only /me, password and logout work meanwhile
    me = c.me()
    assert me.status_code == 200, me.text
    assert me.json()["passwordChangeRequired"] is True
    k.assert_error(c.get("/api/v1/users"), 403, "password_change_required")
    k.assert_error(c.get(f"/api/v1/users/{c.user_id}"), 403, "password_change_required")

    # wrong current password
    r = c.change_password("not-the-password", k.strong_password())
    err = k.assert_error(r, 422, "validation_failed")
    assert any(d.get("field") == "currentPassword" for d in err.get("details", [])), err
    # too short
    r = c.change_password(otp, "short1!")
    err = k.assert_error(r, 422, "validation_failed")
    assert any(d.get("field") == "newPassword" for d in err.get("details", [])), err
    # 11 characters is still too short; counts characters, not bytes
    r = c.change_password(otp, "ééééééééééé")
    err = k.assert_error(r, 422, "validation_failed")
    assert any(d.get("field") == "newPassword" for d in err.get("details", [])), err
    # equal to the e-mail
    r = c.change_password(otp, acct.email)
    err = k.assert_error(r, 422, "validation_failed")
    assert any(d.get("field") == "newPassword" for d in err.get("details", [])), err
    for d in err["details"]:
        assert set(d) >= {"field", "code", "message"}, d
    # still required after the refusals
    k.assert_error(c.get("/api/v1/users"), 403, "password_change_required")
    # logout works meanwhile (on a second session)
    r2 = world.server.login_raw(acct.tenant, acct.email, otp)
    c2 = k.Client.from_login(world.server, r2)
    assert c2.logout().status_code == 204
    k.assert_error(c2.me(), 401, "unauthenticated")

    new = k.strong_password()
    r = c.change_password(otp, new)
    assert r.status_code == 204, r.text
    me = c.me()
    assert me.status_code == 200 and me.json()["passwordChangeRequired"] is False, me.text
    assert c.get("/api/v1/users").status_code == 200

    k.assert_error(world.server.login_raw(acct.tenant, acct.email, otp), 401, "invalid_credentials")
    r = world.server.login_raw(acct.tenant, acct.email, new)
    assert r.status_code == 200, r.text
    assert r.json()["passwordChangeRequired"] is False


def test_password_change_validation_errors(world):
    acct = world.activate(world.new_user("globex", prefix="pwval"))
    c = world.server.login(acct.tenant, acct.email, acct.password)
    for body, field in [
        ({}, "currentPassword"),
        ({"currentPassword": acct.password}, "newPassword"),
        ({"currentPassword": acct.password, "newPassword": 12345678901234}, "newPassword"),
        ({"currentPassword": None, "newPassword": k.strong_password()}, "currentPassword"),
    ]:
        r = c.post("/api/v1/auth/password", json=body)
        err = k.assert_error(r, 422, "validation_failed")
        assert any(d.get("field") == field for d in err.get("details", [])), (body, err)
    # the password did not change through any of that
    assert world.server.login_raw(acct.tenant, acct.email, acct.password).status_code == 200


def test_password_too_long(world):
    acct = world.activate(world.new_user("acme", prefix="long"))
    c = world.server.login(acct.tenant, acct.email, acct.password)
    r = c.change_password(acct.password, "x" * 2000)
    err = k.assert_error(r, 422, "validation_failed")
    assert any(d.get("field") == "newPassword" for d in err.get("details", [])), err


def test_unicode_password(world):
    acct = world.activate(world.new_user("globex", prefix="uni"))
    c = world.server.login(acct.tenant, acct.email, acct.password)
    new = "correct 馬 horse 電池 staple ✓"
    assert c.change_password(acct.password, new).status_code == 204
    assert world.server.login_raw(acct.tenant, acct.email, new).status_code == 200
    # one look-alike character off is a wrong password
    r = world.server.login_raw(acct.tenant, acct.email, new.replace("✓", "✔"))
    k.assert_error(r, 401, "invalid_credentials")


def test_password_change_ends_other_sessions(world):
    acct = world.activate(world.new_user("acme", prefix="multi"))
    a = world.server.login(acct.tenant, acct.email, acct.password)
    b = world.server.login(acct.tenant, acct.email, acct.password)
    bystander = world.login("acme_admin")
    new = k.strong_password()
    r = a.change_password(acct.password, new)
    assert r.status_code == 204, r.text
    assert a.me().status_code == 200, "the session that changed the password was ended"
    k.assert_error(b.me(), 401, "unauthenticated")
    assert bystander.me().status_code == 200, "another user's session was ended"
    k.assert_error(world.server.login_raw(acct.tenant, acct.email, acct.password), 401,
                   "invalid_credentials")
    assert world.server.login_raw(acct.tenant, acct.email, new).status_code == 200


def test_new_password_must_differ(world):
    acct = world.activate(world.new_user("acme", prefix="same"))
    c = world.server.login(acct.tenant, acct.email, acct.password)
    r = c.change_password(acct.password, acct.password)
    err = k.assert_error(r, 422, "validation_failed")
    assert any(d.get("field") == "newPassword" for d in err.get("details", [])), err


# ---------------------------------------------------------------- login failures


def test_login_failures_are_identical(world):
    a = world.account("acme_admin")
    g = world.account("globex_admin")
    cases = {
        "wrong tenant": ("nosuchtenant", a.email, a.password),
        "invalid tenant id": ("No Such Tenant!", a.email, a.password),
        "wrong e-mail": (a.tenant, "nobody@acme.example", a.password),
        "wrong password": (a.tenant, a.email, a.password + "x"),
        "other tenant's user": (a.tenant, g.email, g.password),
        "right user, other tenant": (g.tenant, a.email, a.password),
    }
    seen = {}
    for label, (t, e, p) in cases.items():
        r = world.server.login_raw(t, e, p)
        k.assert_error(r, 401, "invalid_credentials")
        assert not session_set_cookies(r), f"{label}: a failed login set a session cookie"
        seen[label] = k.error_without_request_id(r)
    first = next(iter(seen.values()))
    for label, v in seen.items():
        assert v == first, f"{label} answers differently: {v} vs {first}"


@pytest.mark.parametrize("body,fields", [
    ({}, {"tenant", "email", "password"}),
    ({"tenant": "acme", "email": "admin@acme.example"}, {"password"}),
    ({"tenant": 5, "email": "admin@acme.example", "password": "x"}, {"tenant"}),
    ({"tenant": "acme", "email": None, "password": "x"}, {"email"}),
    ({"tenant": "acme", "email": ["admin@acme.example"], "password": "x"}, {"email"}),
    ({"tenant": "acme", "email": "admin@acme.example", "password": ""}, {"password"}),
    ({"tenant": "acme", "email": "admin@acme.example", "password": {"x": 1}}, {"password"}),
    ({"tenant": True, "email": 1.5, "password": []}, {"tenant", "email", "password"}),
])
def test_login_validation(world, body, fields):
    r = world.server.post("/api/v1/auth/login", json=body)
    err = k.assert_error(r, 422, "validation_failed")
    details = err.get("details")
    assert isinstance(details, list) and details, err
    for d in details:
        assert isinstance(d, dict) and {"field", "code", "message"} <= set(d), d
    assert fields <= {d["field"] for d in details}, err


# ---------------------------------------------------------------- suspended tenant


def test_suspended_tenant(world):
    world.cli.tenant_create("initech", "Initech")
    acct = world.activate(world.new_user("initech", prefix="boss"))
    s = world.server.login(acct.tenant, acct.email, acct.password)
    assert s.me().status_code == 200

    world.cli.tenant_suspend("initech")
    rows = {r[0]: r for r in world.cli.tenant_list()}
    assert "suspend" in rows["initech"][1].lower(), rows["initech"]
    assert "suspend" not in rows["acme"][1].lower(), rows["acme"]

    k.assert_error(world.server.login_raw(acct.tenant, acct.email, acct.password), 403,
                   "tenant_suspended")
    # the wrong password says nothing about the suspension
    wrong = world.server.login_raw(acct.tenant, acct.email, acct.password + "x")
    k.assert_error(wrong, 401, "invalid_credentials")
    # neither does an unknown e-mail
    k.assert_error(world.server.login_raw(acct.tenant, "ghost@initech.example", acct.password),
                   401, "invalid_credentials")
    r = s.me()
    assert r.status_code in (401, 403), f"a suspended tenant's session still works: {r.status_code}"
    k.assert_error(r, r.status_code)
    # other tenants are unaffected
    assert world.login("acme_admin").me().status_code == 200

    world.cli.tenant_resume("initech")
    rows = {r[0]: r for r in world.cli.tenant_list()}
    assert "suspend" not in rows["initech"][1].lower(), rows["initech"]
    c = world.server.login(acct.tenant, acct.email, acct.password)
    assert c.me().status_code == 200


def test_cli_tenant_create_id_then_name(world):
    """The documented form: kura tenant create ID --name "Name"."""
    world.cli.run("tenant", "create", "hooli", "--name", "Hooli XYZ")
    rows = {r[0]: r for r in world.cli.tenant_list()}
    assert rows["hooli"][1:] == ("active", "Hooli XYZ"), rows.get("hooli")


def test_cli_tenant_list(world):
    rows = {r[0]: r for r in world.cli.tenant_list()}
    assert rows["acme"][2] == "Acme Corporation"
    assert rows["globex"][2] == "Globex Inc"
    assert rows["acme"][1] == rows["globex"][1]


# ---------------------------------------------------------------- session timeouts


@pytest.mark.world_env({"KURA_SESSION_IDLE_TIMEOUT_S": "2"})
def test_session_idle_timeout(fresh_world):
    c = fresh_world.login("acme_admin")
    assert c.me().status_code == 200
    time.sleep(3)
    k.assert_error(c.me(), 401, "unauthenticated")
    # signing in again works
    assert fresh_world.login("acme_admin").me().status_code == 200


Clock = k.Clock


def test_session_idle_and_absolute_timeouts_with_clock(binaries):
    """Default timeouts (idle 30 min, absolute 3 h), time moved by the
    test clock: activity keeps a session alive until the absolute end; an
    unused one ends after the idle time."""
    tmp = k.new_tempdir("kura-e2e-clock-")
    clock_file = tmp / "clock"
    clock_file.write_text("0\n")
    w = k.make_world(env={"KURA_TEST_CLOCK_OFFSET_FILE": str(clock_file)})
    try:
        clock = Clock(w.server, clock_file)
        busy = w.login("acme_admin")
        idle = w.login("acme_admin")
        clock.set(1700)
        assert busy.me().status_code == 200
        clock.set(3400)
        assert busy.me().status_code == 200, "activity did not keep the session alive"
        k.assert_error(idle.me(), 401, "unauthenticated")
        for t in (5100, 6800, 8500, 10200):
            clock.set(t)
            assert busy.me().status_code == 200, f"session ended at +{t}s despite activity"
        clock.set(10900)
        k.assert_error(busy.me(), 401, "unauthenticated")
        fresh = w.login("acme_admin")
        assert fresh.me().status_code == 200
    finally:
        k.destroy_world(w)
        k.remove_tempdir(tmp)


# ---------------------------------------------------------------- restart


def test_restart_keeps_data(fresh_world):
    w = fresh_world
    before = w.login("acme_admin").get("/api/v1/users")
    assert before.status_code == 200
    rc = w.server.stop()
    assert rc == 0, f"SIGTERM ended kurad with {rc}\n{w.server.log()[-3000:]}"
    assert "level=error" not in w.server.log(), w.server.log()[-3000:]
    w.server.start()
    c = w.login("acme_admin")
    after = c.get("/api/v1/users")
    assert after.status_code == 200
    emails = {u["email"] for u in after.json()["results"]}
    assert {"admin@acme.example", "member@acme.example"} <= emails
    assert emails == {u["email"] for u in before.json()["results"]}
    # passwords changed through the API survived too
    assert w.login("globex_member").me().status_code == 200


def test_session_survives_restart(fresh_world):
    """Sessions live in the store (DESIGN.md: kurad keeps no state of its own)."""
    w = fresh_world
    c = w.login("acme_admin")
    assert c.me().status_code == 200
    assert w.server.stop() == 0
    w.server.start()
    assert c.me().status_code == 200, "a session did not survive a restart"


# ---------------------------------------------------------------- configuration errors


def run_kurad_expect_failure(data_dir, env=None, args=(), timeout=20):
    cmd = [str(k.kurad_bin()), "--data", str(data_dir), "--port", str(k.free_port()),
           "--listen", "127.0.0.1", *args]
    try:
        p = subprocess.run(cmd, env=k.clean_env(env), capture_output=True, text=True,
                           timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"") + (e.stderr or b"")
        pytest.fail(f"kurad kept running with a bad configuration: {out!r}")
    assert p.returncode != 0, f"kurad exited 0 with a bad configuration\n{p.stdout}\n{p.stderr}"
    return p.returncode, p.stdout + p.stderr


def test_config_unknown_key_in_file(data_dir):
    data, _ = data_dir
    (data / "kura.conf").write_text("# a comment\nlog_level = info\nbogus_key = 1\n")
    _, out = run_kurad_expect_failure(data)
    assert "bogus_key" in out, out
    assert re.search(r"(:3\b|line 3\b)", out), f"the message does not name line 3: {out}"


@pytest.mark.parametrize("line,key", [
    ("max_body_bytes = lots", "max_body_bytes"),
    ("port = 70000", "port"),
    ("json_max_depth = -1", "json_max_depth"),
    ("listen_address = not-an-address", "listen_address"),
    ("log_level = loud", "log_level"),
    ("session_idle_timeout_s = 0", "session_idle_timeout_s"),
])
def test_config_bad_value_in_file(data_dir, line, key):
    data, _ = data_dir
    (data / "kura.conf").write_text(f"[kura]\n{line}\n")
    _, out = run_kurad_expect_failure(data)
    assert key in out, out
    assert re.search(r"(:2\b|line 2\b)", out), f"the message does not name line 2: {out}"


def test_config_line_without_equals(data_dir):
    data, _ = data_dir
    (data / "kura.conf").write_text("port 8443\n")
    _, out = run_kurad_expect_failure(data)
    assert re.search(r"(:1\b|line 1\b)", out), out


def test_config_unknown_env_var(data_dir):
    data, _ = data_dir
    _, out = run_kurad_expect_failure(data, env={"KURA_FOO": "1"})
    assert "KURA_FOO" in out, out


def test_config_bad_env_value(data_dir):
    data, _ = data_dir
    _, out = run_kurad_expect_failure(data, env={"KURA_WORKERS": "many"})
    assert re.search(r"KURA_WORKERS|workers", out), out


def test_config_absolute_shorter_than_idle(data_dir):
    data, _ = data_dir
    _, out = run_kurad_expect_failure(data, env={"KURA_SESSION_IDLE_TIMEOUT_S": "100",
                                                 "KURA_SESSION_ABSOLUTE_TIMEOUT_S": "50"})
    assert "session_absolute_timeout_s" in out or "SESSION_ABSOLUTE" in out, out


def test_config_missing_explicit_file(data_dir, tmp_dir):
    data, _ = data_dir
    _, out = run_kurad_expect_failure(data, args=("--config", str(tmp_dir / "nope.conf")))
    assert "nope.conf" in out, out


def _deep_login(depth_extra: int) -> bytes:
    return (b'{"tenant":"acme","email":"admin@acme.example","password":"x","pad":'
            + b"[" * depth_extra + b"]" * depth_extra + b"}")


def test_config_file_is_read_and_env_wins(data_dir, servers):
    """The positive control for the tests above: a valid kura.conf (comments,
    section header, quoted value) starts and takes effect; KURA_* wins."""
    data, _ = data_dir
    (data / "kura.conf").write_text(
        "; Kura test settings\n[kura]\n# depth 4 is tiny\njson_max_depth = 4\n"
        'log_level = "info"\n')
    s = servers(data)
    hdr = {"Content-Type": "application/json"}
    k.assert_error(s.post("/api/v1/auth/login", data=_deep_login(8), headers=hdr), 400, "json_too_deep")
    s.stop()
    s2 = servers(data, env={"KURA_JSON_MAX_DEPTH": "64"})
    r = s2.post("/api/v1/auth/login", data=_deep_login(8), headers=hdr)
    assert r.status_code in (401, 422), r.text
    assert r.json()["error"]["code"] != "json_too_deep"


def test_log_never_holds_secrets(world):
    """Passwords (good and bad), one-time passwords, cookie secrets and CSRF
    tokens never reach the log."""
    acct = world.new_user("acme", prefix="logcheck")
    otp = acct.password
    c = world.server.login(acct.tenant, acct.email, otp)
    new = k.strong_password()
    assert c.change_password(otp, new).status_code == 204
    wrong = "wrong-" + k.strong_password()
    world.server.login_raw(acct.tenant, acct.email, wrong)
    c2 = world.server.login(acct.tenant, acct.email, new)
    c2.me()
    c2.logout()
    time.sleep(0.3)   # let the last request lines be written
    log = world.server.log()
    secrets_ = {"one-time password": otp, "new password": new, "wrong password": wrong,
                "cookie secret": c.cookie.split(".", 1)[1], "cookie secret 2": c2.cookie.split(".", 1)[1],
                "csrf token": c.csrf, "csrf token 2": c2.csrf}
    for a in world.accounts.values():
        secrets_[f"password of {a.key}"] = a.password
    for label, value in secrets_.items():
        assert value not in log, f"the {label} is in the kurad log"
