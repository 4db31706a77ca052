"""
Sensitive properties, end to end: values are stored only as ciphertext
(the raw database files, WAL included, never hold them), bound to their
record and property (a ciphertext moved to another record, or changed by
one byte, gives an error, never a value), found by exact EQ/IN search
through the blind index (and only exactly), kept out of full text and
range search, kept encrypted in the history and in stored Idempotency-Key
replies, and every read of one is audited (who, which record, which
properties, never the value).
"""

import glob
import hashlib
import sqlite3
import time
from contextlib import closing
from concurrent.futures import ThreadPoolExecutor

import pytest

import kura_e2e as k

OBJ = "/api/v1/objects/contacts"
SECRETS = ["SECRET-111-22-3333", "SECRET-444-55-6666", "ＳＥＣＲＥＴ-全角-７７７"]


@pytest.fixture
def tenant(fresh_world):
    admin = fresh_world.login("acme_admin")
    for body in ({"name": "ssn", "labels": {"en": "SSN"}, "type": "string", "sensitive": True,
                  "classification": "secret"},
                 {"name": "birthday", "labels": {"en": "Birthday"}, "type": "date",
                  "sensitive": True},
                 {"name": "salary", "labels": {"en": "Salary"}, "type": "number",
                  "sensitive": True}):
        r = admin.post("/api/v1/properties/contacts", json=body)
        assert r.status_code == 201, r.text
        # "indexed" of a sensitive property is its blind index: on unless refused
        assert r.json()["sensitive"] is True and r.json()["indexed"] is True
    ids = []
    for i, s in enumerate(SECRETS):
        r = admin.post(OBJ, json={"properties": {"email": f"p{i}@example.com", "ssn": s,
                                                  "birthday": f"198{i}-0{i + 1}-1{i}",
                                                  "salary": 5000000 + i}})
        assert r.status_code == 201, r.text
        assert r.json()["properties"]["ssn"] == s
        ids.append(r.json()["id"])
    return fresh_world, admin, ids


def tenant_files(world):
    return sorted(glob.glob(str(world.data_dir / "tenants" / "acme" / "*")))


def raw_bytes(world) -> bytes:
    return b"".join(open(f, "rb").read() for f in tenant_files(world))


def test_values_read_back_and_reads_are_audited(tenant):
    world, admin, ids = tenant
    r = admin.get(f"{OBJ}/{ids[0]}")
    assert r.status_code == 200, r.text
    p = r.json()["properties"]
    assert p["ssn"] == SECRETS[0] and p["birthday"] == "1980-01-10" and p["salary"] == 5000000
    entries = admin.get("/api/v1/audit", params={"action": "record.read_sensitive"}).json()["results"]
    mine = [e for e in entries if e["target"]["id"] == ids[0]]
    assert mine, entries
    assert set(mine[0]["target"]["properties"].split(",")) == {"ssn", "birthday", "salary"}
    assert "SECRET" not in str(entries)
    # asking only for a plain property is not a sensitive read
    before = len(entries)
    r = admin.get(f"{OBJ}/{ids[1]}", params={"properties": "email"})
    assert r.status_code == 200 and "ssn" not in r.json()["properties"]
    after = admin.get("/api/v1/audit", params={"action": "record.read_sensitive"}).json()["results"]
    assert len(after) == before


def read_entries(admin):
    r = admin.get("/api/v1/audit", params={"action": "record.read_sensitive"})
    assert r.status_code == 200, r.text
    return r.json()["results"]


def test_a_search_is_one_read_entry(tenant):
    world, admin, ids = tenant
    before = read_entries(admin)
    r = admin.post(f"{OBJ}/search", json={
        "filterGroups": [{"filters": [{"propertyName": "ssn", "operator": "HAS_PROPERTY"}]}],
        "properties": ["email", "ssn", "salary"]})
    assert r.status_code == 200, r.text
    assert len(r.json()["results"]) == 3
    after = read_entries(admin)
    assert len(after) == len(before) + 1
    new = after[0]
    assert new["target"]["id"] == "3 records"
    names, _, listed = new["target"]["properties"].partition("; ids ")
    assert set(names.split(",")) == {"ssn", "salary"}
    assert sorted(listed.split(","), key=int) == sorted(ids, key=int)
    assert "SECRET" not in str(after)


def count_reads(admin):
    r = admin.get("/api/v1/audit", params={"action": "record.read_sensitive", "limit": 100})
    assert r.status_code == 200, r.text
    assert "paging" not in r.json()
    return len(r.json()["results"])


