"""The admin UI in a real browser (Debian's Chromium driven by playwright-core):
sign in with the one-time password `kura user create` printed, get the
forced password change, reach the home page with the user list, reload,
sign out. This is the path a new user takes after `make demo`."""

import datetime as dt
import json
import shutil
import subprocess
from pathlib import Path

import pytest

import kura_e2e as k

BROWSER_DIR = k.REPO / "tests" / "browser"


def test_sign_in_through_the_ui(data_dir, servers, tmp_dir):
    if shutil.which("node") is None or not Path("/usr/bin/chromium").exists() or \
            not (BROWSER_DIR / "node_modules" / "playwright-core").is_dir():
        pytest.fail("node, /usr/bin/chromium and tests/browser/node_modules are needed "
                    "(scripts/install-deps.sh installs them)", pytrace=False)
    data, cli = data_dir
    cli.tenant_create("acme", "Acme Corp")
    otp = cli.user_create("acme", "ui@acme.example", "super_admin", name="Ui Admin")
    cli.user_create("acme", "colleague@acme.example", "member", name="Colleague")
    now = dt.datetime.now(dt.timezone.utc)
    cli.run("notice", "create", "--kind", "maintenance", "--title", "Upgrade tonight", "--body",
            "The database moves to new disks.", "--starts",
            (now - dt.timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ"), "--ends",
            (now + dt.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ"), "--tenant", "acme")
    server = servers(data)
    new_pw = k.strong_password()
    out_dir = tmp_dir / "shots"
    out_dir.mkdir()
    # The browser reaches the server by the name the certificate was made for.
    base = server.base.replace("127.0.0.1", "localhost")
    p = subprocess.run(["node", str(BROWSER_DIR / "login.mjs"), base, "acme", "ui@acme.example",
                        otp, new_pw, str(out_dir)], capture_output=True, text=True, timeout=120,
                       cwd=BROWSER_DIR)
    lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
    assert lines, f"no result from the browser run (exit {p.returncode}):\n{p.stdout}\n{p.stderr}"
    seen = json.loads(lines[-1])
    assert p.returncode == 0 and seen["ok"], seen
    assert "wrong" in seen["wrongPasswordNotice"]
    assert seen["forcedChange"] is True
    assert any("12 characters" in e for e in seen["shortPasswordErrors"]), seen
    assert seen["homeRole"] == "super_admin"
    assert "Ui Admin" in seen["homeTitle"]
    assert sorted(seen["users"]) == ["colleague@acme.example", "ui@acme.example"]
    assert seen["cookie"] == {"httpOnly": True, "secure": True, "sameSite": "Strict"}
    assert seen["afterReload"] == "ui@acme.example"
    # the operator's notice is on the home page; no security alerts yet
    assert seen["notices"] == ["Maintenance: Upgrade tonight"], seen
    assert seen["alertsHidden"] is True, seen
    assert seen["cookieAfterLogout"] is False
    # 401/422 answers the flow provokes show up as "Failed to load resource";
    # anything else (a script error, a CSP refusal) is a defect.
    other = [e for e in seen["consoleErrors"] if not e.startswith("Failed to load resource")]
    assert other == [], other
    assert (out_dir / "home.png").stat().st_size > 0
    # The new password works over the API too, and the one-time one no longer does.
    assert server.login_raw("acme", "ui@acme.example", new_pw).status_code == 200
    assert server.login_raw("acme", "ui@acme.example", otp).status_code == 401


def test_two_step_sign_in_through_the_ui(data_dir, servers, tmp_dir):
    """Turning on two-step sign-in from the home page (QR code, first code,
    recovery codes shown once), then signing in with a wrong code and with
    a recovery code, in Chromium."""
    data, cli = data_dir
    cli.tenant_create("acme", "Acme Corp")
    otp = cli.user_create("acme", "mfa-ui@acme.example", "member", name="Mfa User")
    server = servers(data)
    pw = k.strong_password()
    c = server.login("acme", "mfa-ui@acme.example", otp)
    assert c.change_password(otp, pw).status_code == 204
    out_dir = tmp_dir / "shots"
    out_dir.mkdir()
    base = server.base.replace("127.0.0.1", "localhost")
    p = subprocess.run(["node", str(BROWSER_DIR / "mfa.mjs"), base, "acme", "mfa-ui@acme.example",
                        pw, str(out_dir)], capture_output=True, text=True, timeout=120,
                       cwd=BROWSER_DIR)
    lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
    assert lines, f"no result from the browser run (exit {p.returncode}):\n{p.stdout}\n{p.stderr}"
    seen = json.loads(lines[-1])
    assert p.returncode == 0 and seen["ok"], seen
    assert seen["mfaBefore"] == "Off" and seen["mfaAfter"] == "On", seen
    assert "password is wrong" in seen["wrongPasswordNotice"], seen
    assert seen["qrModules"] == 1 and seen["secretLength"] == 32, seen
    assert seen["recoveryCodes"] == 10 and seen["secretCleared"] and seen["setupHidden"], seen
    assert seen["secondStep"] is True
    assert "wrong" in seen["wrongCodeNotice"], seen
    assert seen["signedInWithRecovery"] == "mfa-ui@acme.example"
    other = [e for e in seen["consoleErrors"] if not e.startswith("Failed to load resource")]
    assert other == [], other
    r = server.login_raw("acme", "mfa-ui@acme.example", pw)
    assert r.status_code == 200 and r.json()["mfaRequired"] is True, r.text
