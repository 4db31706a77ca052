"""
Client certificates (mutual TLS), with certificates made here by openssl:
kurad started with a bundle of two authorities asks every client for a
certificate; a tenant that requires one (from the authorities it allows)
refuses sign-in and sessions without one -- a good certificate passes, one
from another authority, from an authority the server does not know, or one
not meant for client authentication does not. Sessions are bound to the
certificate they were opened with.
"""

import hashlib
import secrets
import ssl
import subprocess

import pytest
import requests

import kura_e2e as k


def run(*args, cwd):
    p = subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, f"{' '.join(args)}: {p.stderr}"


def make_ca(d, name):
    run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.crt", "-days", "30",
        "-subj", f"/CN=Kura test {name}", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    return d / f"{name}.crt"


def make_client(d, ca, name, usage="clientAuth"):
    (d / f"{name}.ext").write_text(
        f"basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
        f"extendedKeyUsage={usage}\n")
    run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=d)
    run("openssl", "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey",
        f"{ca}.key", "-CAcreateserial", "-out", f"{name}.crt", "-days", "7", "-extfile",
        f"{name}.ext", cwd=d)
    return (str(d / f"{name}.crt"), str(d / f"{name}.key"))


def fingerprint(crt_path) -> str:
    der = ssl.PEM_cert_to_DER_cert(open(crt_path).read())
    return hashlib.sha256(der).hexdigest()


@pytest.fixture(scope="module")
def pki(binaries):
    d = k.new_tempdir("kura-e2e-pki-")
    try:
        make_ca(d, "ca1")
        make_ca(d, "ca2")
        make_ca(d, "ca3")     # not in the server's bundle
        (d / "bundle.pem").write_text((d / "ca1.crt").read_text() + (d / "ca2.crt").read_text())
        yield {
            "dir": d,
            "bundle": d / "bundle.pem",
            "fp1": fingerprint(d / "ca1.crt"),
            "fp2": fingerprint(d / "ca2.crt"),
            "good": make_client(d, "ca1", "alice"),
            "good2": make_client(d, "ca1", "alice2"),
            "other_ca": make_client(d, "ca2", "bob"),
            "unknown_ca": make_client(d, "ca3", "eve"),
            "server_only": make_client(d, "ca1", "mallory", usage="serverAuth"),
        }
    finally:
        k.remove_tempdir(d)


@pytest.fixture(scope="module")
def tw(pki):
    w = k.make_world(env={"KURA_TLS_CLIENT_CA_FILE": str(pki["bundle"])})
    try:
        yield w
    finally:
        k.destroy_world(w)


# Every request on a connection of its own: a kept-alive (or pooled)
# connection would carry on with the certificate, or none, it was opened with.
CLOSE = {"Connection": "close"}


def call(c, method, path, cert=None, **kw):
    """c's request over a new connection, with cert (or none)."""
    kept = c.session
    c.session = requests.Session()
    c.session.cookies.set_policy(k._NoCookies())
    c.session.verify = kept.verify
    try:
        return c.request(method, path, cert=cert, headers=CLOSE, **kw)
    finally:
        c.session.close()
        c.session = kept


def get(c, path, cert=None, **kw):
    return call(c, "GET", path, cert=cert, **kw)


def login(server, acct, cert=None):
    return server.post("/api/v1/auth/login",
                       json={"tenant": acct.tenant, "email": acct.email, "password": acct.password},
                       cert=cert, headers=CLOSE)


def require(boss, cert, cas, on=True):
    return call(boss, "PATCH", "/api/v1/settings/security",
                json={"clientCertRequired": on, "clientCas": cas}, cert=cert)


def test_bundle_is_listed_and_optional(tw, pki):
    boss = tw.login("acme_admin")
    r = get(boss, "/api/v1/security/client-cas")
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["requested"] is True
    assert [x["fingerprint"] for x in got["results"]] == [pki["fp1"], pki["fp2"]]
    assert "Kura test ca1" in got["results"][0]["subject"]
    k.assert_error(tw.login("acme_member").get("/api/v1/security/client-cas"), 403, "forbidden")
    # asked for, not needed: without and with a certificate alike
    acct = tw.account("acme_member")
    assert login(tw.server, acct).status_code == 200
    assert login(tw.server, acct, cert=pki["good"]).status_code == 200
    assert login(tw.server, acct, cert=pki["unknown_ca"]).status_code == 200
    s = tw.server.get("/api/v1/settings/security", cert=pki["good"], headers=CLOSE)
    k.assert_error(s, 401)


