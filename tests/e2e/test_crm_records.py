"""
CRM records, black-box: create, read, change, archive, restore and purge
one record or a batch; how values of each property type are checked and
stored; unique properties; Idempotency-Key replays; the property history
(who, from where); permissions by role and API-key scope; another tenant's
record answered exactly like a missing one; the audit entry of a change.
"""

import datetime as dt
import re
import secrets
import threading

import pytest

import kura_e2e as k

RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
OBJ = "/api/v1/objects"


# ---------------------------------------------------------------- fixtures and helpers


@pytest.fixture(scope="module")
def typed(acme):
    """Custom contact properties of the types the standard objects lack."""
    sup = acme["super_admin"]
    for name, typ in (("website", "url"), ("score", "number"), ("vip", "bool"),
                      ("signed_at", "datetime"), ("birthday", "date")):
        r = sup.post("/api/v1/properties/contacts",
                     json={"name": name, "labels": {"en": name, "ja": name}, "type": typ})
        assert r.status_code == 201, f"create property {name}: {r.status_code} {r.text[:300]}"
    return True


def tag() -> str:
    return secrets.token_hex(5)


def email() -> str:
    return f"p-{tag()}@example.com"


def path(obj, rid=None, tail=""):
    p = f"{OBJ}/{obj}"
    if rid is not None:
        p += f"/{rid}"
    return p + tail


def props(rec) -> dict:
    assert isinstance(rec.get("properties"), dict), rec
    return rec["properties"]


def marker_total(client, obj, prop, value) -> int:
    out = k.crm_search(client, obj, {"filterGroups": [{"filters": [
        {"propertyName": prop, "operator": "EQ", "value": value}]}]})
    return out["total"]


# ---------------------------------------------------------------- create and read


def test_create_and_get(acme):
    sup = acme["super_admin"]
    addr = f"Taro.{tag()}@Example.COM"
    rec = k.crm_create(sup, "contacts", {"firstname": "太郎", "lastname": "田中", "email": addr,
                                         "phone": "+81 (3) 1234-5678", "lifecyclestage": "lead"})
    assert {"id", "properties", "createdAt", "updatedAt", "archived"} <= set(rec), rec
    assert rec["archived"] is False
    assert RFC3339.match(rec["createdAt"]) and RFC3339.match(rec["updatedAt"]), rec
    p = props(rec)
    assert p["firstname"] == "太郎" and p["lastname"] == "田中"
    assert p["email"] == addr.lower(), "e-mail is stored lower-cased"
    assert p["phone"] == "+81 (3) 1234-5678"
    assert p["lifecyclestage"] == "lead"
    got = k.crm_get(sup, "contacts", rec["id"])
    assert got["id"] == rec["id"] and props(got)["email"] == addr.lower()
    assert props(got)["firstname"] == "太郎"


def test_every_role_with_records_read_can_get(acme):
    rec = k.crm_create(acme["member"], "companies", {"name": f"Readable {tag()}"})
    for role in ("super_admin", "admin", "member", "read_only"):
        assert k.crm_get(acme[role], "companies", rec["id"])["id"] == rec["id"], role


def instant(s):
    """An RFC 3339 time as a UTC datetime (any offset, any fraction)."""
    assert RFC3339.match(s), s
    m = re.match(r"^(.{19})(\.\d+)?(Z|[+-]\d{2}:\d{2})$", s)
    base = dt.datetime.fromisoformat(m.group(1) + ("+00:00" if m.group(3) == "Z" else m.group(3)))
    return base.astimezone(dt.timezone.utc), (m.group(2) or "")


def test_value_types_are_stored(acme, typed):
    sup = acme["super_admin"]
    rec = k.crm_create(sup, "contacts", {
        "email": email(), "website": "https://example.com/a?b=1", "score": 42.5, "vip": True,
        "birthday": "1990-02-03", "signed_at": "2026-11-23T19:00:00+09:00"})
    for p in (props(rec), props(k.crm_get(sup, "contacts", rec["id"]))):
        assert p["website"] == "https://example.com/a?b=1"
        assert p["score"] == 42.5 and not isinstance(p["score"], str)
        assert p["vip"] is True
        assert p["birthday"] == "1990-02-03"
        assert instant(p["signed_at"])[0] == instant("2026-11-23T10:00:00Z")[0], p["signed_at"]
        assert p["signed_at"].endswith("Z"), p["signed_at"]
    r = sup.request("PATCH", path("contacts", rec["id"]),
                    json={"properties": {"score": 7, "vip": False, "birthday": "2024-02-29",
                                         "signed_at": "2026-01-01T00:00:00Z"}})
    assert r.status_code == 200, r.text
    p = props(k.crm_get(sup, "contacts", rec["id"]))
    assert p["score"] == 7 and p["vip"] is False and p["birthday"] == "2024-02-29"
    assert instant(p["signed_at"])[0] == instant("2026-01-01T00:00:00Z")[0], p["signed_at"]


@pytest.mark.parametrize("given,shown", [
    ("2026-11-23T19:00:00+09:00", "2026-11-23T10:00:00.000000Z"),
    ("2026-11-23T10:00:00Z", "2026-11-23T10:00:00.000000Z"),
    ("2026-11-23T10:00:00.5Z", "2026-11-23T10:00:00.500000Z"),
    ("2026-11-23T05:30:00.123-04:30", "2026-11-23T10:00:00.123000Z"),
    ("2026-11-23T10:00:00.123456Z", "2026-11-23T10:00:00.123456Z"),
])
def test_datetime_is_shown_in_utc_with_microseconds(acme, typed, given, shown):
    """Like every time of the API: RFC 3339 UTC with microseconds."""
    sup = acme["super_admin"]
    rec = k.crm_create(sup, "contacts", {"signed_at": given})
    assert props(rec)["signed_at"] == shown
    assert props(k.crm_get(sup, "contacts", rec["id"]))["signed_at"] == shown


