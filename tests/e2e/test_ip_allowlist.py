"""
A tenant's two IP allow-lists (security settings): ipAllowlist for sign-in
(to someone who knows the password) and sessions, apiKeyIpAllowlist for API
keys. Outside a list its requests are refused with 403 ip_not_allowed and
each refusal is audited; the other kind of request is not affected; other
tenants are not either. A change that leaves out the caller's own address
(a session's by ipAllowlist, an API key's by apiKeyIpAllowlist) is refused
with 422 would_lock_you_out unless the body says "confirmLockout": true;
then it is saved and the caller is refused from its next request. A tenant
that had an ipAllowlist before the lists were split keeps its API keys
restricted: tenant migration 9 copies the list into apiKeyIpAllowlist.

Requests "from elsewhere" leave from another loopback address (127.0.0.2),
which Linux routes to the server like any other client. IPv6 clients come
through kurad's trusted-proxy rule: the test plays a proxy on 127.0.0.1 and
names the client in X-Forwarded-For.
"""

import sqlite3

import pytest
import requests
from requests.adapters import HTTPAdapter

import kura_e2e as k

SETTINGS = "/api/v1/settings/security"
CONTACTS = "/api/v1/objects/contacts"
OTHER = "127.0.0.2"
XFF = "X-Forwarded-For"
MIGRATION_9 = k.REPO / "src" / "store" / "migrations" / "sqlite" / "tenant" / \
    "0009_apikey_allowlist.sql"


class FromAddress(HTTPAdapter):
    def __init__(self, source, **kw):
        self.source = source
        super().__init__(**kw)

    def init_poolmanager(self, *a, **kw):
        kw["source_address"] = (self.source, 0)
        return super().init_poolmanager(*a, **kw)


def elsewhere(session: requests.Session) -> requests.Session:
    session.mount("https://", FromAddress(OTHER))
    return session


def login_from_elsewhere(world, key):
    a = world.account(key)
    s = elsewhere(requests.Session())
    return s.post(world.server.base + "/api/v1/auth/login", verify=world.server.cert, timeout=30,
                  json={"tenant": a.tenant, "email": a.email, "password": a.password})


def client_from_elsewhere(world, key) -> k.Client:
    r = login_from_elsewhere(world, key)
    assert r.status_code == 200, r.text
    c = k.Client.from_login(world.server, r)
    elsewhere(c.session)
    return c


def audit(admin, **params):
    r = admin.get("/api/v1/audit", params=params)
    assert r.status_code == 200, r.text
    return r.json()["results"]


def patch(c, body):
    return c.request("PATCH", SETTINGS, json=body)


def new_key(admin, scopes=("records.read",), name="key"):
    r = admin.post("/api/v1/api-keys", json={"name": name, "scopes": list(scopes)})
    assert r.status_code == 201, r.text
    return r.json()["token"]


def with_key(world, token, method="GET", path=CONTACTS, source=None, **kw):
    s = requests.Session()
    if source:
        elsewhere(s)
    headers = {"Authorization": f"Bearer {token}", **kw.pop("headers", {})}
    return s.request(method, world.server.base + path, verify=world.server.cert, timeout=30,
                     headers=headers, **kw)


def denied_ip(admin):
    return [e for e in audit(admin, action="access.denied") if e["errorCode"] == "ip_not_allowed"]


@pytest.fixture
def allowlisted(fresh_world):
    admin = fresh_world.login("acme_admin")
    r = patch(admin, {"ipAllowlist": ["127.0.0.1/32", "2001:db8::/32"]})
    assert r.status_code == 200, r.text
    assert r.json()["ipAllowlist"] == ["127.0.0.1/32", "2001:db8::/32"]
    assert r.json()["apiKeyIpAllowlist"] == []
    return fresh_world, admin


def test_sign_in_from_outside_is_refused(allowlisted):
    world, admin = allowlisted
    r = login_from_elsewhere(world, "acme_member")
    k.assert_error(r, 403, "ip_not_allowed")
    assert k.session_cookie_from(r) is None
    # a wrong password from outside learns nothing more than anywhere else
    a = world.account("acme_member")
    s = elsewhere(requests.Session())
    r = s.post(world.server.base + "/api/v1/auth/login", verify=world.server.cert, timeout=30,
               json={"tenant": a.tenant, "email": a.email, "password": a.password + "x"})
    k.assert_error(r, 401, "invalid_credentials")
    entries = audit(admin, action="auth.login", outcome="denied")
    assert any(e["errorCode"] == "ip_not_allowed" and e["ip"] == OTHER for e in entries), entries
    # from inside, the same account signs in
    assert world.login("acme_member").me().status_code == 200


