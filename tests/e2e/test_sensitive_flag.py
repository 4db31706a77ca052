"""
Turning the sensitive flag of a property that holds values, end to end.

On: the PATCH answers 202 with "encryption": {"state": "pending", ...};
the property is sensitive at once (field-level permissions apply, its
values leave the full-text index, new writes are sealed) and kurad's
housekeeping encrypts the values and history entries still in clear in
short transactions, carrying on after a restart; reads are right whichever
form a value is in, and exact search on the property is refused with 409
until the job is done. Afterwards no plaintext is left in the raw database
files (WAL included). Off: refused while values exist unless a super admin
forces it; forced, the values come back in clear and searchable.
"""

import glob
import time

import pytest

import kura_e2e as k

OBJ = "/api/v1/objects/contacts"
PROPS = "/api/v1/properties/contacts"
N = 300


def raw_bytes(world) -> bytes:
    files = sorted(glob.glob(str(world.data_dir / "tenants" / "acme" / "*")))
    return b"".join(open(f, "rb").read() for f in files)


def nick(i):
    return f"FLAGSECRET{i:04d}X"


def search(client, **body):
    return client.post(f"{OBJ}/search", json=body)


def eq(prop, value):
    return {"filterGroups": [{"filters": [{"propertyName": prop, "operator": "EQ",
                                           "value": value}]}]}


