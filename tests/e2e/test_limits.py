"""
Request limits: URL length, header size, body size (Content-Length and
chunked), JSON depth, and connections per IP. Each limit is checked just
below (accepted) and above (refused with the right status AND JSON error
code), on a server with small configured limits and on the defaults.
"""

import socket
import ssl
import time

import pytest
import requests

import kura_e2e as k

SMALL = {
    "KURA_MAX_URL_BYTES": "1024",
    "KURA_MAX_HEADER_BYTES": "4096",
    "KURA_MAX_BODY_BYTES": "2048",
    "KURA_JSON_MAX_DEPTH": "8",
}
JSON_CT = ("Content-Type", "application/json")


@pytest.fixture(scope="module")
def small(binaries):
    """A world whose server has small limits."""
    w = k.make_world(env=SMALL)
    yield w
    k.destroy_world(w)


def target_of_length(n: int) -> str:
    """A request target of exactly n bytes on /healthz."""
    base = "/healthz?pad="
    assert n > len(base)
    return base + "a" * (n - len(base))


def login_body(pad_depth: int = 0, extra: bytes = b"") -> bytes:
    """A login body (wrong password) whose total JSON depth is 1 + pad_depth."""
    pad = b"[" * pad_depth + b"]" * pad_depth
    return (b'{"tenant":"acme","email":"admin@acme.example","password":"wrong-password"'
            + (b',"pad":' + pad if pad_depth else b"") + extra + b"}")


def post_login_raw(server, body: bytes, chunked_body=False) -> k.RawResponse:
    if chunked_body:
        req = k.http_request_bytes("POST", "/api/v1/auth/login",
                                   [JSON_CT, ("Transfer-Encoding", "chunked")], k.chunked(body))
    else:
        req = k.http_request_bytes("POST", "/api/v1/auth/login", [JSON_CT], body)
    return server.raw(req)


# ---------------------------------------------------------------- URL


def test_url_just_under_limit_small(small):
    r = small.server.raw(k.http_request_bytes("GET", target_of_length(1000)))
    assert r.status == 200, (r.status, r.body[:300])


@pytest.mark.parametrize("n", [1100, 4000])
def test_url_over_limit_small(small, n):
    r = small.server.raw(k.http_request_bytes("GET", target_of_length(n)))
    k.assert_error(r, 414, "uri_too_long")


def _refused_by_the_http_library(server, r, status):
    """Far past our limits the request does not fit libmicrohttpd's per-
    connection memory (sized at about twice the limits, src/http/server.c),
    and the library answers by itself: the status is right but the body is
    its own short HTML page. The server must stay up and keep answering."""
    assert r.status == status, (r.status, r.body[:300])
    assert server.get("/healthz").status_code == 200


def test_url_far_past_limit_small(small):
    r = small.server.raw(k.http_request_bytes("GET", target_of_length(60000)))
    _refused_by_the_http_library(small.server, r, 414)


def test_url_limit_default(world):
    ok = world.server.raw(k.http_request_bytes("GET", target_of_length(8000)))
    assert ok.status == 200, (ok.status, ok.body[:300])
    r = world.server.raw(k.http_request_bytes("GET", target_of_length(8400)))
    k.assert_error(r, 414, "uri_too_long")


def test_url_limit_on_api_path(small):
    r = small.server.raw(k.http_request_bytes("GET", "/api/v1/users/" + "1" * 2000))
    k.assert_error(r, 414, "uri_too_long")


# ---------------------------------------------------------------- headers


def test_header_under_limit_small(small):
    r = small.server.raw(k.http_request_bytes("GET", "/healthz", [("X-Pad", "a" * 3000)]))
    assert r.status == 200, (r.status, r.body[:300])


def test_one_big_header_small(small):
    r = small.server.raw(k.http_request_bytes("GET", "/healthz", [("X-Pad", "a" * 5000)]))
    k.assert_error(r, 431, "headers_too_large")


def test_many_headers_small(small):
    hdrs = [(f"X-Pad-{i}", "b" * 90) for i in range(60)]   # ~6 KB in all
    r = small.server.raw(k.http_request_bytes("GET", "/healthz", hdrs))
    k.assert_error(r, 431, "headers_too_large")


def test_big_cookie_header_small(small):
    r = small.server.raw(k.http_request_bytes(
        "GET", "/api/v1/me", [("Cookie", f"{k.COOKIE_NAME}=acme.{'c' * 6000}")]))
    k.assert_error(r, 431, "headers_too_large")


def test_header_limit_default(world):
    ok = world.server.raw(k.http_request_bytes("GET", "/healthz", [("X-Pad", "a" * 12000)]))
    assert ok.status == 200, (ok.status, ok.body[:300])
    r = world.server.raw(k.http_request_bytes("GET", "/healthz", [("X-Pad", "a" * 20000)]))
    k.assert_error(r, 431, "headers_too_large")
    r = world.server.raw(k.http_request_bytes("GET", "/healthz", [("X-Pad", "a" * 200000)]))
    _refused_by_the_http_library(world.server, r, 431)