def test_sessions_refused_while_keys_follow_their_own_list(allowlisted):
    world, admin = allowlisted
    member = world.login("acme_member")
    assert member.me().status_code == 200
    elsewhere(member.session)
    k.assert_error(member.me(), 403, "ip_not_allowed")
    k.assert_error(member.get(CONTACTS), 403, "ip_not_allowed")
    assert len(denied_ip(admin)) == 2
    # an API key is not bound by ipAllowlist: from the same address it works
    token = new_key(admin)
    assert with_key(world, token).status_code == 200
    r = with_key(world, token, source=OTHER)
    assert r.status_code == 200, r.text
    # until apiKeyIpAllowlist leaves that address out
    r = patch(admin, {"apiKeyIpAllowlist": ["127.0.0.1/32", "2001:db8::/32"]})
    assert r.status_code == 200, r.text
    k.assert_error(with_key(world, token, source=OTHER), 403, "ip_not_allowed")
    assert with_key(world, token).status_code == 200
    denied = denied_ip(admin)
    assert len(denied) == 3 and all(e["ip"] == OTHER for e in denied), denied
    # the sessions' list is still what it was, and both are shown
    got = admin.get(SETTINGS).json()
    assert got["ipAllowlist"] == ["127.0.0.1/32", "2001:db8::/32"]
    assert got["apiKeyIpAllowlist"] == ["127.0.0.1/32", "2001:db8::/32"]


def test_keys_refused_while_sessions_are_not(fresh_world):
    world = fresh_world
    admin = world.login("acme_admin")
    r = patch(admin, {"apiKeyIpAllowlist": ["127.0.0.1/32"]})
    assert r.status_code == 200, r.text
    assert r.json()["ipAllowlist"] == [] and r.json()["apiKeyIpAllowlist"] == ["127.0.0.1/32"]
    token = new_key(admin)
    k.assert_error(with_key(world, token, source=OTHER), 403, "ip_not_allowed")
    assert with_key(world, token).status_code == 200
    # sign-in and sessions from there are not affected
    member = client_from_elsewhere(world, "acme_member")
    assert member.me().status_code == 200
    assert member.get(CONTACTS).status_code == 200
    denied = denied_ip(admin)
    assert len(denied) == 1 and denied[0]["ip"] == OTHER, denied
    # the key's own ranges still apply on top of the tenant's list
    r = admin.post("/api/v1/api-keys", json={"name": "narrow", "scopes": ["records.read"],
                                             "cidrs": ["192.0.2.0/24"]})
    assert r.status_code == 201, r.text
    k.assert_error(with_key(world, r.json()["token"]), 403, "forbidden")
    # another tenant's keys are not affected
    other = new_key(world.login("globex_admin"))
    assert with_key(world, other, source=OTHER).status_code == 200


def test_other_tenants_are_not_affected(allowlisted):
    world, _ = allowlisted
    r = login_from_elsewhere(world, "globex_member")
    assert r.status_code == 200, r.text


@pytest.fixture(scope="module")
def proxied(binaries):
    w = k.make_world(env={"KURA_TRUSTED_PROXIES": "127.0.0.1/32"})
    yield w
    k.destroy_world(w)


