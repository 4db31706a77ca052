"""
Hostile and broken input: bad JSON, wrong content types, huge bodies, deep
nesting, invalid UTF-8, NUL bytes raw and escaped, duplicate keys, empty and
non-object bodies, and broken HTTP. Every answer must be a 4xx with a JSON
error (never a 500, never a crash), and after every test the same server
still answers /healthz.
"""

import json

import pytest

import kura_e2e as k

LOGIN = "/api/v1/auth/login"
JSON_HDR = {"Content-Type": "application/json"}


@pytest.fixture(autouse=True)
def server_survives(world):
    yield
    assert world.server.alive(), f"kurad died\n{world.server.log()[-4000:]}"
    r = world.server.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}


def post(world, data, headers=JSON_HDR):
    return world.server.post(LOGIN, data=data, headers=headers)


# ---------------------------------------------------------------- JSON syntax


@pytest.mark.parametrize("body", [
    b'{"tenant":',
    b'{"tenant": "acme"',
    b'{tenant: "acme"}',
    b"{'tenant': 'acme'}",
    b'{"tenant": "acme",}',
    b'{"tenant": "acme"} {"x": 1}',
    b'{"tenant": "acme"} trailing',
    b'{"tenant": NaN}',
    b'{"tenant": "acme" "email": "x"}',
    b'{"tenant": "\\x41"}',
    b'{"tenant": "unterminated}',
    b"\x1f\x0b\x08\x00",
])
def test_broken_json(world, body):
    k.assert_error(post(world, body), 400, "invalid_json")


def test_broken_json_message_is_safe(world):
    r = post(world, b'{"tenant": "acme", "password": "hunter2-secret",')
    err = k.assert_error(r, 400, "invalid_json")
    assert "hunter2-secret" not in r.text, "the error echoes the body"
    assert err.get("requestId") == r.headers.get("X-Request-Id")


# ---------------------------------------------------------------- content type


@pytest.mark.parametrize("ctype", [
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=xyz",
    "application/xml",
    "application/jsonx",
    "text/json-but-not",
])
def test_wrong_content_type(world, ctype):
    a = world.account("acme_admin")
    body = json.dumps({"tenant": a.tenant, "email": a.email, "password": a.password})
    r = post(world, body.encode(), headers={"Content-Type": ctype})
    k.assert_error(r, 415, "unsupported_media_type")


def test_missing_content_type(world):
    a = world.account("acme_admin")
    body = json.dumps({"tenant": a.tenant, "email": a.email, "password": a.password}).encode()
    req = k.http_request_bytes("POST", LOGIN, [], body)
    r = world.server.raw(req)
    k.assert_error(r, 415, "unsupported_media_type")


@pytest.mark.parametrize("ctype", ["application/json; charset=utf-8", "application/json;charset=UTF-8",
                                   "Application/JSON"])
def test_json_content_type_variants_accepted(world, ctype):
    a = world.account("acme_admin")
    body = json.dumps({"tenant": a.tenant, "email": a.email, "password": a.password}).encode()
    r = post(world, body, headers={"Content-Type": ctype})
    assert r.status_code == 200, r.text


def test_wrong_content_type_on_session_route(world):
    c = world.login("globex_admin")
    r = c.post("/api/v1/auth/password", data=b"currentPassword=x&newPassword=y",
               headers={"Content-Type": "application/x-www-form-urlencoded"})
    k.assert_error(r, 415, "unsupported_media_type")


# ---------------------------------------------------------------- size and depth


def test_huge_body(world):
    body = b'{"tenant":"acme","email":"a@acme.example","password":"' + b"p" * (5 << 20) + b'"}'
    r = world.server.raw(k.http_request_bytes("POST", LOGIN, [("Content-Type", "application/json")], body))
    k.assert_error(r, 413, "payload_too_large")


def test_deep_nesting(world):
    body = b'{"tenant":"acme","pad":' + b"[" * 40 + b"]" * 40 + b"}"
    k.assert_error(post(world, body), 400, "json_too_deep")


def test_long_fields(world):
    body = json.dumps({"tenant": "a" * 5000, "email": "e" * 5000 + "@x.example",
                       "password": "p" * 5000}).encode()
    err = k.assert_error(post(world, body), 422, "validation_failed")
    assert err.get("details"), err


def test_huge_number(world):
    k.assert_client_error(post(world, b'{"tenant": 1e999999, "email": "a", "password": "b"}'),
                          allowed_status={400, 422})


# ---------------------------------------------------------------- encoding


@pytest.mark.parametrize("bad", [
    b"\xff\xfe",             # never valid in UTF-8
    b"\xc0\xaf",             # overlong "/"
    b"\xe0\x80\xaf",         # overlong, 3 bytes
    b"\xed\xa0\x80",         # UTF-16 surrogate encoded in UTF-8
    b"\xf4\x90\x80\x80",     # above U+10FFFF
    b"\xc3",                 # truncated sequence
    b"\x80",                 # lone continuation byte
])
def test_invalid_utf8(world, bad):
    body = b'{"tenant":"acme","email":"adm' + bad + b'in@acme.example","password":"x"}'
    k.assert_client_error(post(world, body), allowed_status={400},
                          allowed_codes={"invalid_utf8", "invalid_json"})