def test_patch_changes_only_the_given_properties_and_null_clears(acme):
    sup = acme["member"]
    rec = k.crm_create(sup, "contacts", {"firstname": "Old", "lastname": "Keep", "jobtitle": "CTO",
                                         "email": email()})
    r = sup.request("PATCH", path("contacts", rec["id"]),
                    json={"properties": {"firstname": "New", "jobtitle": None}})
    assert r.status_code == 200, r.text
    assert r.json()["id"] == rec["id"]
    p = props(k.crm_get(sup, "contacts", rec["id"]))
    assert p["firstname"] == "New"
    assert p["lastname"] == "Keep"
    assert p.get("jobtitle") is None
    assert p["email"] == props(rec)["email"]


def test_get_with_properties_parameter(acme):
    sup = acme["super_admin"]
    rec = k.crm_create(sup, "contacts", {"firstname": "Only", "lastname": "This", "email": email()})
    p = props(k.crm_get(sup, "contacts", rec["id"], properties="firstname"))
    assert p.get("firstname") == "Only"
    assert "lastname" not in p and "email" not in p, p


def test_unknown_object_is_not_found(acme):
    sup = acme["super_admin"]
    assert sup.get(path("contacts")).status_code == 200
    k.assert_error(sup.get(path("nosuchobject")), 404, "not_found")
    k.assert_error(sup.post(path("nosuchobject"), json={"properties": {}}), 404, "not_found")
    k.assert_error(sup.get(path("nosuchobject", "1")), 404, "not_found")


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize("obj,values,field,code", [
    ("contacts", {"nosuch": "x"}, "nosuch", "unknown_property"),
    ("deals", {"amount": 5}, "dealname", "required"),
    ("deals", {"dealname": None}, "dealname", "required"),
    ("deals", {"dealname": "d", "closedate": "2023-02-29"}, "closedate", "invalid_date"),
    ("contacts", {"signed_at": "2026-11-31T10:00:00Z"}, "signed_at", "invalid_datetime"),
    ("contacts", {"signed_at": "2026-11-23T25:00:00Z"}, "signed_at", "invalid_datetime"),
    ("tickets", {"content": "no subject"}, "subject", "required"),
    ("deals", {"dealname": "d", "amount": "lots"}, "amount", "invalid_type"),
    ("contacts", {"firstname": 12}, "firstname", "invalid_type"),
    ("contacts", {"vip": "yes"}, "vip", "invalid_type"),
    ("contacts", {"score": "12abc"}, "score", "invalid_type"),
    ("contacts", {"score": "42"}, "score", "invalid_type"),
    ("contacts", {"vip": "true"}, "vip", "invalid_type"),
    ("contacts", {"vip": 1}, "vip", "invalid_type"),
    ("contacts", {"birthday": "2026-01-01T00:00:00Z"}, "birthday", "invalid_date"),
    ("contacts", {"signed_at": "2026-11-23"}, "signed_at", "invalid_datetime"),
    ("contacts", {"phone": "+81 3 1234 5678 ext. 9"}, "phone", "invalid_phone"),
    ("contacts", {"email": "not-an-email"}, "email", "invalid_email"),
    ("contacts", {"phone": "call me maybe"}, "phone", "invalid_phone"),
    ("contacts", {"website": "not a url"}, "website", "invalid_url"),
    ("deals", {"dealname": "d", "closedate": "2026-02-30"}, "closedate", "invalid_date"),
    ("deals", {"dealname": "d", "closedate": "23/11/2026"}, "closedate", "invalid_date"),
    ("contacts", {"signed_at": "yesterday"}, "signed_at", "invalid_datetime"),
    ("contacts", {"signed_at": "2026-11-23 10:00"}, "signed_at", "invalid_datetime"),
    ("contacts", {"lifecyclestage": "bogus"}, "lifecyclestage", "invalid_option"),
    ("tickets", {"subject": "s", "priority": "urgent"}, "priority", "invalid_option"),
])
def test_create_validation(acme, typed, obj, values, field, code):
    sup = acme["super_admin"]
    marker = f"val-{tag()}"
    body = dict(values)
    # a marker to prove nothing was stored
    if obj == "contacts":
        body.setdefault("city", marker)
    r = sup.post(path(obj), json={"properties": body})
    k.assert_details(r, 422, "validation_failed", {(field, code)})
    if obj == "contacts":
        assert marker_total(sup, "contacts", "city", marker) == 0


def test_every_failing_property_is_listed(acme, typed):
    sup = acme["super_admin"]
    r = sup.post(path("contacts"), json={"properties": {
        "nosuch": 1, "email": "bad", "lifecyclestage": "bogus", "score": "x", "firstname": "fine",
        "birthday": "1990-13-01"}})
    err = k.assert_details(r, 422, "validation_failed", {
        ("nosuch", "unknown_property"), ("email", "invalid_email"),
        ("lifecyclestage", "invalid_option"), ("score", "invalid_type"),
        ("birthday", "invalid_date")})
    assert "firstname" not in {d["field"] for d in err["details"]}, err
    assert len(err["details"]) == 5, err


def test_unknown_body_members_are_refused(acme):
    sup = acme["super_admin"]
    r = sup.post(path("contacts"), json={"properties": {"firstname": "x"}, "bogus": 1, "other": 2})
    err = k.assert_error(r, 422, "validation_failed")
    assert {"bogus", "other"} <= {d["field"] for d in err["details"]}, err
    r = sup.post(path("contacts"), json={"firstname": "x"})
    err = k.assert_error(r, 422, "validation_failed")
    assert "firstname" in {d["field"] for d in err["details"]}, err


def test_patch_validation_changes_nothing(acme):
    sup = acme["super_admin"]
    rec = k.crm_create(sup, "contacts", {"firstname": "Stay", "email": email()})
    r = sup.request("PATCH", path("contacts", rec["id"]),
                    json={"properties": {"firstname": "Changed", "nosuch": 1, "email": "bad"}})
    k.assert_details(r, 422, "validation_failed",
                     {("nosuch", "unknown_property"), ("email", "invalid_email")})
    p = props(k.crm_get(sup, "contacts", rec["id"]))
    assert p["firstname"] == "Stay" and p["email"] == props(rec)["email"]
    deal = k.crm_create(sup, "deals", {"dealname": "Required one"})
    r = sup.request("PATCH", path("deals", deal["id"]), json={"properties": {"dealname": None}})
    k.assert_details(r, 422, "validation_failed", {("dealname", "required")})
    assert props(k.crm_get(sup, "deals", deal["id"]))["dealname"] == "Required one"