def test_ipv6_ranges_in_both_lists(proxied):
    world = proxied
    admin = world.login("globex_admin")
    token = new_key(admin)
    inside, outside = "2001:db8:5::7", "2001:db9::7"
    try:
        r = patch(admin, {"ipAllowlist": ["127.0.0.1/32", "2001:db8::/32"],
                          "apiKeyIpAllowlist": ["127.0.0.1/32", "2001:db8:5::/48"]})
        assert r.status_code == 200, r.text
        a = world.account("globex_member")
        r = world.server.login_raw(a.tenant, a.email, a.password, headers={XFF: inside})
        assert r.status_code == 200, r.text
        member = k.Client.from_login(world.server, r)
        member.session.headers[XFF] = inside
        assert member.me().status_code == 200
        member.session.headers[XFF] = outside
        k.assert_error(member.me(), 403, "ip_not_allowed")
        k.assert_error(world.server.login_raw(a.tenant, a.email, a.password,
                                              headers={XFF: outside}), 403, "ip_not_allowed")
        assert with_key(world, token, headers={XFF: inside}).status_code == 200
        k.assert_error(with_key(world, token, headers={XFF: "2001:db8:6::1"}), 403,
                       "ip_not_allowed")
        k.assert_error(with_key(world, token, headers={XFF: outside}), 403, "ip_not_allowed")
        denied = denied_ip(admin)
        assert {e["ip"] for e in denied} == {outside, "2001:db8:6::1"}, denied
        # an IPv6 caller is guarded like any other
        v6admin = world.server.login_raw(admin.login_body["tenant"]["id"],
                                         world.account("globex_admin").email,
                                         world.account("globex_admin").password,
                                         headers={XFF: inside})
        assert v6admin.status_code == 200, v6admin.text
        v6 = k.Client.from_login(world.server, v6admin)
        v6.session.headers[XFF] = inside
        err = k.assert_error(patch(v6, {"ipAllowlist": ["127.0.0.1/32", "2001:db8:6::/48"]}),
                             422, "validation_failed")
        assert [d["code"] for d in err["details"]] == ["would_lock_you_out"]
    finally:
        r = patch(admin, {"ipAllowlist": [], "apiKeyIpAllowlist": []})
        assert r.status_code == 200, r.text


def test_admin_cannot_lock_themselves_out_without_confirming(fresh_world):
    world = fresh_world
    admin = world.login("acme_admin")
    err = k.assert_error(patch(admin, {"ipAllowlist": ["10.0.0.0/8"]}), 422, "validation_failed")
    assert [(d["field"], d["code"]) for d in err["details"]] == \
        [("ipAllowlist", "would_lock_you_out")], err
    assert "confirmLockout" in err["details"][0]["message"]
    err = k.assert_error(patch(admin, {"ipAllowlist": ["::1/128"], "confirmLockout": False}),
                         422, "validation_failed")
    assert err["details"][0]["code"] == "would_lock_you_out"
    assert admin.get(SETTINGS).json()["ipAllowlist"] == []
    assert login_from_elsewhere(world, "acme_member").status_code == 200
    assert not audit(admin, action="settings.update")
    # a session's own list is ipAllowlist: apiKeyIpAllowlist may leave it out
    r = patch(admin, {"apiKeyIpAllowlist": ["10.0.0.0/8"]})
    assert r.status_code == 200, r.text
    # the flag alone changes nothing and is not stored
    r = patch(admin, {"confirmLockout": True})
    assert r.status_code == 200, r.text
    assert "confirmLockout" not in r.json()
    assert [e["target"]["properties"] for e in audit(admin, action="settings.update")] == \
        ["apiKeyIpAllowlist"]


def test_confirmed_lockout_then_undone_by_another_admin(fresh_world):
    world = fresh_world
    admin = world.login("acme_admin")
    second = world.activate(world.new_user("acme", role="super_admin", prefix="second"))
    r = patch(admin, {"ipAllowlist": [f"{OTHER}/32"], "confirmLockout": True})
    assert r.status_code == 200, r.text
    assert r.json()["ipAllowlist"] == [f"{OTHER}/32"]
    # the caller's session is refused from its next request, as the list says
    k.assert_error(admin.me(), 403, "ip_not_allowed")
    k.assert_error(admin.get(SETTINGS), 403, "ip_not_allowed")
    k.assert_error(world.server.login_raw("acme", world.account("acme_admin").email,
                                          world.account("acme_admin").password),
                   403, "ip_not_allowed")
    # another admin, from an address the list admits, undoes it
    r = login_from_elsewhere(world, "acme_admin")
    assert r.status_code == 200, r.text
    s = elsewhere(requests.Session())
    r = s.post(world.server.base + "/api/v1/auth/login", verify=world.server.cert, timeout=30,
               json={"tenant": "acme", "email": second.email, "password": second.password})
    assert r.status_code == 200, r.text
    other = k.Client.from_login(world.server, r)
    elsewhere(other.session)
    entries = audit(other, action="settings.update")
    assert entries[0]["target"]["properties"] == "ipAllowlist,confirmLockout"
    assert entries[0]["actor"]["email"] == "admin@acme.example"
    assert entries[0]["outcome"] == "success" and entries[0]["ip"] == "127.0.0.1"
    r = patch(other, {"ipAllowlist": []})
    assert r.status_code == 200, r.text
    assert admin.me().status_code == 200
    entries = audit(admin, action="settings.update")
    assert entries[0]["target"]["properties"] == "ipAllowlist"
    assert entries[0]["actor"]["email"] == second.email