@pytest.mark.world_env({"KURA_AUDIT_SPOOL_MAX_BYTES": "4096"})
def test_no_value_leaves_when_its_read_entry_fails(tenant):
    """A read whose entry the tenant's audit spool cannot take (full: another
    process holds the tenant's write lock, so nothing is moved out of it)
    answers 503 and shows no value; a read that shows no sensitive value
    needs no entry and still works. Once the lock is free, the spool is
    moved and reads of values work again; every 200 has its entry."""
    world, admin, ids = tenant
    before = count_reads(admin)
    db = sqlite3.connect(str(world.data_dir / "tenants" / "acme" / "tenant.db"), timeout=10,
                         isolation_level=None)
    db.execute("BEGIN IMMEDIATE")
    answered = 0
    try:
        for i in range(200):
            r = admin.get(f"{OBJ}/{ids[i % 3]}")
            if r.status_code != 200:
                break
            answered += 1
        k.assert_error(r, 503, "service_unavailable")
        assert "SECRET" not in r.text and "全角" not in r.text
        # the limit is bytes (4096), some entries of some 200 bytes fit
        assert 5 < answered < 100
        r = admin.post(f"{OBJ}/search", json={
            "filterGroups": [{"filters": [{"propertyName": "ssn", "operator": "EQ",
                                           "value": SECRETS[1]}]}]})
        k.assert_error(r, 503, "service_unavailable")
        assert "SECRET" not in r.text
        r = admin.get(f"{OBJ}/{ids[0]}", params={"properties": "email"})
        assert r.status_code == 200, r.text
    finally:
        db.execute("ROLLBACK")
        db.close()
    # the mover empties the spool within a second or so
    deadline = time.monotonic() + 20
    while True:
        r = admin.get(f"{OBJ}/{ids[0]}")
        if r.status_code == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert r.status_code == 200 and r.json()["properties"]["ssn"] == SECRETS[0]
    answered += 1
    assert count_reads(admin) == before + answered


def test_reads_are_answered_while_the_write_lock_is_held(tenant):
    """A read entry is appended to the tenant's audit spool, not committed to
    its database: while another process holds a tenant's write lock (a long
    import, say), that tenant's reads of sensitive values are answered, and
    so are another tenant's. The entries reach each tenant's chain once the
    lock is free, in the order of the reads."""
    world, admin, ids = tenant
    g = world.login("globex_admin")
    r = g.post("/api/v1/properties/contacts", json={"name": "ssn", "labels": {"en": "SSN"},
                                                     "type": "string", "sensitive": True})
    assert r.status_code == 201, r.text
    r = g.post(OBJ, json={"properties": {"ssn": "GLOBEX-SECRET-1"}})
    assert r.status_code == 201, r.text
    gid = r.json()["id"]
    db = sqlite3.connect(str(world.data_dir / "tenants" / "acme" / "tenant.db"), timeout=10,
                         isolation_level=None)
    db.execute("BEGIN IMMEDIATE")
    try:
        first = admin.get(f"{OBJ}/{ids[0]}", timeout=10)
        second = admin.get(f"{OBJ}/{ids[1]}", timeout=10)
        other = g.get(f"{OBJ}/{gid}", timeout=10)
        # nothing could reach acme's chain meanwhile
        in_db = db.execute("SELECT count(*) FROM audit_log WHERE action = "
                           "'record.read_sensitive'").fetchone()[0]
    finally:
        db.execute("ROLLBACK")
        db.close()
    assert first.status_code == 200 and first.json()["properties"]["ssn"] == SECRETS[0]
    assert second.status_code == 200 and second.json()["properties"]["ssn"] == SECRETS[1]
    assert other.status_code == 200, other.text
    assert other.json()["properties"]["ssn"] == "GLOBEX-SECRET-1"
    # every read is on record, each in its own tenant's log, acme's in the order of the reads
    entries = read_entries(admin)
    assert len(entries) == in_db + 2
    assert [e["target"]["id"] for e in entries[:2]] == [str(ids[1]), str(ids[0])]
    assert entries[0]["seq"] > entries[1]["seq"]
    assert any(e["target"]["id"] == str(gid) for e in read_entries(g))


SPOOL_FIELDS = ("actor_email", "actor_role", "ip", "user_agent", "request_id", "action",
                "target_type", "target_id", "target_props", "error_code")


