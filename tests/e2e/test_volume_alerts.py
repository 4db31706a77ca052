"""
Per-user read volume: one user reading more records, or more sensitive
values, within an hour than the server allows raises an operator alert (the
log's event=alert, and the webhook when one is set) and leaves a system entry
"security.volume_alert" in the tenant's audit log for its admins -- once per
user and hour, each user counted apart.
"""

import re
import secrets

import pytest

import kura_e2e as k


@pytest.fixture(scope="module")
def vw(binaries):
    w = k.make_world(env={"KURA_ALERT_USER_RECORDS_PER_HOUR": "5",
                          "KURA_ALERT_USER_SENSITIVE_PER_HOUR": "3"})
    try:
        yield w
    finally:
        k.destroy_world(w)


def alerts(boss, **params):
    return k.audit_entries(boss, action="security.volume_alert", **params)


def test_records_read_over_the_limit(vw):
    boss = vw.login("acme_admin")
    ids = [k.crm_create(boss, "contacts", {"email": f"v{i}-{secrets.token_hex(3)}@x.example"})["id"]
           for i in range(6)]
    reader = k.active_user(vw, "acme", "member", prefix="reader")
    c = vw.server.login(reader.tenant, reader.email, reader.password)
    for rid in ids[:5]:
        assert c.get(f"/api/v1/objects/contacts/{rid}").status_code == 200
    assert alerts(boss, targetId=c.user_id) == []
    # the sixth record in the hour crosses the limit of five: one alert
    assert c.get(f"/api/v1/objects/contacts/{ids[5]}").status_code == 200
    got = alerts(boss, targetId=c.user_id)
    assert len(got) == 1, got
    e = got[0]
    assert e["actor"]["type"] == "system" and e["target"]["type"] == "user"
    assert e["target"]["properties"] == "records:6", e
    assert re.search(r"event=alert kind=user_volume tenant=acme", vw.server.log())
    # more reading in the same hour: no second alert
    r = c.post("/api/v1/objects/contacts/search", json={"limit": 6})
    assert r.status_code == 200
    assert len(alerts(boss, targetId=c.user_id)) == 1
    # another user has an hour of their own; writes do not count
    other = k.active_user(vw, "acme", "member", prefix="other")
    o = vw.server.login(other.tenant, other.email, other.password)
    for i in range(6):
        k.crm_create(o, "contacts", {"email": f"w{i}-{secrets.token_hex(3)}@x.example"})
    assert alerts(boss, targetId=o.user_id) == []
    # a list page counts its records: six at once
    assert o.get("/api/v1/objects/contacts", params={"limit": 6}).status_code == 200
    assert [e["target"]["properties"] for e in alerts(boss, targetId=o.user_id)] == ["records:6"]
    # members may not read the audit log; the tenant's admins do (above)
    k.assert_error(o.get("/api/v1/audit", params={"action": "security.volume_alert"}), 403)


def test_sensitive_values_over_the_limit(vw):
    t = k.new_tenant(vw, "vol")
    boss_acct = k.active_user(vw, t, "super_admin", prefix="boss")
    boss = vw.server.login(boss_acct.tenant, boss_acct.email, boss_acct.password)
    r = boss.post("/api/v1/properties/contacts", json={
        "name": "ssn", "labels": {"en": "SSN"}, "type": "string", "sensitive": True})
    assert r.status_code == 201, r.text
    ids = [k.crm_create(boss, "contacts", {"ssn": f"S-{i}"})["id"] for i in range(2)]
    acct = k.active_user(vw, t, "admin", prefix="peek")
    c = vw.server.login(acct.tenant, acct.email, acct.password)
    # two records, one value each, twice: four values > three
    for _ in range(2):
        r = c.post("/api/v1/objects/contacts/batch/read", json={"ids": ids})
        assert r.status_code == 200, r.text
    got = alerts(boss, targetId=c.user_id)
    assert [e["target"]["properties"] for e in got] == ["sensitive_values:4"], got
