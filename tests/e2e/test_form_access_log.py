"""
The consumer access log: every request to a tenant's public form endpoints
(/f/<tenant>/<form>) is recorded in that tenant's log -- time, address,
form, method, status, outcome, user agent, request id -- apart from the
audit log, readable with audit.read through GET /api/v1/form-access-log,
bounded per address by form_ip_limit, and deleted after 365 days by the
daily housekeeping job.
"""

import datetime as _dt
import time

import requests

import kura_e2e as k
from test_ip_allowlist import OTHER, elsewhere

DAY = 86400
LOG = "/api/v1/form-access-log"


def _entries(c, query=""):
    r = c.get(LOG + query)
    assert r.status_code == 200, r.text
    return r.json()["results"]


def _form(server, method, path, ua="probe/1.0", session=None, **kw):
    s = session or requests.Session()
    try:
        return s.request(method, server.base + path, verify=server.cert, timeout=30,
                         headers={"User-Agent": ua}, **kw)
    finally:
        if session is None:
            s.close()


def test_form_requests_are_logged_per_tenant(binaries):
    w = k.make_world()
    try:
        t0 = time.time()
        r1 = _form(w.server, "GET", "/f/acme/contact-us", ua="Mozilla/5.0 (consumer)")
        k.assert_error(r1, 404, "not_found")
        assert r1.json()["error"]["message"] == "no such form"
        r2 = _form(w.server, "POST", "/f/acme/contact-us", data={"email": "a@example.com"})
        k.assert_error(r2, 404, "not_found")
        r3 = _form(w.server, "GET", "/f/acme/%E7%94%B0%E4%B8%AD")  # a name in kanji
        k.assert_error(r3, 404, "not_found")
        rg = _form(w.server, "GET", "/f/globex/newsletter")
        k.assert_error(rg, 404, "not_found")
        # a tenant that does not exist answers exactly the same, and is nobody's entry
        rn = _form(w.server, "GET", "/f/nosuchtenant/contact-us")
        k.assert_error(rn, 404, "not_found")
        assert k.error_without_request_id(rn) == k.error_without_request_id(r1)
        for bad in ("/f/acme", "/f/acme/contact-us/extra", "/f//contact-us"):
            k.assert_error(_form(w.server, "GET", bad), 404, "not_found")

        admin = w.login("acme_admin")
        got = _entries(admin)
        assert [e["requestId"] for e in got] == [r3.headers["X-Request-Id"],
                                                   r2.headers["X-Request-Id"],
                                                   r1.headers["X-Request-Id"]], got
        first = got[2]
        assert first["form"] == "contact-us" and first["method"] == "GET"
        assert first["status"] == 404 and first["outcome"] == "form_not_found"
        assert first["ip"] == "127.0.0.1"
        assert first["userAgent"] == "Mozilla/5.0 (consumer)"
        when = _dt.datetime.fromisoformat(first["time"].replace("Z", "+00:00")).timestamp()
        assert t0 - 5 <= when <= time.time() + 5, first
        assert got[1]["method"] == "POST" and got[1]["form"] == "contact-us"
        assert got[0]["form"] == "??????", got[0]  # bytes outside [A-Za-z0-9._-] as '?'

        # globex sees its own request only; acme's are not there
        gadmin = w.login("globex_admin")
        g = _entries(gadmin)
        assert [e["requestId"] for e in g] == [rg.headers["X-Request-Id"]]
        assert g[0]["form"] == "newsletter"

        # kept apart from the audit log
        audit = admin.get("/api/v1/audit?limit=100").json()["results"]
        assert not {e["requestId"] for e in audit} & {r1.headers["X-Request-Id"],
                                                       r2.headers["X-Request-Id"]}

        # filters, the cursor
        assert [e["method"] for e in _entries(admin, "?form=contact-us")] == ["POST", "GET"]
        assert _entries(admin, "?ip=127.0.0.2") == []
        assert len(_entries(admin, "?outcome=form_not_found")) == 3
        assert _entries(admin, "?from=2099-01-01T00:00:00Z") == []
        assert len(_entries(admin, "?to=2099-01-01T00:00:00Z")) == 3
        page = admin.get(LOG + "?limit=2").json()
        assert [e["requestId"] for e in page["results"]] == [r3.headers["X-Request-Id"],
                                                             r2.headers["X-Request-Id"]]
        after = page["paging"]["next"]["after"]
        page2 = admin.get(LOG + "?limit=2&after=" + after).json()
        assert [e["requestId"] for e in page2["results"]] == [r1.headers["X-Request-Id"]]
        assert "paging" not in page2
        # a cursor from acme's log shows globex nothing of acme's
        assert all(e["form"] == "newsletter"
                   for e in _entries(gadmin, "?after=" + after))

        # bad input: every problem named
        r = admin.get(LOG + "?limit=0&from=yesterday&after=xyz&colour=red")
        k.assert_error(r, 422, "validation_failed")
        fields = {d["field"] for d in r.json()["error"]["details"]}
        assert fields == {"limit", "from", "after", "colour"}, r.text
        k.assert_error(admin.get(LOG + "?form=" + "x" * 65), 422, "validation_failed")
        k.assert_error(admin.get(LOG + "?limit=5&limit=6"), 422, "validation_failed")

        # members lack audit.read; no session is no access
        member = w.login("acme_member")
        k.assert_error(member.get(LOG), 403, "forbidden")
        k.assert_error(w.server.get(LOG), 401, "unauthenticated")

        # a suspended tenant's forms answer the same 404 and log nothing
        w.cli.tenant_suspend("globex")
        k.assert_error(_form(w.server, "GET", "/f/globex/newsletter"), 404, "not_found")
        w.cli.tenant_resume("globex")
        gadmin = w.login("globex_admin")
        assert len(_entries(gadmin)) == 1
    finally:
        k.destroy_world(w)


