"""
Helpers for Kura's black-box tests: find the binaries, run the `kura` CLI,
start and stop a real `kurad` on 127.0.0.1 and a free port, talk to it with
`requests` (verifying its self-signed certificate) or with raw bytes over TLS
when `requests` would refuse to send what a test needs.

Nothing here is a stand-in: every test talks to a real kurad process with
real TLS and real SQLite files in a temporary data directory.
"""

import base64
import datetime as _dt
import hashlib
import hmac
import json
import os
import struct
import re
import secrets
import select
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from http.cookiejar import DefaultCookiePolicy
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import requests

REPO = Path(__file__).resolve().parents[2]
COOKIE_NAME = "__Host-kura_session"
CSRF_HEADER = "X-CSRF-Token"
# Argon2id at the minimum memory the server accepts, so logins are fast in tests.
TEST_MEMLIMIT_KIB = "19456"
# Every test client is 127.0.0.1, so the failed-login block (default 20 a
# minute) would block whole modules that test refused sign-ins. A limit no
# test reaches keeps its code running everywhere; test_monitoring.py sets a
# small one to test the block itself.
TEST_LOGIN_FAIL_IP_LIMIT = "100000"
START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 15.0


def build_dir() -> Path:
    return Path(os.environ.get("KURA_BUILD_DIR", str(REPO / "build"))).resolve()


def kurad_bin() -> Path:
    return build_dir() / "kurad"


def kura_bin() -> Path:
    return build_dir() / "tools" / "kura" / "kura"


