"""
Monitoring from the outside: GET /metrics behind the operator's bearer
token (404 when none is configured, 401 without it), its Prometheus text
parsed and its counters moving with requests, sign-ins and sessions; the
failed-login IP block (N+1 failures from 127.0.0.1 -> 429 with Retry-After
on every route, lifted when kurad's test clock passes its end), recorded in
the audit log of the tenant whose sign-in failed and sent to a signed
webhook (a small HTTP server in the test); and the operator's notices (kura
notice create/list) shown to the right tenant's users only.

Every request of these tests comes from 127.0.0.1, which the block tests
block: an admin session is opened before a block and the audit log read
after it ends, and each block test first moves the clock past the window of
earlier failures.
"""

import datetime as dt
import hashlib
import hmac
import http.server
import json
import os
import re
import secrets
import subprocess
import threading
import time

import pytest

import kura_e2e as k

METRICS = "/metrics"
NOTICES = "/api/v1/notices"
FAIL_LIMIT = 3
BLOCK_MINUTES = 15
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


# ---------------------------------------------------------------- helpers


def parse_time(s: str) -> float:
    assert RFC3339.match(s), f"not RFC 3339: {s!r}"
    m = re.match(r"^(.*T\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})$", s)
    base = dt.datetime.fromisoformat(m.group(1) + ("+00:00" if m.group(3) == "Z" else m.group(3)))
    return base.timestamp() + float(m.group(2) or 0)


def rfc3339(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)')


def parse_metrics(text: str):
    """Prometheus text format 0.0.4, strictly: every sample belongs to a
    family declared with # HELP and # TYPE. Returns ({family: type},
    [(name, {labels}, value)])."""
    assert text.endswith("\n"), "the exposition must end with a newline"
    families, samples = {}, []
    current = None
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name = line.split(" ", 3)[2]
            assert name not in families, f"family {name} declared twice"
            current = name
            continue
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split(" ", 3)
            assert name == current, f"TYPE {name} without its HELP"
            assert typ in ("counter", "gauge", "histogram", "summary", "untyped"), line
            families[name] = typ
            continue
        assert not line.startswith("#"), f"unknown comment line {line!r}"
        m = SAMPLE.match(line)
        assert m, f"not a sample line: {line!r}"
        name, raw, value = m.groups()
        labels = {}
        rest = raw or ""
        while rest:
            lm = LABEL.match(rest)
            assert lm, f"bad labels in {line!r}"
            labels[lm.group(1)] = re.sub(r"\\(.)", lambda x: "\n" if x.group(1) == "n" else x.group(1),
                                         lm.group(2))
            rest = rest[lm.end():]
        assert current is not None and name.startswith(current), f"{name} outside its family"
        if families[current] == "histogram":
            assert name in (current + "_bucket", current + "_sum", current + "_count"), name
        else:
            assert name == current, name
        samples.append((name, labels, float(value)))
    return families, samples


def metric(samples, name, **labels) -> float:
    """The value of the one sample of `name` whose labels include `labels`;
    0 when there is none (a per-route series appears at its first request)."""
    hits = [v for n, ls, v in samples if n == name and all(ls.get(a) == b for a, b in labels.items())]
    assert len(hits) <= 1, f"{len(hits)} samples of {name} {labels}"
    return hits[0] if hits else 0.0


class Clock:
    """Moves kurad's clock forward through its test_clock_offset_file and
    waits until kurad's log shows the new time (it re-reads the file every
    100 ms)."""

    def __init__(self, server: k.Kurad, path):
        self.server = server
        self.path = path
        self.offset = 0

    def now(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: int):
        self.offset += seconds
        self.path.write_text(f"{self.offset}\n")
        want = time.time() + self.offset - 5
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            self.server.get("/healthz")  # answers 429 while blocked; it logs a line either way
            stamps = re.findall(r"ts=(\S+)", self.server.log()[-3000:])
            if stamps and parse_time(stamps[-1]) >= want:
                return
            time.sleep(0.1)
        raise AssertionError(f"kurad's clock did not move by {seconds}s")


