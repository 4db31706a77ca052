"""
CRM schemas and properties, black-box: the standard objects, custom
objects and records on them; property definitions of every type, their
validation rules (lengths, patterns, character classes, ranges,
enumeration options) as records see them; changing a property's type
with and without a dry run; who may manage properties; another tenant's
property answered exactly like a missing one.
"""

import re
import secrets

import pytest

import kura_e2e as k

RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
SCHEMAS = "/api/v1/schemas"
PROPS = "/api/v1/properties"
OBJ = "/api/v1/objects"
STANDARD = {"contacts", "companies", "deals", "tickets"}
SCHEMA_FIELDS = {"name", "labels", "primaryDisplayProperty", "standard", "createdAt", "updatedAt"}
PROPERTY_FIELDS = {"name", "labels", "type", "required", "unique", "indexed", "sensitive",
                   "classification", "description", "options", "validation", "standard",
                   "createdAt", "updatedAt"}


def uname(prefix="p") -> str:
    return f"{prefix}_{secrets.token_hex(4)}"


def labels(name):
    return {"en": name, "ja": name}


def new_property(client, obj, name=None, typ="string", **extra) -> dict:
    body = {"name": name or uname(), "labels": labels("x"), "type": typ}
    body.update(extra)
    r = client.post(f"{PROPS}/{obj}", json=body)
    assert r.status_code == 201, f"create property {body}: {r.status_code} {r.text[:500]}"
    return r.json()


def create_record(client, obj, values):
    return client.post(f"{OBJ}/{obj}", json={"properties": values})


# ---------------------------------------------------------------- schemas


def test_standard_schemas(acme):
    r = acme["read_only"].get(SCHEMAS)
    assert r.status_code == 200, r.text
    by_name = {s["name"]: s for s in r.json()["results"]}
    assert STANDARD <= set(by_name), by_name.keys()
    for name in STANDARD:
        s = by_name[name]
        assert SCHEMA_FIELDS <= set(s), s
        assert s["standard"] is True
        assert s["labels"]["en"] and s["labels"]["ja"], s
    s = acme["member"].get(f"{SCHEMAS}/deals")
    assert s.status_code == 200 and s.json()["name"] == "deals", s.text
    primary = s.json()["primaryDisplayProperty"]
    assert acme["member"].get(f"{PROPS}/deals/{primary}").status_code == 200, primary
    k.assert_error(acme["member"].get(f"{SCHEMAS}/nosuchobject"), 404, "not_found")


def test_custom_object_and_its_records(acme):
    admin = acme["admin"]
    name = uname("proj")
    r = admin.post(SCHEMAS, json={"name": name, "labels": {"en": "Projects", "ja": "案件"}})
    assert r.status_code == 201, r.text
    s = r.json()
    assert SCHEMA_FIELDS <= set(s), s
    assert s["name"] == name and s["standard"] is False
    assert s["labels"] == {"en": "Projects", "ja": "案件"}
    assert s["primaryDisplayProperty"] == "name"
    assert RFC3339.match(s["createdAt"])
    assert acme["read_only"].get(f"{SCHEMAS}/{name}").json()["name"] == name
    assert name in {x["name"] for x in acme["read_only"].get(SCHEMAS).json()["results"]}
    # it comes with a string property "name"
    r = acme["read_only"].get(f"{PROPS}/{name}/name")
    assert r.status_code == 200 and r.json()["type"] == "string", r.text
    new_property(admin, name, "budget", "number")
    rec = k.crm_create(acme["member"], name, {"name": "Tower", "budget": 1200})
    got = k.crm_get(acme["read_only"], name, rec["id"])
    assert got["properties"]["name"] == "Tower" and got["properties"]["budget"] == 1200
    r = create_record(acme["member"], name, {"name": "x", "nosuch": 1})
    k.assert_details(r, 422, "validation_failed", {("nosuch", "unknown_property")})
    out = k.crm_search(acme["member"], name, {"filterGroups": [{"filters": [
        {"propertyName": "budget", "operator": "GT", "value": 1000}]}]})
    assert [x["id"] for x in out["results"]] == [rec["id"]]


