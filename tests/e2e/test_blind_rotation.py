"""
Rotating the blind-index key of sensitive properties (kura keys
rotate-index) while kurad serves: new index values are written under the
new key at once, exact search finds every value before, during and after
the rotation (looking up under both keys meanwhile), housekeeping moves
the old values after the settle period and then switches, audited; the raw
index column ends up holding only values under the new key, every one of
them changed.
"""

import sqlite3
import time

import kura_e2e as k

OBJ = "/api/v1/objects/contacts"
SPAN = 65536
SETTLE_S = 300


def raw_index(w, prop):
    """{record id: stored index value} of prop, from the raw tenant database."""
    path = w.data_dir / "tenants" / "acme" / "tenant.db"
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        oid = con.execute("SELECT id FROM objects WHERE name = 'contacts'").fetchone()[0]
        pid = con.execute("SELECT id FROM properties WHERE object_id = ? AND name = ?",
                          (oid, prop)).fetchone()[0]
        return {str(rid): b for rid, b in
                con.execute(f"SELECT id, b_{pid} FROM r_{oid} WHERE b_{pid} IS NOT NULL")}
    finally:
        con.close()


def status(w):
    return w.cli.run("keys", "status", "--tenant", "acme").stdout


def eq(admin, prop, value):
    r = admin.post(f"{OBJ}/search", json={"filterGroups": [{"filters": [
        {"propertyName": prop, "operator": "EQ", "value": value}]}], "properties": [prop]})
    assert r.status_code == 200, r.text
    return sorted(x["id"] for x in r.json()["results"])