def test_invalid_utf8_outside_strings(world):
    body = b'{"tenant":"acme",\xff"email":"x","password":"y"}'
    k.assert_client_error(post(world, body), allowed_status={400},
                          allowed_codes={"invalid_utf8", "invalid_json"})


def test_raw_nul_in_string(world):
    body = b'{"tenant":"ac\x00me","email":"admin@acme.example","password":"x"}'
    k.assert_client_error(post(world, body), allowed_status={400})


def test_raw_nul_between_tokens(world):
    body = b'{"tenant":"acme",\x00"email":"admin@acme.example","password":"x"}'
    k.assert_client_error(post(world, body), allowed_status={400})


def test_raw_nul_after_document(world):
    a = world.account("acme_admin")
    body = json.dumps({"tenant": a.tenant, "email": a.email, "password": a.password}).encode() + b"\x00junk"
    k.assert_client_error(post(world, body), allowed_status={400})


@pytest.mark.parametrize("field", ["tenant", "email", "password"])
def test_escaped_nul_never_truncates(world, field):
    """\\u0000 after a correct value must not log in: a C string would stop
    at the NUL and see the correct credentials."""
    a = world.account("acme_admin")
    creds = {"tenant": a.tenant, "email": a.email, "password": a.password}
    creds[field] = creds[field] + "\u0000junk"
    body = json.dumps(creds).encode()
    assert b"\\u0000" in body
    k.assert_client_error(post(world, body), allowed_status={400})


def test_escaped_nul_alone(world):
    body = b'{"tenant":"acme","email":"admin@acme.example","password":"\\u0000"}'
    k.assert_client_error(post(world, body), allowed_status={400})


def test_lone_surrogate_escape(world):
    body = b'{"tenant":"acme","email":"admin@acme.example","password":"\\ud800"}'
    k.assert_client_error(post(world, body), allowed_status={400})


# ---------------------------------------------------------------- structure


def test_duplicate_keys_refused(world):
    """A duplicate key must not be resolved silently (one parser taking the
    first value and another the last is how checks get bypassed)."""
    a = world.account("acme_admin")
    body = (f'{{"tenant":"{a.tenant}","email":"{a.email}","password":"wrong",'
            f'"password":"{a.password}"}}').encode()
    k.assert_client_error(post(world, body), allowed_status={400, 422})


def test_duplicate_tenant_key_refused(world):
    a = world.account("acme_admin")
    body = (f'{{"tenant":"globex","tenant":"{a.tenant}","email":"{a.email}",'
            f'"password":"{a.password}"}}').encode()
    k.assert_client_error(post(world, body), allowed_status={400, 422})


@pytest.mark.parametrize("body", [b"", b"   ", b"\r\n"])
def test_empty_body(world, body):
    k.assert_client_error(post(world, body), allowed_status={400, 422})


@pytest.mark.parametrize("body", [b"[]", b'["acme","a@x.example","pw"]', b'"acme"', b"1", b"null",
                                  b"true", b"{}"])
def test_non_object_or_empty_object(world, body):
    k.assert_client_error(post(world, body), allowed_status={400, 422})


def test_non_object_on_password_route(world):
    c = world.login("acme_member")
    for body in (b"[]", b'"x"', b"null", b"42"):
        r = c.post("/api/v1/auth/password", data=body, headers=JSON_HDR)
        k.assert_client_error(r, allowed_status={400, 422})


# ---------------------------------------------------------------- broken HTTP


@pytest.mark.parametrize("raw", [
    b"GARBAGE\r\n\r\n",
    b"GET\r\n\r\n",
    b"GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n",
    b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    b"Content-Length: -5\r\n\r\n",
    b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    b"Content-Length: 5\r\nContent-Length: 7\r\n\r\n{}{}{}{}",
    b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    b"Transfer-Encoding: chunked\r\n\r\nZZZ\r\n{}\r\n0\r\n\r\n",
    pytest.param(b"GET /\x00healthz HTTP/1.1\r\nHost: x\r\n\r\n", marks=pytest.mark.xfail(
        strict=True, reason="libmicrohttpd 0.9.75 ends the request target at a raw NUL byte "
        "and hands kurad the path cut there; see docs/SECURITY-MODEL.md")),
])
def test_broken_http(world, raw):
    """Broken HTTP gets a 4xx (or the connection is closed); never a 2xx or 5xx."""
    try:
        r = world.server.raw(raw + b"", timeout=15)
    except k.NoResponse:
        return  # closed without answering: acceptable for garbage
    ok = 400 <= r.status < 500 or (r.status == 505 and b"HTTP/9.9" in raw)
    assert ok, f"{raw[:60]!r} answered {r.status}: {r.body[:200]!r}"


def test_plain_http_on_tls_port(world):
    """Clear-text HTTP to the TLS port gets no HTTP answer with data."""
    import socket
    with socket.create_connection(("127.0.0.1", world.server.port), timeout=10) as s:
        s.sendall(b"GET /api/v1/me HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            data = s.recv(4096)
        except (ConnectionResetError, TimeoutError, OSError):
            data = b""
    assert b'"user"' not in data