def test_custom_object_with_primary_display_property(acme):
    name = uname("obj")
    r = acme["super_admin"].post(SCHEMAS, json={"name": name, "labels": labels("O"),
                                                "primaryDisplayProperty": "name"})
    assert r.status_code == 201, r.text
    assert r.json()["primaryDisplayProperty"] == "name"


def test_custom_object_is_per_tenant(acme, globex):
    name = uname("own")
    r = acme["super_admin"].post(SCHEMAS, json={"name": name, "labels": labels("Own")})
    assert r.status_code == 201, r.text
    missing = globex.get(f"{SCHEMAS}/nosuch_{name}")
    k.assert_same_error(globex.get(f"{SCHEMAS}/{name}"), missing)
    k.assert_error(globex.get(f"{OBJ}/{name}"), 404, "not_found")
    k.assert_error(globex.post(f"{OBJ}/{name}", json={"properties": {"name": "x"}}), 404, "not_found")
    assert name not in {x["name"] for x in globex.get(SCHEMAS).json()["results"]}
    # and globex may use the same name for an object of its own
    r = globex.post(SCHEMAS, json={"name": name, "labels": labels("Theirs")})
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("body,field", [
    ({"labels": {"en": "x", "ja": "x"}}, "name"),
    ({"name": "a", "labels": {"en": "x", "ja": "x"}}, "name"),
    ({"name": "1abc", "labels": {"en": "x", "ja": "x"}}, "name"),
    ({"name": "Abc", "labels": {"en": "x", "ja": "x"}}, "name"),
    ({"name": "ab-c", "labels": {"en": "x", "ja": "x"}}, "name"),
    ({"name": "a" * 51, "labels": {"en": "x", "ja": "x"}}, "name"),
    ({"name": "okname"}, "labels"),
    ({"name": "okname", "labels": {"en": "x", "ja": "x"}, "bogus": 1}, "bogus"),
    ({"name": "okname", "labels": {"en": "x", "ja": "x"}, "primaryDisplayProperty": "nosuch"},
     "primaryDisplayProperty"),
])
def test_schema_validation(acme, body, field):
    r = acme["super_admin"].post(SCHEMAS, json=body)
    err = k.assert_error(r, 422, "validation_failed")
    assert field in {d["field"] for d in err["details"]}, err
    if "name" in body:
        k.assert_error(acme["super_admin"].get(f"{SCHEMAS}/{body['name']}"), 404, "not_found")


@pytest.mark.parametrize("name", sorted(STANDARD))
def test_standard_object_names_are_taken(acme, name):
    r = acme["super_admin"].post(SCHEMAS, json={"name": name, "labels": labels("x")})
    k.assert_client_error(r, allowed_status=(409, 422))
    assert acme["super_admin"].get(f"{SCHEMAS}/{name}").json()["standard"] is True


def test_taken_custom_object_name(acme):
    name = uname("twice")
    assert acme["super_admin"].post(SCHEMAS, json={"name": name, "labels": labels("a")}).status_code == 201
    r = acme["super_admin"].post(SCHEMAS, json={"name": name, "labels": labels("b")})
    k.assert_client_error(r, allowed_status=(409, 422))


@pytest.mark.parametrize("role", ["member", "read_only"])
def test_schema_create_forbidden(acme, role):
    name = uname("nope")
    r = acme[role].post(SCHEMAS, json={"name": name, "labels": labels("x")})
    k.assert_error(r, 403, "forbidden")
    k.assert_error(acme["super_admin"].get(f"{SCHEMAS}/{name}"), 404, "not_found")


# ---------------------------------------------------------------- properties: read


def test_standard_properties(acme):
    r = acme["read_only"].get(f"{PROPS}/contacts")
    assert r.status_code == 200, r.text
    by_name = {p["name"]: p for p in r.json()["results"]}
    assert {"firstname", "lastname", "email", "phone", "company", "jobtitle", "lifecyclestage",
            "city"} <= set(by_name)
    for p in by_name.values():
        assert PROPERTY_FIELDS <= set(p), p
    email = by_name["email"]
    assert email["type"] == "email" and email["unique"] is True and email["standard"] is True
    stage = by_name["lifecyclestage"]
    assert stage["type"] == "enumeration"
    assert "lead" in [o["value"] for o in stage["options"]]
    r = acme["member"].get(f"{PROPS}/deals/dealname")
    assert r.status_code == 200, r.text
    assert r.json()["required"] is True and r.json()["type"] == "string"
    k.assert_error(acme["member"].get(f"{PROPS}/deals/nosuch"), 404, "not_found")
    k.assert_error(acme["member"].get(f"{PROPS}/nosuchobject"), 404, "not_found")