def spool_entries(path):
    """The entries of a tenant's audit spool log (docs/internals/audit.md):
    a header (magic, epoch), then frames u32le n | entry | BLAKE2b-128 sum.
    Returns (epoch, entries, offset past the last whole frame)."""
    data = open(path, "rb").read()
    assert data[:8] == b"KURASPL1"
    epoch, at, out = data[8:24], 24, []
    while at + 4 <= len(data):
        n = int.from_bytes(data[at:at + 4], "little")
        if at + 4 + n + 16 > len(data):
            break
        body = data[at + 4:at + 4 + n]
        assert hashlib.blake2b(data[at:at + 4 + n], digest_size=16).digest() == \
            data[at + 4 + n:at + 4 + n + 16]
        e = {"ts_us": int.from_bytes(body[0:8], "little", signed=True),
             "actor_type": body[8], "actor_id": int.from_bytes(body[9:17], "little"),
             "outcome": body[17]}
        p = 18
        for name in SPOOL_FIELDS:
            m = int.from_bytes(body[p:p + 2], "little")
            e[name] = body[p + 2:p + 2 + m].decode("utf-8")
            p += 2 + m
        assert p == n
        out.append(e)
        at += 4 + n + 16
    return epoch, out, at


def test_a_read_entry_outlives_a_crash(tenant):
    """kurad killed right after answering a read of sensitive values: the
    read's entry was written (to the audit spool) before the reply left,
    and the next kurad moves it into the chain, once."""
    world, admin, ids = tenant
    spool = world.data_dir / "tenants" / "acme" / "audit-spool.log"
    tdb = world.data_dir / "tenants" / "acme" / "tenant.db"
    target = str(ids[2])
    # the write lock held elsewhere keeps the entry from being moved before the crash
    db = sqlite3.connect(str(tdb), timeout=10, isolation_level=None)
    db.execute("BEGIN IMMEDIATE")
    try:
        r = admin.get(f"{OBJ}/{ids[2]}")
        assert r.status_code == 200 and r.json()["properties"]["ssn"] == SECRETS[2]
        world.server.kill()
    finally:
        db.execute("ROLLBACK")
        db.close()
    _, entries, _ = spool_entries(spool)
    mine = [e for e in entries if e["action"] == "record.read_sensitive"
            and e["target_id"] == target]
    assert len(mine) == 1
    assert mine[0]["request_id"] == r.headers["X-Request-Id"]
    assert set(mine[0]["target_props"].split(",")) == {"ssn", "birthday", "salary"}
    assert SECRETS[2].encode() not in spool.read_bytes()
    q = "SELECT count(*) FROM audit_log WHERE action = 'record.read_sensitive' AND target_id = ?"
    with closing(sqlite3.connect(str(tdb))) as t:
        assert t.execute(q, (target,)).fetchone()[0] == 0
    world.server.start()
    admin = world.login("acme_admin")
    assert [e["target"]["id"] for e in read_entries(admin)].count(target) == 1
    world.server.stop()
    with closing(sqlite3.connect(str(tdb))) as t:
        assert t.execute(q, (target,)).fetchone()[0] == 1
        epoch, moved = t.execute("SELECT epoch, last_id FROM audit_spool_mark").fetchone()
    # what the log still holds (this kurad appended nothing to it), the mark covers
    if spool.exists():
        assert spool_entries(spool)[0] == epoch
        assert spool_entries(spool)[2] == moved == spool.stat().st_size
    r = world.cli.run("audit", "verify", "--tenant", "acme")
    assert r.returncode == 0, r.stdout + r.stderr


def test_no_plaintext_in_the_raw_files(tenant):
    world, admin, ids = tenant
    # an update, a batch create and a replayed create also go through the store
    r = admin.request("PATCH", f"{OBJ}/{ids[0]}", json={"properties": {"ssn": "SECRET-UPDATED-0"}})
    assert r.status_code == 200, r.text
    r = admin.post(f"{OBJ}/batch/create", json={"inputs": [
        {"properties": {"email": "batch@example.com", "ssn": "SECRET-BATCH-9"}}]})
    assert r.status_code == 200, r.text
    for _ in range(2):
        r = admin.post(OBJ, headers={"Idempotency-Key": "raw-scan"},
                       json={"properties": {"email": "idem@example.com", "ssn": "SECRET-IDEM-1"}})
        assert r.status_code == 201, r.text
    world.server.stop()
    data = raw_bytes(world)
    assert data, "no tenant files found"
    for needle in SECRETS + ["SECRET-UPDATED-0", "SECRET-BATCH-9", "SECRET-IDEM-1", "1980-01-10",
                             "111-22-3333", "全角"]:
        assert needle.encode() not in data, f"{needle!r} is in a raw tenant file"
    # the plain properties are there: the scan looks at the right files
    assert b"p0@example.com" in data


