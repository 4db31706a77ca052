"""
A tenant's old data-key versions, from rotation to destruction, while kurad
serves: after kura keys rotate, housekeeping re-seals every value under the
new version -- record values, their history, authenticator (TOTP) secrets,
attachment keys and names -- and kura keys retire destroys an old version
only once nothing needs it any more: not within the settle period of the
rotation, not while a blind index is keyed from it (kura keys rotate-index
moves it), not while a stored Idempotency-Key reply from before the
rotation remains. Afterwards the keystore no longer holds it, and every
value, search, attachment and second-factor sign-in still works.
"""

import sqlite3
import time

import kura_e2e as k

OBJ = "/api/v1/objects/contacts"
DAY = 86400
SETTLE_S = 300
PDF = b"%PDF-1.7\n" + b"RETIRE-PDF-CONTENT " * 40 + b"\n%%EOF\n"


def keystore_versions(w, tenant="acme"):
    con = sqlite3.connect(f"file:{w.data_dir / 'system.db'}?mode=ro", uri=True, timeout=10)
    try:
        return [v for (v,) in con.execute(
            "SELECT version FROM tenant_keys WHERE tenant_id = ? ORDER BY version", (tenant,))]
    finally:
        con.close()


def wait_status(cli, want, timeout=60):
    deadline = time.monotonic() + timeout
    out = ""
    while time.monotonic() < deadline:
        out = cli.run("keys", "status", "--tenant", "acme").stdout
        if all(x in out for x in want):
            return out
        time.sleep(0.3)
    raise AssertionError(f"status never showed {want}:\n{out}")


