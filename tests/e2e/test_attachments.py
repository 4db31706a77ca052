"""
Attachments on records: allow-listed types only (sniffed from the content,
never taken from the name or the declared type alone), a size limit, the
file stored encrypted (the raw file and the database hold neither its
content nor its name), a changed file refused, downloads audited, the
files gone with a purged record, and another tenant's attachment
indistinguishable from a missing one.
"""

import glob

import pytest

import kura_e2e as k

OBJ = "/api/v1/objects/contacts"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"PLAINTEXT-IN-PNG" * 8
PDF = b"%PDF-1.7\n" + b"SECRET-PDF-CONTENT " * 50 + b"\n%%EOF\n"


@pytest.fixture
def rec(fresh_world):
    admin = fresh_world.login("acme_admin")
    r = admin.post(OBJ, json={"properties": {"email": "att@example.com"}})
    assert r.status_code == 201, r.text
    return fresh_world, admin, r.json()["id"]


def upload(client, rid, data, name, ctype="application/octet-stream"):
    return client.post(f"{OBJ}/{rid}/attachments", params={"filename": name}, data=data,
                       headers={"Content-Type": ctype})


def test_upload_list_download_delete(rec):
    world, admin, rid = rec
    r = upload(admin, rid, PDF, "保険証_山田.pdf", "application/pdf")
    assert r.status_code == 201, r.text
    att = r.json()
    assert att["contentType"] == "application/pdf" and att["size"] == len(PDF)
    assert att["filename"] == "保険証_山田.pdf"
    r = admin.get(f"{OBJ}/{rid}/attachments")
    assert [a["id"] for a in r.json()["results"]] == [att["id"]]
    r = admin.get(f"{OBJ}/{rid}/attachments/{att['id']}")
    assert r.status_code == 200 and r.content == PDF
    assert r.headers["Content-Type"].startswith("application/pdf")
    assert r.headers["Content-Disposition"].startswith("attachment;")
    assert "UTF-8''" in r.headers["Content-Disposition"]
    reads = admin.get("/api/v1/audit", params={"action": "attachment.read"}).json()["results"]
    assert reads and reads[0]["target"]["id"] == rid
    assert admin.request("DELETE", f"{OBJ}/{rid}/attachments/{att['id']}").status_code == 204
    k.assert_error(admin.get(f"{OBJ}/{rid}/attachments/{att['id']}"), 404, "not_found")
    assert not glob.glob(str(world.data_dir / "tenants" / "acme" / "files" / "*"))


@pytest.mark.parametrize("data,ctype,name", [
    (b"MZ\x90\x00binary program", "application/octet-stream", "a.exe"),
    (b"\x7fELF\x02\x01\x01", "application/octet-stream", "x.pdf"),
    (PDF, "image/png", "doc.png"),                  # content and declared type disagree
    (b"<svg onload=alert(1)>\x00", "image/svg+xml", "x.svg"),
    (b"PK\x03\x04 not office", "application/zip", "x.zip"),
])
def test_types_outside_the_allow_list_are_refused(rec, data, ctype, name):
    _, admin, rid = rec
    k.assert_error(upload(admin, rid, data, name, ctype), 415, "unsupported_media_type")
    assert admin.get(f"{OBJ}/{rid}/attachments").json()["results"] == []


@pytest.mark.parametrize("name", ["", "../etc/passwd", "a/b.txt", "x" * 256, "tab\there"])
def test_bad_names_are_refused(rec, name):
    _, admin, rid = rec
    k.assert_error(upload(admin, rid, b"hello", name, "text/plain"), 422, "validation_failed")


def test_size_limit(binaries):
    w = k.make_world(env={"KURA_ATTACHMENT_MAX_BYTES": "2048"})
    try:
        admin = w.login("acme_admin")
        rid = admin.post(OBJ, json={"properties": {}}).json()["id"]
        k.assert_error(upload(admin, rid, b"a" * 2049, "big.txt", "text/plain"), 413,
                       "payload_too_large")
        assert upload(admin, rid, b"a" * 2048, "ok.txt", "text/plain").status_code == 201
    finally:
        k.destroy_world(w)