def test_a_moved_or_changed_ciphertext_is_an_error(tenant):
    world, admin, ids = tenant
    world.server.stop()
    db = sqlite3.connect(str(world.data_dir / "tenants" / "acme" / "tenant.db"))
    col = db.execute("SELECT id FROM properties WHERE name = 'ssn'").fetchone()[0]
    rows = dict(db.execute(f"SELECT id, p_{col} FROM r_1 WHERE id IN (?, ?)",
                           (int(ids[0]), int(ids[1]))).fetchall())
    a, b = rows[int(ids[0])], rows[int(ids[1])]
    assert isinstance(a, bytes) and len(a) > 33
    # record 1 gets record 0's ciphertext; record 2's gets one byte flipped
    db.execute(f"UPDATE r_1 SET p_{col} = ? WHERE id = ?", (a, int(ids[1])))
    c = db.execute(f"SELECT p_{col} FROM r_1 WHERE id = ?", (int(ids[2]),)).fetchone()[0]
    flipped = bytearray(c)
    flipped[-20] ^= 0x01
    db.execute(f"UPDATE r_1 SET p_{col} = ? WHERE id = ?", (bytes(flipped), int(ids[2])))
    db.commit()
    db.close()
    world.server.start()
    admin = world.login("acme_admin")
    for rid in (ids[1], ids[2]):
        r = admin.get(f"{OBJ}/{rid}")
        k.assert_error(r, 500, "internal_error")
        assert "SECRET" not in r.text
    # the untouched record still reads
    assert admin.get(f"{OBJ}/{ids[0]}").json()["properties"]["ssn"] == SECRETS[0]
    assert b != a


def test_records_numbered_by_another_writer_meanwhile(tenant):
    """A batch is numbered and sealed before its transaction (ciphertexts
    are bound to the record's id). Ids another process took meanwhile are
    found in the transaction: the batch is numbered and sealed again past
    them, its values read back and its audit range names its records."""
    world, admin, ids = tenant
    top = max(int(i) for i in ids)
    path = str(world.data_dir / "tenants" / "acme" / "tenant.db")

    def take(*rid):
        db = sqlite3.connect(path, timeout=30)
        try:
            for i in rid:
                db.execute("INSERT INTO r_1 (id, created_at, updated_at) VALUES (?, 0, 0)", (i,))
            db.commit()
        finally:
            db.close()

    take(top + 1, top + 2)
    r = admin.post(f"{OBJ}/batch/create", json={"inputs": [
        {"properties": {"email": f"w{i}@example.com", "ssn": f"WRITER-{i}"}} for i in range(3)]})
    assert r.status_code == 200, r.text
    got = [int(x["record"]["id"]) for x in r.json()["results"]]
    # consecutive, past the taken ones (the first reservation's ids stay unused)
    assert got[0] > top + 2 and got == [got[0], got[0] + 1, got[0] + 2], got
    for i, rid in enumerate(got):
        assert admin.get(f"{OBJ}/{rid}").json()["properties"]["ssn"] == f"WRITER-{i}"
    entry = k.audit_entries(admin, action="record.batch_create")[0]
    assert entry["target"]["id"] == f"{got[0]}-{got[2]}", entry
    # a single create inside its transaction goes past one taken meanwhile
    take(got[2] + 1)
    r = admin.post(OBJ, json={"properties": {"email": "w9@example.com", "ssn": "WRITER-9"}})
    assert r.status_code == 201 and r.json()["id"] == str(got[2] + 2), r.text
    assert admin.get(f"{OBJ}/{got[2] + 2}").json()["properties"]["ssn"] == "WRITER-9"


