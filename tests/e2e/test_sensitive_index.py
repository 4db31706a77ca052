"""
The blind index of a sensitive property is what "indexed" says.

By default a sensitive property gets one (exact search through it);
"indexed": false leaves it out: the file then holds no index value of it
(nothing shows which records share a value, no Argon2id per write for a
number or a date), and EQ / IN on it are refused with 422 not_searchable,
while HAS_PROPERTY still works. Turned off, the index values are removed
at once; turned on while values exist, the PATCH answers 202 and kurad's
housekeeping computes them in the background (exact search answers 409
meanwhile, never an incomplete result).
"""

import sqlite3
import time

import pytest

import kura_e2e as k

OBJ = "/api/v1/objects/contacts"
PROPS = "/api/v1/properties/contacts"
N = 120


def eq(prop, value):
    return {"filterGroups": [{"filters": [{"propertyName": prop, "operator": "EQ",
                                           "value": value}]}], "limit": 100}


def has(prop):
    return {"filterGroups": [{"filters": [{"propertyName": prop, "operator": "HAS_PROPERTY"}]}]}


def blind_state(world, name):
    """(index values stored, whether the blind index exists) of contacts.<name>, from the file."""
    db = sqlite3.connect(f"file:{world.data_dir / 'tenants' / 'acme' / 'tenant.db'}?mode=ro",
                         uri=True)
    try:
        oid, pid = db.execute(
            "SELECT o.id, p.id FROM properties p JOIN objects o ON o.id = p.object_id "
            "WHERE o.name = 'contacts' AND p.name = ?", (name,)).fetchone()
        stored = db.execute(f"SELECT count(*) FROM r_{oid} WHERE b_{pid} IS NOT NULL").fetchone()[0]
        index = db.execute("SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = ?",
                           (f"x_{oid}_{pid}_b",)).fetchone()[0]
        return stored, index == 1
    finally:
        db.close()


def salary(i):
    return 4000000 + (i % 7) * 10000


# housekeeping only when a test asks for it (a restart with a shorter interval)
QUIET = pytest.mark.world_env({"KURA_HOUSEKEEPING_SECONDS": "3600"})


def populate(admin, indexed):
    r = admin.post(PROPS, json={"name": "salary", "labels": {"en": "Salary"}, "type": "number",
                                "sensitive": True, "indexed": indexed})
    assert r.status_code == 201, r.text
    assert r.json()["sensitive"] is True and r.json()["indexed"] is indexed, r.text
    ids = []
    for start in range(0, N, 60):
        r = admin.post(f"{OBJ}/batch/create", json={"inputs": [
            {"properties": {"email": f"s{i}@example.com", "salary": salary(i)}}
            for i in range(start, start + 60)]})
        assert r.status_code == 200, r.text
        ids += [x["record"]["id"] for x in r.json()["results"]]
    return ids


@QUIET
def test_without_a_blind_index_values_are_sealed_and_not_searchable(fresh_world):
    world = fresh_world
    admin = world.login("acme_admin")
    ids = populate(admin, False)
    assert blind_state(world, "salary") == (0, False)
    # sealed all the same: read back, no plaintext number in the row
    assert admin.get(f"{OBJ}/{ids[3]}").json()["properties"]["salary"] == salary(3)
    r = admin.request("PATCH", f"{OBJ}/{ids[3]}", json={"properties": {"salary": 9990000}})
    assert r.status_code == 200, r.text
    assert blind_state(world, "salary") == (0, False)
    r = admin.post(f"{OBJ}/search", json=eq("salary", salary(4)))
    k.assert_error(r, 422, "validation_failed")
    d = r.json()["error"]["details"][0]
    assert d["code"] == "not_searchable" and "indexed" in d["message"], r.text
    r = admin.post(f"{OBJ}/search", json={"filterGroups": [{"filters": [
        {"propertyName": "salary", "operator": "IN", "values": [salary(4)]}]}]})
    k.assert_error(r, 422, "validation_failed")
    r = admin.post(f"{OBJ}/search", json=has("salary"))
    assert r.status_code == 200 and r.json()["total"] == N, r.text
    # the key tools say so, and a blind-index rotation leaves it alone
    out = world.cli.run("keys", "status", "--tenant", "acme").stdout
    assert 'contacts.salary\tblind index: none ("indexed": false)' in out, out