def test_stored_encrypted_and_tamper_is_an_error(rec):
    world, admin, rid = rec
    att = upload(admin, rid, PNG, "private-photo.png", "image/png").json()
    world.server.stop()
    files = glob.glob(str(world.data_dir / "tenants" / "acme" / "files" / "*"))
    assert len(files) == 1
    raw = open(files[0], "rb").read()
    assert b"PLAINTEXT-IN-PNG" not in raw and b"PNG" not in raw
    db = b"".join(open(f, "rb").read()
                  for f in glob.glob(str(world.data_dir / "tenants" / "acme" / "tenant.db*")))
    assert b"private-photo" not in db
    flipped = bytearray(raw)
    flipped[len(flipped) // 2] ^= 1
    open(files[0], "wb").write(bytes(flipped))
    world.server.start()
    admin = world.login("acme_admin")
    r = admin.get(f"{OBJ}/{rid}/attachments/{att['id']}")
    k.assert_error(r, 500, "internal_error")
    assert b"PLAINTEXT" not in r.content


def test_purge_removes_the_files(rec):
    world, admin, rid = rec
    assert upload(admin, rid, b"note,1\n", "n.csv", "text/csv").json()["contentType"] == "text/csv"
    assert upload(admin, rid, PNG, "p.png").json()["contentType"] == "image/png"
    assert len(glob.glob(str(world.data_dir / "tenants" / "acme" / "files" / "*"))) == 2
    assert admin.post(f"{OBJ}/{rid}/purge").status_code == 204
    assert glob.glob(str(world.data_dir / "tenants" / "acme" / "files" / "*")) == []


def test_roles_and_other_tenants(rec):
    world, admin, rid = rec
    att = upload(admin, rid, b"hello", "h.txt", "text/plain").json()
    member = world.login("acme_member")
    assert member.get(f"{OBJ}/{rid}/attachments/{att['id']}").content == b"hello"
    k.assert_error(member.request("DELETE", f"{OBJ}/{rid}/attachments/{att['id']}"), 403,
                   "forbidden")
    other = world.login("globex_admin")
    missing = other.get(f"{OBJ}/{rid}/attachments/999999")
    foreign = other.get(f"{OBJ}/{rid}/attachments/{att['id']}")
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json()["error"]["code"] == missing.json()["error"]["code"]
    assert foreign.json()["error"]["message"] == missing.json()["error"]["message"]
    # listing, uploading to and deleting from acme's record: as if it did not exist
    # (each compared with the same request for a record that exists nowhere)
    gone = k.CRM_MISSING_ID
    for r, same in (
            (other.get(f"{OBJ}/{rid}/attachments"), other.get(f"{OBJ}/{gone}/attachments")),
            (upload(other, rid, b"intruder", "x.txt", "text/plain"),
             upload(other, gone, b"intruder", "x.txt", "text/plain")),
            (other.request("DELETE", f"{OBJ}/{rid}/attachments/{att['id']}"),
             other.request("DELETE", f"{OBJ}/{gone}/attachments/{att['id']}"))):
        k.assert_error(r, 404, "not_found")
        assert k.error_without_request_id(r) == k.error_without_request_id(same), r.text
    listed = admin.get(f"{OBJ}/{rid}/attachments").json()["results"]
    assert [a["id"] for a in listed] == [att["id"]]
    assert admin.get(f"{OBJ}/{rid}/attachments/{att['id']}").content == b"hello"


def test_bad_record_and_attachment_ids(rec):
    world, admin, rid = rec
    for path in (f"{OBJ}/{k.CRM_MISSING_ID}/attachments", f"{OBJ}/abc/attachments",
                 f"/api/v1/objects/nosuchobject/{rid}/attachments"):
        k.assert_error(admin.get(path), 404, "not_found")
    att = upload(admin, rid, b"bye", "b.txt", "text/plain").json()
    assert admin.request("DELETE", f"{OBJ}/{rid}/attachments/{att['id']}").status_code == 204
    for aid in (att["id"], "999999", "abc"):
        k.assert_error(admin.request("DELETE", f"{OBJ}/{rid}/attachments/{aid}"), 404,
                       "not_found")


def test_a_file_over_the_limit_is_refused_before_it_is_sent(binaries):
    """The limit applies to the declared length: a 10 MiB upload against a
    2 KiB limit is answered 413 at once, without waiting for (or reading)
    the body, and without a session (the length is checked first)."""
    w = k.make_world(env={"KURA_ATTACHMENT_MAX_BYTES": "2048"})
    try:
        head = k.http_request_bytes(
            "POST", f"{OBJ}/1/attachments?filename=big.bin",
            headers=[("Content-Type", "application/octet-stream"),
                     ("Content-Length", str(10 << 20))])
        resp = w.server.raw(head, timeout=5)
        assert resp.status == 413, resp
        assert b"payload_too_large" in resp.body
    finally:
        k.destroy_world(w)
