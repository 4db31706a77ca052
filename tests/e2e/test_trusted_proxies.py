"""
The client address behind a reverse proxy (setting trusted_proxies): with
127.0.0.1/32 trusted, the test plays the proxy and kurad takes the client
from X-Forwarded-For by the rightmost-untrusted rule. That address is the
one in the audit log and the session list, the one the failed-login block
counts (two forwarded clients are blocked separately), and the one a
tenant's IP allow-list admits; the request log shows it with the proxy as
peer=. A header that does not parse leaves the proxy's address. Without
trusted_proxies the header changes nothing: the audit log shows 127.0.0.1
and a made-up X-Forwarded-For does not get round a block. Bad settings stop
kurad at start with the key named.
"""

import json
import re
import secrets
import subprocess
import time

import pytest

import kura_e2e as k

SETTINGS = "/api/v1/settings/security"
XFF = "X-Forwarded-For"
CLIENT = "198.51.100.7"
FAIL_LIMIT = 3


def forwarded(client: k.Client, addr: str) -> k.Client:
    """Every later request of the client comes 'through the proxy' from addr."""
    client.session.headers[XFF] = addr
    return client


def login_via(world, key, addr, **kw):
    a = world.account(key)
    return world.server.login_raw(a.tenant, a.email, a.password, headers={XFF: addr}, **kw)


def login_client_via(world, key, addr) -> k.Client:
    r = login_via(world, key, addr)
    assert r.status_code == 200, f"login via {addr}: {r.status_code} {r.text}"
    return forwarded(k.Client.from_login(world.server, r), addr)


def fail_logins(world, addr, n, key="acme_member"):
    a = world.account(key)
    for _ in range(n):
        r = world.server.login_raw(a.tenant, a.email, "wrong-" + secrets.token_hex(6),
                                   headers={XFF: addr} if addr else None)
        k.assert_error(r, 401, "invalid_credentials")


def sessions(client):
    r = client.get("/api/v1/sessions")
    assert r.status_code == 200, r.text
    return r.json()["results"]


@pytest.fixture(scope="module")
def proxied(binaries):
    w = k.make_world(env={"KURA_TRUSTED_PROXIES": "127.0.0.1/32, ::1/128",
                          "KURA_LOGIN_FAIL_IP_LIMIT": str(FAIL_LIMIT)})
    yield w
    k.destroy_world(w)


@pytest.fixture(scope="module")
def direct(binaries):
    w = k.make_world(env={"KURA_LOGIN_FAIL_IP_LIMIT": str(FAIL_LIMIT)})
    yield w
    k.destroy_world(w)


# ---------------------------------------------------------------- behind the proxy


