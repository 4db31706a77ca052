"""
TLS: 1.2 and 1.3 with forward-secret AEAD suites only; the certificate
`kura init` generates; clear-text HTTP only on loopback; HSTS.

Every "refused" check is paired with the same client succeeding somewhere,
so it cannot pass because the client itself is unable: the old protocol or
weak suite is first negotiated with a reference `openssl s_server` that
allows everything, and the same tool then connects to kurad with TLS 1.2.
"""

import os
import re
import shutil
import socket
import ssl
import stat
import subprocess
import time
import warnings

import pytest

import kura_e2e as k

AEAD_TLS13 = {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"}
GNUTLS_CBC = ("NORMAL:-VERS-ALL:+VERS-TLS1.2:-CIPHER-ALL:+AES-128-CBC:+AES-256-CBC:"
              "-MAC-ALL:+SHA1:+SHA256:+SHA384")
GNUTLS_RSA_KX = "NORMAL:-VERS-ALL:+VERS-TLS1.2:-KX-ALL:+RSA"
GNUTLS_TLS11 = "NORMAL:-VERS-ALL:+VERS-TLS1.1"
GNUTLS_TLS10 = "NORMAL:-VERS-ALL:+VERS-TLS1.0"
GNUTLS_TLS12 = "NORMAL:-VERS-ALL:+VERS-TLS1.2"


def need(tool):
    if shutil.which(tool) is None:
        pytest.fail(f"{tool} is not installed (scripts/install-deps.sh installs it)", pytrace=False)


@pytest.fixture(scope="module")
def reference(binaries):
    """openssl s_server with an RSA certificate that accepts TLS 1.0-1.3 and
    every cipher: proof that the clients below can speak what kurad refuses."""
    need("openssl")
    tmp = k.new_tempdir("kura-e2e-ref-")
    crt, key = tmp / "ref.crt", tmp / "ref.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-keyout", str(key), "-out", str(crt), "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True)
    port = k.free_port()
    proc = subprocess.Popen(["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-cert", str(crt),
                             "-key", str(key), "-cipher", "ALL:@SECLEVEL=0", "-min_protocol", "TLSv1",
                             "-www", "-quiet"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise AssertionError("the reference openssl s_server did not start")
                time.sleep(0.1)
        yield port, str(crt)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
        k.remove_tempdir(tmp)


# ---------------------------------------------------------------- clients


def py_handshake(port, cafile=None, min_v=None, max_v=None, ciphers=None, hostname="127.0.0.1"):
    """(version, cipher) after a handshake with Python's ssl, or raises."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if cafile:
        ctx.load_verify_locations(cafile)
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        if min_v:
            ctx.minimum_version = min_v
        if max_v:
            ctx.maximum_version = max_v
    if ciphers:
        ctx.set_ciphers(ciphers)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        with ctx.wrap_socket(s, server_hostname=hostname) as t:
            t.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            t.recv(1)
            return t.version(), t.cipher()[0]


def py_refused(port, **kw) -> bool:
    try:
        py_handshake(port, **kw)
    except (ssl.SSLError, ConnectionError, OSError):
        return True
    return False


def gnutls(port, priority):
    """(ok, output) of gnutls-cli with a priority string."""
    need("gnutls-cli")
    p = subprocess.run(["gnutls-cli", "--insecure", "--port", str(port), "--priority", priority,
                        "127.0.0.1"], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=30)
    out = p.stdout + p.stderr
    ok = p.returncode == 0 and "Handshake was completed" in out
    return ok, out


def s_client(port, *args):
    need("openssl")
    p = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-brief", *args],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
    out = p.stdout + p.stderr
    ok = p.returncode == 0 and "CONNECTION ESTABLISHED" in out
    return ok, out


# ---------------------------------------------------------------- good handshakes


def test_tls12_handshake(world):
    version, cipher = py_handshake(world.server.port, cafile=world.server.cert,
                                   min_v=ssl.TLSVersion.TLSv1_2, max_v=ssl.TLSVersion.TLSv1_2)
    assert version == "TLSv1.2"
    assert cipher.startswith(("ECDHE-", "DHE-")), f"not forward secret: {cipher}"
    assert "GCM" in cipher or "CHACHA20" in cipher, f"not AEAD: {cipher}"


def test_tls13_handshake(world):
    version, cipher = py_handshake(world.server.port, cafile=world.server.cert,
                                   min_v=ssl.TLSVersion.TLSv1_3, max_v=ssl.TLSVersion.TLSv1_3)
    assert version == "TLSv1.3"
    assert cipher in AEAD_TLS13, cipher


def test_default_client_gets_tls13(world):
    version, _ = py_handshake(world.server.port, cafile=world.server.cert)
    assert version == "TLSv1.3"


def test_tls12_offering_everything_picks_fs_aead(world):
    version, cipher = py_handshake(world.server.port, cafile=world.server.cert,
                                   max_v=ssl.TLSVersion.TLSv1_2, ciphers="ALL:@SECLEVEL=0")
    assert version == "TLSv1.2"
    assert cipher.startswith(("ECDHE-", "DHE-")) and ("GCM" in cipher or "CHACHA20" in cipher), cipher


@pytest.mark.parametrize("hostname", ["127.0.0.1", "localhost"])
def test_certificate_verifies_for_names(world, hostname):
    version, _ = py_handshake(world.server.port, cafile=world.server.cert, hostname=hostname)
    assert version.startswith("TLSv1.")


def test_certificate_does_not_verify_other_names(world):
    with pytest.raises(ssl.SSLCertVerificationError):
        py_handshake(world.server.port, cafile=world.server.cert, hostname="evil.example")


def test_generated_certificate(world):
    need("openssl")
    text = subprocess.run(["openssl", "x509", "-in", world.server.cert, "-noout", "-text"],
                          check=True, capture_output=True, text=True).stdout
    assert "id-ecPublicKey" in text, "the generated key is not ECDSA"
    san = re.search(r"Subject Alternative Name:.*?\n\s*(.*)\n", text)
    assert san, text
    names = san.group(1)
    assert "DNS:localhost" in names and "IP Address:127.0.0.1" in names, names
    assert re.search(r"IP Address:(0:0:0:0:0:0:0:1|::1)", names), names
    assert "CA:FALSE" in text, "the self-signed certificate is a CA"


def test_init_file_modes(world):
    d = world.data_dir
    assert stat.S_IMODE(os.stat(d).st_mode) == 0o700, oct(os.stat(d).st_mode)
    assert stat.S_IMODE(os.stat(d / "master.key").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(d / "tls" / "server.key").st_mode) & 0o077 == 0, "TLS key readable by others"
    assert (d / "system.db").is_file()


# ---------------------------------------------------------------- refused protocols and suites


@pytest.mark.parametrize("version", ["TLSv1_1", "TLSv1"])
def test_old_versions_refused_python(world, reference, version):
    ref_port, _ = reference
    v = getattr(ssl.TLSVersion, version)
    kw = dict(min_v=v, max_v=v, ciphers="DEFAULT@SECLEVEL=0")
    got, _ = py_handshake(ref_port, **kw)     # the client can speak it
    assert got in ("TLSv1.1", "TLSv1")
    assert py_refused(world.server.port, **kw), f"kurad accepted {version}"
    assert py_handshake(world.server.port, min_v=ssl.TLSVersion.TLSv1_2)[0] in ("TLSv1.2", "TLSv1.3")


@pytest.mark.parametrize("prio", [GNUTLS_TLS11, GNUTLS_TLS10])
def test_old_versions_refused_gnutls(world, reference, prio):
    ref_port, _ = reference
    ok, out = gnutls(ref_port, prio)
    assert ok, f"gnutls-cli cannot do {prio} even with the reference server:\n{out[-1500:]}"
    ok, out = gnutls(world.server.port, prio)
    assert not ok, f"kurad accepted {prio}:\n{out[-1500:]}"
    ok, out = gnutls(world.server.port, GNUTLS_TLS12)
    assert ok, f"gnutls-cli with TLS 1.2 failed against kurad:\n{out[-1500:]}"


def test_tls11_refused_openssl(world, reference):
    ref_port, _ = reference
    ok, out = s_client(ref_port, "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0")
    assert ok, f"openssl s_client cannot do TLS 1.1 with the reference:\n{out[-1500:]}"
    ok, out = s_client(world.server.port, "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0")
    assert not ok, f"kurad accepted TLS 1.1:\n{out[-1500:]}"
    ok, out = s_client(world.server.port, "-tls1_2")
    assert ok, f"openssl s_client with TLS 1.2 failed against kurad:\n{out[-1500:]}"


def test_cbc_suites_refused(world, reference):
    ref_port, _ = reference
    ok, out = gnutls(ref_port, GNUTLS_CBC)
    assert ok, f"gnutls-cli cannot do CBC suites with the reference:\n{out[-1500:]}"
    ok, out = gnutls(world.server.port, GNUTLS_CBC)
    assert not ok, f"kurad accepted a CBC suite:\n{out[-1500:]}"
    cbc = "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA:ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA384"
    assert py_refused(world.server.port, max_v=ssl.TLSVersion.TLSv1_2, ciphers=cbc), \
        "kurad accepted an ECDHE-ECDSA CBC suite"
    version, cipher = py_handshake(world.server.port, max_v=ssl.TLSVersion.TLSv1_2,
                                   ciphers="ECDHE-ECDSA-AES128-GCM-SHA256")
    assert (version, cipher) == ("TLSv1.2", "ECDHE-ECDSA-AES128-GCM-SHA256")


def test_rsa_key_exchange_refused(world, reference):
    """No forward secrecy = static RSA key exchange. (kurad's certificate is
    ECDSA, so this can only be refused; the check still guards a future RSA
    certificate.)"""
    ref_port, _ = reference
    ok, out = gnutls(ref_port, GNUTLS_RSA_KX)
    assert ok, f"gnutls-cli cannot do RSA key exchange with the reference:\n{out[-1500:]}"
    ok, out = gnutls(world.server.port, GNUTLS_RSA_KX)
    assert not ok, f"kurad accepted RSA key exchange:\n{out[-1500:]}"
    assert py_refused(world.server.port, max_v=ssl.TLSVersion.TLSv1_2,
                      ciphers="AES128-GCM-SHA256:AES256-GCM-SHA384:AES128-SHA")


def test_tls13_chacha_or_aes_only(world):
    """Each TLS 1.3 suite a client may ask for alone is an AEAD one."""
    ok, out = gnutls(world.server.port, "NORMAL:-VERS-ALL:+VERS-TLS1.3")
    assert ok, out[-1500:]
    line = next((ln for ln in out.splitlines() if "Description: (TLS1.3" in ln), None)
    assert line, f"gnutls-cli printed no session description:\n{out[-1500:]}"
    cipher = re.findall(r"\(([^)]*)\)", line)[-1]
    assert cipher.upper() in ("AES-128-GCM", "AES-256-GCM", "CHACHA20-POLY1305"), line


# ---------------------------------------------------------------- clear text


@pytest.mark.parametrize("addr", ["0.0.0.0", "::"])
def test_insecure_http_refuses_non_loopback(data_dir, addr):
    data, _ = data_dir
    cmd = [str(k.kurad_bin()), "--data", str(data), "--port", str(k.free_port()),
           "--listen", addr, "--insecure-http"]
    try:
        p = subprocess.run(cmd, env=k.clean_env(), capture_output=True, text=True, timeout=15,
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        pytest.fail(f"kurad --insecure-http --listen {addr} kept running")
    out = p.stdout + p.stderr
    assert p.returncode != 0, f"kurad --insecure-http --listen {addr} exited 0\n{out}"
    assert re.search(r"loopback|insecure", out, re.I), f"the refusal does not say why:\n{out}"


def test_insecure_http_on_loopback_works(data_dir, servers):
    data, _ = data_dir
    s = servers(data, insecure_http=True)
    r = s.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    # and it really is clear text: a TLS handshake to it fails
    assert py_refused(s.port), "the --insecure-http port speaks TLS"


def test_insecure_http_env_var_is_not_a_setting(data_dir):
    """Clear text is only ever a command-line decision: there is no
    KURA_INSECURE_HTTP (an unknown KURA_* stops start-up)."""
    data, _ = data_dir
    cmd = [str(k.kurad_bin()), "--data", str(data), "--port", str(k.free_port())]
    try:
        p = subprocess.run(cmd, env=k.clean_env({"KURA_INSECURE_HTTP": "1"}), capture_output=True,
                           text=True, timeout=15, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        pytest.fail("kurad started with KURA_INSECURE_HTTP set")
    assert p.returncode != 0


# ---------------------------------------------------------------- HSTS


def test_hsts(world):
    for r in (world.server.get("/healthz"), world.server.get("/api/v1/me"), world.server.get("/nope")):
        h = r.headers.get("Strict-Transport-Security")
        assert h, f"no HSTS on {r.url} ({r.status_code})"
        m = re.search(r"max-age=(\d+)", h)
        assert m and int(m.group(1)) >= 86400, h