def test_api_key_guarded_by_its_own_list(fresh_world):
    world = fresh_world
    admin = world.login("acme_admin")
    token = new_key(admin, scopes=("settings.security", "records.read"), name="settings")
    # the key reads both lists
    r = with_key(world, token, path=SETTINGS)
    assert r.status_code == 200, r.text
    assert r.json()["ipAllowlist"] == [] and r.json()["apiKeyIpAllowlist"] == []
    # apiKeyIpAllowlist leaving out the key's address: only when confirmed
    body = {"apiKeyIpAllowlist": [f"{OTHER}/32", "2001:db8::/32"]}
    r = with_key(world, token, "PATCH", SETTINGS, json=body)
    err = k.assert_error(r, 422, "validation_failed")
    assert [(d["field"], d["code"]) for d in err["details"]] == \
        [("apiKeyIpAllowlist", "would_lock_you_out")], err
    # ipAllowlist does not bind keys: the key may leave itself out of it
    r = with_key(world, token, "PATCH", SETTINGS, json={"ipAllowlist": [f"{OTHER}/32"]})
    assert r.status_code == 200, r.text
    k.assert_error(admin.me(), 403, "ip_not_allowed")
    r = with_key(world, token, "PATCH", SETTINGS, json={"ipAllowlist": []})
    assert r.status_code == 200, r.text
    assert admin.me().status_code == 200
    r = with_key(world, token, "PATCH", SETTINGS, json={**body, "confirmLockout": True})
    assert r.status_code == 200, r.text
    k.assert_error(with_key(world, token), 403, "ip_not_allowed")
    k.assert_error(with_key(world, token, path=SETTINGS), 403, "ip_not_allowed")
    assert with_key(world, token, source=OTHER).status_code == 200
    props = [e["target"]["properties"] for e in audit(admin, action="settings.update")]
    assert props[0] == "apiKeyIpAllowlist,confirmLockout", props
    # an admin's session is not bound by the keys' list, and undoes it
    r = patch(admin, {"apiKeyIpAllowlist": []})
    assert r.status_code == 200, r.text
    assert with_key(world, token).status_code == 200


@pytest.mark.parametrize("body,fields", [
    ({"apiKeyIpAllowlist": ["10.0.0.0/33"]}, {"apiKeyIpAllowlist"}),
    ({"apiKeyIpAllowlist": ["2001:db8::/129"]}, {"apiKeyIpAllowlist"}),
    ({"apiKeyIpAllowlist": "127.0.0.1/32"}, {"apiKeyIpAllowlist"}),
    ({"apiKeyIpAllowlist": [1]}, {"apiKeyIpAllowlist"}),
    ({"apiKeyIpAllowlist": None}, {"apiKeyIpAllowlist"}),
    ({"apiKeyIpAllowlist": ["127.0.0.1/32,10.0.0.0/8"]}, {"apiKeyIpAllowlist"}),
    ({"apiKeyIpAllowlist": [f"10.0.{i}.0/24" for i in range(51)]}, {"apiKeyIpAllowlist"}),
    ({"ipAllowlist": ["10.0.0.0/33"]}, {"ipAllowlist"}),
    ({"ipAllowlist": {"a": "10.0.0.0/8"}}, {"ipAllowlist"}),
    ({"ipAllowlist": [f"10.0.{i}.0/24" for i in range(51)]}, {"ipAllowlist"}),
    ({"ipAllowlist": [], "confirmLockout": "yes"}, {"confirmLockout"}),
    ({"confirmLockout": 1}, {"confirmLockout"}),
    ({"confirmLockout": None}, {"confirmLockout"}),
    ({"ipAllowlist": ["bad"], "apiKeyIpAllowlist": ["worse"], "confirmLockout": "true"},
     {"ipAllowlist", "apiKeyIpAllowlist", "confirmLockout"}),
])
def test_invalid_lists_change_nothing(world, body, fields):
    admin = world.login("acme_admin")
    before = admin.get(SETTINGS).json()
    err = k.assert_error(patch(admin, body), 422, "validation_failed")
    assert {d["field"] for d in err["details"]} == fields
    assert admin.get(SETTINGS).json() == before