def test_form_requests_are_throttled_per_address(binaries):
    tmp = k.new_tempdir("kura-e2e-formlog-")
    clock_file = tmp / "clock"
    clock_file.write_text("0\n")
    w = k.make_world(env={"KURA_FORM_IP_LIMIT": "5",
                          "KURA_TEST_CLOCK_OFFSET_FILE": str(clock_file)})
    try:
        clock = k.Clock(w.server, clock_file)
        s = requests.Session()
        codes = [_form(w.server, "GET", f"/f/acme/f{i}", session=s).status_code
                 for i in range(5)]
        assert codes == [404] * 5
        r = _form(w.server, "GET", "/f/acme/f5", session=s)
        k.assert_error(r, 429, "rate_limited")
        assert 1 <= int(r.headers["Retry-After"]) <= 60
        tripped = r.headers["X-Request-Id"]
        for i in range(3):
            r = _form(w.server, "POST", f"/f/acme/g{i}", session=s)
            k.assert_error(r, 429, "rate_limited")
            assert int(r.headers["Retry-After"]) >= 1
        # another address is not held back, nor is the API from this one
        other = elsewhere(requests.Session())
        k.assert_error(_form(w.server, "GET", "/f/acme/from-elsewhere", session=other),
                       404, "not_found")
        admin = w.login("acme_admin")
        got = _entries(admin)
        # five answered, the one that went past the limit, the one from elsewhere;
        # the three refused after it are not rows of their own
        assert [e["outcome"] for e in got] == ["form_not_found", "throttled"] + \
            ["form_not_found"] * 5, got
        assert got[1]["requestId"] == tripped and got[1]["status"] == 429
        assert got[0]["ip"] == OTHER and got[0]["form"] == "from-elsewhere"
        assert len(_entries(admin, "?outcome=throttled")) == 1
        # a minute on, the address may come back
        clock.set(120)
        k.assert_error(_form(w.server, "GET", "/f/acme/later", session=s), 404, "not_found")
        s.close()
        other.close()
    finally:
        k.destroy_world(w)
        k.remove_tempdir(tmp)


def test_form_access_log_is_kept_one_year(binaries):
    tmp = k.new_tempdir("kura-e2e-formlog-")
    clock_file = tmp / "clock"
    clock_file.write_text("0\n")
    w = k.make_world(env={"KURA_TEST_CLOCK_OFFSET_FILE": str(clock_file),
                          "KURA_HOUSEKEEPING_SECONDS": "1"})
    try:
        clock = k.Clock(w.server, clock_file)
        old = _form(w.server, "GET", "/f/acme/old").headers["X-Request-Id"]
        clock.set(300 * DAY)
        mid = _form(w.server, "GET", "/f/acme/mid").headers["X-Request-Id"]
        time.sleep(2.5)  # a housekeeping round or two at day 300: nothing is a year old yet
        admin = w.login("acme_admin")
        assert [e["requestId"] for e in _entries(admin)] == [mid, old]

        clock.set(366 * DAY)
        admin = w.login("acme_admin")  # the earlier session ended with the time
        deadline = time.monotonic() + 20
        ids = None
        while time.monotonic() < deadline:
            ids = [e["requestId"] for e in _entries(admin)]
            if old not in ids:
                break
            time.sleep(0.2)
        assert ids == [mid], f"the 366-day-old entry was not purged: {ids}"
        entries = admin.get("/api/v1/audit?action=form_access.purged").json()["results"]
        assert len(entries) == 1, entries
        assert entries[0]["actor"]["type"] == "system"
        assert entries[0]["target"]["properties"] == "1 entries older than 365 days"
    finally:
        k.destroy_world(w)
        k.remove_tempdir(tmp)