def test_forwarded_client_in_audit_and_sessions(proxied):
    c = login_client_via(proxied, "acme_admin", CLIENT)
    entries = k.audit_entries(c, action="auth.login", outcome="success")
    assert entries and entries[0]["ip"] == CLIENT, entries[:2]
    mine = [s for s in sessions(c) if s["current"]]
    assert len(mine) == 1 and mine[0]["ip"] == CLIENT, mine
    # the request log names both: the client, and the proxy as peer (the
    # line is written when the request completes, just after the answer)
    pat = re.compile(r"event=request .*ip=198\.51\.100\.7 peer=127\.0\.0\.1 method=\"?GET\"? "
                     r"path=\"?/api/v1/sessions")
    deadline = time.monotonic() + 5
    while not pat.search(proxied.server.log()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pat.search(proxied.server.log()), proxied.server.log()[-2000:]


def test_rightmost_untrusted_wins(proxied):
    # The client made up the first two entries; our proxy appended the third.
    spoofed = f"10.9.9.9, 127.0.0.1, {CLIENT}"
    c = login_client_via(proxied, "acme_admin", spoofed)
    assert k.audit_entries(c, action="auth.login", outcome="success")[0]["ip"] == CLIENT
    # A chain: client -> an outer proxy (untrusted here) -> our proxy at ::1 / 127.0.0.1.
    # Trusted entries on the right are skipped; IPv6 is written canonically.
    c2 = login_client_via(proxied, "acme_admin", "2001:DB8:0::5, ::1, 127.0.0.1")
    assert k.audit_entries(c2, action="auth.login", outcome="success")[0]["ip"] == "2001:db8::5"
    mine = [s for s in sessions(c2) if s["current"]]
    assert mine[0]["ip"] == "2001:db8::5", mine


@pytest.mark.parametrize("bad", ["unknown", "198.51.100.7:4711", "[2001:db8::5]", "198.51.100.7,",
                                 "198.51.100.7, , 127.0.0.1", "junk, 127.0.0.1"])
def test_unparseable_header_keeps_the_proxy_address(proxied, bad):
    c = login_client_via(proxied, "acme_admin", bad)
    assert k.audit_entries(c, action="auth.login", outcome="success")[0]["ip"] == "127.0.0.1"
    assert "event=xff_refused" in proxied.server.log()


def test_several_headers_are_joined_in_order(proxied):
    # Two X-Forwarded-For headers: the second's entries come after the first's.
    a = proxied.account("acme_admin")
    body = json.dumps({"tenant": a.tenant, "email": a.email, "password": a.password}).encode()
    req = k.http_request_bytes("POST", "/api/v1/auth/login",
                               headers=[("Content-Type", "application/json"),
                                        (XFF, "203.0.113.50"), (XFF, "203.0.113.51, 127.0.0.1")],
                               body=body)
    resp = proxied.server.raw(req)
    assert resp.status == 200, (resp.status, resp.body[:300])
    c = proxied.login("acme_admin")
    entries = k.audit_entries(c, action="auth.login", outcome="success")
    assert any(e["ip"] == "203.0.113.51" for e in entries[:3]), entries[:3]


def test_ip_block_counts_forwarded_clients_separately(proxied):
    blocked, other = "203.0.113.10", "203.0.113.11"
    fail_logins(proxied, blocked, FAIL_LIMIT + 1)
    # the blocked client is refused everything, the right password too
    k.assert_error(login_via(proxied, "acme_member", blocked), 429, "rate_limited")
    k.assert_error(proxied.server.get("/healthz", headers={XFF: blocked}), 429, "rate_limited")
    # the other client behind the same proxy, and the proxy itself, are not
    assert login_via(proxied, "acme_member", other).status_code == 200
    assert proxied.server.get("/healthz").status_code == 200
    admin = proxied.login("acme_admin")
    e = k.audit_entries(admin, action="security.ip_blocked")
    assert e and e[0]["target"]["id"] == blocked, e[:1]


def test_allowlist_admits_the_forwarded_client(proxied):
    admin = login_client_via(proxied, "globex_admin", CLIENT)
    try:
        r = admin.request("PATCH", SETTINGS, json={"ipAllowlist": ["198.51.100.0/24"]})
        assert r.status_code == 200, r.text
        # from inside the range (through the proxy) a member signs in and works
        member = login_client_via(proxied, "globex_member", "198.51.100.200")
        assert member.me().status_code == 200
        # the same session from another forwarded client is refused
        forwarded(member, "203.0.113.99")
        k.assert_error(member.me(), 403, "ip_not_allowed")
        # so is a sign-in from the proxy's own address, or from outside the range
        k.assert_error(proxied.server.login_raw(
            "globex", proxied.account("globex_member").email,
            proxied.account("globex_member").password), 403, "ip_not_allowed")
        k.assert_error(login_via(proxied, "globex_member", "203.0.113.99"), 403, "ip_not_allowed")
        denied = k.audit_entries(admin, action="auth.login", outcome="denied")
        assert any(e["ip"] == "203.0.113.99" and e["errorCode"] == "ip_not_allowed"
                   for e in denied), denied[:3]
    finally:
        r = admin.request("PATCH", SETTINGS, json={"ipAllowlist": []})
        assert r.status_code == 200, r.text


# ---------------------------------------------------------------- no trusted proxies


def test_header_ignored_without_trusted_proxies(direct):
    c = direct.login("acme_admin")
    r = login_via(direct, "acme_admin", CLIENT)
    assert r.status_code == 200, r.text
    entries = k.audit_entries(c, action="auth.login", outcome="success")
    assert entries[0]["ip"] == "127.0.0.1", entries[:1]
    assert "peer=" not in direct.server.log()


def test_header_does_not_dodge_a_block_without_trusted_proxies(direct):
    fail_logins(direct, "203.0.113.20", FAIL_LIMIT + 1)
    # 127.0.0.1 itself is blocked, whatever the header claims
    k.assert_error(login_via(direct, "acme_member", "203.0.113.21"), 429, "rate_limited")
    k.assert_error(direct.server.get("/healthz", headers={XFF: "203.0.113.22"}), 429,
                   "rate_limited")
    k.assert_error(direct.server.get("/healthz"), 429, "rate_limited")


# ---------------------------------------------------------------- the setting


@pytest.mark.parametrize("value", ["10.0.0.1/8", "10.0.0.0", "proxy.example/32", "10.0.0.0/8,",
                                   ",".join(f"10.{i}.0.0/16" for i in range(33))])
def test_bad_setting_stops_start_naming_the_key(data_dir, value):
    data, _ = data_dir
    p = subprocess.run([str(k.kurad_bin()), "--data", str(data), "--print-config"],
                       capture_output=True, text=True, timeout=30,
                       env=k.clean_env({"KURA_TRUSTED_PROXIES": value}))
    assert p.returncode != 0, p.stdout[-500:]
    assert "trusted_proxies" in p.stderr, p.stderr


def test_setting_in_print_config(data_dir):
    data, _ = data_dir
    p = subprocess.run([str(k.kurad_bin()), "--data", str(data), "--print-config"],
                       capture_output=True, text=True, timeout=30,
                       env=k.clean_env({"KURA_TRUSTED_PROXIES": "10.0.0.0/8 , 2001:db8::/32"}))
    assert p.returncode == 0, p.stderr
    assert "trusted_proxies = 10.0.0.0/8,2001:db8::/32" in p.stdout, p.stdout