def test_fifty_long_ranges_fit(world):
    admin = world.login("acme_admin")
    ranges = [f"2001:0db8:aaaa:bbbb:cccc:dddd:eeee:{i:04x}/128" for i in range(50)]
    r = patch(admin, {"apiKeyIpAllowlist": ranges})
    assert r.status_code == 200, r.text
    assert admin.get(SETTINGS).json()["apiKeyIpAllowlist"] == ranges
    assert patch(admin, {"apiKeyIpAllowlist": []}).status_code == 200


def test_emptying_the_list_opens_the_tenant_again(allowlisted):
    world, admin = allowlisted
    k.assert_error(login_from_elsewhere(world, "acme_member"), 403, "ip_not_allowed")
    r = patch(admin, {"ipAllowlist": []})
    assert r.status_code == 200, r.text
    assert login_from_elsewhere(world, "acme_member").status_code == 200
    health = admin.get("/api/v1/security/health").json()
    assert "no_ip_allowlist" in {f["id"] for f in health["findings"]}


def health_finding(admin):
    health = admin.get("/api/v1/security/health").json()
    return {f["id"]: f for f in health["findings"]}.get("no_ip_allowlist")


def test_health_check_sees_both_lists(allowlisted):
    world, admin = allowlisted
    # sign-in restricted, and no API keys: nothing open
    assert health_finding(admin) is None
    # a live key without ranges of its own, and no apiKeyIpAllowlist
    new_key(admin)
    f = health_finding(admin)
    assert f is not None and f["detail"] == "1 API key can be used from any address.", f
    assert "apiKeyIpAllowlist" in f["action"]
    assert patch(admin, {"apiKeyIpAllowlist": ["127.0.0.1/32"]}).status_code == 200
    assert health_finding(admin) is None
    # sign-in open again
    assert patch(admin, {"ipAllowlist": []}).status_code == 200
    f = health_finding(admin)
    assert f is not None and f["detail"] == "Users can sign in from any address.", f
    assert patch(admin, {"apiKeyIpAllowlist": []}).status_code == 200
    f = health_finding(admin)
    assert f["detail"] == "Users can sign in, and 1 API key can be used, from any address.", f


def test_existing_list_keeps_restricting_api_keys(fresh_world):
    """A tenant with an ipAllowlist from before the split, upgraded: its
    keys stay restricted to the same ranges, now as apiKeyIpAllowlist."""
    world = fresh_world
    admin = world.login("acme_admin")
    assert patch(admin, {"ipAllowlist": ["127.0.0.1/32"]}).status_code == 200
    token = new_key(admin)
    other = new_key(world.login("globex_admin"))
    rc = world.server.stop()
    assert rc == 0, world.server.log()[-4000:]
    # the database as the previous version left it: no apiKeyIpAllowlist row
    for tenant in ("acme", "globex"):
        con = sqlite3.connect(str(world.data_dir / "tenants" / tenant / "tenant.db"), timeout=10)
        try:
            con.execute("DELETE FROM settings WHERE key = 'apiKeyIpAllowlist'")
            con.commit()
            con.executescript(MIGRATION_9.read_text(encoding="utf-8"))
            con.commit()
        finally:
            con.close()
    world.server.start()
    got = admin.get(SETTINGS).json()
    assert got["ipAllowlist"] == ["127.0.0.1/32"] and got["apiKeyIpAllowlist"] == ["127.0.0.1/32"]
    k.assert_error(with_key(world, token, source=OTHER), 403, "ip_not_allowed")
    assert with_key(world, token).status_code == 200
    # a tenant without a list had nothing to copy
    assert with_key(world, other, source=OTHER).status_code == 200
    assert world.login("globex_admin").get(SETTINGS).json()["apiKeyIpAllowlist"] == []
    # from here on the lists are separate
    assert patch(admin, {"apiKeyIpAllowlist": []}).status_code == 200
    assert with_key(world, token, source=OTHER).status_code == 200
    k.assert_error(login_from_elsewhere(world, "acme_member"), 403, "ip_not_allowed")