# ---------------------------------------------------------------- body


def _logout_raw(server, client, body: bytes, chunked_body=False):
    hdrs = [JSON_CT, ("Cookie", f"{k.COOKIE_NAME}={client.cookie}"), (k.CSRF_HEADER, client.csrf)]
    if chunked_body:
        hdrs.append(("Transfer-Encoding", "chunked"))
        body = k.chunked(body, size=500)
    return server.raw(k.http_request_bytes("POST", "/api/v1/auth/logout", hdrs, body))


def test_body_under_limit_small(small):
    """A signed-in POST on a route with the configured body limit (2048)."""
    c = small.login("acme_admin")
    r = _logout_raw(small.server, c, b'{"pad":"' + b"x" * 1500 + b'"}')
    assert r.status == 204, (r.status, r.body[:300])


def test_body_over_limit_content_length_small(small):
    c = small.login("acme_admin")
    r = _logout_raw(small.server, c, b'{"pad":"' + b"x" * 3000 + b'"}')
    k.assert_error(r, 413, "payload_too_large")
    # the refused request did not log out
    assert c.me().status_code == 200


def test_body_over_limit_chunked_small(small):
    c = small.login("acme_admin")
    r = _logout_raw(small.server, c, b'{"pad":"' + b"x" * 3000 + b'"}', chunked_body=True)
    k.assert_error(r, 413, "payload_too_large")
    assert c.me().status_code == 200


def test_body_under_limit_chunked_small(small):
    c = small.login("acme_admin")
    r = _logout_raw(small.server, c, b'{"pad":"' + b"x" * 1000 + b'"}', chunked_body=True)
    assert r.status == 204, (r.status, r.body[:300])


def test_login_body_over_limits(small):
    r = post_login_raw(small.server, login_body(extra=b',"pad":"' + b"x" * 20000 + b'"'))
    k.assert_error(r, 413, "payload_too_large")


def test_declared_length_over_limit_without_body(small):
    """A Content-Length over the limit is refused from the header alone:
    the server need not wait for (or read) the body."""
    req = k.http_request_bytes("POST", "/api/v1/auth/login",
                               [JSON_CT, ("Content-Length", str(50 << 20))], b"")
    r = small.server.raw(req, timeout=15)
    k.assert_error(r, 413, "payload_too_large")


def test_body_limit_default_content_length(world):
    body = login_body(extra=b',"pad":"' + b"x" * (1 << 20) + b'"')
    r = post_login_raw(world.server, body)
    k.assert_error(r, 413, "payload_too_large")
    assert world.server.get("/healthz").status_code == 200


def test_body_limit_default_chunked(world):
    body = login_body(extra=b',"pad":"' + b"x" * (1 << 20) + b'"')
    r = post_login_raw(world.server, body, chunked_body=True)
    k.assert_error(r, 413, "payload_too_large")
    assert world.server.get("/healthz").status_code == 200


def test_chunked_body_is_read(world):
    a = world.account("acme_admin")
    body = (f'{{"tenant":"{a.tenant}","email":"{a.email}","password":"{a.password}"}}').encode()
    r = post_login_raw(world.server, body, chunked_body=True)
    assert r.status == 200, (r.status, r.body[:300])
    assert r.json()["user"]["email"] == a.email


# ---------------------------------------------------------------- JSON depth


def test_json_depth_at_limit_small(small):
    r = small.server.post("/api/v1/auth/login", data=login_body(7), headers=dict([JSON_CT]))
    assert r.status_code in (401, 422), r.text       # depth 8 = the limit: parsed
    assert r.json()["error"]["code"] != "json_too_deep"


def test_json_depth_over_limit_small(small):
    for depth in (8, 20):
        r = small.server.post("/api/v1/auth/login", data=login_body(depth), headers=dict([JSON_CT]))
        k.assert_error(r, 400, "json_too_deep")


def test_json_depth_objects_small(small):
    deep = b'{"a":' * 12 + b"1" + b"}" * 12
    r = small.server.post("/api/v1/auth/login", data=b'{"tenant":"acme","x":' + deep + b"}",
                          headers=dict([JSON_CT]))
    k.assert_error(r, 400, "json_too_deep")


def test_json_depth_default(world):
    hdr = dict([JSON_CT])
    r = world.server.post("/api/v1/auth/login", data=login_body(31), headers=hdr)
    assert r.status_code in (401, 422), r.text       # depth 32: parsed
    assert r.json()["error"]["code"] != "json_too_deep"
    r = world.server.post("/api/v1/auth/login", data=login_body(32), headers=hdr)
    k.assert_error(r, 400, "json_too_deep")


def test_json_very_deep_does_not_crash(world):
    hdr = dict([JSON_CT])
    for body in (b"[" * 8000 + b"]" * 8000, b"[" * 16000, b'{"a":' * 3000 + b"1" + b"}" * 3000):
        r = world.server.post("/api/v1/auth/login", data=body, headers=hdr)
        k.assert_client_error(r, allowed_status={400, 413})
    assert world.server.get("/healthz").status_code == 200