# ---------------------------------------------------------------- properties: create


@pytest.mark.parametrize("typ", ["string", "text", "number", "bool", "date", "datetime",
                                 "email", "phone", "url"])
def test_create_property_of_each_type(acme, typ):
    name = uname(typ)
    p = new_property(acme["admin"], "companies", name, typ, description="d")
    assert PROPERTY_FIELDS <= set(p), p
    # indexed by default: number, date, datetime, email (docs/API.md)
    assert p["indexed"] is (typ in ("number", "date", "datetime", "email")), p
    assert p["name"] == name and p["type"] == typ
    assert p["standard"] is False and p["required"] is False and p["unique"] is False
    assert p["classification"] == "internal", "the default classification"
    assert p["description"] == "d"
    r = acme["read_only"].get(f"{PROPS}/companies/{name}")
    assert r.status_code == 200 and r.json()["type"] == typ, r.text
    assert name in {x["name"] for x in acme["read_only"].get(f"{PROPS}/companies").json()["results"]}


@pytest.mark.parametrize("name", ["a", "a" + "b" * 63, "x_1"])
def test_property_name_bounds(acme, name):
    obj = "tickets"
    p = new_property(acme["admin"], obj, name)
    assert p["name"] == name


def test_create_enumeration(acme):
    name = uname("enum")
    opts = [{"value": "gold", "labels": {"en": "Gold", "ja": "金"}},
            {"value": "silver", "labels": {"en": "Silver", "ja": "銀"}}]
    p = new_property(acme["super_admin"], "companies", name, "enumeration", options=opts,
                     classification="confidential", sensitive=True)
    assert [o["value"] for o in p["options"]] == ["gold", "silver"]
    assert p["options"][0]["labels"] == {"en": "Gold", "ja": "金"}
    assert p["classification"] == "confidential" and p["sensitive"] is True
    ok = k.crm_create(acme["member"], "companies", {name: "gold"})
    assert ok["properties"][name] == "gold"
    r = create_record(acme["member"], "companies", {name: "bronze"})
    k.assert_details(r, 422, "validation_failed", {(name, "invalid_option")})
    r = create_record(acme["member"], "companies", {name: "Gold"})
    k.assert_details(r, 422, "validation_failed", {(name, "invalid_option")})


def test_taken_property_name(acme):
    name = uname()
    new_property(acme["admin"], "companies", name)
    r = acme["admin"].post(f"{PROPS}/companies", json={"name": name, "labels": labels("x"),
                                                       "type": "number"})
    k.assert_error(r, 409, "already_exists")
    assert acme["admin"].get(f"{PROPS}/companies/{name}").json()["type"] == "string"
    r = acme["admin"].post(f"{PROPS}/contacts", json={"name": "email", "labels": labels("x"),
                                                      "type": "string"})
    k.assert_error(r, 409, "already_exists")
    # the same name on another object is another property
    new_property(acme["admin"], "deals", name, "number")


def many_options(n):
    return [{"value": f"v{i}", "labels": {"en": f"V{i}", "ja": f"V{i}"}} for i in range(n)]


@pytest.mark.parametrize("extra,field", [
    ({"name": "Bad"}, "name"),
    ({"name": "1bad"}, "name"),
    ({"name": "bad-name"}, "name"),
    ({"name": "b" * 65}, "name"),
    ({"name": ""}, "name"),
    ({"type": "money"}, "type"),
    ({"type": None}, "type"),
    ({"type": "enumeration"}, "options"),
    ({"type": "enumeration", "options": []}, "options"),
    ({"type": "enumeration", "options": many_options(501)}, "options"),
    ({"type": "enumeration", "options": many_options(2) + many_options(1)}, "options"),
    ({"classification": "top"}, "classification"),
    ({"required": "yes"}, "required"),
    ({"bogus": 1}, "bogus"),
])
def test_create_property_validation(acme, extra, field):
    body = {"name": uname(), "labels": labels("x"), "type": "string"}
    body.update(extra)
    if body["type"] is None:
        del body["type"]
    r = acme["super_admin"].post(f"{PROPS}/companies", json=body)
    err = k.assert_error(r, 422, "validation_failed")
    assert any(d["field"] == field or d["field"].startswith(field + ".") or
               d["field"].startswith(field + "[") for d in err["details"]), err
    if body["name"]:
        k.assert_error(acme["super_admin"].get(f"{PROPS}/companies/{body['name']}"), 404, "not_found")