def test_exact_search_through_the_blind_index(tenant):
    world, admin, ids = tenant

    def search(filters, **extra):
        return admin.post(f"{OBJ}/search", json={"filterGroups": [{"filters": filters}], **extra})

    r = search([{"propertyName": "ssn", "operator": "EQ", "value": SECRETS[1]}])
    assert r.status_code == 200, r.text
    assert [x["id"] for x in r.json()["results"]] == [ids[1]] and r.json()["total"] == 1
    # exact: another spelling of the value is another value
    r = search([{"propertyName": "ssn", "operator": "EQ", "value": SECRETS[1].lower()}])
    assert r.json()["total"] == 0
    r = search([{"propertyName": "ssn", "operator": "IN", "values": [SECRETS[0], SECRETS[2], "x"]}])
    assert sorted(x["id"] for x in r.json()["results"]) == sorted([ids[0], ids[2]])
    r = search([{"propertyName": "birthday", "operator": "EQ", "value": "1981-02-11"},
                {"propertyName": "email", "operator": "EQ", "value": "p1@example.com"}])
    assert [x["id"] for x in r.json()["results"]] == [ids[1]]
    r = search([{"propertyName": "salary", "operator": "EQ", "value": 5000002}])
    assert [x["id"] for x in r.json()["results"]] == [ids[2]]
    r = search([{"propertyName": "ssn", "operator": "HAS_PROPERTY"}])
    assert r.json()["total"] == 3
    # paging over exact matches: one per page, no repeats
    seen, after = [], None
    while True:
        body = {"filterGroups": [{"filters": [{"propertyName": "ssn", "operator": "IN",
                                               "values": SECRETS}]}], "limit": 1}
        if after:
            body["after"] = after
        r = admin.post(f"{OBJ}/search", json=body)
        assert r.status_code == 200, r.text
        seen += [x["id"] for x in r.json()["results"]]
        after = r.json().get("paging", {}).get("next", {}).get("after")
        if not after:
            break
    assert seen == sorted(ids, key=int)


@pytest.mark.parametrize("filters,extra", [
    ([{"propertyName": "ssn", "operator": "GT", "value": "A"}], {}),
    ([{"propertyName": "ssn", "operator": "STARTS_WITH", "value": "SECRET"}], {}),
    ([{"propertyName": "salary", "operator": "BETWEEN", "value": 1, "highValue": 9}], {}),
    ([{"propertyName": "ssn", "operator": "EQ", "value": "x"}],
     {"sorts": [{"propertyName": "email"}]}),
    ([{"propertyName": "email", "operator": "HAS_PROPERTY"}],
     {"sorts": [{"propertyName": "ssn"}]}),
])
def test_range_prefix_and_sorts_are_refused(tenant, filters, extra):
    _, admin, _ = tenant
    r = admin.post(f"{OBJ}/search", json={"filterGroups": [{"filters": filters}], **extra})
    k.assert_error(r, 422, "validation_failed")


def test_sensitive_values_stay_out_of_full_text(tenant):
    _, admin, _ = tenant
    r = admin.post(f"{OBJ}/search", json={"query": "SECRET"})
    assert r.status_code == 200 and r.json()["total"] == 0
    r = admin.post(f"{OBJ}/search", json={"query": "p1"})
    assert r.json()["total"] == 1


def test_history_shows_values_to_readers_and_stores_ciphertext(tenant):
    world, admin, ids = tenant
    r = admin.request("PATCH", f"{OBJ}/{ids[0]}", json={"properties": {"ssn": "SECRET-NEW"}})
    assert r.status_code == 200, r.text
    h = admin.get(f"{OBJ}/{ids[0]}/history", params={"property": "ssn"}).json()["results"]
    assert [(x["oldValue"], x["newValue"]) for x in h] == [(SECRETS[0], "SECRET-NEW"),
                                                           (None, SECRETS[0])]
    world.server.stop()
    db = sqlite3.connect(str(world.data_dir / "tenants" / "acme" / "tenant.db"))
    stored = " ".join(row[0] for row in db.execute("SELECT changes FROM record_history"))
    db.close()
    assert "SECRET" not in stored and "$enc" in stored


def test_flag_changes_and_unique_are_refused(tenant):
    _, admin, _ = tenant
    r = admin.request("PATCH", "/api/v1/properties/contacts/ssn", json={"sensitive": False})
    k.assert_error(r, 409, "conflict")
    r = admin.request("PATCH", "/api/v1/properties/contacts/ssn", json={"type": "text"})
    k.assert_error(r, 422, "validation_failed")
    r = admin.post("/api/v1/properties/contacts", json={
        "name": "taxid", "labels": {"en": "Tax id"}, "type": "string", "sensitive": True,
        "unique": True})
    k.assert_error(r, 422, "validation_failed")
    # an empty property may be made sensitive, and back
    r = admin.post("/api/v1/properties/contacts", json={
        "name": "passport", "labels": {"en": "Passport"}, "type": "string"})
    assert r.status_code == 201, r.text
    for flag in (True, False):
        r = admin.request("PATCH", "/api/v1/properties/contacts/passport", json={"sensitive": flag})
        assert r.status_code == 200 and r.json()["sensitive"] is flag, r.text


