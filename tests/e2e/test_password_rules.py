"""Password rules on change of password: no reuse of the current password
or of the last N (tenant setting passwordHistory, 0 = off, 1..24, default 5;
error detail code "reused"), and no password from the embedded list of
common passwords (Openwall's password.lst, detail code "breached", always on).
Each test works in a tenant of its own, so settings changes stay local."""

import sqlite3
from pathlib import Path

import pytest

import kura_e2e as k

SETTINGS = "/api/v1/settings/security"
BREACHED_MSG = "this password appears in lists of common passwords"


def patch(c, body):
    return c.request("PATCH", SETTINGS, json=body)


def codes(r, field="newPassword"):
    err = k.assert_error(r, 422, "validation_failed")
    return [d["code"] for d in err["details"] if d["field"] == field]


@pytest.fixture
def tenant_admin(world):
    """(client, account) of the super admin of a new tenant."""
    tid = k.new_tenant(world, "pw")
    acct = k.active_user(world, tid, "super_admin", prefix="owner")
    c = world.server.login(tid, acct.email, acct.password)
    yield c, acct
    c.close()


class Changer:
    """Changes one user's password in a row, remembering each one."""

    def __init__(self, client, acct):
        self.c = client
        self.acct = acct
        self.used = [acct.password]

    def change(self, new):
        return self.c.change_password(self.acct.password, new)

    def ok(self, new):
        r = self.change(new)
        assert r.status_code == 204, r.text
        self.acct.password = new
        self.used.append(new)


def test_current_password_refused_as_reused(tenant_admin):
    c, acct = tenant_admin
    r = c.change_password(acct.password, acct.password)
    assert codes(r) == ["reused"]


def test_last_n_refused_and_older_accepted(world, tenant_admin):
    c, acct = tenant_admin
    assert c.get(SETTINGS).json()["passwordHistory"] == 5
    assert patch(c, {"passwordHistory": 3}).status_code == 200
    ch = Changer(c, acct)
    for _ in range(4):
        ch.ok(k.strong_password())
    # used[-1] is current; used[-2..-4] are the last 3 previous ones.
    assert codes(ch.change(ch.used[-1])) == ["reused"]
    for old in ch.used[-4:-1]:
        assert codes(ch.change(old)) == ["reused"], old
    # the refusals changed nothing: the current password still signs in
    assert world.server.login_raw(acct.tenant, acct.email, acct.password).status_code == 200
    # the 4th previous one (N+1) is allowed again
    ch.ok(ch.used[-5])
    assert world.server.login_raw(acct.tenant, acct.email, acct.password).status_code == 200


def test_default_history_is_five(tenant_admin):
    c, acct = tenant_admin
    ch = Changer(c, acct)
    for _ in range(6):
        ch.ok(k.strong_password())
    # used: [p0 .. p6]; p6 current, p1..p5 the last five previous ones
    for old in ch.used[1:6]:
        assert codes(ch.change(old)) == ["reused"]
    ch.ok(ch.used[0])


def test_history_off_allows_reuse(tenant_admin):
    c, acct = tenant_admin
    assert patch(c, {"passwordHistory": 0}).status_code == 200
    assert c.get(SETTINGS).json()["passwordHistory"] == 0
    ch = Changer(c, acct)
    first = k.strong_password()
    ch.ok(first)
    ch.ok(k.strong_password())
    ch.ok(first)
    # the current one is still refused, whatever the setting
    assert codes(ch.change(first)) == ["reused"]


def test_history_kept_while_off(tenant_admin):
    """Turning the rule on again covers the changes made while it was off."""
    c, acct = tenant_admin
    assert patch(c, {"passwordHistory": 0}).status_code == 200
    ch = Changer(c, acct)
    first = k.strong_password()
    ch.ok(first)
    ch.ok(k.strong_password())
    assert patch(c, {"passwordHistory": 2}).status_code == 200
    assert codes(ch.change(first)) == ["reused"]


@pytest.mark.parametrize("value", [25, -1, 100, "5", 2.5])
def test_setting_validation(tenant_admin, value):
    c, _ = tenant_admin
    err = k.assert_error(patch(c, {"passwordHistory": value}), 422, "validation_failed")
    assert [d["field"] for d in err["details"]] == ["passwordHistory"]
    assert c.get(SETTINGS).json()["passwordHistory"] == 5


@pytest.mark.parametrize("value", [0, 1, 24])
def test_setting_bounds_accepted(tenant_admin, value):
    c, _ = tenant_admin
    r = patch(c, {"passwordHistory": value})
    assert r.status_code == 200, r.text
    assert r.json()["passwordHistory"] == value


# Entries checked to be in /usr/share/john/password.lst (any case counts).
@pytest.mark.parametrize("pw", ["password1", "PASSWORD1", "Baseball", "iloveyou", "trustno1",
                                "12345678", "sunshine"])
def test_breached_refused(tenant_admin, pw):
    c, acct = tenant_admin
    assert patch(c, {"passwordMinLength": 8}).status_code == 200
    r = c.change_password(acct.password, pw)
    err = k.assert_error(r, 422, "validation_failed")
    assert [d["code"] for d in err["details"]] == ["breached"]
    d = err["details"][0]
    assert d["field"] == "newPassword" and d["message"] == BREACHED_MSG


def test_breached_with_default_length(tenant_admin):
    """The one entry of 12+ characters, at the default minimum length."""
    c, acct = tenant_admin
    assert codes(c.change_password(acct.password, "WinnieThePooh")) == ["breached"]


def test_short_breached_reports_both(tenant_admin):
    c, acct = tenant_admin
    assert sorted(codes(c.change_password(acct.password, "letmein"))) == ["breached", "too_short"]
    assert sorted(codes(c.change_password(acct.password, "Dragon"))) == ["breached", "too_short"]


def test_not_breached_accepted(tenant_admin):
    c, acct = tenant_admin
    assert patch(c, {"passwordMinLength": 8}).status_code == 200
    r = c.change_password(acct.password, "dragon-fly-42")
    assert r.status_code == 204, r.text


def test_deleted_users_history_is_gone(world, tenant_admin):
    c, acct = tenant_admin
    victim = k.active_user(world, acct.tenant, "member", prefix="gone")
    v = world.server.login(victim.tenant, victim.email, victim.password)
    uid = int(v.user_id)
    ch = Changer(v, victim)
    ch.ok(k.strong_password())
    v.close()
    db = Path(world.data_dir) / "tenants" / acct.tenant / "tenant.db"

    def rows():
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
        try:
            return con.execute("SELECT count(*) FROM password_history WHERE user_id = ?",
                               (uid,)).fetchone()[0]
        finally:
            con.close()

    # the one-time password (activation) and the one set above
    assert rows() == 2
    r = c.request("DELETE", f"/api/v1/users/{uid}")
    assert r.status_code == 204, r.text
    assert rows() == 0


def test_history_capped_at_24(world, tenant_admin):
    c, acct = tenant_admin
    assert patch(c, {"passwordHistory": 24}).status_code == 200
    ch = Changer(c, acct)
    for _ in range(26):
        ch.ok(k.strong_password())
    db = Path(world.data_dir) / "tenants" / acct.tenant / "tenant.db"
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        n = con.execute("SELECT count(*) FROM password_history WHERE user_id = ?",
                        (int(c.user_id),)).fetchone()[0]
    finally:
        con.close()
    assert n == 24
    # used[-1] current, used[-25..-2] the 24 kept; used[-26] is beyond the cap
    assert codes(ch.change(ch.used[-25])) == ["reused"]
    ch.ok(ch.used[-26])