def test_enumeration_with_500_options_is_allowed(acme):
    p = new_property(acme["super_admin"], "companies", uname("big"), "enumeration",
                     options=many_options(500))
    assert len(p["options"]) == 500


@pytest.mark.parametrize("validation", [
    {"characterClasses": ["runes"]},
    {"characterClasses": "katakana"},
    {"minLength": -1},
    {"maxLength": "ten"},
    {"pattern": "(unclosed"},
    {"min": "zero"},
    {"bogus": 1},
])
def test_invalid_validation_rules(acme, validation):
    name = uname()
    r = acme["super_admin"].post(f"{PROPS}/companies", json={
        "name": name, "labels": labels("x"), "type": "string", "validation": validation})
    err = k.assert_error(r, 422, "validation_failed")
    assert any(d["field"].startswith("validation") for d in err["details"]), err


# ---------------------------------------------------------------- validation rules on records


@pytest.fixture(scope="module")
def ruled(acme):
    """Properties with validation rules on companies: {rule: property name}."""
    admin = acme["admin"]
    out = {}
    for key, typ, rule in (
        ("len", "string", {"minLength": 3, "maxLength": 5}),
        ("pat", "string", {"pattern": "^[A-Z]{2}-[0-9]{3}$"}),
        ("kana", "string", {"characterClasses": ["katakana"]}),
        ("kanaspace", "string", {"characterClasses": ["katakana", "space"]}),
        ("digits", "string", {"characterClasses": ["digits"]}),
        ("kanji", "string", {"characterClasses": ["kanji"]}),
        ("hira", "string", {"characterClasses": ["hiragana"]}),
        ("hwkana", "string", {"characterClasses": ["halfwidth_katakana"]}),
        ("fullwidth", "string", {"characterClasses": ["fullwidth"]}),
        ("latin", "string", {"characterClasses": ["latin"]}),
        ("name_ja", "string", {"characterClasses": ["kanji", "hiragana", "katakana"],
                               "maxLength": 10}),
        ("range", "number", {"min": 1, "max": 10}),
    ):
        name = uname(key)
        new_property(admin, "companies", name, typ, validation=rule)
        out[key] = name
    return out


@pytest.mark.parametrize("key,value,code", [
    ("len", "ab", "too_short"),
    ("len", "abcdef", "too_long"),
    ("len", "あい", "too_short"),
    ("len", "あいうえおか", "too_long"),
    ("pat", "ab-123", "pattern_mismatch"),
    ("pat", "AB-1234", "pattern_mismatch"),
    ("kana", "かたかな", "invalid_characters"),
    ("kana", "カタカナ1", "invalid_characters"),
    ("kana", "Katakana", "invalid_characters"),
    ("kana", "タナカ タロウ", "invalid_characters"),
    ("digits", "12a", "invalid_characters"),
    ("kanji", "田中さん", "invalid_characters"),
    ("kanji", "田中A", "invalid_characters"),
    ("hira", "たなカ", "invalid_characters"),
    ("hira", "たなか1", "invalid_characters"),
    ("hwkana", "カタカナ", "invalid_characters"),
    ("fullwidth", "ABC", "invalid_characters"),
    ("latin", "abcあ", "invalid_characters"),
    ("name_ja", "田中 たろう", "invalid_characters"),
    ("name_ja", "田中Taro", "invalid_characters"),
    ("name_ja", "たなかたろうたなかたろう", "too_long"),
    ("range", 0, "out_of_range"),
    ("range", 10.5, "out_of_range"),
    ("range", -3, "out_of_range"),
])
def test_rule_refuses(acme, ruled, key, value, code):
    name = ruled[key]
    r = create_record(acme["member"], "companies", {name: value})
    k.assert_details(r, 422, "validation_failed", {(name, code)})


