"""
Archived records stay restorable for 90 days, then the housekeeping round
purges them for good (with an audit entry by "system"); records archived
less long ago are left alone. Time is moved with kurad's test clock.
"""

import time

import kura_e2e as k
from test_auth import Clock

DAY = 86400


def _wait_gone(c, path, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = c.get(path)
        if r.status_code == 404:
            return True
        time.sleep(0.2)
    return False


def test_archived_records_are_purged_after_90_days(binaries):
    tmp = k.new_tempdir("kura-e2e-housekeeping-")
    clock_file = tmp / "clock"
    clock_file.write_text("0\n")
    w = k.make_world(env={"KURA_TEST_CLOCK_OFFSET_FILE": str(clock_file),
                          "KURA_HOUSEKEEPING_SECONDS": "1"})
    try:
        clock = Clock(w.server, clock_file)
        c = w.login("acme_admin")
        old = c.post("/api/v1/objects/contacts", json={"properties": {"email": "old@example.com"}})
        assert old.status_code == 201, old.text
        old_id = old.json()["id"]
        assert c.request("DELETE", f"/api/v1/objects/contacts/{old_id}").status_code == 204

        clock.set(89 * DAY)
        c = w.login("acme_admin")  # the earlier session ended with the time
        young = c.post("/api/v1/objects/contacts", json={"properties": {"email": "young@example.com"}})
        assert young.status_code == 201, young.text
        young_id = young.json()["id"]
        assert c.request("DELETE", f"/api/v1/objects/contacts/{young_id}").status_code == 204
        # 89 days on, the first one is still there to restore
        r = c.get(f"/api/v1/objects/contacts/{old_id}?archived=true")
        assert r.status_code == 200 and r.json()["archived"] is True, r.text

        clock.set(91 * DAY)
        c = w.login("acme_admin")
        assert _wait_gone(c, f"/api/v1/objects/contacts/{old_id}?archived=true"), \
            "a record archived 91 days ago was not purged"
        k.assert_error(c.post(f"/api/v1/objects/contacts/{old_id}/restore"), 404, "not_found")
        # archived two days ago: untouched and restorable
        r = c.post(f"/api/v1/objects/contacts/{young_id}/restore")
        assert r.status_code == 200, r.text
        assert r.json()["properties"]["email"] == "young@example.com"

        r = c.get("/api/v1/audit?action=record.purge_expired")
        assert r.status_code == 200, r.text
        entries = r.json()["results"]
        assert entries and entries[0]["outcome"] == "success", entries
        assert "1 records" in str(entries[0]), entries[0]
    finally:
        k.destroy_world(w)
        k.remove_tempdir(tmp)