def test_unique_property(acme):
    sup = acme["super_admin"]
    addr = email()
    first = k.crm_create(sup, "contacts", {"email": addr})
    r = sup.post(path("contacts"), json={"properties": {"email": addr.upper(), "city": "dup"}})
    k.assert_details(r, 409, "already_exists", {("email", "not_unique")})
    other = k.crm_create(sup, "contacts", {"email": email()})
    r = sup.request("PATCH", path("contacts", other["id"]), json={"properties": {"email": addr}})
    k.assert_details(r, 409, "already_exists", {("email", "not_unique")})
    assert props(k.crm_get(sup, "contacts", other["id"]))["email"] != addr
    # the record itself may keep its value
    r = sup.request("PATCH", path("contacts", first["id"]), json={"properties": {"email": addr}})
    assert r.status_code == 200, r.text


def test_restore_onto_a_taken_unique_value(acme):
    admin = acme["admin"]
    addr = email()
    old = k.crm_create(admin, "contacts", {"email": addr})
    assert admin.request("DELETE", path("contacts", old["id"])).status_code == 204
    k.crm_create(admin, "contacts", {"email": addr})
    r = admin.post(path("contacts", old["id"], "/restore"))
    k.assert_details(r, 409, "already_exists", {("email", "not_unique")})
    k.assert_error(admin.get(path("contacts", old["id"])), 404, "not_found")
    assert marker_total(admin, "contacts", "email", addr) == 1


def test_patch_refuses_unknown_body_members(acme):
    sup = acme["member"]
    rec = k.crm_create(sup, "contacts", {"firstname": "Kept", "email": email()})
    r = sup.request("PATCH", path("contacts", rec["id"]),
                    json={"properties": {"firstname": "Changed"}, "bogus": 1})
    err = k.assert_error(r, 422, "validation_failed")
    assert "bogus" in {d["field"] for d in err["details"]}, err
    assert props(k.crm_get(sup, "contacts", rec["id"]))["firstname"] == "Kept"


# ---------------------------------------------------------------- idempotency


def test_idempotency_key_replay_and_reuse(acme):
    sup = acme["member"]
    marker = f"idem-{tag()}"
    key = f"key-{tag()}"
    body = {"properties": {"firstname": "Once", "city": marker}}
    r1 = sup.post(path("contacts"), json=body, headers={"Idempotency-Key": key})
    assert r1.status_code == 201, r1.text
    assert r1.headers.get("Idempotent-Replayed") != "true"
    r2 = sup.post(path("contacts"), json=body, headers={"Idempotency-Key": key})
    assert r2.status_code == 201, r2.text
    assert r2.json()["id"] == r1.json()["id"]
    assert r2.json() == r1.json(), "a replay is the same reply"
    assert r2.headers.get("Idempotent-Replayed") == "true", dict(r2.headers)
    assert marker_total(sup, "contacts", "city", marker) == 1
    r3 = sup.post(path("contacts"), json={"properties": {"firstname": "Twice", "city": marker}},
                  headers={"Idempotency-Key": key})
    # docs/API.md's "422 idempotency_key_reused": as the error's code, or as
    # the code of a validation detail (its form for the other 422 codes)
    err = k.assert_error(r3, 422)
    assert err["code"] == "idempotency_key_reused" or \
        (err["code"] == "validation_failed" and
         "idempotency_key_reused" in {d.get("code") for d in err.get("details", [])}), err
    assert marker_total(sup, "contacts", "city", marker) == 1
    # another key is another create
    r4 = sup.post(path("contacts"), json=body, headers={"Idempotency-Key": key + "-2"})
    assert r4.status_code == 201 and r4.json()["id"] != r1.json()["id"], r4.text
    assert marker_total(sup, "contacts", "city", marker) == 2


def test_idempotency_key_with_api_key(world, acme):
    _, token = k.crm_api_key(acme["admin"], ["records.read", "records.write"])
    key = f"key-{tag()}"
    body = {"properties": {"name": f"Idem Co {tag()}"}}
    r1 = k.bearer(world.server, token, "POST", path("companies"), json=body,
                  headers={"Idempotency-Key": key})
    assert r1.status_code == 201, r1.text
    r2 = k.bearer(world.server, token, "POST", path("companies"), json=body,
                  headers={"Idempotency-Key": key})
    assert r2.status_code == 201 and r2.json()["id"] == r1.json()["id"], r2.text
    assert r2.headers.get("Idempotent-Replayed") == "true"


def test_idempotency_key_is_not_replayed_on_another_object(acme):
    sup = acme["super_admin"]
    key = f"key-{tag()}"
    body = {"properties": {}}
    r1 = sup.post(path("companies"), json=body, headers={"Idempotency-Key": key})
    assert r1.status_code == 201, r1.text
    r2 = sup.post(path("tickets"), json={"properties": {"subject": "s"}},
                  headers={"Idempotency-Key": key})
    # another request under the same key: refused, or done as a new create
    assert r2.status_code in (201, 422), r2.text
    assert r2.headers.get("Idempotent-Replayed") != "true"
    r3 = sup.post(path("deals"), json=body, headers={"Idempotency-Key": key})
    assert r3.headers.get("Idempotent-Replayed") != "true", \
        f"a companies reply was replayed for deals: {r3.status_code} {r3.text[:300]}"
    # deals need a dealname: a real create (or a refusal of the key) is a 422
    k.assert_error(r3, 422)


def test_idempotency_key_of_128_characters(acme):
    key = "k" * 127 + "!"
    r = acme["member"].post(path("companies"), json={"properties": {"name": "long key"}},
                            headers={"Idempotency-Key": key})
    assert r.status_code == 201, r.text