@pytest.mark.parametrize("key,value", [
    ("len", "abc"),
    ("len", "abcde"),
    ("len", "あいうえお"),
    ("pat", "AB-123"),
    ("kana", "カタカナ"),
    ("kanaspace", "タナカ タロウ"),
    ("digits", "0123456789"),
    ("kanji", "田中太郎"),
    ("hira", "たなかたろう"),
    ("hwkana", "ｶﾀｶﾅ"),
    ("fullwidth", "ＡＢＣ"),
    ("latin", "Tanaka"),
    ("name_ja", "田中たろうタロウ"),
    ("range", 1),
    ("range", 10),
    ("range", 5.5),
])
def test_rule_accepts(acme, ruled, key, value):
    name = ruled[key]
    rec = k.crm_create(acme["member"], "companies", {name: value})
    assert rec["properties"][name] == value


def test_rules_apply_to_updates_and_list_every_failure(acme, ruled):
    rec = k.crm_create(acme["member"], "companies", {ruled["len"]: "abcd"})
    r = acme["member"].request("PATCH", f"{OBJ}/companies/{rec['id']}", json={"properties": {
        ruled["len"]: "a", ruled["kana"]: "ひらがな", ruled["range"]: 11, ruled["pat"]: "x"}})
    k.assert_details(r, 422, "validation_failed", {
        (ruled["len"], "too_short"), (ruled["kana"], "invalid_characters"),
        (ruled["range"], "out_of_range"), (ruled["pat"], "pattern_mismatch")})
    assert k.crm_get(acme["member"], "companies", rec["id"])["properties"][ruled["len"]] == "abcd"


# ---------------------------------------------------------------- properties: change and archive


def test_patch_property(acme):
    # on an object of its own: "required" must not leak into other tests' records
    obj = uname("pp")
    r = acme["admin"].post(SCHEMAS, json={"name": obj, "labels": labels("PP")})
    assert r.status_code == 201, r.text
    name = uname()
    new_property(acme["admin"], obj, name)
    r = acme["admin"].request("PATCH", f"{PROPS}/{obj}/{name}", json={
        "labels": {"en": "Renamed", "ja": "改名"}, "description": "new", "required": True,
        "classification": "secret", "validation": {"maxLength": 4}})
    assert r.status_code == 200, r.text
    p = r.json()
    assert p["labels"] == {"en": "Renamed", "ja": "改名"} and p["description"] == "new"
    assert p["required"] is True and p["classification"] == "secret"
    assert p["validation"].get("maxLength") == 4
    got = acme["read_only"].get(f"{PROPS}/{obj}/{name}").json()
    assert got["labels"]["ja"] == "改名" and got["required"] is True
    # the new rules hold for records
    r = create_record(acme["member"], obj, {"name": "no value"})
    k.assert_details(r, 422, "validation_failed", {(name, "required")})
    r = create_record(acme["member"], obj, {name: "toolong"})
    k.assert_details(r, 422, "validation_failed", {(name, "too_long")})
    k.crm_create(acme["member"], obj, {name: "fits"})
    # an unknown member or bad value changes nothing
    r = acme["admin"].request("PATCH", f"{PROPS}/{obj}/{name}",
                              json={"description": "x", "bogus": 1})
    k.assert_error(r, 422, "validation_failed")
    r = acme["admin"].request("PATCH", f"{PROPS}/{obj}/{name}",
                              json={"description": "x", "classification": "x"})
    k.assert_error(r, 422, "validation_failed")
    assert acme["admin"].get(f"{PROPS}/{obj}/{name}").json()["description"] == "new"