def test_tenant_requires_a_certificate(tw, pki):
    t = k.new_tenant(tw, "mtls")
    boss_acct = k.active_user(tw, t, "super_admin", prefix="boss")
    m_acct = k.active_user(tw, t, "member", prefix="m")
    boss = tw.server.login(boss_acct.tenant, boss_acct.email, boss_acct.password)
    older = tw.server.login(m_acct.tenant, m_acct.email, m_acct.password)
    key_boss = k.crm_api_key(boss, ["records.read"])[1]
    # validation, and no shutting oneself out
    for body in ({"clientCertRequired": "yes"}, {"clientCas": ["ABC"]}, {"clientCas": "x"},
                 {"clientCas": [pki["fp1"]] * 16}):
        k.assert_error(boss.request("PATCH", "/api/v1/settings/security", json=body), 422)
    r = require(boss, None, [pki["fp1"]])
    k.assert_error(r, 422, "validation_failed")
    assert r.json()["error"]["details"][0]["code"] == "would_lock_you_out"
    r = require(boss, pki["other_ca"], [pki["fp1"]])
    assert r.json()["error"]["details"][0]["code"] == "would_lock_you_out", r.text
    r = require(boss, pki["good"], ["0" * 64])
    assert r.json()["error"]["details"][0]["code"] == "unknown_authority", r.text
    r = require(boss, pki["good"], [pki["fp1"]])
    assert r.status_code == 200, r.text
    assert r.json()["clientCertRequired"] is True and r.json()["clientCas"] == [pki["fp1"]]
    # the caller's session is now bound to the certificate it presented
    assert get(boss, "/api/v1/me", cert=pki["good"]).status_code == 200
    for cert in (None, pki["good2"], pki["other_ca"]):
        k.assert_error(get(boss, "/api/v1/me", cert=cert), 403, "client_certificate_required")
    # every other session ended
    k.assert_error(get(older, "/api/v1/me", cert=pki["good"]), 401, "unauthenticated")
    # sign-in: the right password is not enough...
    for cert in (None, pki["other_ca"], pki["unknown_ca"], pki["server_only"]):
        k.assert_error(login(tw.server, m_acct, cert=cert), 403, "client_certificate_required")
    # ...and a wrong one says nothing about certificates
    wrong = k.Account(m_acct.key, t, m_acct.email, "member", "", "wrong-" + m_acct.password)
    k.assert_error(login(tw.server, wrong), 401, "invalid_credentials")
    r = login(tw.server, m_acct, cert=pki["good2"])
    assert r.status_code == 200, r.text
    m = k.Client.from_login(tw.server, r)
    assert get(m, "/api/v1/objects/contacts", cert=pki["good2"]).status_code == 200
    k.assert_error(get(m, "/api/v1/objects/contacts", cert=pki["good"]), 403,
                   "client_certificate_required")
    k.assert_error(get(m, "/api/v1/objects/contacts"), 403, "client_certificate_required")
    # API keys are not sessions: they keep working (their own CIDRs apply)
    assert k.bearer(tw.server, key_boss, "GET", "/api/v1/objects/contacts").status_code == 200
    # refusals of identified callers are audited
    r = get(boss, "/api/v1/audit", params={"action": "access.denied"}, cert=pki["good"])
    assert any(e["errorCode"] == "client_certificate_required" for e in r.json()["results"])
    r = get(boss, "/api/v1/audit", params={"action": "auth.login", "outcome": "denied"},
                 cert=pki["good"])
    assert any(e["errorCode"] == "client_certificate_required" for e in r.json()["results"])
    # allowing the second authority: other sessions end again, the caller's is re-bound
    r = require(boss, pki["good"], [pki["fp1"], pki["fp2"]])
    assert r.status_code == 200, r.text
    k.assert_error(get(m, "/api/v1/me", cert=pki["good2"]), 401, "unauthenticated")
    assert login(tw.server, m_acct, cert=pki["other_ca"]).status_code == 200
    # not required any more: sessions are not bound
    r = require(boss, pki["good"], [], on=False)
    assert r.status_code == 200, r.text
    assert get(boss, "/api/v1/me").status_code == 200
    assert login(tw.server, m_acct).status_code == 200


def test_mfa_second_step_needs_the_certificate_too(tw, pki):
    t = k.new_tenant(tw, "mtlsmfa")
    acct = k.active_user(tw, t, "super_admin", prefix="boss")
    boss = tw.server.login(acct.tenant, acct.email, acct.password)
    secret, codes = k.enrol_mfa(boss, acct.password)
    assert require(boss, pki["good"], []).status_code == 200
    r = login(tw.server, acct, cert=pki["good"])
    assert r.status_code == 200 and r.json()["mfaRequired"] is True, r.text
    token = r.json()["mfaToken"]
    r = tw.server.post("/api/v1/auth/login/mfa", json={"mfaToken": token, "recoveryCode": codes[0]},
                       headers=CLOSE)
    k.assert_error(r, 403, "client_certificate_required")
    r = tw.server.post("/api/v1/auth/login/mfa", json={"mfaToken": token, "recoveryCode": codes[0]},
                       cert=pki["good"], headers=CLOSE)
    assert r.status_code == 200, r.text
    s = k.Client.from_login(tw.server, r)
    assert get(s, "/api/v1/me", cert=pki["good"]).status_code == 200
    k.assert_error(get(s, "/api/v1/me"), 403, "client_certificate_required")


def test_server_without_a_bundle_asks_for_none(world):
    boss = world.login("acme_admin")
    r = boss.request("PATCH", "/api/v1/settings/security", json={"clientCertRequired": True})
    k.assert_error(r, 422, "validation_failed")
    assert r.json()["error"]["details"][0]["code"] == "not_available"
    r = get(boss, "/api/v1/security/client-cas")
    assert r.json() == {"requested": False, "results": []}


def test_a_bad_bundle_stops_the_server(pki, data_dir):
    """A missing file, and a file holding a client certificate instead of an
    authority: kurad refuses to start and names the setting."""
    from test_auth import run_kurad_expect_failure

    data, _ = data_dir
    for bad in (pki["dir"] / "nope.pem", pki["good"][0]):
        _, out = run_kurad_expect_failure(data, env={"KURA_TLS_CLIENT_CA_FILE": str(bad)})
        assert "tls_client_ca_file" in out, out