def test_blind_index_rotation_while_serving(binaries):
    tmp = k.new_tempdir("kura-e2e-bidx-")
    clock_file = tmp / "clock"
    clock_file.write_text("0\n")
    w = k.make_world(env={"KURA_HOUSEKEEPING_SECONDS": "1",
                          "KURA_TEST_CLOCK_OFFSET_FILE": str(clock_file)})
    try:
        clock = k.Clock(w.server, clock_file)
        admin = w.login("acme_admin")
        for body in ({"name": "ssn", "labels": {"en": "SSN"}, "type": "string",
                      "sensitive": True},
                     # a date: the slow (Argon2id) index
                     {"name": "dob", "labels": {"en": "Born"}, "type": "date",
                      "sensitive": True}):
            r = admin.post("/api/v1/properties/contacts", json=body)
            assert r.status_code == 201, r.text
        r = admin.post(f"{OBJ}/batch/create", json={"inputs": [
            {"properties": {"email": f"r{i}@example.com", "ssn": f"SECRET-{i % 10}",
                            "dob": f"1990-01-{i % 5 + 1:02d}"}} for i in range(40)]})
        assert r.status_code == 200, r.text
        ids = [x["record"]["id"] for x in r.json()["results"]]
        want_ssn3 = sorted(ids[i] for i in range(40) if i % 10 == 3)
        want_dob2 = sorted(ids[i] for i in range(40) if i % 5 == 1)
        assert eq(admin, "ssn", "SECRET-3") == want_ssn3
        assert eq(admin, "dob", "1990-01-02") == want_dob2
        before_ssn, before_dob = raw_index(w, "ssn"), raw_index(w, "dob")
        assert len(before_ssn) == 40 and all(0 <= b < SPAN for b in before_ssn.values())
        assert "contacts.ssn\tblind index: version 1" in status(w)

        # the index keys come from the data key; version 1 is in use, so a new one is made
        r = w.cli.run("keys", "rotate-index", "--tenant", "acme")
        assert "data key version 2 is current" in r.stdout, r.stdout
        assert "contacts.ssn\tblind index: version 1 -> 2" in r.stdout, r.stdout
        assert "contacts.dob\tblind index: version 1 -> 2" in r.stdout, r.stdout
        # a second one while this one runs is refused
        again = w.cli.run("keys", "rotate-index", "--tenant", "acme", check=False)
        assert again.returncode == 1 and "under way" in again.stderr, again.stderr
        out = status(w)
        assert "contacts.ssn\tblind index: version 1, rotating to 2: 40 values left" in out, out

        # during: writes use the new key at once, searches find old and new alike
        admin = w.login("acme_admin")
        r = admin.post(OBJ, json={"properties": {"email": "new@example.com",
                                                  "ssn": "SECRET-3", "dob": "1990-01-02"}})
        assert r.status_code == 201, r.text
        new_id = r.json()["id"]
        r = admin.request("PATCH", f"{OBJ}/{ids[0]}", json={"properties": {"ssn": "SECRET-3"}})
        assert r.status_code == 200, r.text
        during = raw_index(w, "ssn")
        assert SPAN <= during[new_id] < 2 * SPAN and SPAN <= during[ids[0]] < 2 * SPAN
        assert sum(1 for b in during.values() if b < SPAN) == 39
        assert eq(admin, "ssn", "SECRET-3") == sorted(want_ssn3 + [new_id, ids[0]])
        assert eq(admin, "dob", "1990-01-02") == sorted(want_dob2 + [new_id])
        # nothing moves before the settle period: requests that read the old
        # catalogue may still be running
        time.sleep(2.5)
        assert sum(1 for b in raw_index(w, "ssn").values() if b < SPAN) == 39

        clock.set(SETTLE_S + 5)
        admin = w.login("acme_admin")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            out = status(w)
            if "contacts.ssn\tblind index: version 2\n" in out and \
                    "contacts.dob\tblind index: version 2\n" in out:
                break
            time.sleep(0.3)
        assert "contacts.ssn\tblind index: version 2\n" in out, out
        assert "contacts.dob\tblind index: version 2\n" in out, out

        after_ssn, after_dob = raw_index(w, "ssn"), raw_index(w, "dob")
        for before, after in ((before_ssn, after_ssn), (before_dob, after_dob)):
            assert all(SPAN <= b < 2 * SPAN for b in after.values()), after
            # every old value was recomputed under the new key, none merely relabelled
            changed = [rid for rid in before if after[rid] - SPAN != before[rid]]
            assert len(changed) >= len(before) - 2, (before, after)
        assert eq(admin, "ssn", "SECRET-3") == sorted(want_ssn3 + [new_id, ids[0]])
        assert eq(admin, "dob", "1990-01-02") == sorted(want_dob2 + [new_id])
        assert eq(admin, "ssn", "SECRET-4") == sorted(ids[i] for i in range(40) if i % 10 == 4)
        assert eq(admin, "ssn", "SECRET-none") == []

        entries = admin.get("/api/v1/audit", params={"action": "property.index_rotated"}).json()
        got = {(e["target"]["id"], e["target"]["properties"], e["actor"]["type"])
               for e in entries["results"]}
        assert got == {("contacts.ssn", "data key version 2", "system"),
                       ("contacts.dob", "data key version 2", "system")}, got
        ops = admin.get("/api/v1/audit", params={"action": "keys.rotate_index"}).json()["results"]
        assert len(ops) == 1 and ops[0]["actor"]["type"] == "operator", ops
        assert ops[0]["target"]["id"] == "version 2"

        # once more: the index keys now come from version 2, the current one,
        # so the next rotation makes version 3
        r = w.cli.run("keys", "rotate-index", "--tenant", "acme")
        assert "data key version 3 is current" in r.stdout, r.stdout
    finally:
        k.destroy_world(w)
        k.remove_tempdir(tmp)


def test_rotate_index_without_sensitive_properties(fresh_world):
    r = fresh_world.cli.run("keys", "rotate-index", "--tenant", "acme")
    assert "no sensitive property" in r.stdout, r.stdout
    r = fresh_world.cli.run("keys", "rotate-index", "--tenant", "nosuch", check=False)
    assert r.returncode == 1 and "no tenant" in r.stderr, r.stderr
    r = fresh_world.cli.run("keys", "rotate-index", check=False)
    assert r.returncode == 2 and "usage" in r.stderr, r.stderr