def test_patch_options(acme):
    name = uname("opt")
    new_property(acme["admin"], "deals", name, "enumeration",
                 options=[{"value": "a", "labels": labels("A")}])
    r = create_record(acme["member"], "deals", {"dealname": "o", name: "b"})
    k.assert_details(r, 422, "validation_failed", {(name, "invalid_option")})
    r = acme["admin"].request("PATCH", f"{PROPS}/deals/{name}", json={"options": [
        {"value": "a", "labels": labels("A")}, {"value": "b", "labels": labels("B")}]})
    assert r.status_code == 200, r.text
    assert [o["value"] for o in r.json()["options"]] == ["a", "b"]
    k.crm_create(acme["member"], "deals", {"dealname": "o", name: "b"})
    r = acme["admin"].request("PATCH", f"{PROPS}/deals/{name}", json={"options": [
        {"value": "a", "labels": labels("A")}, {"value": "a", "labels": labels("A2")}]})
    k.assert_error(r, 422, "validation_failed")


def test_unique_flag(acme):
    name = uname("uniq")
    new_property(acme["admin"], "companies", name, unique=True)
    k.crm_create(acme["member"], "companies", {name: "X-1"})
    r = create_record(acme["member"], "companies", {name: "X-1"})
    k.assert_details(r, 409, "already_exists", {(name, "not_unique")})
    k.crm_create(acme["member"], "companies", {name: "X-2"})


def test_type_change_dry_run_and_conflict(acme):
    admin, member = acme["admin"], acme["member"]
    name = uname("tc")
    new_property(admin, "contacts", name, "string")
    good = k.crm_create(member, "contacts", {name: "12"})
    good2 = k.crm_create(member, "contacts", {name: "7.5"})
    bad = k.crm_create(member, "contacts", {name: "twelve"})
    r = admin.request("PATCH", f"{PROPS}/contacts/{name}", json={"type": "number", "dryRun": True})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["convertible"] == 2 and out["incompatible"] == 1, out
    assert out["examples"] == [bad["id"]], out
    assert admin.get(f"{PROPS}/contacts/{name}").json()["type"] == "string", "a dry run changed the type"
    r = admin.request("PATCH", f"{PROPS}/contacts/{name}", json={"type": "number"})
    err = k.assert_details(r, 409, "conflict", {("type", "incompatible_values")})
    msg = [d for d in err["details"] if d["field"] == "type"][0]["message"]
    assert "1" in msg and bad["id"] in msg, msg
    assert admin.get(f"{PROPS}/contacts/{name}").json()["type"] == "string"
    assert k.crm_get(member, "contacts", bad["id"])["properties"][name] == "twelve"
    # once the value is gone the change goes through and converts
    r = member.request("PATCH", f"{OBJ}/contacts/{bad['id']}", json={"properties": {name: None}})
    assert r.status_code == 200, r.text
    r = admin.request("PATCH", f"{PROPS}/contacts/{name}", json={"type": "number", "dryRun": True})
    assert r.json()["incompatible"] == 0 and r.json()["examples"] == [], r.text
    r = admin.request("PATCH", f"{PROPS}/contacts/{name}", json={"type": "number"})
    assert r.status_code == 200 and r.json()["type"] == "number", r.text
    assert k.crm_get(member, "contacts", good["id"])["properties"][name] == 12
    assert k.crm_get(member, "contacts", good2["id"])["properties"][name] == 7.5
    r = create_record(member, "contacts", {name: "thirteen"})
    k.assert_details(r, 422, "validation_failed", {(name, "invalid_type")})


def test_type_change_to_enumeration_and_bool(acme):
    admin, member = acme["admin"], acme["member"]
    name = uname("te")
    new_property(admin, "companies", name, "string")
    k.crm_create(member, "companies", {name: "red"})
    other = k.crm_create(member, "companies", {name: "blue"})
    r = admin.request("PATCH", f"{PROPS}/companies/{name}", json={
        "type": "enumeration", "options": [{"value": "red", "labels": labels("Red")}],
        "dryRun": True})
    assert r.status_code == 200, r.text
    assert (r.json()["convertible"], r.json()["incompatible"]) == (1, 1), r.text
    assert r.json()["examples"] == [other["id"]]
    r = admin.request("PATCH", f"{PROPS}/companies/{name}", json={"type": "bool"})
    k.assert_details(r, 409, "conflict", {("type", "incompatible_values")})
    assert admin.get(f"{PROPS}/companies/{name}").json()["type"] == "string"