class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.received.append({"path": self.path, "headers": dict(self.headers), "body": body})
        self.send_response(204)
        self.end_headers()

    def log_message(self, fmt, *args):
        pass


def write_secret(path, text: str):
    path.write_text(text + "\n")
    os.chmod(path, 0o600)


# ---------------------------------------------------------------- the deployment


@pytest.fixture(scope="module")
def mon(binaries):
    """A world with a metrics token, a failed-login limit of 3, the test
    clock and a webhook receiver on 127.0.0.1."""
    tmp = k.new_tempdir("kura-e2e-mon-")
    token = "mt-" + secrets.token_urlsafe(24)
    secret = "wh-" + secrets.token_urlsafe(24)
    write_secret(tmp / "metrics.token", token)
    write_secret(tmp / "webhook.secret", secret)
    clock_file = tmp / "clock"
    clock_file.write_text("0\n")
    hook = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    hook.received = []
    thread = threading.Thread(target=hook.serve_forever, daemon=True)
    thread.start()
    env = {
        "KURA_METRICS_TOKEN_FILE": str(tmp / "metrics.token"),
        "KURA_LOGIN_FAIL_IP_LIMIT": str(FAIL_LIMIT),
        "KURA_LOGIN_BLOCK_MINUTES": str(BLOCK_MINUTES),
        "KURA_TEST_CLOCK_OFFSET_FILE": str(clock_file),
        "KURA_ALERT_WEBHOOK_URL": f"http://127.0.0.1:{hook.server_address[1]}/hook",
        "KURA_ALERT_WEBHOOK_SECRET_FILE": str(tmp / "webhook.secret"),
    }
    w = k.make_world(env=env)
    w.token = token
    w.secret = secret.encode()
    w.hook = hook
    w.clock = Clock(w.server, clock_file)
    try:
        yield w
    finally:
        hook.shutdown()
        hook.server_close()
        k.destroy_world(w)
        k.remove_tempdir(tmp)


def scrape(w, token=None):
    r = w.server.get(METRICS, headers={"Authorization": f"Bearer {token or w.token}"})
    assert r.status_code == 200, f"GET /metrics: {r.status_code} {r.text[:300]}"
    return parse_metrics(r.text)[1]


def fresh_window(w):
    """Moves the clock past the minute of any earlier failed sign-in."""
    w.clock.advance(120)


def fail_logins(w, n, tenant="acme", email="admin@acme.example"):
    for i in range(n):
        r = w.server.login_raw(tenant, email, f"wrong-{i}-{secrets.token_hex(4)}")
        k.assert_error(r, 401, "invalid_credentials")