def test_json_depth_on_password_route(small):
    c = small.login("globex_admin")
    body = (b'{"currentPassword":"x","newPassword":"y","pad":' + b"[" * 30 + b"]" * 30 + b"}")
    r = c.post("/api/v1/auth/password", data=body, headers=dict([JSON_CT]))
    k.assert_error(r, 400, "json_too_deep")


# ---------------------------------------------------------------- connections per IP


REQ_KEEPALIVE = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def _open_and_use(server, source_ip=None, timeout=5.0):
    """A TLS connection that has completed one keep-alive request."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=timeout,
                                    source_address=(source_ip, 0) if source_ip else None)
    try:
        t = k.tls_context(server.cert).wrap_socket(sock, server_hostname="127.0.0.1")
    except BaseException:
        sock.close()
        raise
    try:
        t.sendall(REQ_KEEPALIVE)
        r = k.read_response(t, timeout=timeout)
    except BaseException:
        t.close()
        raise
    assert r.status == 200, r.status
    return t


def _refused(server, source_ip=None) -> str:
    """'' when a connection could be opened and used, else how it failed."""
    try:
        t = _open_and_use(server, source_ip=source_ip)
    except (ssl.SSLError, OSError, k.NoResponse) as e:
        return repr(e) or "failed"
    t.close()
    return ""


def test_per_ip_connection_limit(data_dir, servers):
    data, _ = data_dir
    s = servers(data, env={"KURA_PER_IP_CONNECTION_LIMIT": "4"})
    conns = []
    try:
        # the start-up probe's connections may still be counted for a moment
        deadline = time.monotonic() + 10
        while len(conns) < 4:
            try:
                conns.append(_open_and_use(s))
            except (ssl.SSLError, OSError, k.NoResponse):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        how = _refused(s)
        assert how, "a 5th connection from one IP was accepted and answered"
        # the four stay open and keep working
        for t in conns:
            t.sendall(REQ_KEEPALIVE)
            assert k.read_response(t).status == 200
        # another source address is not counted against 127.0.0.1
        assert _refused(s, source_ip="127.0.0.2") == "", "the limit is not per IP"
        # freeing one lets a new one in
        conns.pop().close()
        deadline = time.monotonic() + 10
        while True:
            try:
                conns.append(_open_and_use(s))
                break
            except (ssl.SSLError, OSError, k.NoResponse):
                if time.monotonic() > deadline:
                    raise AssertionError("no new connection after one of four closed")
                time.sleep(0.2)
    finally:
        for t in conns:
            t.close()
    # the server notices the closes asynchronously: until then a new
    # connection may still be over the limit, so allow it a moment
    deadline = time.monotonic() + 10
    while True:
        try:
            assert s.get("/healthz").status_code == 200
            break
        except requests.exceptions.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


# ---------------------------------------------------------------- slow clients and floods


def test_idle_connection_is_closed(data_dir, servers):
    """connection_timeout_s: a client that sends half a request and stops
    is disconnected (slowloris)."""
    data, _ = data_dir
    s = servers(data, env={"KURA_CONNECTION_TIMEOUT_S": "1"})
    t = s.tls_connect(timeout=10)
    try:
        t.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        time.sleep(3)
        t.settimeout(10)
        try:
            data_ = t.recv(4096)
        except (ConnectionResetError, ssl.SSLError, OSError):
            data_ = b""
        assert data_ == b"" or data_.startswith(b"HTTP/1.1 408"), \
            f"the half-sent request was still open after 3x the timeout: {data_[:100]!r}"
    finally:
        t.close()
    assert s.get("/healthz").status_code == 200


def test_login_flood_gets_503_busy(data_dir, servers):
    """With one hashing thread and a queue of one, a burst of logins gets
    503 service_busy (with Retry-After) for those that do not fit, never a
    hang or a 500; the server answers normally afterwards. A slow hash
    (256 MiB) keeps the burst from draining while it arrives."""
    import concurrent.futures
    data, cli = data_dir
    cli.tenant_create("acme", "Acme")
    s = servers(data, env={"KURA_HASH_WORKERS": "1", "KURA_HASH_QUEUE_MAX": "1",
                           "KURA_PASSWORD_MEMLIMIT_KIB": "262144"})
    body = {"tenant": "acme", "email": "nobody@acme.example", "password": "wrong-password"}

    def one(_):
        return s.post("/api/v1/auth/login", json=body, timeout=120)

    with concurrent.futures.ThreadPoolExecutor(max_workers=12) as ex:
        answers = list(ex.map(one, range(12)))
    statuses = sorted(r.status_code for r in answers)
    assert set(statuses) <= {401, 503}, statuses
    assert 503 in statuses, f"no login was refused as busy: {statuses}"
    assert 401 in statuses, f"every login was refused: {statuses}"
    for r in answers:
        if r.status_code == 503:
            k.assert_error(r, 503, "service_busy")
            assert r.headers.get("Retry-After"), "503 without Retry-After"
    k.assert_error(s.post("/api/v1/auth/login", json=body, timeout=120), 401, "invalid_credentials")
