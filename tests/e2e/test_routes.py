"""
Routing and the headers every response carries: health probes, 404 and 405
as JSON errors, security headers on successes, errors and static files, the
admin UI's static files, and that no route of the session kind answers
without a session.
"""

import re

import pytest

import kura_e2e as k

INDEX_HTML = b"<!doctype html><html><head><title>Kura test UI</title></head><body>kura-e2e-index</body></html>\n"
APP_JS = b"console.log('kura-e2e-app');\n"


@pytest.fixture(scope="module")
def site(binaries):
    """A world whose server also serves a small admin UI from web_root."""
    web = k.new_tempdir("kura-e2e-web-")
    (web / "index.html").write_bytes(INDEX_HTML)
    (web / "app.js").write_bytes(APP_JS)
    w = k.make_world(env={"KURA_WEB_ROOT": str(web)})
    yield w
    k.destroy_world(w)
    k.remove_tempdir(web)


def hget(r, name):
    """A header from a requests.Response or a RawResponse."""
    return r.headers.get(name) if hasattr(r, "status_code") else r.header(name)


def assert_security_headers(r, tls=True, api=False):
    hsts = hget(r, "Strict-Transport-Security")
    if tls:
        assert hsts, "no Strict-Transport-Security header"
        m = re.search(r"max-age=(\d+)", hsts)
        assert m and int(m.group(1)) > 0, f"HSTS without a positive max-age: {hsts!r}"
    csp = hget(r, "Content-Security-Policy")
    assert csp, "no Content-Security-Policy header"
    assert "default-src 'self'" in csp, f"CSP lacks default-src 'self': {csp!r}"
    assert "frame-ancestors 'none'" in csp, f"CSP lacks frame-ancestors 'none': {csp!r}"
    assert (hget(r, "X-Content-Type-Options") or "").lower() == "nosniff"
    assert (hget(r, "Referrer-Policy") or "").lower() == "no-referrer"
    rid = hget(r, "X-Request-Id")
    assert rid and re.fullmatch(r"[0-9A-Za-z_-]{8,64}", rid), f"bad X-Request-Id {rid!r}"
    if api:
        cc = hget(r, "Cache-Control") or ""
        assert "no-store" in cc.lower(), f"/api/ response without Cache-Control: no-store: {cc!r}"


def test_healthz(site):
    r = site.server.get("/healthz")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.json() == {"status": "ok"}


def test_readyz(site):
    r = site.server.get("/readyz")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.json() == {"status": "ready"}


@pytest.mark.parametrize("path", [
    "/nope",
    "/api/v1/nope",
    "/api/v1/users/1/extra",
    "/api/v2/me",
    "/api/v1/auth",
    "/healthz/extra",
    "/no-such-file.js",
])
def test_unknown_path_is_json_404(site, path):
    r = site.server.get(path)
    k.assert_error(r, 404, "not_found")
    assert_security_headers(r)


@pytest.mark.parametrize("method,path,allowed", [
    ("GET", "/api/v1/auth/login", {"POST"}),
    ("PUT", "/api/v1/auth/login", {"POST"}),
    ("DELETE", "/healthz", {"GET"}),
    ("POST", "/readyz", {"GET"}),
    ("PUT", "/api/v1/me", {"GET"}),
    ("PUT", "/api/v1/users/1", {"GET", "PATCH", "DELETE"}),
    ("POST", "/api/v1/sessions", {"GET"}),
    ("GET", "/api/v1/auth/logout", {"POST"}),
])
def test_wrong_method_is_405_with_allow(site, method, path, allowed):
    r = site.server.request(method, path)
    k.assert_error(r, 405, "method_not_allowed")
    allow = r.headers.get("Allow")
    assert allow, "405 without an Allow header"
    got = {m.strip().upper() for m in allow.split(",") if m.strip()}
    assert allowed <= got, f"Allow {allow!r} lacks {allowed}"
    assert method not in got, f"Allow {allow!r} lists the method that was refused"
    assert_security_headers(r, api=path.startswith("/api/"))


def test_security_headers_on_200(site):
    assert_security_headers(site.server.get("/healthz"))


def test_security_headers_on_api_200(site):
    c = site.login("acme_admin")
    r = c.me()
    assert r.status_code == 200
    assert_security_headers(r, api=True)


def test_security_headers_on_404(site):
    r = site.server.get("/api/v1/definitely-not-here")
    k.assert_error(r, 404, "not_found")
    assert_security_headers(r, api=True)