def test_idempotency_keys_are_per_tenant(acme, globex):
    key = f"key-{tag()}"
    body = {"properties": {"subject": "Same key, same body"}}
    r1 = acme["super_admin"].post(path("tickets"), json=body, headers={"Idempotency-Key": key})
    assert r1.status_code == 201, r1.text
    r2 = globex.post(path("tickets"), json=body, headers={"Idempotency-Key": key})
    assert r2.status_code == 201, r2.text
    assert r2.headers.get("Idempotent-Replayed") != "true"
    assert k.crm_get(globex, "tickets", r2.json()["id"])["properties"]["subject"] == "Same key, same body"


@pytest.mark.parametrize("bad", ["", "x" * 129, "has space", "tab\tkey"])
def test_idempotency_key_must_be_visible_ascii(acme, bad):
    sup = acme["super_admin"]
    marker = f"idem-bad-{tag()}"
    r = sup.post(path("contacts"), json={"properties": {"city": marker}},
                 headers={"Idempotency-Key": bad})
    k.assert_client_error(r, allowed_status=(400, 422))
    assert marker_total(sup, "contacts", "city", marker) == 0


# ---------------------------------------------------------------- archive, restore, purge


def test_archive_restore(acme):
    admin = acme["admin"]
    rec = k.crm_create(admin, "contacts", {"firstname": "Archie", "email": email()})
    r = admin.request("DELETE", path("contacts", rec["id"]))
    assert r.status_code == 204, r.text
    k.assert_error(admin.get(path("contacts", rec["id"])), 404, "not_found")
    r = admin.request("PATCH", path("contacts", rec["id"]), json={"properties": {"firstname": "Z"}})
    k.assert_error(r, 404, "not_found")
    archived = k.crm_get(admin, "contacts", rec["id"], archived="true")
    assert archived["archived"] is True and archived.get("archivedAt"), archived
    assert RFC3339.match(archived["archivedAt"])
    # not in the default listing
    listed, after = [], None
    for _ in range(1000):
        params = {"limit": 100}
        if after:
            params["after"] = after
        body = admin.get(path("contacts"), params=params).json()
        listed += [x["id"] for x in body["results"]]
        after = body.get("paging", {}).get("next", {}).get("after")
        if not after:
            break
    assert rec["id"] not in listed
    # ?archived=true lists it
    listed, after = [], None
    for _ in range(1000):
        params = {"limit": 100, "archived": "true"}
        if after:
            params["after"] = after
        r = admin.get(path("contacts"), params=params)
        assert r.status_code == 200, r.text
        listed += [x["id"] for x in r.json()["results"]]
        after = r.json().get("paging", {}).get("next", {}).get("after")
        if not after:
            break
    assert rec["id"] in listed
    r = admin.post(path("contacts", rec["id"], "/restore"))
    assert r.status_code == 200, r.text
    assert r.json()["id"] == rec["id"] and r.json()["archived"] is False
    got = k.crm_get(admin, "contacts", rec["id"])
    assert got["archived"] is False and props(got)["firstname"] == "Archie"


def test_purge_is_for_good(acme):
    sup = acme["super_admin"]
    rec = k.crm_create(sup, "contacts", {"firstname": "Gone", "email": email()})
    assert sup.request("DELETE", path("contacts", rec["id"])).status_code == 204
    r = sup.post(path("contacts", rec["id"], "/purge"))
    assert r.status_code == 204, r.text
    k.assert_error(sup.post(path("contacts", rec["id"], "/restore")), 404, "not_found")
    k.assert_error(sup.get(path("contacts", rec["id"]), params={"archived": "true"}), 404, "not_found")
    k.assert_error(sup.get(path("contacts", rec["id"], "/history")), 404, "not_found")
    k.assert_error(sup.post(path("contacts", rec["id"], "/purge")), 404, "not_found")


# ---------------------------------------------------------------- ids: missing, malformed, another tenant's


def each_route(client, obj, rid):
    """Every single-record route, with a harmless valid body."""
    return {
        "get": client.get(path(obj, rid)),
        "get_archived": client.get(path(obj, rid), params={"archived": "true"}),
        "patch": client.request("PATCH", path(obj, rid), json={"properties": {"content": "x"}}),
        "history": client.get(path(obj, rid, "/history")),
        "restore": client.post(path(obj, rid, "/restore")),
        "delete": client.request("DELETE", path(obj, rid)),
        "purge": client.post(path(obj, rid, "/purge")),
    }


@pytest.mark.parametrize("bad", ["abc", "0", "-1", "99999999999999999999999", "1.5", "1e3"])
def test_malformed_ids_answer_like_missing(acme, bad):
    sup = acme["super_admin"]
    real = k.crm_create(sup, "tickets", {"subject": "Real one"})
    assert sup.get(path("tickets", real["id"], "/history")).status_code == 200
    missing = each_route(sup, "tickets", k.CRM_MISSING_ID)
    for route, r in missing.items():
        k.assert_error(r, 404, "not_found")
    got = each_route(sup, "tickets", bad)
    for route, r in got.items():
        k.assert_same_error(r, missing[route])


def test_other_tenants_record_answers_like_missing(acme, globex):
    sup = acme["super_admin"]
    fid = k.crm_foreign_id(globex, sup, "tickets", {"subject": "Globex only", "content": "secret"})
    missing = each_route(sup, "tickets", k.CRM_MISSING_ID)
    got = each_route(sup, "tickets", fid)
    for route, r in got.items():
        k.assert_error(r, 404, "not_found")
        k.assert_same_error(r, missing[route])
    # nothing happened to it
    rec = k.crm_get(globex, "tickets", fid)
    assert rec["archived"] is False and props(rec)["content"] == "secret"
    # batch read and update: per-item 404
    r = sup.post(path("tickets", tail="/batch/read"), json={"ids": [fid]})
    assert r.status_code in (200, 207), r.text
    assert [x["status"] for x in r.json()["results"]] == [404], r.text
    assert "secret" not in r.text
    r = sup.post(path("tickets", tail="/batch/update"),
                 json={"inputs": [{"id": fid, "properties": {"content": "hacked"}}]})
    assert [x["status"] for x in r.json()["results"]] == [404], r.text
    r = sup.post(path("tickets", tail="/batch/archive"), json={"ids": [fid]})
    assert [x["status"] for x in r.json()["results"]] == [404], r.text
    rec = k.crm_get(globex, "tickets", fid)
    assert rec["archived"] is False and props(rec)["content"] == "secret"


