"""
A tenant's IP allow-list (security setting ipAllowlist): outside its ranges,
sign-in (to someone who knows the password), sessions and API keys are
refused with 403 ip_not_allowed and each refusal is audited; inside them
nothing changes; other tenants are not affected; an admin cannot save a
list that leaves out the address they call from. Requests "from elsewhere"
leave from another loopback address (127.0.0.2), which Linux routes to the
server like any other client.
"""

import pytest
import requests
from requests.adapters import HTTPAdapter

import kura_e2e as k

SETTINGS = "/api/v1/settings/security"
OTHER = "127.0.0.2"


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


def audit(admin, **params):
    r = admin.get("/api/v1/audit", params=params)
    assert r.status_code == 200, r.text
    return r.json()["results"]


@pytest.fixture
def allowlisted(fresh_world):
    admin = fresh_world.login("acme_admin")
    r = admin.request("PATCH", SETTINGS, json={"ipAllowlist": ["127.0.0.1/32", "2001:db8::/32"]})
    assert r.status_code == 200, r.text
    assert r.json()["ipAllowlist"] == ["127.0.0.1/32", "2001:db8::/32"]
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


def test_sessions_and_keys_from_outside_are_refused(allowlisted):
    world, admin = allowlisted
    member = world.login("acme_member")
    assert member.me().status_code == 200
    elsewhere(member.session)
    k.assert_error(member.me(), 403, "ip_not_allowed")
    k.assert_error(member.get("/api/v1/objects/contacts"), 403, "ip_not_allowed")
    r = admin.post("/api/v1/api-keys", json={"name": "outside", "scopes": ["records.read"]})
    assert r.status_code == 201, r.text
    token = r.json()["token"]
    inside = requests.get(world.server.base + "/api/v1/objects/contacts", verify=world.server.cert,
                          headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert inside.status_code == 200, inside.text
    s = elsewhere(requests.Session())
    r = s.get(world.server.base + "/api/v1/objects/contacts", verify=world.server.cert,
              headers={"Authorization": f"Bearer {token}"}, timeout=30)
    k.assert_error(r, 403, "ip_not_allowed")
    denied = [e for e in audit(admin, action="access.denied") if e["errorCode"] == "ip_not_allowed"]
    assert len(denied) >= 3 and all(e["ip"] == OTHER for e in denied), denied


def test_other_tenants_are_not_affected(allowlisted):
    world, _ = allowlisted
    r = login_from_elsewhere(world, "globex_member")
    assert r.status_code == 200, r.text


def test_admin_cannot_lock_themselves_out(fresh_world):
    admin = fresh_world.login("acme_admin")
    r = admin.request("PATCH", SETTINGS, json={"ipAllowlist": ["10.0.0.0/8"]})
    err = k.assert_error(r, 422, "validation_failed")
    assert any(d["field"] == "ipAllowlist" and d["code"] == "would_lock_you_out"
               for d in err["details"]), err
    assert admin.get(SETTINGS).json()["ipAllowlist"] == []
    assert login_from_elsewhere(fresh_world, "acme_member").status_code == 200


def test_emptying_the_list_opens_the_tenant_again(allowlisted):
    world, admin = allowlisted
    k.assert_error(login_from_elsewhere(world, "acme_member"), 403, "ip_not_allowed")
    r = admin.request("PATCH", SETTINGS, json={"ipAllowlist": []})
    assert r.status_code == 200, r.text
    assert login_from_elsewhere(world, "acme_member").status_code == 200
    health = admin.get("/api/v1/security/health").json()
    assert "no_ip_allowlist" in {f["id"] for f in health["findings"]}


def test_health_check_sees_the_list(allowlisted):
    _, admin = allowlisted
    health = admin.get("/api/v1/security/health").json()
    assert "no_ip_allowlist" not in {f["id"] for f in health["findings"]}