def test_rotate_reseal_and_retire(binaries):
    tmp = k.new_tempdir("kura-e2e-retire-")
    clock_file = tmp / "clock"
    clock_file.write_text("0\n")
    env = {"KURA_TEST_CLOCK_OFFSET_FILE": str(clock_file), "KURA_HOUSEKEEPING_SECONDS": "1"}
    w = k.make_world(env=env)
    try:
        clock = k.Clock(w.server, clock_file)
        cli = k.KuraCLI(w.data_dir, env={"KURA_TEST_CLOCK_OFFSET_FILE": str(clock_file)})
        admin = w.login("acme_admin")
        for body in ({"name": "ssn", "labels": {"en": "SSN"}, "type": "string",
                      "sensitive": True},
                     {"name": "dob", "labels": {"en": "Born"}, "type": "date",
                      "sensitive": True}):
            r = admin.post("/api/v1/properties/contacts", json=body)
            assert r.status_code == 201, r.text
        ids = []
        for i in range(6):
            r = admin.post(OBJ, json={"properties": {"email": f"k{i}@example.com",
                                                      "ssn": f"KEY-SECRET-{i}",
                                                      "dob": f"1970-02-0{i + 1}"}},
                           headers={"Idempotency-Key": f"create-{i}"} if i == 0 else None)
            assert r.status_code == 201, r.text
            ids.append(r.json()["id"])
        r = admin.request("PATCH", f"{OBJ}/{ids[1]}", json={"properties": {"ssn": "KEY-NEW-1"}})
        assert r.status_code == 200, r.text
        r = admin.post(f"{OBJ}/{ids[2]}/attachments", params={"filename": "鍵の書類.pdf"},
                       data=PDF, headers={"Content-Type": "application/pdf"})
        assert r.status_code == 201, r.text
        att = r.json()["id"]
        # a member with an authenticator
        acct = k.active_user(w, "acme", "member", prefix="retire")
        c = w.server.login(acct.tenant, acct.email, acct.password)
        r = c.post("/api/v1/me/mfa/totp", json={"password": acct.password})
        assert r.status_code == 201, r.text
        secret = r.json()["secret"]
        r = c.post("/api/v1/me/mfa/totp/confirm", json={"code": k.totp(secret, clock.now())})
        assert r.status_code == 200, r.text

        out = cli.run("keys", "status", "--tenant", "acme").stdout
        for line in ("contacts.ssn\tversion 1 (current)\t6", "history\tversion 1 (current)\t",
                     "mfa secrets\tversion 1 (current)\t1",
                     "attachment keys\tversion 1 (current)\t1",
                     "attachment names\tversion 1 (current)\t1", "keystore: 1\n"):
            assert line in out, out
        r = cli.run("keys", "retire", "--tenant", "acme")
        assert "no data key version older than 1 is left" in r.stdout, r.stdout

        cli.run("keys", "rotate", "--tenant", "acme")
        # within the settle period nothing is destroyed
        r = cli.run("keys", "retire", "--tenant", "acme", check=False)
        assert r.returncode == 1 and "less than 300 s ago" in r.stderr, r.stderr
        assert keystore_versions(w) == [1, 2]
        out = wait_status(cli, ["contacts.ssn\tversion 2 (current)\t6",
                                "contacts.dob\tversion 2 (current)\t6",
                                "mfa secrets\tversion 2 (current)\t1",
                                "attachment keys\tversion 2 (current)\t1",
                                "attachment names\tversion 2 (current)\t1",
                                "values under older versions: 0\n"])
        assert "history\tversion 2 (current)\t" in out and "history\tversion 1" not in out, out

        # settled, but the blind indexes and a stored reply still need version 1
        clock.set(SETTLE_S + 5)
        r = cli.run("keys", "retire", "--tenant", "acme", check=False)
        assert r.returncode == 1, r.stdout + r.stderr
        assert "version 1 kept: still needed by 2 blind indexes" in r.stdout, r.stdout
        assert "1 stored Idempotency-Key replies" in r.stdout, r.stdout
        assert keystore_versions(w) == [1, 2]
        r = cli.run("keys", "rotate-index", "--tenant", "acme")
        assert "contacts.ssn\tblind index: version 1 -> 2" in r.stdout, r.stdout
        clock.set(2 * SETTLE_S + 10)
        wait_status(cli, ["contacts.ssn\tblind index: version 2\n",
                          "contacts.dob\tblind index: version 2\n"])
        r = cli.run("keys", "retire", "--tenant", "acme", check=False)
        assert r.returncode == 1 and "still needed by 1 stored Idempotency-Key replies" in \
            r.stdout, r.stdout
        # a day on, housekeeping has dropped the reply: version 1 goes
        clock.set(DAY + 2 * SETTLE_S + 10)
        deadline = time.monotonic() + 30
        while True:
            r = cli.run("keys", "retire", "--tenant", "acme", check=False)
            if r.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "data key version 1 retired (destroyed)" in r.stdout, r.stdout
        assert keystore_versions(w) == [2]
        assert "keystore: 2\n" in cli.run("keys", "status", "--tenant", "acme").stdout

        # a fresh kurad (no key cached from before) reads everything under version 2
        w.server.stop()
        w.server.start()
        admin = w.login("acme_admin")
        for i, rid in enumerate(ids):
            got = admin.get(f"{OBJ}/{rid}").json()["properties"]
            assert got["ssn"] == ("KEY-NEW-1" if i == 1 else f"KEY-SECRET-{i}"), got
            assert got["dob"] == f"1970-02-0{i + 1}", got
        h = admin.get(f"{OBJ}/{ids[1]}/history", params={"property": "ssn"}).json()["results"]
        assert [(x["oldValue"], x["newValue"]) for x in h] == [("KEY-SECRET-1", "KEY-NEW-1"),
                                                               (None, "KEY-SECRET-1")], h
        r = admin.post(f"{OBJ}/search", json={"filterGroups": [{"filters": [
            {"propertyName": "dob", "operator": "EQ", "value": "1970-02-03"}]}]})
        assert [x["id"] for x in r.json()["results"]] == [ids[2]], r.text
        r = admin.get(f"{OBJ}/{ids[2]}/attachments/{att}")
        assert r.status_code == 200 and r.content == PDF
        assert admin.get(f"{OBJ}/{ids[2]}/attachments").json()["results"][0]["filename"] == \
            "鍵の書類.pdf"
        # the member still signs in with the authenticator
        clock.set(DAY + 2 * SETTLE_S + 40)
        r = w.server.login_raw(acct.tenant, acct.email, acct.password)
        assert r.status_code == 200 and r.json().get("mfaRequired") is True, r.text
        r = k.login_mfa_raw(w.server, r.json()["mfaToken"], code=k.totp(secret, clock.now()))
        assert r.status_code == 200, r.text
        got = admin.get("/api/v1/audit", params={"action": "keys.retire"}).json()["results"]
        assert len(got) == 1 and got[0]["target"]["id"] == "1", got
        assert got[0]["actor"]["type"] == "operator"
    finally:
        k.destroy_world(w)
        k.remove_tempdir(tmp)