def clean_env(extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """The caller's environment without any KURA_* variable (an unknown one
    stops kurad), plus the fast password-hash setting, the failed-login limit
    of the tests and `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KURA_")}
    env["KURA_PASSWORD_MEMLIMIT_KIB"] = TEST_MEMLIMIT_KIB
    env["KURA_LOGIN_FAIL_IP_LIMIT"] = TEST_LOGIN_FAIL_IP_LIMIT
    if extra:
        env.update(extra)
    return env


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def new_tempdir(prefix: str = "kura-e2e-") -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))


def remove_tempdir(path: Path) -> None:
    if os.environ.get("KURA_E2E_KEEP"):
        return
    shutil.rmtree(path, ignore_errors=True)


def strong_password() -> str:
    return "pw-" + secrets.token_urlsafe(18)


# --------------------------------------------------------------------------
# The operator CLI


class KuraCLI:
    """Runs `kura --data DIR ...`."""

    def __init__(self, data_dir: Path, env: Optional[Dict[str, str]] = None):
        self.data_dir = Path(data_dir)
        self.env = clean_env(env)

    def run(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        cmd = [str(kura_bin()), "--data", str(self.data_dir), *args]
        p = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError(
                f"{' '.join(cmd)} exited {p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}")
        return p

    def init(self) -> None:
        self.run("init")

    def tenant_create(self, tenant_id: str, name: str) -> None:
        # Options before the id: the form every getopt accepts. The documented
        # form "create ID --name N" has its own test (test_auth.py).
        self.run("tenant", "create", "--name", name, tenant_id)

    def tenant_list(self) -> List[Tuple[str, str, str]]:
        out = self.run("tenant", "list").stdout
        rows = []
        for line in out.splitlines():
            if not line.strip():
                continue
            parts = line.split("\t")
            assert len(parts) == 3, f"tenant list line is not id<TAB>status<TAB>name: {line!r}"
            rows.append((parts[0], parts[1], parts[2]))
        return rows

    def tenant_suspend(self, tenant_id: str) -> None:
        self.run("tenant", "suspend", tenant_id)

    def tenant_resume(self, tenant_id: str) -> None:
        self.run("tenant", "resume", tenant_id)

    def user_create(self, tenant: str, email: str, role: str, name: Optional[str] = None) -> str:
        """Creates a user and returns the one-time password the CLI printed."""
        args = ["user", "create", "--tenant", tenant, "--email", email, "--role", role]
        if name is not None:
            args += ["--name", name]
        out = self.run(*args).stdout
        m = re.search(r"one-time password:\s*(\S+)", out)
        assert m, f"`kura user create` printed no 'one-time password: ...' line:\n{out}"
        return m.group(1)


# --------------------------------------------------------------------------
# The server


class StartError(AssertionError):
    pass


class Kurad:
    """One kurad process on 127.0.0.1 and a free port. stderr goes to a file
    so a failing test can show the log."""

    def __init__(self, data_dir: Path, env: Optional[Dict[str, str]] = None,
                 args: Tuple[str, ...] = (), insecure_http: bool = False,
                 listen: str = "127.0.0.1", log_dir: Optional[Path] = None):
        self.data_dir = Path(data_dir)
        self.env = clean_env(env)
        self.args = tuple(args)
        self.insecure_http = insecure_http
        self.listen = listen
        self.log_dir = Path(log_dir) if log_dir else self.data_dir.parent
        self.proc: Optional[subprocess.Popen] = None
        self.port: Optional[int] = None
        self.log_path: Optional[Path] = None
        self._log_file = None
        self.cert = str(self.data_dir / "tls" / "server.crt")
        self.starts = 0

    # -- life cycle

    @property
    def scheme(self) -> str:
        return "http" if self.insecure_http else "https"

    @property
    def base(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def command(self, port: int) -> List[str]:
        cmd = [str(kurad_bin()), "--data", str(self.data_dir), "--port", str(port),
               "--listen", self.listen]
        if self.insecure_http:
            cmd.append("--insecure-http")
        cmd += list(self.args)
        return cmd

    def start(self, port: Optional[int] = None) -> "Kurad":
        """Starts kurad and waits (bounded) until /healthz answers. A port
        taken meanwhile by someone else is retried on another free port."""
        last = None
        for _ in range(3):
            p = port or free_port()
            try:
                self._start_once(p)
                return self
            except StartError as e:
                last = e
                if port is not None or "in use" not in self.log().lower():
                    raise
        raise last  # type: ignore[misc]

    def _start_once(self, port: int) -> None:
        self.starts += 1
        self.port = port
        self.log_path = self.log_dir / f"kurad-{port}-{self.starts}.log"
        self._log_file = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.command(port), env=self.env, stdin=subprocess.DEVNULL,
                                     stdout=self._log_file, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            rc = self.proc.poll()
            if rc is not None:
                raise StartError(f"kurad exited with {rc} during start-up\n--- log ---\n{self.log()}")
            # "event=listening" comes first; /healthz answering is what counts
            if self._healthz_ok():
                return
            time.sleep(0.1)
        self.kill()
        raise StartError(f"kurad did not answer /healthz within {START_TIMEOUT_S}s\n--- log ---\n{self.log()}")

    def _healthz_ok(self) -> bool:
        try:
            r = requests.get(self.base + "/healthz", verify=self.cert if not self.insecure_http else False,
                             timeout=2)
            return r.status_code == 200
        except (requests.RequestException, OSError):
            return False

    def stop(self) -> Optional[int]:
        """SIGTERM, wait; SIGKILL if it hangs. Returns the exit code (None if
        it was not running)."""
        if self.proc is None:
            return None
        rc = self.proc.poll()
        if rc is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
                rc = self.proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.kill()
                rc = "hung"  # type: ignore[assignment]
        self._close_log()
        self.proc = None
        return rc

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                pass
        self._close_log()

    def _close_log(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                       "WARNING: ThreadSanitizer")

    def sanitizer_report(self) -> str:
        """The part of the log from AddressSanitizer/UBSan, '' when none."""
        log = self.log()
        for mark in self.SANITIZER_MARKS:
            i = log.find(mark)
            if i >= 0:
                return log[max(0, i - 200):i + 6000]
        return ""

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")

    # -- talking to it

    def request(self, method: str, path: str, **kw) -> requests.Response:
        kw.setdefault("verify", self.cert if not self.insecure_http else False)
        kw.setdefault("timeout", 30)
        kw.setdefault("allow_redirects", False)
        return requests.request(method, self.base + path, **kw)

    def get(self, path: str, **kw) -> requests.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw) -> requests.Response:
        return self.request("POST", path, **kw)

    def login_raw(self, tenant, email, password, **kw) -> requests.Response:
        return self.post("/api/v1/auth/login",
                         json={"tenant": tenant, "email": email, "password": password}, **kw)

    def login(self, tenant: str, email: str, password: str) -> "Client":
        r = self.login_raw(tenant, email, password)
        assert r.status_code == 200, f"login {tenant}/{email} failed: {r.status_code} {r.text}"
        return Client.from_login(self, r)

    def raw(self, data: bytes, **kw) -> "RawResponse":
        return raw_exchange(self.port, data, cafile=None if self.insecure_http else self.cert, **kw)

    def tls_connect(self, **kw) -> ssl.SSLSocket:
        return tls_connect(self.port, self.cert, **kw)


class _NoCookies(DefaultCookiePolicy):
    """requests must not keep cookies on its own: tests set the Cookie
    header themselves so that they control exactly what is sent."""

    def set_ok(self, cookie, request):
        return False


def set_cookie_headers(r: requests.Response) -> List[str]:
    """Every raw Set-Cookie header of a response (requests joins them)."""
    return list(r.raw.headers.getlist("Set-Cookie"))


def session_cookie_from(r: requests.Response) -> Optional[str]:
    for h in set_cookie_headers(r):
        name, _, rest = h.partition("=")
        if name.strip() == COOKIE_NAME:
            return rest.split(";", 1)[0].strip()
    return None


class Client:
    """A signed-in user: a requests.Session that sends the session cookie,
    and the CSRF token the login answered with."""

    def __init__(self, server: Kurad, cookie: str, csrf: Optional[str], login_body: dict):
        self.server = server
        self.cookie = cookie
        self.csrf = csrf
        self.login_body = login_body
        self.session = requests.Session()
        self.session.cookies.set_policy(_NoCookies())
        self.session.verify = server.cert if not server.insecure_http else False

    @classmethod
    def from_login(cls, server: Kurad, r: requests.Response) -> "Client":
        cookie = session_cookie_from(r)
        assert cookie, f"login answered no {COOKIE_NAME} cookie: {set_cookie_headers(r)}"
        body = r.json()
        return cls(server, cookie, body.get("csrfToken"), body)

    @property
    def tenant(self) -> str:
        return self.login_body["tenant"]["id"]

    @property
    def user_id(self) -> str:
        return self.login_body["user"]["id"]

    def request(self, method: str, path: str, csrf=True, cookie=None, headers=None,
                **kw) -> requests.Response:
        h = dict(headers or {})
        ck = self.cookie if cookie is None else cookie
        if ck is not False:
            h["Cookie"] = f"{COOKIE_NAME}={ck}"
        if csrf is True and self.csrf is not None:
            h[CSRF_HEADER] = self.csrf
        elif isinstance(csrf, str):
            h[CSRF_HEADER] = csrf
        kw.setdefault("timeout", 30)
        kw.setdefault("allow_redirects", False)
        # per request: a Session's own verify loses to REQUESTS_CA_BUNDLE
        kw.setdefault("verify", self.session.verify)
        return self.session.request(method, self.server.base + path, headers=h, **kw)

    def get(self, path: str, **kw) -> requests.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw) -> requests.Response:
        return self.request("POST", path, **kw)

    def me(self) -> requests.Response:
        return self.get("/api/v1/me")

    def change_password(self, current: str, new: str, **kw) -> requests.Response:
        return self.post("/api/v1/auth/password",
                         json={"currentPassword": current, "newPassword": new}, **kw)

    def logout(self, **kw) -> requests.Response:
        return self.post("/api/v1/auth/logout", **kw)

    def close(self) -> None:
        self.session.close()


# --------------------------------------------------------------------------
# A provisioned deployment: two tenants, an admin and a member in each


@dataclass
class Account:
    key: str
    tenant: str
    email: str
    role: str
    name: str
    password: str = ""


@dataclass
class World:
    tmp: Path
    data_dir: Path
    cli: KuraCLI
    server: Kurad
    accounts: Dict[str, Account] = field(default_factory=dict)

    def account(self, key: str) -> Account:
        return self.accounts[key]

    def login(self, key: str) -> Client:
        a = self.accounts[key]
        return self.server.login(a.tenant, a.email, a.password)

    def new_user(self, tenant: str, role: str = "super_admin", prefix: str = "user") -> Account:
        """A fresh user (created by the CLI while the server runs) that
        still has its one-time password."""
        email = f"{prefix}-{secrets.token_hex(4)}@{tenant}.example"
        pw = self.cli.user_create(tenant, email, role, name=f"{prefix} {tenant}")
        return Account(key=email, tenant=tenant, email=email, role=role, name=f"{prefix} {tenant}",
                       password=pw)

    def activate(self, acct: Account) -> Account:
        """Logs in with the one-time password and sets a strong one."""
        c = self.server.login(acct.tenant, acct.email, acct.password)
        new = strong_password()
        r = c.change_password(acct.password, new)
        assert r.status_code == 204, f"password change for {acct.email}: {r.status_code} {r.text}"
        acct.password = new
        c.close()
        return acct


STANDARD_ACCOUNTS = [
    ("acme_admin", "acme", "admin@acme.example", "super_admin", "Acme Admin"),
    ("acme_member", "acme", "member@acme.example", "member", "Acme Member"),
    ("globex_admin", "globex", "admin@globex.example", "super_admin", "Globex Admin"),
    ("globex_member", "globex", "member@globex.example", "member", "Globex Member"),
]


def init_data_dir(tmp: Path) -> Tuple[Path, KuraCLI]:
    data = tmp / "data"
    cli = KuraCLI(data)
    cli.init()
    return data, cli


def make_world(env: Optional[Dict[str, str]] = None, args: Tuple[str, ...] = (),
               activate: bool = True) -> World:
    """A fresh data dir with tenants acme and globex, a super_admin and a
    member in each, and a running server. With activate, every account has
    changed its one-time password to a known strong one."""
    tmp = new_tempdir()
    server = None
    try:
        data, cli = init_data_dir(tmp)
        cli.tenant_create("acme", "Acme Corporation")
        cli.tenant_create("globex", "Globex Inc")
        accounts = {}
        for key, tenant, email, role, name in STANDARD_ACCOUNTS:
            pw = cli.user_create(tenant, email, role, name=name)
            accounts[key] = Account(key, tenant, email, role, name, pw)
        server = Kurad(data, env=env, args=args, log_dir=tmp)
        w = World(tmp=tmp, data_dir=data, cli=cli, server=server, accounts=accounts)
        server.start()
        if activate:
            for a in accounts.values():
                w.activate(a)
        return w
    except BaseException:
        # the caller never sees the world, so clean up here
        if server is not None:
            server.kill()
        remove_tempdir(tmp)
        raise


def destroy_world(w: World) -> None:
    """Stops the server and removes the data; then fails (an error in the
    last test's teardown) when kurad did not stop cleanly or a sanitizer
    reported something."""
    rc = w.server.stop()
    report = w.server.sanitizer_report()
    log = w.server.log()
    remove_tempdir(w.tmp)
    assert not report, f"sanitizer report in the kurad log:\n{report}"
    assert rc in (0, None), f"kurad exited {rc} on SIGTERM\n{log[-4000:]}"


# --------------------------------------------------------------------------
# Raw HTTP over TLS, for what requests will not send


def tls_context(cafile: Optional[str]) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if cafile:
        ctx.load_verify_locations(cafile)
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def tls_connect(port: int, cafile: Optional[str], timeout: float = 10,
                ctx: Optional[ssl.SSLContext] = None) -> ssl.SSLSocket:
    ctx = ctx or tls_context(cafile)
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        return ctx.wrap_socket(sock, server_hostname="127.0.0.1")
    except BaseException:
        sock.close()
        raise


@dataclass
class RawResponse:
    status: int
    reason: str
    headers: List[Tuple[str, str]]
    body: bytes
    send_error: Optional[str] = None

    def header(self, name: str) -> Optional[str]:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def json(self):
        return json.loads(self.body.decode("utf-8"))


class NoResponse(AssertionError):
    pass


def _recv_some(sock, n=65536) -> bytes:
    try:
        return sock.recv(n)
    except ssl.SSLWantReadError:
        return b""


def read_response(sock, timeout: float = 15) -> RawResponse:
    """Reads one HTTP/1.1 response (Content-Length, chunked, or to close)."""
    buf = b""
    deadline = time.monotonic() + timeout
    sock.settimeout(timeout)

    def more() -> bytes:
        if time.monotonic() > deadline:
            raise NoResponse("timed out reading the response")
        try:
            return sock.recv(65536)
        except (ConnectionResetError, ssl.SSLEOFError, ssl.SSLZeroReturnError):
            return b""

    while b"\r\n\r\n" not in buf:
        d = more()
        if not d:
            raise NoResponse(f"connection closed before a full response head: {buf[:200]!r}")
        buf += d
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("iso-8859-1").split("\r\n")
    m = re.match(r"HTTP/1\.[01] (\d{3}) ?(.*)", lines[0])
    if not m:
        raise NoResponse(f"not an HTTP status line: {lines[0]!r}")
    headers = []
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        headers.append((k.strip(), v.strip()))
    hd = {k.lower(): v for k, v in headers}
    body = rest
    if "content-length" in hd:
        n = int(hd["content-length"])
        while len(body) < n:
            d = more()
            if not d:
                break
            body += d
        body = body[:n]
    elif "chunked" in hd.get("transfer-encoding", "").lower():
        out = b""
        while True:
            while b"\r\n" not in body:
                d = more()
                if not d:
                    raise NoResponse("connection closed inside a chunked body")
                body += d
            size_line, _, body = body.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            while len(body) < size + 2:
                d = more()
                if not d:
                    raise NoResponse("connection closed inside a chunk")
                body += d
            out += body[:size]
            body = body[size + 2:]
            if size == 0:
                break
        body = out
    elif m.group(1) not in ("204", "304"):
        while True:
            d = more()
            if not d:
                break
            body += d
    return RawResponse(int(m.group(1)), m.group(2), headers, body)


def raw_exchange(port: int, data: bytes, cafile: Optional[str] = None, tls: bool = True,
                 timeout: float = 15, chunk: int = 16384) -> RawResponse:
    """Sends `data` (a whole request, possibly huge) and reads the response.
    Stops sending as soon as the server starts answering (a server may
    answer 413 before reading a large body, then close)."""
    if tls:
        sock = tls_connect(port, cafile, timeout=timeout)
    else:
        sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    send_error = None
    try:
        off = 0
        while off < len(data):
            readable = sock.pending() if tls else 0
            if not readable:
                r, _, _ = select.select([sock], [], [], 0)
                readable = bool(r)
            if readable:
                break
            try:
                off += sock.send(data[off:off + chunk])
            except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError) as e:
                send_error = repr(e)
                break
        resp = read_response(sock, timeout=timeout)
        resp.send_error = send_error
        return resp
    finally:
        try:
            sock.close()
        except OSError:
            pass


def http_request_bytes(method: str, path: str, headers: Optional[List[Tuple[str, str]]] = None,
                       body: bytes = b"", host: str = "127.0.0.1", content_length: bool = True) -> bytes:
    h = [("Host", host)] + list(headers or []) + [("Connection", "close")]
    if body and content_length and not any(k.lower() in ("content-length", "transfer-encoding") for k, _ in h):
        h.append(("Content-Length", str(len(body))))
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h) + "\r\n"
    return head.encode("latin-1") + body


def chunked(body: bytes, size: int = 8192) -> bytes:
    out = b""
    for i in range(0, len(body), size):
        part = body[i:i + size]
        out += f"{len(part):x}\r\n".encode() + part + b"\r\n"
    return out + b"0\r\n\r\n"


# --------------------------------------------------------------------------
# Assertions shared by the tests


def assert_error(r, status: int, code: Optional[str] = None):
    """r is a requests.Response or a RawResponse. Checks the status and the
    JSON error shape; returns the error object."""
    status_got = r.status_code if hasattr(r, "status_code") else r.status
    text = r.text if hasattr(r, "text") else r.body.decode("utf-8", "replace")
    assert status_got == status, f"expected {status} {code or ''}, got {status_got}: {text[:500]}"
    ctype = r.headers.get("Content-Type", "") if hasattr(r, "status_code") else (r.header("Content-Type") or "")
    assert ctype.lower().startswith("application/json"), f"error is not JSON (Content-Type {ctype!r}): {text[:300]}"
    body = r.json()
    assert isinstance(body, dict) and isinstance(body.get("error"), dict), f"no error object: {body}"
    err = body["error"]
    assert isinstance(err.get("code"), str) and err["code"], f"error without code: {body}"
    assert isinstance(err.get("message"), str) and err["message"], f"error without message: {body}"
    if code is not None:
        assert err["code"] == code, f"expected error code {code!r}, got {err['code']!r}: {body}"
    return err


def assert_client_error(r, allowed_status=None, allowed_codes=None):
    """A 4xx with a JSON error body (not a 5xx, not a dropped connection)."""
    status_got = r.status_code if hasattr(r, "status_code") else r.status
    text = r.text if hasattr(r, "text") else r.body.decode("utf-8", "replace")
    assert 400 <= status_got < 500, f"expected a 4xx, got {status_got}: {text[:500]}"
    if allowed_status is not None:
        assert status_got in allowed_status, f"expected one of {allowed_status}, got {status_got}: {text[:300]}"
    err = assert_error(r, status_got)
    if allowed_codes is not None:
        assert err["code"] in allowed_codes, f"expected code in {allowed_codes}, got {err['code']!r}"
    return err


def error_without_request_id(r) -> dict:
    body = r.json()
    err = dict(body["error"])
    err.pop("requestId", None)
    return {"status": r.status_code, "error": err}


# --------------------------------------------------------------------------
# Users, sessions and the audit log (test_users.py, test_routes_matrix.py)


def new_tenant(world: World, prefix: str = "t") -> str:
    """A new tenant of the world's deployment, with no users yet."""
    tid = f"{prefix}{secrets.token_hex(4)}"
    world.cli.tenant_create(tid, f"Tenant {tid}")
    return tid


def active_user(world: World, tenant: str, role: str, prefix: str = "user") -> Account:
    """A fresh user (made by the CLI) whose one-time password is already changed."""
    return world.activate(world.new_user(tenant, role=role, prefix=prefix))


def audit_entries(client: Client, **params) -> list:
    """GET /api/v1/audit with the given filters; the results (newest first)."""
    r = client.get("/api/v1/audit", params=params)
    assert r.status_code == 200, f"GET /api/v1/audit {params}: {r.status_code} {r.text[:300]}"
    body = r.json()
    assert isinstance(body.get("results"), list), body
    return body["results"]


# --------------------------------------------------------------------------
# The CRM API (test_crm_*.py)

CRM_MISSING_ID = "987654321"


def crm_callers(world: World, tenant: str = "acme") -> Dict[str, Client]:
    """Signed-in clients of the tenant, by role: the world's super admin and
    member, plus an admin and a read_only user made here."""
    out = {
        "super_admin": world.login(f"{tenant}_admin"),
        "member": world.login(f"{tenant}_member"),
    }
    for role in ("admin", "read_only"):
        acct = active_user(world, tenant, role, prefix=f"crm-{role.replace('_', '')}")
        out[role] = world.server.login(acct.tenant, acct.email, acct.password)
    return out


def crm_api_key(client: Client, scopes: List[str], name: str = "crm") -> Tuple[str, str]:
    """(key id, token) of a new API key of the client's user."""
    r = client.post("/api/v1/api-keys", json={"name": name, "scopes": scopes})
    assert r.status_code == 201, f"POST /api/v1/api-keys: {r.status_code} {r.text[:300]}"
    out = r.json()
    return out["apiKey"]["id"], out["token"]


def bearer(server: Kurad, token: str, method: str, path: str, headers=None, **kw) -> requests.Response:
    """A request made with an API key instead of a session."""
    h = dict(headers or {})
    h["Authorization"] = f"Bearer {token}"
    return server.request(method, path, headers=h, **kw)


def crm_create(client, obj: str, props: dict, **kw) -> dict:
    """POST /api/v1/objects/{obj}; the record (asserting 201)."""
    r = client.post(f"/api/v1/objects/{obj}", json={"properties": props}, **kw)
    assert r.status_code == 201, f"create {obj} {props}: {r.status_code} {r.text[:500]}"
    rec = r.json()
    assert isinstance(rec.get("id"), str) and rec["id"].isdigit(), rec
    return rec


def crm_get(client, obj: str, rid: str, **params) -> dict:
    r = client.get(f"/api/v1/objects/{obj}/{rid}", params=params)
    assert r.status_code == 200, f"GET {obj}/{rid}: {r.status_code} {r.text[:500]}"
    return r.json()


def crm_search(client, obj: str, body: dict) -> dict:
    r = client.post(f"/api/v1/objects/{obj}/search", json=body)
    assert r.status_code == 200, f"search {obj} {json.dumps(body)[:300]}: {r.status_code} {r.text[:500]}"
    out = r.json()
    assert isinstance(out.get("results"), list), out
    return out


def detail_pairs(err: dict) -> set:
    """{(field, code)} of an error object's details."""
    details = err.get("details")
    assert isinstance(details, list), f"error without a details list: {err}"
    return {(d.get("field"), d.get("code")) for d in details}


def assert_details(r, status: int, code: str, pairs) -> dict:
    """The error has the status and code, and its details hold every
    (field, code) pair given. Returns the error object."""
    err = assert_error(r, status, code)
    got = detail_pairs(err)
    for d in err["details"]:
        assert isinstance(d.get("message"), str) and d["message"], f"detail without message: {err}"
    missing = set(pairs) - got
    assert not missing, f"details lack {sorted(missing)}; got {sorted(got, key=str)}: {err}"
    return err


def assert_same_error(r, reference) -> None:
    """r answers exactly like reference (status, code, message, details)."""
    assert r.status_code == reference.status_code, \
        f"status {r.status_code} vs {reference.status_code}: {r.text[:300]} / {reference.text[:300]}"
    assert error_without_request_id(r) == error_without_request_id(reference), \
        f"answers differ: {r.text[:300]} vs {reference.text[:300]}"


def crm_foreign_id(foreign, local, obj: str, props: dict, tries: int = 300) -> str:
    """The id of a record made by `foreign` (another tenant) that `local`'s
    tenant does not have, not even archived (record ids are per tenant)."""
    for _ in range(tries):
        rid = crm_create(foreign, obj, props)["id"]
        r = local.get(f"/api/v1/objects/{obj}/{rid}", params={"archived": "true"})
        if r.status_code == 404:
            return rid
    raise AssertionError(f"no {obj} id of the other tenant is free in this one")


# --------------------------------------------------------------------------
# Time and second factors


class Clock:
    """Moves kurad's clock through its test_clock_offset_file (the server
    option KURA_TEST_CLOCK_OFFSET_FILE): `offset` seconds ahead of the real
    clock, for the server and for the codes tests compute."""

    def __init__(self, server: "Kurad", path: Path):
        self.server = server
        self.path = path
        self.offset = 0

    def now(self) -> float:
        return time.time() + self.offset

    def set(self, seconds: int):
        self.path.write_text(f"{seconds}\n")
        self.offset = seconds
        # kurad re-reads the file every 100 ms; its log lines carry its
        # clock, so wait (bounded) until a line shows the new time.
        want = time.time() + seconds - 1
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            self.server.get("/healthz")
            stamps = re.findall(r"ts=(\S+)", self.server.log()[-4000:])
            if stamps:
                try:
                    if _dt.datetime.fromisoformat(stamps[-1].replace("Z", "+00:00")).timestamp() >= want:
                        return
                except ValueError:
                    pass
            time.sleep(0.1)
        time.sleep(0.3)

    def advance(self, seconds: int):
        self.set(self.offset + seconds)


def totp(secret_b32: str, at: Optional[float] = None, step: Optional[int] = None) -> str:
    """RFC 6238 (HMAC-SHA1, 6 digits, 30 s) written out independently of
    the server's liboath, for the step of `at` (default now) or `step`."""
    pad = "=" * (-len(secret_b32) % 8)
    key = base64.b32decode(secret_b32 + pad)
    if step is None:
        step = int((time.time() if at is None else at) // 30)
    mac = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    off = mac[-1] & 0x0F
    n = struct.unpack(">I", mac[off:off + 4])[0] & 0x7FFFFFFF
    return f"{n % 1000000:06d}"


def login_mfa_raw(server: "Kurad", token: str, code: Optional[str] = None,
                  recovery: Optional[str] = None) -> requests.Response:
    body = {"mfaToken": token}
    if code is not None:
        body["code"] = code
    if recovery is not None:
        body["recoveryCode"] = recovery
    return server.post("/api/v1/auth/login/mfa", json=body)


def enrol_mfa(c: "Client", password: str, at: Optional[float] = None) -> Tuple[str, List[str]]:
    """Turns MFA on for c's user: (base32 secret, recovery codes)."""
    r = c.post("/api/v1/me/mfa/totp", json={"password": password})
    assert r.status_code == 201, r.text
    secret = r.json()["secret"]
    r = c.post("/api/v1/me/mfa/totp/confirm", json={"code": totp(secret, at)})
    assert r.status_code == 200, r.text
    return secret, r.json()["recoveryCodes"]


def login_with_recovery(server: "Kurad", acct: "Account", code: str) -> "Client":
    r = server.login_raw(acct.tenant, acct.email, acct.password)
    assert r.status_code == 200 and r.json().get("mfaRequired") is True, r.text
    r = login_mfa_raw(server, r.json()["mfaToken"], recovery=code)
    assert r.status_code == 200, r.text
    return Client.from_login(server, r)