def test_other_tenant_cannot_see_them(tenant):
    world, _, ids = tenant
    other = world.login("globex_admin")
    r = other.get(f"{OBJ}/{ids[0]}")
    k.assert_error(r, 404, "not_found")
    r = other.post(f"{OBJ}/search", json={"filterGroups": [{"filters": [
        {"propertyName": "email", "operator": "EQ", "value": "p0@example.com"}]}]})
    assert r.status_code == 200 and r.json()["total"] == 0


def test_field_permissions_on_every_path(tenant):
    """ssn: only admins (and super admins) see it, only super admins change
    it. A member never sees it -- not in reads, batch reads, search results,
    lists or history -- cannot filter or sort on it, and cannot write it
    through create, update or batch; the member's other writes go through."""
    world, boss, ids = tenant
    r = boss.request("PATCH", "/api/v1/properties/contacts/ssn",
                     json={"permissions": {"view": ["admin"], "edit": []}})
    assert r.status_code == 200, r.text
    assert r.json()["permissions"] == {"view": ["admin"], "edit": []}
    member = world.login("acme_member")
    admin = k.active_user(world, "acme", "admin", prefix="perm-admin")
    admin = world.server.login(admin.tenant, admin.email, admin.password)

    got = member.get(f"{OBJ}/{ids[0]}")
    assert got.status_code == 200 and "ssn" not in got.json()["properties"], got.text
    assert got.json()["properties"]["birthday"] == "1980-01-10"
    assert "ssn" not in member.get(f"{OBJ}/{ids[0]}", params={"properties": "ssn,email"}).json()[
        "properties"]
    r = member.post(f"{OBJ}/batch/read", json={"ids": ids})
    assert all("ssn" not in x["record"]["properties"] for x in r.json()["results"]), r.text
    r = member.post(f"{OBJ}/search", json={"query": "p0"})
    assert r.status_code == 200 and "ssn" not in r.json()["results"][0]["properties"]
    h = member.get(f"{OBJ}/{ids[0]}/history").json()["results"]
    assert h and all(x["property"] != "ssn" for x in h)
    # filtering and sorting on it would reveal it
    r = member.post(f"{OBJ}/search", json={"filterGroups": [{"filters": [
        {"propertyName": "ssn", "operator": "EQ", "value": SECRETS[0]}]}]})
    k.assert_error(r, 403, "forbidden")
    r = member.post(f"{OBJ}/search", json={"filterGroups": [{"filters": [
        {"propertyName": "ssn", "operator": "HAS_PROPERTY"}]}]})
    k.assert_error(r, 403, "forbidden")
    # writes, on every path
    r = member.post(OBJ, json={"properties": {"email": "m@example.com", "ssn": "SECRET-M"}})
    err = k.assert_error(r, 403, "forbidden")
    assert {(d["field"], d["code"]) for d in err["details"]} == {("ssn", "forbidden")}
    r = member.request("PATCH", f"{OBJ}/{ids[0]}", json={"properties": {"ssn": "SECRET-M"}})
    k.assert_error(r, 403, "forbidden")
    r = member.post(f"{OBJ}/batch/create", json={"inputs": [
        {"properties": {"email": "ok@example.com"}},
        {"properties": {"email": "no@example.com", "ssn": "SECRET-M"}}]})
    assert r.status_code == 207, r.text
    assert [x["status"] for x in r.json()["results"]] == [201, 403]
    r = member.post(f"{OBJ}/batch/update", json={"inputs": [
        {"id": ids[1], "properties": {"ssn": "SECRET-M"}}]})
    assert [x["status"] for x in r.json()["results"]] == [403]
    assert member.request("PATCH", f"{OBJ}/{ids[0]}",
                          json={"properties": {"city": "Osaka"}}).status_code == 200
    # an admin sees it but may not change it; the super admin may
    assert admin.get(f"{OBJ}/{ids[0]}").json()["properties"]["ssn"] == SECRETS[0]
    k.assert_error(admin.request("PATCH", f"{OBJ}/{ids[0]}",
                                 json={"properties": {"ssn": "SECRET-A"}}), 403, "forbidden")
    r = boss.request("PATCH", f"{OBJ}/{ids[0]}", json={"properties": {"ssn": "SECRET-B"}})
    assert r.status_code == 200 and r.json()["properties"]["ssn"] == "SECRET-B"
    # refused writes are audited
    denied = boss.get("/api/v1/audit", params={"action": "access.denied"}).json()["results"]
    assert any(e["errorCode"] == "forbidden" for e in denied)