def wait_for(pred, timeout=10.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


# ---------------------------------------------------------------- /metrics


def test_metrics_needs_the_token(mon):
    r = mon.server.get(METRICS)
    k.assert_error(r, 401, "unauthenticated")
    assert r.headers.get("WWW-Authenticate", "").startswith("Bearer"), r.headers
    for bad in (f"Bearer {mon.token}x", f"Bearer {mon.token[:-1]}", f"Basic {mon.token}",
                mon.token, "Bearer ", f"bearer {mon.token.upper()}"):
        r = mon.server.get(METRICS, headers={"Authorization": bad})
        k.assert_error(r, 401, "unauthenticated")
    # a tenant's session is no metrics token
    c = mon.login("acme_admin")
    k.assert_error(c.get(METRICS), 401, "unauthenticated")
    r = mon.server.get(METRICS, headers={"Authorization": f"Bearer {mon.token}"})
    assert r.status_code == 200, r.text[:300]
    assert r.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert "no-store" in r.headers.get("Cache-Control", "")
    families, samples = parse_metrics(r.text)
    for fam, typ in {
        "kura_http_requests_total": "counter",
        "kura_http_request_duration_seconds": "histogram",
        "kura_logins_total": "counter",
        "kura_ip_blocks_total": "counter",
        "kura_sessions_created_total": "counter",
        "kura_sessions_ended_total": "counter",
        "kura_hash_pool_queue_depth": "gauge",
        "kura_store_errors_total": "counter",
        "kura_audit_append_failures_total": "counter",
        "kura_alerts_total": "counter",
    }.items():
        assert families.get(fam) == typ, f"{fam}: {families.get(fam)}"
    outcomes = {ls["outcome"] for n, ls, _ in samples if n == "kura_logins_total"}
    assert outcomes >= {"success", "invalid_credentials", "tenant_suspended", "rate_limited", "busy"}
    # nothing about tenants, users or addresses
    assert "acme" not in r.text and "127.0.0.1" not in r.text and "@" not in r.text


def run_kurad_expect_failure(data_dir, env):
    cmd = [str(k.kurad_bin()), "--data", str(data_dir), "--port", str(k.free_port()),
           "--listen", "127.0.0.1"]
    try:
        p = subprocess.run(cmd, env=k.clean_env(env), capture_output=True, text=True, timeout=20,
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"kurad kept running with a bad monitoring setting: {e.stdout!r} {e.stderr!r}")
    assert p.returncode != 0, f"kurad exited 0\n{p.stdout}\n{p.stderr}"
    return p.stdout + p.stderr


def test_metrics_off_without_a_token_file(servers, data_dir, tmp_dir):
    data, _ = data_dir
    s = servers(data)
    k.assert_error(s.get(METRICS), 404, "not_found")
    k.assert_error(s.get(METRICS, headers={"Authorization": "Bearer anything-at-all-0123"}), 404,
                   "not_found")
    s.stop()
    # a token file others can read, or too short a token, stops start-up with a message
    weak = tmp_dir / "weak.token"
    weak.write_text("x" * 32 + "\n")
    os.chmod(weak, 0o644)
    assert "metrics_token_file" in run_kurad_expect_failure(
        data, {"KURA_METRICS_TOKEN_FILE": str(weak)})
    short = tmp_dir / "short.token"
    write_secret(short, "short")
    assert "16 to 4096" in run_kurad_expect_failure(data, {"KURA_METRICS_TOKEN_FILE": str(short)})
    # a webhook URL needs a secret file, and plain http goes to loopback only
    out = run_kurad_expect_failure(data, {"KURA_ALERT_WEBHOOK_URL": "https://hooks.example.com/x"})
    assert "alert_webhook_secret_file" in out, out
    out = run_kurad_expect_failure(data, {"KURA_ALERT_WEBHOOK_URL": "http://hooks.example.com/x",
                                          "KURA_ALERT_WEBHOOK_SECRET_FILE": str(short)})
    assert "alert_webhook_url" in out, out


def test_counters_move(mon):
    fresh_window(mon)
    before = scrape(mon)
    for _ in range(3):
        assert mon.server.get("/healthz").status_code == 200
    k.assert_error(mon.server.get("/api/v1/no-such-thing"), 404, "not_found")
    c = mon.login("acme_member")
    assert c.me().status_code == 200
    fail_logins(mon, 1, email="member@acme.example")
    assert c.logout().status_code == 204
    # a request is counted when MHD reports it complete, a moment after the client has it
    time.sleep(0.3)
    after = scrape(mon)

    def delta(name, **labels):
        return metric(after, name, **labels) - metric(before, name, **labels)

    assert delta("kura_http_requests_total", route="/healthz", method="GET", code="200") == 3
    assert delta("kura_http_requests_total", route="unmatched", code="404") == 1
    assert delta("kura_http_requests_total", route="/api/v1/auth/login", code="200") == 1
    assert delta("kura_http_requests_total", route="/api/v1/auth/login", code="401") == 1
    assert delta("kura_http_requests_total", route="/api/v1/me", code="200") == 1
    assert delta("kura_http_requests_total", route="/api/v1/auth/logout", code="204") == 1
    # the first scrape itself is counted by the second
    assert delta("kura_http_requests_total", route="/metrics", code="200") == 1
    assert delta("kura_http_request_duration_seconds_count", route="/healthz") == 3
    assert delta("kura_http_request_duration_seconds_bucket", route="/healthz", le="+Inf") == 3
    assert metric(after, "kura_http_request_duration_seconds_sum", route="/api/v1/auth/login") > 0
    assert delta("kura_logins_total", outcome="success") == 1
    assert delta("kura_logins_total", outcome="invalid_credentials") == 1
    assert delta("kura_sessions_created_total") == 1
    assert delta("kura_sessions_ended_total") == 1
    assert metric(after, "kura_hash_pool_queue_capacity") == 64
    assert metric(after, "kura_hash_pool_queue_depth") == 0
    assert metric(after, "kura_start_time_seconds") > 1.6e9
    # buckets are cumulative and end at _count
    for route in ("/healthz", "/api/v1/auth/login"):
        buckets = [(ls["le"], v) for n, ls, v in after
                   if n == "kura_http_request_duration_seconds_bucket" and ls.get("route") == route]
        values = [v for _, v in buckets]
        assert values == sorted(values) and buckets[-1][0] == "+Inf"
        assert buckets[-1][1] == metric(after, "kura_http_request_duration_seconds_count", route=route)


# ---------------------------------------------------------------- the failed-login block


def verify_signature(mon, post) -> dict:
    sig = post["headers"].get("X-Kura-Signature", "")
    assert sig.startswith("sha256="), post["headers"]
    want = hmac.new(mon.secret, post["body"], hashlib.sha256).hexdigest()
    assert hmac.compare_digest(sig[len("sha256="):], want), "webhook signature does not verify"
    assert post["headers"].get("Content-Type") == "application/json"
    return json.loads(post["body"])


def test_failed_logins_block_the_address(mon):
    fresh_window(mon)
    admin = mon.login("acme_admin")  # before the block: its requests come from 127.0.0.1 too
    before = scrape(mon)
    hooks_before = len(mon.hook.received)

    fail_logins(mon, FAIL_LIMIT)
    assert mon.server.get("/healthz").status_code == 200, "blocked before the limit was passed"
    fail_logins(mon, 1)  # the N+1st: answered as usual, and blocks

    # every route, not only the sign-in, answers 429 with the seconds left
    acct = mon.account("acme_admin")
    refused = [
        mon.server.get("/healthz"),
        mon.server.get("/"),
        mon.server.get("/api/v1/no-such-thing"),
        mon.server.get(METRICS, headers={"Authorization": f"Bearer {mon.token}"}),
        admin.me(),
        admin.get("/api/v1/audit"),
        mon.server.login_raw(acct.tenant, acct.email, acct.password),  # right password, too
    ]
    for r in refused:
        k.assert_error(r, 429, "rate_limited")
        left = int(r.headers["Retry-After"])
        assert BLOCK_MINUTES * 60 - 30 <= left <= BLOCK_MINUTES * 60, left

    # the operator's alert, in the log ...
    line = wait_for(lambda: re.search(r"level=warn event=alert kind=ip_blocked tenant=acme "
                                      r"ip=127\.0\.0\.1 until=(\S+)", mon.server.log()),
                    what="the alert log line")
    until = parse_time(line.group(1))
    assert abs(until - (mon.clock.now() + BLOCK_MINUTES * 60)) < 60

    # ... and at the webhook, signed
    wait_for(lambda: len(mon.hook.received) > hooks_before, what="the webhook POST")
    post = mon.hook.received[hooks_before]
    assert post["path"] == "/hook"
    body = verify_signature(mon, post)
    assert body["kind"] == "ip_blocked"
    assert body["tenant"] == "acme" and body["ip"] == "127.0.0.1"
    assert abs(parse_time(body["until"]) - until) < 1
    assert abs(parse_time(body["time"]) - mon.clock.now()) < 60
    assert str(FAIL_LIMIT) in body["detail"]
    assert set(body) <= {"kind", "time", "tenant", "ip", "until", "detail"}

    # the clock moves: still blocked, fewer seconds left
    mon.clock.advance(10 * 60)
    r = mon.server.get("/healthz")
    k.assert_error(r, 429, "rate_limited")
    assert 4 * 60 <= int(r.headers["Retry-After"]) <= 5 * 60 + 30

    # past its end every request answers again, the session kept before the block too
    mon.clock.advance(5 * 60 + 30)
    assert mon.server.get("/healthz").status_code == 200
    assert admin.me().status_code == 200

    # the block is in acme's audit log, by the system
    entries = k.audit_entries(admin, action="security.ip_blocked")
    assert len(entries) == 1, entries
    e = entries[0]
    assert e["actor"]["type"] == "system", e
    assert e["target"]["type"] == "ip" and e["target"]["id"] == "127.0.0.1", e
    assert e["ip"] == "127.0.0.1" and e["outcome"] == "success", e
    # right after the refused sign-in that caused it
    logins = k.audit_entries(admin, action="auth.login", outcome="denied")
    assert logins and int(logins[0]["seq"]) == int(e["seq"]) - 1, (logins[:2], e)
    # and only there
    g = mon.login("globex_admin")
    assert k.audit_entries(g, action="security.ip_blocked") == []

    after = scrape(mon)
    assert metric(after, "kura_ip_blocks_total") - metric(before, "kura_ip_blocks_total") == 1
    assert metric(after, "kura_logins_total", outcome="rate_limited") - \
        metric(before, "kura_logins_total", outcome="rate_limited") == 1
    assert metric(after, "kura_http_requests_total", route="blocked", code="429") - \
        metric(before, "kura_http_requests_total", route="blocked", code="429") >= len(refused) - 1
    assert metric(after, "kura_alerts_total", kind="ip_blocked") >= 1
    assert metric(after, "kura_ip_blocked") == 0
    wait_for(lambda: metric(scrape(mon), "kura_alert_webhook_total", result="delivered") >= 1,
             what="the delivery to be counted")


def test_failures_on_unknown_tenants_count_too(mon):
    """Guessing tenants is guessing: the block does not need a real tenant
    (and then has no tenant to record it in)."""
    fresh_window(mon)
    admin = mon.login("acme_admin")
    hooks_before = len(mon.hook.received)
    seq_before = k.audit_entries(admin, limit=1)[0]["seq"]
    for i in range(FAIL_LIMIT + 1):
        r = mon.server.login_raw(f"nosuch{secrets.token_hex(3)}", "x@y.example", "wrong-password")
        k.assert_error(r, 401, "invalid_credentials")
    k.assert_error(mon.server.get("/healthz"), 429, "rate_limited")
    wait_for(lambda: len(mon.hook.received) > hooks_before, what="the webhook POST")
    body = verify_signature(mon, mon.hook.received[hooks_before])
    assert body["kind"] == "ip_blocked" and body["ip"] == "127.0.0.1"
    assert "tenant" not in body, body
    mon.clock.advance(BLOCK_MINUTES * 60 + 30)
    assert mon.server.get("/healthz").status_code == 200
    # nothing was written to a tenant that took no part
    assert k.audit_entries(admin, limit=1)[0]["seq"] == seq_before


# ---------------------------------------------------------------- notices


def notice(mon, *args, check=True):
    return mon.cli.run("notice", *args, check=check)


def test_notices_for_the_right_tenant_only(mon):
    now = mon.clock.now()  # kurad's clock, which the block tests moved
    hour = 3600
    created = {}
    for key, kind, title, starts, ends, tenant in [
        ("all", "incident", "Mail delays for everyone", now - hour, now + hour, None),
        ("acme_now", "maintenance", "Acme: database upgrade", now - 60, now + 2 * hour, "acme"),
        ("acme_past", "incident", "Acme: resolved outage", now - 3 * hour, now - 2 * hour, "acme"),
        ("globex_next", "maintenance", "Globex: planned downtime", now + 24 * hour,
         now + 26 * hour, "globex"),
    ]:
        args = ["create", "--kind", kind, "--title", title, "--body",
                f"Technical description of {key}:\nsecond line", "--starts", rfc3339(starts),
                "--ends", rfc3339(ends)]
        if tenant:
            args += ["--tenant", tenant]
        out = notice(mon, *args).stdout
        m = re.search(r"notice (\d+) created", out)
        assert m, out
        created[key] = m.group(1)

    def listed(client):
        r = client.get(NOTICES)
        assert r.status_code == 200, r.text[:300]
        results = r.json()["results"]
        for n in results:
            assert set(n) == {"id", "kind", "scope", "title", "body", "startsAt", "endsAt",
                              "createdAt"}, n
            for f in ("startsAt", "endsAt", "createdAt"):
                parse_time(n[f])
        return results

    # an acme member (not an admin) sees acme's current notice and the one for all, newest first
    acme = listed(mon.login("acme_member"))
    assert [n["id"] for n in acme] == [created["acme_now"], created["all"]], acme
    assert acme[0]["scope"] == "tenant" and acme[0]["kind"] == "maintenance"
    assert acme[0]["title"] == "Acme: database upgrade"
    assert acme[0]["body"] == "Technical description of acme_now:\nsecond line"
    assert acme[1]["scope"] == "all" and acme[1]["kind"] == "incident"
    assert abs(parse_time(acme[0]["endsAt"]) - (now + 2 * hour)) < 1

    # globex sees its upcoming one and the one for all; never acme's
    globex = listed(mon.login("globex_member"))
    assert [n["id"] for n in globex] == [created["globex_next"], created["all"]], globex
    assert all("Acme" not in n["title"] for n in globex)

    # the operator's list has them all, past ones included
    rows = [line.split("\t") for line in notice(mon, "list").stdout.splitlines()]
    by_id = {r[0]: r for r in rows}
    assert by_id[created["acme_past"]][1:3] == ["incident", "acme"]
    assert by_id[created["all"]][2] == "*"
    assert by_id[created["globex_next"]][5] == "Globex: planned downtime"
    ids = [int(r[0]) for r in rows]
    assert ids == sorted(ids, reverse=True)

    # a notice for one tenant is recorded in that tenant's audit log, by the operator
    admin = mon.login("acme_admin")
    entries = k.audit_entries(admin, action="notice.create")
    assert {e["target"]["id"] for e in entries} >= {created["acme_now"], created["acme_past"]}
    assert all(e["actor"]["type"] == "operator" for e in entries)
    assert k.audit_entries(mon.login("globex_admin"), action="notice.create",
                           targetId=created["acme_now"]) == []

    # refused: unknown query arguments, no session
    k.assert_error(admin.get(NOTICES, params={"tenant": "globex"}), 422, "validation_failed")
    k.assert_error(mon.server.get(NOTICES), 401, "unauthenticated")


def test_notice_cli_validation(mon):
    base = ["create", "--kind", "maintenance", "--title", "T", "--body", "B",
            "--starts", "2030-01-01T00:00:00Z", "--ends", "2030-01-01T02:00:00Z"]
    cases = [
        (["--kind", "outage"], 2),
        (["--starts", "tomorrow"], 2),
        (["--ends", "2029-12-31T23:00:00Z"], 2),
        (["--title", ""], 2),
        (["--title", "x" * 201], 2),
        (["--tenant", "Bad_Id"], 2),
        (["--tenant", "nosuchtenant"], 1),
        (["--body", "bell \x07 in the body"], 2),
    ]
    for change, rc in cases:
        args = list(base)
        for i in range(0, len(change), 2):
            if change[i] in args:
                args[args.index(change[i]) + 1] = change[i + 1]
            else:
                args += change[i:i + 2]
        p = notice(mon, *args, check=False)
        assert p.returncode == rc, f"{change}: exit {p.returncode}\n{p.stdout}{p.stderr}"
        assert "created" not in p.stdout
    p = notice(mon, "create", "--kind", "incident", check=False)
    assert p.returncode == 2 and "usage" in p.stderr
    # RFC 3339 with an offset is understood
    p = notice(mon, "create", "--kind", "incident", "--title", "Offset", "--body", "b",
               "--starts", "2030-01-01T09:00:00+09:00", "--ends", "2030-01-01T10:00:00+09:00")
    nid = re.search(r"notice (\d+) created", p.stdout).group(1)
    row = [line.split("\t") for line in notice(mon, "list").stdout.splitlines()
           if line.startswith(nid + "\t")][0]
    assert row[3].startswith("2030-01-01T00:00:00") and row[4].startswith("2030-01-01T01:00:00")