@QUIET
def test_turning_the_blind_index_off_then_on(fresh_world):
    world = fresh_world
    admin = world.login("acme_admin")
    ids = populate(admin, True)
    assert blind_state(world, "salary") == (N, True)
    r = admin.post(f"{OBJ}/search", json=eq("salary", salary(5)))
    want = {i for n, i in enumerate(ids) if salary(n) == salary(5)}
    assert r.status_code == 200 and {x["id"] for x in r.json()["results"]} == want, r.text

    # off: at once, every index value gone from the file
    r = admin.request("PATCH", f"{PROPS}/salary", json={"indexed": False})
    assert r.status_code == 200 and r.json()["indexed"] is False, r.text
    assert r.json()["encryption"] is None
    assert blind_state(world, "salary") == (0, False)
    k.assert_error(admin.post(f"{OBJ}/search", json=eq("salary", salary(5))), 422,
                   "validation_failed")
    assert admin.get(f"{OBJ}/{ids[5]}").json()["properties"]["salary"] == salary(5)
    # a write meanwhile stores no index value either
    r = admin.request("PATCH", f"{OBJ}/{ids[0]}", json={"properties": {"salary": salary(5)}})
    assert r.status_code == 200, r.text
    want |= {ids[0]}

    # on again: accepted, the values already sealed get their index in the background
    r = admin.request("PATCH", f"{PROPS}/salary", json={"indexed": True})
    assert r.status_code == 202, r.text
    assert r.json()["indexed"] is True
    assert r.json()["encryption"] == {"state": "pending", "done": 0, "total": N}, r.text
    assert blind_state(world, "salary") == (0, True)
    # refused, never incomplete, until the job is done; a new value is indexed at once
    r = admin.post(f"{OBJ}/search", json=eq("salary", salary(5)))
    k.assert_error(r, 409, "conflict")
    assert "indexed" in r.json()["error"]["message"], r.text
    r = admin.post(OBJ, json={"properties": {"email": "late@example.com", "salary": salary(5)}})
    assert r.status_code == 201, r.text
    want |= {r.json()["id"]}
    assert blind_state(world, "salary") == (1, True)

    world.server.stop()
    world.server.env["KURA_HOUSEKEEPING_SECONDS"] = "1"
    world.server.start()
    admin = world.login("acme_admin")
    deadline = time.monotonic() + 60
    while admin.get(f"{PROPS}/salary").json()["encryption"] is not None:
        assert time.monotonic() < deadline, admin.get(f"{PROPS}/salary").text
        time.sleep(0.2)
    assert blind_state(world, "salary") == (N + 1, True)
    r = admin.post(f"{OBJ}/search", json=eq("salary", salary(5)))
    assert r.status_code == 200 and {x["id"] for x in r.json()["results"]} == want, r.text
    r = admin.post(f"{OBJ}/search", json=eq("salary", 9999999))
    assert r.status_code == 200 and r.json()["total"] == 0, r.text


def test_creating_without_a_say_gives_a_blind_index(fresh_world):
    admin = fresh_world.login("acme_admin")
    r = admin.post(PROPS, json={"name": "passport", "labels": {"en": "Passport"},
                                "type": "string", "sensitive": True})
    assert r.status_code == 201 and r.json()["indexed"] is True, r.text
    # a plain property turned sensitive without a say gets one too
    r = admin.post(PROPS, json={"name": "memo", "labels": {"en": "Memo"}, "type": "text"})
    assert r.status_code == 201 and r.json()["indexed"] is False, r.text
    r = admin.request("PATCH", f"{PROPS}/memo", json={"sensitive": True})
    assert r.status_code == 200 and r.json()["indexed"] is True, r.text
    # and one turned sensitive with "indexed": false does not
    r = admin.post(PROPS, json={"name": "code", "labels": {"en": "Code"}, "type": "string"})
    assert r.status_code == 201, r.text
    r = admin.request("PATCH", f"{PROPS}/code", json={"sensitive": True, "indexed": False})
    assert r.status_code == 200 and r.json()["indexed"] is False, r.text
    r = admin.post(OBJ, json={"properties": {"email": "c@example.com", "code": "C-1"}})
    assert r.status_code == 201, r.text
    k.assert_error(admin.post(f"{OBJ}/search", json=eq("code", "C-1")), 422,
                   "validation_failed")


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_indexed_must_be_a_boolean(fresh_world, value):
    admin = fresh_world.login("acme_admin")
    r = admin.post(PROPS, json={"name": "ssn", "labels": {"en": "SSN"}, "type": "string",
                                "sensitive": True})
    assert r.status_code == 201, r.text
    r = admin.request("PATCH", f"{PROPS}/ssn", json={"indexed": value})
    k.assert_error(r, 422, "validation_failed")
    assert admin.get(f"{PROPS}/ssn").json()["indexed"] is True


@pytest.mark.parametrize("who, status, code", [("acme_member", 403, "forbidden"),
                                              ("globex_admin", 404, "not_found")])
def test_only_an_admin_of_the_tenant_turns_the_index(fresh_world, who, status, code):
    admin = fresh_world.login("acme_admin")
    r = admin.post(PROPS, json={"name": "ssn", "labels": {"en": "SSN"}, "type": "string",
                                "sensitive": True})
    assert r.status_code == 201, r.text
    r = fresh_world.login(who).request("PATCH", f"{PROPS}/ssn", json={"indexed": False})
    k.assert_error(r, status, code)
    assert admin.get(f"{PROPS}/ssn").json()["indexed"] is True


@QUIET
def test_a_tenant_from_before_keeps_its_blind_indexes(fresh_world):
    world = fresh_world
    """Tenant migration 15: every sensitive property had a blind index and
    stored "indexed" as false; after it they say true and keep searching."""
    admin = world.login("acme_admin")
    ids = populate(admin, True)
    world.server.stop()
    path = world.data_dir / "tenants" / "acme" / "tenant.db"
    db = sqlite3.connect(str(path))
    try:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 17
        db.execute("UPDATE properties SET indexed = 0 WHERE sensitive = 1")
        # back to version 14: undo migrations 16 and 17 too (they run again after 15)
        db.execute("DROP TABLE object_indexes")
        db.execute("DROP INDEX audit_log_target")
        db.execute("CREATE INDEX audit_log_target ON audit_log (target_type, target_id)")
        db.execute("PRAGMA user_version = 14")
        db.commit()
    finally:
        db.close()
    world.server.start()
    admin = world.login("acme_admin")
    assert admin.get(f"{PROPS}/salary").json()["indexed"] is True
    assert blind_state(world, "salary") == (N, True)
    r = admin.post(f"{OBJ}/search", json=eq("salary", salary(2)))
    want = {i for n, i in enumerate(ids) if salary(n) == salary(2)}
    assert r.status_code == 200 and {x["id"] for x in r.json()["results"]} == want, r.text