# ---------------------------------------------------------------- permissions


def test_read_only_cannot_write(acme):
    ro = acme["read_only"]
    rec = k.crm_create(acme["super_admin"], "contacts", {"firstname": "Fixed", "email": email()})
    rid = rec["id"]
    refused = [
        ro.post(path("contacts"), json={"properties": {"firstname": "x"}}),
        ro.request("PATCH", path("contacts", rid), json={"properties": {"firstname": "x"}}),
        ro.request("DELETE", path("contacts", rid)),
        ro.post(path("contacts", rid, "/restore")),
        ro.post(path("contacts", rid, "/purge")),
        ro.post(path("contacts", tail="/batch/create"), json={"inputs": [{"properties": {}}]}),
        ro.post(path("contacts", tail="/batch/update"),
                json={"inputs": [{"id": rid, "properties": {"firstname": "x"}}]}),
        ro.post(path("contacts", tail="/batch/archive"), json={"ids": [rid]}),
    ]
    for r in refused:
        k.assert_error(r, 403, "forbidden")
    got = k.crm_get(ro, "contacts", rid)
    assert props(got)["firstname"] == "Fixed" and got["archived"] is False
    r = ro.post(path("contacts", tail="/batch/read"), json={"ids": [rid]})
    assert r.status_code == 200, r.text
    assert ro.get(path("contacts", rid, "/history")).status_code == 200


def test_member_cannot_archive_or_purge(acme):
    member = acme["member"]
    rec = k.crm_create(member, "contacts", {"firstname": "Mine", "email": email()})
    rid = rec["id"]
    r = member.request("PATCH", path("contacts", rid), json={"properties": {"firstname": "Still"}})
    assert r.status_code == 200, r.text
    for r in (member.request("DELETE", path("contacts", rid)),
              member.post(path("contacts", rid, "/purge")),
              member.post(path("contacts", tail="/batch/archive"), json={"ids": [rid]})):
        k.assert_error(r, 403, "forbidden")
    assert k.crm_get(member, "contacts", rid)["archived"] is False
    # restore needs records.delete too
    assert acme["admin"].request("DELETE", path("contacts", rid)).status_code == 204
    k.assert_error(member.post(path("contacts", rid, "/restore")), 403, "forbidden")
    k.assert_error(member.get(path("contacts", rid)), 404, "not_found")


def test_api_key_scopes(world, acme):
    sup = acme["super_admin"]
    _, read = k.crm_api_key(sup, ["records.read"])
    _, write = k.crm_api_key(sup, ["records.read", "records.write"])
    rec = k.crm_create(sup, "companies", {"name": f"Key Co {tag()}"})
    r = k.bearer(world.server, read, "GET", path("companies", rec["id"]))
    assert r.status_code == 200 and r.json()["id"] == rec["id"], r.text
    r = k.bearer(world.server, read, "POST", path("companies"), json={"properties": {"name": "no"}})
    k.assert_error(r, 403, "forbidden")
    r = k.bearer(world.server, write, "POST", path("companies"), json={"properties": {"name": "yes"}})
    assert r.status_code == 201, r.text
    r = k.bearer(world.server, write, "DELETE", path("companies", rec["id"]))
    k.assert_error(r, 403, "forbidden")


# ---------------------------------------------------------------- history


def test_property_history(world, acme):
    sup = acme["super_admin"]
    key_id, token = k.crm_api_key(sup, ["records.read", "records.write"])
    rec = k.crm_create(sup, "contacts", {"firstname": "A", "lastname": "L", "email": email()})
    rid = rec["id"]
    r = sup.request("PATCH", path("contacts", rid), json={"properties": {"firstname": "B"}})
    assert r.status_code == 200, r.text
    r = k.bearer(world.server, token, "PATCH", path("contacts", rid),
                 json={"properties": {"firstname": "C"}})
    assert r.status_code == 200, r.text
    r = sup.get(path("contacts", rid, "/history"), params={"property": "firstname"})
    assert r.status_code == 200, r.text
    hist = r.json()["results"]
    assert [(h["property"], h["oldValue"], h["newValue"]) for h in hist] == [
        ("firstname", "B", "C"), ("firstname", "A", "B"), ("firstname", None, "A")], hist
    for h in hist:
        assert RFC3339.match(h["changedAt"]), h
    # the key acted: the key (or the user it belongs to) is named, as an api_key
    assert hist[0]["changedBy"]["type"] == "api_key", hist[0]
    assert hist[0]["changedBy"]["id"] in (key_id, sup.user_id), hist[0]
    assert hist[0]["source"] == "API"
    for h in hist[1:]:
        assert h["changedBy"] == {"type": "user", "id": sup.user_id}, h
        assert h["source"] == "UI", h
    # without the filter every property's changes show up
    r = sup.get(path("contacts", rid, "/history"))
    assert r.status_code == 200, r.text
    assert {h["property"] for h in r.json()["results"]} >= {"firstname", "lastname", "email"}
    # a refused change leaves no history
    r = sup.request("PATCH", path("contacts", rid), json={"properties": {"firstname": "D", "x": 1}})
    assert r.status_code == 422
    r = sup.get(path("contacts", rid, "/history"), params={"property": "firstname"})
    assert len(r.json()["results"]) == 3