@pytest.mark.parametrize("perms", [{"view": ["owner"]}, {"see": ["admin"]}, {"view": "admin"}])
def test_bad_permissions_are_refused(tenant, perms):
    _, boss, _ = tenant
    r = boss.request("PATCH", "/api/v1/properties/contacts/ssn", json={"permissions": perms})
    k.assert_error(r, 422, "validation_failed")


def test_permissions_need_a_sensitive_property(tenant):
    _, boss, _ = tenant
    r = boss.request("PATCH", "/api/v1/properties/contacts/city",
                     json={"permissions": {"view": ["admin"]}})
    k.assert_error(r, 422, "validation_failed")


def key_status(world, tenant="acme"):
    out = world.cli.run("keys", "status", "--tenant", tenant).stdout
    stale = int(out.strip().splitlines()[-1].rsplit(":", 1)[1])
    return out, stale


def test_key_rotation_reencrypts_while_serving(binaries):
    w = k.make_world(env={"KURA_HOUSEKEEPING_SECONDS": "1"})
    try:
        admin = w.login("acme_admin")
        r = admin.post("/api/v1/properties/contacts", json={
            "name": "ssn", "labels": {"en": "SSN"}, "type": "string", "sensitive": True})
        assert r.status_code == 201, r.text
        # a date: its blind index is the slow one, kept as it is by the re-encryption
        r = admin.post("/api/v1/properties/contacts", json={
            "name": "dob", "labels": {"en": "Born"}, "type": "date", "sensitive": True})
        assert r.status_code == 201, r.text
        made = {}
        r = admin.post(f"{OBJ}/batch/create", json={"inputs": [
            {"properties": {"email": f"r{i}@example.com", "ssn": f"SECRET-R-{i}",
                            "dob": f"1990-01-{i % 28 + 1:02d}"}}
            for i in range(60)]})
        assert r.status_code == 200, r.text
        for x in r.json()["results"]:
            made[x["record"]["id"]] = x["record"]["properties"]["ssn"]
        out, stale = key_status(w)
        assert "current data key version 1" in out and stale == 0, out
        r = w.cli.run("keys", "rotate", "--tenant", "acme")
        assert "version 2 is current" in r.stdout, r.stdout
        # writes keep going during the re-encryption, and new ones use version 2
        for i in range(20):
            r = admin.post(OBJ, json={"properties": {"email": f"n{i}@example.com",
                                                      "ssn": f"SECRET-N-{i}"}})
            assert r.status_code == 201, r.text
            made[r.json()["id"]] = f"SECRET-N-{i}"
            rid = next(iter(made))
            assert admin.get(f"{OBJ}/{rid}").status_code == 200
        deadline = time.monotonic() + 30
        while True:
            out, stale = key_status(w)
            if stale == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        assert stale == 0, out
        assert "contacts.ssn\tversion 2 (current)\t80" in out, out
        assert "contacts.dob\tversion 2 (current)\t60" in out, out
        # the history's sealed values too: 60 creations with ssn and dob, 20 with ssn
        assert "history\tversion 2 (current)\t140" in out, out
        assert "history\tversion 1" not in out, out
        rid = next(iter(made))
        h = admin.get(f"{OBJ}/{rid}/history", params={"property": "ssn"}).json()["results"]
        assert h and h[-1]["newValue"] == made[rid], h
        # every value reads back as written, and exact search still finds them
        for rid, val in made.items():
            got = admin.get(f"{OBJ}/{rid}")
            assert got.status_code == 200 and got.json()["properties"]["ssn"] == val, got.text
        r = admin.post(f"{OBJ}/search", json={"filterGroups": [{"filters": [
            {"propertyName": "ssn", "operator": "EQ", "value": "SECRET-R-7"}]}]})
        assert r.json()["total"] == 1
        r = admin.post(f"{OBJ}/search", json={"filterGroups": [{"filters": [
            {"propertyName": "dob", "operator": "EQ", "value": "1990-01-08"}]}],
            "properties": ["dob"]})
        got = r.json()
        assert got["total"] == 2 and {x["properties"]["dob"] for x in got["results"]} == \
            {"1990-01-08"}, got
        entries = admin.get("/api/v1/audit", params={"action": "keys.rotate"}).json()["results"]
        assert entries and entries[0]["target"]["id"] == "2"
    finally:
        k.destroy_world(w)