def test_security_headers_on_401(site):
    r = site.server.get("/api/v1/me")
    k.assert_error(r, 401, "unauthenticated")
    assert_security_headers(r, api=True)


def test_security_headers_on_413(site):
    body = b'{"tenant":"acme","email":"a@acme.example","password":"' + b"x" * (1 << 20) + b'"}'
    req = k.http_request_bytes("POST", "/api/v1/auth/login",
                               [("Content-Type", "application/json")], body)
    r = site.server.raw(req)
    k.assert_error(r, 413, "payload_too_large")
    assert_security_headers(r, api=True)


def test_static_index(site):
    r = site.server.get("/")
    assert r.status_code == 200, r.text[:300]
    assert r.headers["Content-Type"].startswith("text/html")
    assert r.content == INDEX_HTML
    assert_security_headers(r)


def test_static_file(site):
    r = site.server.get("/app.js")
    assert r.status_code == 200, r.text[:300]
    assert "javascript" in r.headers["Content-Type"]
    assert r.content == APP_JS
    assert_security_headers(r)


@pytest.mark.parametrize("target", [
    "/../master.key",
    "/../../master.key",
    "/%2e%2e/master.key",
    "/..%2fmaster.key",
    "/%2e%2e%2fmaster.key",
    "/..%5cmaster.key",
    "/./../tls/server.key",
    "//etc/passwd",
])
def test_static_path_traversal_refused(site, target):
    """No request path reaches a file outside web_root (the data dir holds
    the master key and the TLS key). requests would normalise the dots, so
    these go raw."""
    secrets_ = [
        (site.data_dir / "master.key").read_bytes(),
        (site.data_dir / "tls" / "server.key").read_bytes(),
        open("/etc/passwd", "rb").read(),
    ]
    r = site.server.raw(k.http_request_bytes("GET", target))
    assert 400 <= r.status < 500, f"{target} answered {r.status}: {r.body[:200]!r}"
    for s in secrets_:
        assert s[:32] not in r.body


def test_request_id_matches_error_body(site):
    r1 = site.server.get("/api/v1/nope")
    r2 = site.server.get("/api/v1/nope")
    err1 = k.assert_error(r1, 404, "not_found")
    err2 = k.assert_error(r2, 404, "not_found")
    assert err1.get("requestId") == r1.headers["X-Request-Id"]
    assert err2.get("requestId") == r2.headers["X-Request-Id"]
    assert r1.headers["X-Request-Id"] != r2.headers["X-Request-Id"], "request ids repeat"


@pytest.mark.parametrize("method,path,body", [
    ("GET", "/api/v1/me", None),
    ("GET", "/api/v1/users", None),
    ("GET", "/api/v1/users/1", None),
    ("POST", "/api/v1/auth/logout", None),
    ("POST", "/api/v1/auth/password", {"currentPassword": "x" * 12, "newPassword": "y" * 12}),
])
def test_session_routes_refuse_anonymous(site, method, path, body):
    r = site.server.request(method, path, json=body)
    k.assert_error(r, 401, "unauthenticated")


@pytest.mark.parametrize("cookie", [
    "garbage",
    "acme.",
    ".AAAA",
    "acme.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    "nosuchtenant.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    "../../etc.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    "acme." + "A" * 5000,
])
def test_bad_cookie_is_401(site, cookie):
    r = site.server.get("/api/v1/me", headers={"Cookie": f"{k.COOKIE_NAME}={cookie}"})
    k.assert_error(r, 401, "unauthenticated")
    assert site.server.get("/healthz").status_code == 200


def test_head_healthz_has_no_body(site):
    """HEAD on a GET route: the same status, no body (or 405 with Allow)."""
    r = site.server.request("HEAD", "/healthz")
    assert r.status_code in (200, 405), r.status_code
    assert r.content == b""


def test_listening_log_line(site):
    log = site.server.log()
    assert re.search(rf"event=listening url=https://127\.0\.0\.1:{site.server.port}\b", log), log[-2000:]
    for line in log.splitlines():
        if line.startswith(("ts=", "level=")):
            assert re.match(r"^(ts=\S+ )?level=(debug|info|warn|error) event=[a-z_]+", line), line


def test_request_logged_with_request_id(site):
    import time
    r = site.server.get("/api/v1/nope")
    rid = r.headers["X-Request-Id"]
    deadline = time.monotonic() + 5
    while rid not in site.server.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    lines = [ln for ln in site.server.log().splitlines() if rid in ln]
    assert lines, f"request {rid} was not logged"
    assert any("404" in ln for ln in lines), lines