def test_type_change_to_enumeration_needs_options(acme):
    name = uname("teo")
    new_property(acme["admin"], "companies", name, "string")
    r = acme["admin"].request("PATCH", f"{PROPS}/companies/{name}", json={"type": "enumeration"})
    err = k.assert_error(r, 422, "validation_failed")
    assert "options" in {d["field"] for d in err["details"]}, err
    r = acme["admin"].request("PATCH", f"{PROPS}/companies/{name}", json={"type": "money"})
    err = k.assert_error(r, 422, "validation_failed")
    assert "type" in {d["field"] for d in err["details"]}, err
    assert acme["admin"].get(f"{PROPS}/companies/{name}").json()["type"] == "string"


def test_archive_property(acme):
    name = uname("gone")
    new_property(acme["admin"], "companies", name)
    r = acme["admin"].request("DELETE", f"{PROPS}/companies/{name}")
    assert r.status_code == 204, r.text
    assert name not in {x["name"] for x in acme["admin"].get(f"{PROPS}/companies").json()["results"]}
    r = create_record(acme["member"], "companies", {name: "x"})
    k.assert_details(r, 422, "validation_failed", {(name, "unknown_property")})


@pytest.mark.parametrize("obj,name", [("contacts", "email"), ("deals", "dealname"),
                                      ("companies", "name")])
def test_standard_property_cannot_be_archived(acme, obj, name):
    r = acme["super_admin"].request("DELETE", f"{PROPS}/{obj}/{name}")
    k.assert_error(r, 409)
    assert acme["super_admin"].get(f"{PROPS}/{obj}/{name}").status_code == 200


# ---------------------------------------------------------------- permissions and tenants


@pytest.mark.parametrize("role", ["member", "read_only"])
def test_property_management_is_forbidden(acme, role):
    c = acme[role]
    name = uname()
    existing = uname("kept")
    new_property(acme["admin"], "companies", existing)
    for r in (
        c.post(f"{PROPS}/companies", json={"name": name, "labels": labels("x"), "type": "string"}),
        c.request("PATCH", f"{PROPS}/companies/{existing}", json={"description": "changed"}),
        c.request("PATCH", f"{PROPS}/companies/{existing}", json={"type": "number", "dryRun": True}),
        c.request("DELETE", f"{PROPS}/companies/{existing}"),
    ):
        k.assert_error(r, 403, "forbidden")
    k.assert_error(acme["admin"].get(f"{PROPS}/companies/{name}"), 404, "not_found")
    p = acme["admin"].get(f"{PROPS}/companies/{existing}").json()
    assert p["description"] == "" and p["type"] == "string"
    # reading is allowed
    assert c.get(f"{PROPS}/companies/{existing}").status_code == 200


def test_other_tenants_property_is_missing(acme, globex):
    name = uname("gx")
    new_property(globex, "companies", name)
    sup = acme["super_admin"]
    for method, body in (("GET", None), ("PATCH", {"description": "x"}), ("DELETE", None)):
        r = sup.request(method, f"{PROPS}/companies/{name}", json=body)
        ref = sup.request(method, f"{PROPS}/companies/{name}zz", json=body)
        k.assert_error(r, 404, "not_found")
        k.assert_same_error(r, ref)
    assert name not in {x["name"] for x in sup.get(f"{PROPS}/companies").json()["results"]}
    r = create_record(sup, "companies", {name: "x"})
    k.assert_details(r, 422, "validation_failed", {(name, "unknown_property")})
    assert globex.get(f"{PROPS}/companies/{name}").json()["description"] == ""


def test_indexed_default_and_explicit(acme):
    """Unique and enumeration properties are indexed
    by default; "indexed" given in the request wins."""
    admin = acme["admin"]
    assert new_property(admin, "companies", uname("ux"), "string", unique=True)["indexed"] is True
    assert new_property(admin, "companies", uname("en"), "enumeration",
                        options=[{"value": "a", "labels": labels("A")}])["indexed"] is True
    p = new_property(admin, "companies", uname("ix"), "string", indexed=True)
    assert p["indexed"] is True
    assert admin.get(f"{PROPS}/companies/{p['name']}").json()["indexed"] is True
    assert new_property(admin, "companies", uname("nx"), "number", indexed=False)["indexed"] is False