def test_tenant_deletion_shreds_its_keys(binaries):
    """A tenant deleted with kura tenant delete: its data keys go first, then
    its files, then the master key is replaced. A copy of its database and
    of the keystore taken before the deletion, started again with the
    current master key, can no longer decrypt anything; the other tenant
    still reads its data."""
    import shutil
    w = k.make_world()
    backup = k.new_tempdir("kura-e2e-backup-")
    restored = None
    try:
        ids = {}
        for key, tenant in (("acme_admin", "acme"), ("globex_admin", "globex")):
            c = w.login(key)
            r = c.post("/api/v1/properties/contacts", json={
                "name": "ssn", "labels": {"en": "SSN"}, "type": "string", "sensitive": True})
            assert r.status_code == 201, r.text
            r = c.post(OBJ, json={"properties": {"email": f"x@{tenant}.example",
                                                  "ssn": f"SECRET-{tenant}"}})
            assert r.status_code == 201, r.text
            ids[tenant] = r.json()["id"]
            # a read of the value: its entry goes through the tenant's audit spool
            assert c.get(f"{OBJ}/{ids[tenant]}").status_code == 200
        w.server.stop()
        # the "backup": keystore and acme's database as they were (never the master key)
        shutil.copy2(w.data_dir / "system.db", backup / "system.db")
        shutil.copytree(w.data_dir / "tenants" / "acme", backup / "acme")
        old_mk = (w.data_dir / "master.key").read_bytes()

        r = w.cli.run("tenant", "delete", "acme", "--yes")
        assert "deleted" in r.stdout and "master key replaced" in r.stdout, r.stdout
        assert not (w.data_dir / "tenants" / "acme").exists()
        assert not (w.data_dir / "master.key.new").exists()
        new_mk = (w.data_dir / "master.key").read_bytes()
        assert len(new_mk) == 32 and new_mk != old_mk

        # the other tenant reads its data under the new master key
        w.server.start()
        g = w.login("globex_admin")
        r = g.get(f"{OBJ}/{ids['globex']}")
        assert r.status_code == 200 and r.json()["properties"]["ssn"] == "SECRET-globex", r.text
        a = w.account("acme_admin")
        k.assert_error(w.server.login_raw(a.tenant, a.email, a.password), 401,
                       "invalid_credentials")
        w.server.stop()

        # the old copies, brought back with the only master key that exists now
        restored = k.new_tempdir("kura-e2e-restored-")
        data = restored / "data"
        (data / "tenants").mkdir(parents=True)
        shutil.copy2(backup / "system.db", data / "system.db")
        shutil.copytree(backup / "acme", data / "tenants" / "acme")
        shutil.copytree(w.data_dir / "tls", data / "tls")
        shutil.copy2(w.data_dir / "master.key", data / "master.key")
        for p in [data, data / "tenants", data / "tenants" / "acme", data / "tls"]:
            p.chmod(0o700)
        s = k.Kurad(data, log_dir=restored)
        s.start()
        try:
            c = s.login(a.tenant, a.email, a.password)
            r = c.get(f"{OBJ}/{ids['acme']}")
            k.assert_error(r, 500, "internal_error")
            assert "SECRET" not in r.text
            # plain properties were never encrypted: only the sensitive ones are shredded
            r = c.get(f"{OBJ}/{ids['acme']}", params={"properties": "email"})
            assert r.status_code == 200, r.text
        finally:
            s.stop()
    finally:
        k.destroy_world(w)
        k.remove_tempdir(backup)
        if restored is not None:
            k.remove_tempdir(restored)


def test_master_key_rotation_keeps_every_tenant_readable(fresh_world):
    w = fresh_world
    c = w.login("acme_admin")
    r = c.post("/api/v1/properties/contacts", json={
        "name": "ssn", "labels": {"en": "SSN"}, "type": "string", "sensitive": True})
    assert r.status_code == 201, r.text
    rid = c.post(OBJ, json={"properties": {"ssn": "SECRET-MK"}}).json()["id"]
    w.server.stop()
    before = (w.data_dir / "master.key").read_bytes()
    r = w.cli.run("keys", "rotate-master")
    assert "master key replaced" in r.stdout, r.stdout
    assert (w.data_dir / "master.key").read_bytes() != before
    assert oct((w.data_dir / "master.key").stat().st_mode & 0o777) == "0o600"
    # an interrupted rotation stops kurad from starting until it is finished
    (w.data_dir / "master.key.new").write_bytes(b"\x01" * 32)
    (w.data_dir / "master.key.new").chmod(0o600)
    with pytest.raises(k.StartError):
        w.server.start()
    r = w.cli.run("keys", "rotate-master")
    assert not (w.data_dir / "master.key.new").exists()
    w.server.start()
    c = w.login("acme_admin")
    assert c.get(f"{OBJ}/{rid}").json()["properties"]["ssn"] == "SECRET-MK"