def wait_done(admin, name, seen=None, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        r = admin.get(f"{PROPS}/{name}")
        assert r.status_code == 200, r.text
        enc = r.json()["encryption"]
        if seen is not None and enc is not None:
            seen.append(enc)
        if enc is None:
            return r.json()
        assert time.monotonic() < deadline, f"{name} still {enc}"
        time.sleep(0.2)


@pytest.fixture
def world(binaries):
    # no housekeeping round while the test sets things up
    w = k.make_world(env={"KURA_HOUSEKEEPING_SECONDS": "3600"})
    try:
        yield w
    finally:
        k.destroy_world(w)


def populate(admin):
    for body in ({"name": "nickname", "labels": {"en": "Nickname"}, "type": "string"},
                 {"name": "score", "labels": {"en": "Score"}, "type": "number"}):
        r = admin.post(PROPS, json=body)
        assert r.status_code == 201, r.text
    ids = []
    for start in range(0, N, 100):
        r = admin.post(f"{OBJ}/batch/create", json={"inputs": [
            {"properties": {"email": f"f{i}@example.com", "nickname": nick(i),
                            "score": 7000 + i}} for i in range(start, start + 100)]})
        assert r.status_code == 200, r.text
        ids += [x["record"]["id"] for x in r.json()["results"]]
    # a history entry with an old and a new value in clear
    r = admin.request("PATCH", f"{OBJ}/{ids[0]}", json={"properties": {"nickname": "FLAGOLDVALUE"}})
    assert r.status_code == 200, r.text
    r = admin.request("PATCH", f"{OBJ}/{ids[0]}", json={"properties": {"nickname": nick(0)}})
    assert r.status_code == 200, r.text
    r = search(admin, query="FLAGSECRET0005X")
    assert r.status_code == 200 and r.json()["total"] == 1, r.text
    return ids


def test_turn_on_encrypts_in_the_background_and_off_decrypts(world):
    admin = world.login("acme_admin")
    member = world.login("acme_member")
    ids = populate(admin)

    r = admin.request("PATCH", f"{PROPS}/nickname", json={
        "sensitive": True, "permissions": {"view": ["admin"], "edit": ["admin"]}})
    assert r.status_code == 202, r.text
    assert r.json()["sensitive"] is True
    assert r.json()["encryption"] == {"state": "pending", "done": 0, "total": N}
    r = admin.request("PATCH", f"{PROPS}/score", json={"sensitive": True})
    assert r.status_code == 202, r.text
    r = admin.get(f"{PROPS}/nickname")
    assert r.json()["encryption"] == {"state": "pending", "done": 0, "total": N}, r.text
    listed = {p["name"]: p for p in admin.get(PROPS).json()["results"]}
    assert listed["score"]["encryption"]["state"] == "pending"
    assert listed["email"]["encryption"] is None

    # values in clear read back; permissions apply from the start
    got = admin.get(f"{OBJ}/{ids[1]}").json()["properties"]
    assert got["nickname"] == nick(1) and got["score"] == 7001
    got = member.get(f"{OBJ}/{ids[1]}")
    assert got.status_code == 200 and "nickname" not in got.json()["properties"], got.text
    assert got.json()["properties"]["score"] == 7001
    # a write seals at once: the values are now in both forms
    r = admin.request("PATCH", f"{OBJ}/{ids[2]}", json={"properties": {"nickname": "FLAGNEWVALUE2"}})
    assert r.status_code == 200, r.text
    assert admin.get(f"{OBJ}/{ids[2]}").json()["properties"]["nickname"] == "FLAGNEWVALUE2"
    hist = admin.get(f"{OBJ}/{ids[2]}/history", params={"property": "nickname"}).json()["results"]
    assert [h["newValue"] for h in hist] == ["FLAGNEWVALUE2", nick(2)], hist
    assert hist[0]["oldValue"] == nick(2)
    r = admin.post(OBJ, json={"properties": {"email": "late@example.com", "nickname": "FLAGLATE"}})
    assert r.status_code == 201, r.text
    late = r.json()["id"]
    # exact search is refused, never incomplete; full text no longer finds them
    r = search(admin, **eq("nickname", nick(5)))
    k.assert_error(r, 409, "conflict")
    assert "encrypt" in r.json()["error"]["message"], r.text
    r = search(admin, **eq("score", 7005))
    k.assert_error(r, 409, "conflict")
    r = search(admin, query="FLAGSECRET0005X")
    assert r.status_code == 200 and r.json()["total"] == 0, r.text
    # HAS_PROPERTY does not need the blind index: exact in both forms
    r = search(admin, filterGroups=[{"filters": [{"propertyName": "nickname",
                                                  "operator": "HAS_PROPERTY"}]}])
    assert r.status_code == 200 and r.json()["total"] == N + 1, r.text

    # the state is in the database: a restart carries on with the job
    world.server.stop()
    world.server.env["KURA_HOUSEKEEPING_SECONDS"] = "1"
    world.server.start()
    admin = world.login("acme_admin")
    member = world.login("acme_member")
    r = admin.get(f"{PROPS}/nickname")
    assert r.status_code == 200, r.text
    seen = []
    # reads stay right while the job runs
    deadline = time.monotonic() + 60
    while admin.get(f"{PROPS}/nickname").json()["encryption"] is not None:
        for i in (3, 150, N - 1):
            got = admin.get(f"{OBJ}/{ids[i]}")
            assert got.status_code == 200, got.text + world.server.log()[-3000:]
            assert got.json()["properties"]["nickname"] == nick(i)
        assert time.monotonic() < deadline
    done = wait_done(admin, "nickname", seen)
    assert done["sensitive"] is True and done["permissions"]["view"] == ["admin"]
    # a shutdown in the middle of a job: the progress is kept and the job goes on
    deadline = time.monotonic() + 60
    while True:
        enc = admin.get(f"{PROPS}/score").json()["encryption"]
        if enc is None or enc["done"] > 0 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    if enc is not None:
        world.server.stop()
        world.server.start()
        admin = world.login("acme_admin")
        member = world.login("acme_member")
        again = admin.get(f"{PROPS}/score").json()["encryption"]
        assert again is None or (again["done"] >= enc["done"] and again["total"] == N), again
    wait_done(admin, "score")

    for i in (0, 4, N - 1):
        got = admin.get(f"{OBJ}/{ids[i]}").json()["properties"]
        assert got["nickname"] == nick(i) and got["score"] == 7000 + i
    assert admin.get(f"{OBJ}/{late}").json()["properties"]["nickname"] == "FLAGLATE"
    hist = admin.get(f"{OBJ}/{ids[0]}/history", params={"property": "nickname"}).json()["results"]
    assert {"FLAGOLDVALUE", nick(0)} <= {h["newValue"] for h in hist}, hist
    r = search(admin, **eq("nickname", nick(5)))
    assert r.status_code == 200 and r.json()["total"] == 1, r.text
    assert r.json()["results"][0]["id"] == ids[5]
    r = search(admin, **eq("score", 7007))
    assert r.status_code == 200 and r.json()["total"] == 1, r.text
    r = search(member, **eq("nickname", nick(5)))
    k.assert_error(r, 403, "forbidden")
    assert "nickname" not in member.get(f"{OBJ}/{ids[5]}").json()["properties"]
    entries = k.audit_entries(admin, action="property.encrypted")
    targets = {e["target"]["id"] for e in entries}
    assert {"contacts.nickname", "contacts.score"} <= targets, entries
    assert all(e["actor"]["type"] == "system" for e in entries), entries
    updates = k.audit_entries(admin, action="property.update")
    assert any("sensitive" in (e["target"].get("properties") or "") for e in updates), updates

    # no plaintext left: records, history, text index, free pages, WAL
    world.server.stop()
    data = raw_bytes(world)
    assert b"f1@example.com" in data  # the scan looks at the right files
    for needle in [nick(i) for i in range(N)] + ["FLAGOLDVALUE", "FLAGNEWVALUE2", "FLAGLATE",
                                                 "flagsecret"]:
        assert needle.encode() not in data, f"{needle!r} is in a raw tenant file"
    world.server.start()
    admin = world.login("acme_admin")

    # off: refused while values exist, unless a super admin forces it
    r = admin.request("PATCH", f"{PROPS}/nickname", json={"sensitive": False})
    k.assert_error(r, 409, "conflict")
    assert r.json()["error"]["details"][0]["code"] == "values_present", r.text
    plain_admin = k.active_user(world, "acme", "admin", prefix="flag-admin")
    plain_admin = world.server.login(plain_admin.tenant, plain_admin.email, plain_admin.password)
    r = plain_admin.request("PATCH", f"{PROPS}/nickname", json={"sensitive": False, "force": True})
    k.assert_error(r, 403, "forbidden")
    r = admin.request("PATCH", f"{PROPS}/nickname", json={"sensitive": False, "force": True})
    assert r.status_code == 200, r.text
    assert r.json()["sensitive"] is False and r.json()["permissions"] == {}
    assert r.json()["encryption"] is None
    got = member.get(f"{OBJ}/{ids[6]}")
    assert got.json()["properties"]["nickname"] == nick(6), got.text
    r = search(admin, query="FLAGSECRET0006X")
    assert r.status_code == 200 and r.json()["total"] == 1, r.text
    r = search(admin, **eq("nickname", nick(8)))
    assert r.status_code == 200 and r.json()["total"] == 1, r.text
    hist = admin.get(f"{OBJ}/{ids[0]}/history", params={"property": "nickname"}).json()["results"]
    assert {"FLAGOLDVALUE", nick(0)} <= {h["newValue"] for h in hist}, hist
    entries = k.audit_entries(admin, action="property.decrypted")
    assert entries and entries[0]["target"]["id"] == "contacts.nickname", entries
    # score stays sensitive and readable
    assert admin.get(f"{OBJ}/{ids[9]}").json()["properties"]["score"] == 7009


@pytest.mark.parametrize("body", [
    {"sensitive": False, "force": "yes"},
    {"force": True},
    {"sensitive": True, "force": True},
])
def test_force_is_validated(fresh_world, body):
    admin = fresh_world.login("acme_admin")
    r = admin.post(PROPS, json={"name": "ssn", "labels": {"en": "SSN"}, "type": "string",
                                "sensitive": True})
    assert r.status_code == 201, r.text
    r = admin.request("PATCH", f"{PROPS}/ssn", json=body)
    k.assert_error(r, 422, "validation_failed")
    assert r.json()["error"]["details"][0]["field"] == "force", r.text


def test_empty_property_turns_without_a_job(fresh_world):
    admin = fresh_world.login("acme_admin")
    r = admin.post(PROPS, json={"name": "passport", "labels": {"en": "Passport"}, "type": "string"})
    assert r.status_code == 201, r.text
    r = admin.request("PATCH", f"{PROPS}/passport", json={"sensitive": True})
    assert r.status_code == 200 and r.json()["encryption"] is None, r.text
    r = admin.request("PATCH", f"{PROPS}/passport", json={"sensitive": False})
    assert r.status_code == 200 and r.json()["sensitive"] is False, r.text


def test_member_cannot_turn_the_flag(fresh_world):
    admin = fresh_world.login("acme_admin")
    member = fresh_world.login("acme_member")
    r = admin.post(PROPS, json={"name": "nick", "labels": {"en": "Nick"}, "type": "string"})
    assert r.status_code == 201, r.text
    r = member.request("PATCH", f"{PROPS}/nick", json={"sensitive": True})
    k.assert_error(r, 403, "forbidden")


def test_other_tenant_does_not_see_the_property(fresh_world):
    admin = fresh_world.login("acme_admin")
    other = fresh_world.login("globex_admin")
    r = admin.post(PROPS, json={"name": "nick", "labels": {"en": "Nick"}, "type": "string"})
    assert r.status_code == 201, r.text
    r = other.request("PATCH", f"{PROPS}/nick", json={"sensitive": True})
    k.assert_error(r, 404, "not_found")