def test_history_paging(acme):
    sup = acme["member"]
    rec = k.crm_create(sup, "contacts", {"jobtitle": "v0", "email": email()})
    for i in range(1, 5):
        r = sup.request("PATCH", path("contacts", rec["id"]),
                        json={"properties": {"jobtitle": f"v{i}"}})
        assert r.status_code == 200, r.text
    seen, after = [], None
    for _ in range(20):
        params = {"property": "jobtitle", "limit": 2}
        if after:
            params["after"] = after
        r = sup.get(path("contacts", rec["id"], "/history"), params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        assert len(body["results"]) <= 2
        seen += [h["newValue"] for h in body["results"]]
        after = body.get("paging", {}).get("next", {}).get("after")
        if not after:
            break
    assert seen == ["v4", "v3", "v2", "v1", "v0"]


# ---------------------------------------------------------------- listing


def test_list_paging_walks_every_record_once(acme):
    sup = acme["super_admin"]
    mine = {k.crm_create(sup, "companies", {"name": f"Page {i} {tag()}"})["id"] for i in range(5)}
    seen, after = [], None
    for _ in range(1000):
        params = {"limit": 2}
        if after:
            params["after"] = after
        r = sup.get(path("companies"), params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        assert len(body["results"]) <= 2
        seen += [x["id"] for x in body["results"]]
        after = body.get("paging", {}).get("next", {}).get("after")
        if not after:
            break
    assert len(seen) == len(set(seen)), "a record listed twice"
    assert [int(x) for x in seen] == sorted(int(x) for x in seen), "not in id order"
    assert mine <= set(seen)


def test_list_properties_parameter(acme):
    sup = acme["super_admin"]
    k.crm_create(sup, "companies", {"name": f"Prop {tag()}", "domain": "prop.example"})
    r = sup.get(path("companies"), params={"limit": 100, "properties": "name"})
    assert r.status_code == 200, r.text
    for rec in r.json()["results"]:
        assert "domain" not in props(rec), rec


@pytest.mark.parametrize("limit", ["0", "101", "-1", "abc"])
def test_list_limit_validation(acme, limit):
    r = acme["super_admin"].get(path("companies"), params={"limit": limit})
    k.assert_client_error(r, allowed_status=(400, 422))


# ---------------------------------------------------------------- batches


def test_batch_create_mixed(acme):
    sup = acme["member"]
    marker = f"batch-{tag()}"
    r = sup.post(path("contacts", tail="/batch/create"), json={"inputs": [
        {"properties": {"firstname": "one", "city": marker}},
        {"properties": {"firstname": "two", "city": marker, "nosuch": 1}},
        {"properties": {"firstname": "three", "city": marker}},
        {"properties": {"city": marker, "email": "bad"}},
    ]})
    assert r.status_code == 207, r.text
    res = r.json()["results"]
    assert [x["status"] for x in res] == [201, 422, 201, 422], res
    assert props(res[0]["record"])["firstname"] == "one"
    assert props(res[2]["record"])["firstname"] == "three"
    assert res[1]["error"]["code"] == "validation_failed"
    assert ("nosuch", "unknown_property") in k.detail_pairs(res[1]["error"])
    assert ("email", "invalid_email") in k.detail_pairs(res[3]["error"])
    assert "record" not in res[1] or res[1]["record"] is None
    assert marker_total(sup, "contacts", "city", marker) == 2
    assert props(k.crm_get(sup, "contacts", res[2]["record"]["id"]))["city"] == marker


def test_batch_create_all_succeed(acme):
    sup = acme["member"]
    r = sup.post(path("companies", tail="/batch/create"), json={"inputs": [
        {"properties": {"name": f"B{i} {tag()}"}} for i in range(3)]})
    assert r.status_code == 200, r.text
    res = r.json()["results"]
    assert [x["status"] for x in res] == [201, 201, 201]
    assert len({x["record"]["id"] for x in res}) == 3


def test_batch_create_unique_violation(acme):
    sup = acme["super_admin"]
    addr = email()
    k.crm_create(sup, "contacts", {"email": addr})
    r = sup.post(path("contacts", tail="/batch/create"), json={"inputs": [
        {"properties": {"email": email()}}, {"properties": {"email": addr}}]})
    assert r.status_code == 207, r.text
    res = r.json()["results"]
    assert [x["status"] for x in res] == [201, 409], res
    assert res[1]["error"]["code"] == "already_exists"
    assert ("email", "not_unique") in k.detail_pairs(res[1]["error"])
    # two items of one batch with the same value: the second one loses
    twin = email()
    r = sup.post(path("contacts", tail="/batch/create"), json={"inputs": [
        {"properties": {"email": twin}}, {"properties": {"email": twin.upper()}}]})
    assert r.status_code == 207, r.text
    res = r.json()["results"]
    assert [x["status"] for x in res] == [201, 409], res
    assert ("email", "not_unique") in k.detail_pairs(res[1]["error"])
    # batch update onto a taken value
    other = k.crm_create(sup, "contacts", {"email": email()})
    r = sup.post(path("contacts", tail="/batch/update"), json={"inputs": [
        {"id": other["id"], "properties": {"email": addr}}]})
    assert [x["status"] for x in r.json()["results"]] == [409], r.text
    assert props(k.crm_get(sup, "contacts", other["id"]))["email"] == props(other)["email"]


@pytest.mark.parametrize("count", [0, 101])
def test_batch_create_size_limits(acme, count):
    sup = acme["super_admin"]
    marker = f"size-{tag()}"
    r = sup.post(path("contacts", tail="/batch/create"),
                 json={"inputs": [{"properties": {"city": marker}} for _ in range(count)]})
    k.assert_client_error(r, allowed_status=(400, 422))
    assert marker_total(sup, "contacts", "city", marker) == 0


@pytest.mark.parametrize("route,body", [
    ("batch/read", {"ids": [str(i) for i in range(1, 102)]}),
    ("batch/update", {"inputs": [{"id": str(i), "properties": {}} for i in range(1, 102)]}),
    ("batch/archive", {"ids": [str(i) for i in range(1, 102)]}),
    ("batch/read", {"ids": []}),
    ("batch/archive", {"ids": []}),
])
def test_other_batch_size_limits(acme, route, body):
    r = acme["super_admin"].post(path("tickets", tail="/" + route), json=body)
    k.assert_client_error(r, allowed_status=(400, 422))


def test_batch_read(acme):
    sup = acme["read_only"]
    a = k.crm_create(acme["member"], "contacts", {"firstname": "Ra", "lastname": "X", "email": email()})
    b = k.crm_create(acme["member"], "contacts", {"firstname": "Rb", "lastname": "Y", "email": email()})
    r = sup.post(path("contacts", tail="/batch/read"), json={"ids": [b["id"], a["id"]]})
    assert r.status_code == 200, r.text
    res = r.json()["results"]
    assert [x["status"] for x in res] == [200, 200]
    assert [x["record"]["id"] for x in res] == [b["id"], a["id"]]
    r = sup.post(path("contacts", tail="/batch/read"),
                 json={"ids": [a["id"], k.CRM_MISSING_ID, b["id"]], "properties": ["firstname"]})
    assert r.status_code == 207, r.text
    res = r.json()["results"]
    assert [x["status"] for x in res] == [200, 404, 200], res
    assert props(res[0]["record"])["firstname"] == "Ra" and "lastname" not in props(res[0]["record"])
    assert res[1]["error"]["code"] == "not_found"


def test_batch_update_mixed(acme):
    sup = acme["member"]
    a = k.crm_create(sup, "contacts", {"firstname": "Ua", "email": email()})
    b = k.crm_create(sup, "contacts", {"firstname": "Ub", "email": email()})
    r = sup.post(path("contacts", tail="/batch/update"), json={"inputs": [
        {"id": a["id"], "properties": {"firstname": "Ua2"}},
        {"id": k.CRM_MISSING_ID, "properties": {"firstname": "x"}},
        {"id": b["id"], "properties": {"email": "bad"}},
    ]})
    assert r.status_code == 207, r.text
    res = r.json()["results"]
    assert [x["status"] for x in res] == [200, 404, 422], res
    assert props(res[0]["record"])["firstname"] == "Ua2"
    assert ("email", "invalid_email") in k.detail_pairs(res[2]["error"])
    assert props(k.crm_get(sup, "contacts", a["id"]))["firstname"] == "Ua2"
    assert props(k.crm_get(sup, "contacts", b["id"]))["email"] == props(b)["email"]
    hist = sup.get(path("contacts", a["id"], "/history"), params={"property": "firstname"}).json()
    top = hist["results"][0]
    assert (top["oldValue"], top["newValue"], top["source"]) == ("Ua", "Ua2", "UI"), hist
    assert top["changedBy"] == {"type": "user", "id": sup.user_id}, top


def test_batch_archive_mixed(acme):
    admin = acme["admin"]
    a = k.crm_create(admin, "tickets", {"subject": "Batch archive"})
    r = admin.post(path("tickets", tail="/batch/archive"), json={"ids": [k.CRM_MISSING_ID, a["id"]]})
    assert r.status_code == 207, r.text
    assert [x["status"] for x in r.json()["results"]] == [404, 204]
    k.assert_error(admin.get(path("tickets", a["id"])), 404, "not_found")
    assert k.crm_get(admin, "tickets", a["id"], archived="true")["archived"] is True


# ---------------------------------------------------------------- audit


def test_record_changes_are_audited(acme):
    sup = acme["super_admin"]
    r = sup.post(path("contacts"), json={"properties": {"firstname": "Audited", "email": email()}})
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    request_id = r.headers.get("X-Request-Id")
    assert request_id
    entries = [e for e in k.audit_entries(sup, action="record.*", limit=100)
               if e["requestId"] == request_id]
    assert len(entries) == 1, entries
    e = entries[0]
    assert e["action"].startswith("record."), e
    assert e["outcome"] == "success"
    assert e["actor"]["type"] == "user" and e["actor"].get("id") == sup.user_id, e
    assert e["action"] == "record.create" and e["target"]["id"] == rid, e
    r = acme["admin"].request("DELETE", path("contacts", rid))
    assert r.status_code == 204
    request_id = r.headers.get("X-Request-Id")
    entries = [e for e in k.audit_entries(sup, action="record.*", limit=100)
               if e["requestId"] == request_id]
    assert len(entries) == 1 and entries[0]["action"].startswith("record."), entries
    for r in (acme["admin"].post(path("contacts", rid, "/restore")),
              acme["admin"].request("DELETE", path("contacts", rid)),
              acme["admin"].post(path("contacts", rid, "/purge"))):
        assert r.status_code in (200, 204), r.text
        entries = [e for e in k.audit_entries(sup, action="record.*", limit=100)
                   if e["requestId"] == r.headers.get("X-Request-Id")]
        assert len(entries) == 1 and entries[0]["outcome"] == "success", entries


def test_batch_create_is_one_audit_entry(acme):
    """One "record.batch_create" entry per call,
    target "<first id>-<last id>"."""
    sup = acme["super_admin"]
    r = sup.post(path("companies", tail="/batch/create"), json={"inputs": [
        {"properties": {"name": f"Audited batch {i}"}} for i in range(3)]})
    assert r.status_code == 200, r.text
    made = [x["record"]["id"] for x in r.json()["results"]]
    entries = [e for e in k.audit_entries(sup, action="record.*", limit=100)
               if e["requestId"] == r.headers.get("X-Request-Id")]
    assert len(entries) == 1, entries
    e = entries[0]
    assert e["action"] == "record.batch_create" and e["outcome"] == "success", e
    assert e["target"]["id"] == f"{made[0]}-{made[-1]}", (e, made)
    assert e["actor"]["type"] == "user" and e["actor"].get("id") == sup.user_id, e


def test_reads_need_records_read(world, acme):
    """Every role has records.read; a key without that scope shows the
    read routes are guarded all the same."""
    sup = acme["super_admin"]
    rec = k.crm_create(sup, "contacts", {"firstname": "Guarded", "email": email()})
    _, token = k.crm_api_key(sup, ["users.read"])
    _, reader = k.crm_api_key(sup, ["records.read"])
    reads = [
        ("GET", "/api/v1/schemas", None),
        ("GET", "/api/v1/schemas/contacts", None),
        ("GET", "/api/v1/properties/contacts", None),
        ("GET", "/api/v1/properties/contacts/email", None),
        ("GET", path("contacts"), None),
        ("GET", path("contacts", rec["id"]), None),
        ("GET", path("contacts", rec["id"], "/history"), None),
        ("POST", path("contacts", tail="/batch/read"), {"ids": [rec["id"]]}),
        ("POST", path("contacts", tail="/search"), {}),
        ("GET", path("contacts", rec["id"], "/associations/companies"), None),
        ("GET", path("contacts", rec["id"], "/activities"), None),
        ("GET", "/api/v1/lists", None),
    ]
    for method, p, body in reads:
        r = k.bearer(world.server, token, method, p, json=body)
        k.assert_error(r, 403, "forbidden")
        r = k.bearer(world.server, reader, method, p, json=body)
        assert r.status_code == 200, (method, p, r.status_code, r.text[:300])
    assert "Guarded" not in k.bearer(world.server, token, "GET", path("contacts", rec["id"])).text


@pytest.mark.parametrize("limit", ["0", "101", "x"])
def test_history_limit_validation(acme, limit):
    sup = acme["super_admin"]
    rec = k.crm_create(sup, "contacts", {"firstname": "H", "email": email()})
    r = sup.get(path("contacts", rec["id"], "/history"), params={"limit": limit})
    k.assert_client_error(r, allowed_status=(400, 422))


@pytest.mark.parametrize("route,body", [
    ("batch/create", {}),
    ("batch/create", {"inputs": "x"}),
    ("batch/create", {"inputs": [{"properties": {}}], "bogus": 1}),
    ("batch/read", {"ids": "1"}),
    ("batch/read", {"ids": ["1"], "bogus": 1}),
    ("batch/update", {"inputs": [{"properties": {"subject": "x"}}]}),
    ("batch/update", {"inputs": [{"id": "1", "properties": {}, "bogus": 1}]}),
    ("batch/archive", {"ids": [{"id": "1"}]}),
    ("batch/archive", {}),
])
def test_batch_body_validation(acme, route, body):
    sup = acme["super_admin"]
    before = k.crm_search(sup, "tickets", {})["total"]
    r = sup.post(path("tickets", tail="/" + route), json=body)
    if r.status_code == 207:
        # a per-item refusal is acceptable for an item's own fault
        assert all(400 <= x["status"] < 500 for x in r.json()["results"]), r.text
    else:
        k.assert_client_error(r, allowed_status=(400, 422))
    assert k.crm_search(sup, "tickets", {})["total"] == before


# ---------------------------------------------------------------- at the same moment


def at_once(calls):
    """Runs the callables at the same moment, each in its own thread;
    their results in order (an exception is returned, not raised)."""
    barrier = threading.Barrier(len(calls))
    out = [None] * len(calls)

    def go(i):
        try:
            barrier.wait()
            out[i] = calls[i]()
        except Exception as e:  # reported by the caller
            out[i] = e

    threads = [threading.Thread(target=go, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def race_clients(w, n):
    return [w.login("acme_admin") for _ in range(n)]


def search_total(client, prop, value) -> int:
    r = client.post(path("contacts", tail="/search"), timeout=10, json={"filterGroups": [{"filters": [
        {"propertyName": prop, "operator": "EQ", "value": value}]}]})
    assert r.status_code == 200, r.text
    return r.json()["total"]


def test_unique_value_created_at_once(fresh_world):
    """Several rounds of five simultaneous creates of one e-mail address
    (a world of its own: a server that stops answering must not take the
    module's other tests with it)."""
    clients = race_clients(fresh_world, 5)
    try:
        for rnd in range(8):
            addr = email()
            res = at_once([lambda c=c: c.post(path("contacts"), timeout=5,
                                              json={"properties": {"email": addr}})
                           for c in clients])
            bad = [repr(r)[:200] for r in res if isinstance(r, Exception)]
            assert not bad, f"round {rnd}: requests got no answer: {bad}"
            statuses = sorted(r.status_code for r in res)
            assert statuses == [201, 409, 409, 409, 409], \
                (rnd, [(r.status_code, r.text[:200]) for r in res])
            for r in res:
                if r.status_code == 409:
                    k.assert_details(r, 409, "already_exists", {("email", "not_unique")})
            assert search_total(clients[0], "email", addr) == 1
    finally:
        for c in clients:
            c.close()


def test_idempotent_create_sent_at_once(fresh_world):
    clients = race_clients(fresh_world, 4)
    try:
        for rnd in range(8):
            marker = f"idem-race-{tag()}"
            key = f"key-{tag()}"
            body = {"properties": {"firstname": "Race", "city": marker}}
            res = at_once([lambda c=c: c.post(path("contacts"), json=body, timeout=5,
                                              headers={"Idempotency-Key": key}) for c in clients])
            bad = [repr(r)[:200] for r in res if isinstance(r, Exception)]
            assert not bad, f"round {rnd}: requests got no answer: {bad}"
            assert all(r.status_code < 500 for r in res), [(r.status_code, r.text[:200]) for r in res]
            created = {r.json()["id"] for r in res if r.status_code == 201}
            assert len(created) == 1, (rnd, [(r.status_code, r.text[:200]) for r in res])
            assert search_total(clients[0], "city", marker) == 1
    finally:
        for c in clients:
            c.close()


def test_session_writes_need_the_csrf_token(acme):
    sup = acme["super_admin"]
    marker = f"csrf-{tag()}"
    rec = k.crm_create(sup, "contacts", {"firstname": "Safe", "email": email()})
    rid = rec["id"]
    refused = [
        sup.post(path("contacts"), json={"properties": {"city": marker}}, csrf=False),
        sup.request("PATCH", path("contacts", rid), json={"properties": {"firstname": "x"}},
                    csrf=False),
        sup.request("DELETE", path("contacts", rid), csrf=False),
        sup.post(path("contacts", rid, "/purge"), csrf="wrong-token"),
        sup.post(path("contacts", tail="/batch/create"),
                 json={"inputs": [{"properties": {"city": marker}}]}, csrf=False),
        sup.post("/api/v1/properties/contacts", json={
            "name": f"csrf_{tag()}", "labels": {"en": "x", "ja": "x"}, "type": "string"}, csrf=False),
        sup.post("/api/v1/lists", json={"name": marker, "object": "contacts", "type": "static"},
                 csrf=False),
        sup.post(path("contacts", rid, "/activities"), json={"type": "note", "body": "x"},
                 csrf=False),
    ]
    for r in refused:
        k.assert_error(r, 403, "csrf_token_invalid")
    got = k.crm_get(sup, "contacts", rid)
    assert props(got)["firstname"] == "Safe" and got["archived"] is False
    assert marker_total(sup, "contacts", "city", marker) == 0
    assert sup.get(path("contacts", rid, "/activities")).json()["results"] == []
