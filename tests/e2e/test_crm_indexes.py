"""
Indexes over several properties, black-box: /api/v1/schemas/{object}/indexes
lists, adds and drops them; what a new one may hold (2-4 distinct live,
non-sensitive properties; at most 10 per type; never the same one twice);
who may manage them; another tenant's type or index answered like a missing
one; a property that is a column of one can be neither archived nor turned
sensitive until the index goes; searches give the same pages and totals
with and without one.
"""

import secrets

import pytest

import kura_e2e as k

SCHEMAS = "/api/v1/schemas"
PROPS = "/api/v1/properties"
OBJ = "/api/v1/objects"


def new_type(client, props) -> str:
    """A new custom object type with these (name, type) properties; its name."""
    name = f"ix{secrets.token_hex(4)}"
    r = client.post(SCHEMAS, json={"name": name, "labels": {"en": name}})
    assert r.status_code == 201, r.text
    for p, typ in props:
        body = {"name": p, "labels": {"en": p}, "type": typ}
        if typ == "enumeration":
            body["options"] = [{"value": v} for v in ("lead", "customer", "other")]
        r = client.post(f"{PROPS}/{name}", json=body)
        assert r.status_code == 201, r.text
    return name


def indexes(obj) -> str:
    return f"{SCHEMAS}/{obj}/indexes"


@pytest.fixture(scope="module")
def typ(acme):
    return new_type(acme["super_admin"], [("stage", "enumeration"), ("joined", "date"),
                                          ("city", "string"), ("score", "number"),
                                          ("note", "text")])


def test_add_list_and_drop(acme, typ):
    admin = acme["admin"]
    r = admin.post(indexes(typ), json={"properties": ["stage", "joined"]})
    assert r.status_code == 201, r.text
    ix = r.json()
    assert set(ix) == {"id", "properties", "createdAt"}
    assert ix["properties"] == ["stage", "joined"] and ix["id"].isdigit()
    # the other column order is another index
    r = admin.post(indexes(typ), json={"properties": ["joined", "stage"]})
    assert r.status_code == 201, r.text
    other = r.json()
    for role in ("super_admin", "admin", "member", "read_only"):
        r = acme[role].get(indexes(typ))
        assert r.status_code == 200, r.text
        got = [x for x in r.json()["results"] if x["id"] in (ix["id"], other["id"])]
        assert got == [ix, other], role
    entries = k.audit_entries(acme["super_admin"], action="schema.index_create", targetId=typ)
    assert {e["target"]["properties"] for e in entries} >= {"stage,joined", "joined,stage"}
    assert admin.request("DELETE", f"{indexes(typ)}/{other['id']}").status_code == 204
    k.assert_error(admin.request("DELETE", f"{indexes(typ)}/{other['id']}"), 404, "not_found")
    assert [x["id"] for x in admin.get(indexes(typ)).json()["results"]] == [ix["id"]]
    entries = k.audit_entries(acme["super_admin"], action="schema.index_drop", targetId=typ)
    assert [e["target"]["properties"] for e in entries] == ["joined,stage"]
    assert admin.request("DELETE", f"{indexes(typ)}/{ix['id']}").status_code == 204
    assert admin.get(indexes(typ)).json()["results"] == []


@pytest.mark.parametrize("body,field,code", [
    ({"properties": ["stage"]}, "properties", "invalid"),
    ({"properties": ["stage", "joined", "city", "score", "note"]}, "properties", "invalid"),
    ({"properties": "stage,joined"}, "properties", "invalid"),
    ({"properties": ["stage", 7]}, "properties[1]", "unknown_property"),
    ({"properties": ["stage", "nosuch"]}, "properties[1]", "unknown_property"),
    ({"properties": ["stage", "stage"]}, "properties[1]", "duplicate"),
    ({"properties": ["stage", "joined"], "unique": True}, "unique", None),
    ({}, "properties", "invalid"),
])
def test_validation(acme, typ, body, field, code):
    before = acme["admin"].get(indexes(typ)).json()["results"]
    r = acme["admin"].post(indexes(typ), json=body)
    err = k.assert_error(r, 422, "validation_failed")
    details = {(d["field"], d["code"]) for d in err["details"]}
    assert any(f == field and (code is None or c == code) for f, c in details), details
    assert acme["admin"].get(indexes(typ)).json()["results"] == before


def test_sensitive_property_is_refused(acme):
    sup = acme["super_admin"]
    obj = new_type(sup, [("stage", "enumeration")])
    r = sup.post(f"{PROPS}/{obj}", json={"name": "ssn", "labels": {"en": "ssn"},
                                          "type": "string", "sensitive": True})
    assert r.status_code == 201, r.text
    err = k.assert_error(sup.post(indexes(obj), json={"properties": ["stage", "ssn"]}), 422,
                         "validation_failed")
    assert ("properties[1]", "sensitive") in {(d["field"], d["code"]) for d in err["details"]}


def test_same_index_twice_and_the_limit(acme):
    sup = acme["super_admin"]
    obj = new_type(sup, [(f"p{i}", "string") for i in range(5)])
    assert sup.post(indexes(obj), json={"properties": ["p0", "p1"]}).status_code == 201
    err = k.assert_error(sup.post(indexes(obj), json={"properties": ["p0", "p1"]}), 409,
                         "already_exists")
    assert err["details"][0]["field"] == "properties"
    pairs = [[a, b] for a in ("p1", "p2", "p3", "p4") for b in ("p0", "p2", "p3") if a != b]
    for pair in pairs[:9]:
        r = sup.post(indexes(obj), json={"properties": pair})
        assert r.status_code == 201, r.text
    err = k.assert_error(sup.post(indexes(obj), json={"properties": pairs[9]}), 400)
    assert err["details"][0]["code"] == "limit"
    assert len(sup.get(indexes(obj)).json()["results"]) == 10


@pytest.mark.parametrize("role", ["member", "read_only"])
def test_forbidden_without_properties_manage(acme, typ, role):
    sup = acme["super_admin"]
    r = sup.post(indexes(typ), json={"properties": ["city", "score"]})
    assert r.status_code == 201, r.text
    ix = r.json()
    try:
        k.assert_error(acme[role].post(indexes(typ), json={"properties": ["score", "city"]}),
                       403, "forbidden")
        k.assert_error(acme[role].request("DELETE", f"{indexes(typ)}/{ix['id']}"), 403,
                       "forbidden")
        got = sup.get(indexes(typ)).json()["results"]
        assert [x["properties"] for x in got] == [["city", "score"]]
    finally:
        assert sup.request("DELETE", f"{indexes(typ)}/{ix['id']}").status_code == 204


def test_another_tenant_sees_nothing(acme, globex, typ):
    sup = acme["super_admin"]
    r = sup.post(indexes(typ), json={"properties": ["stage", "score"]})
    assert r.status_code == 201, r.text
    ix = r.json()
    try:
        # the type is acme's: to globex it does not exist
        missing = k.assert_error(globex.get(indexes("nosuchtype")), 404)
        for r in (globex.get(indexes(typ)),
                  globex.post(indexes(typ), json={"properties": ["stage", "score"]}),
                  globex.request("DELETE", f"{indexes(typ)}/{ix['id']}")):
            err = k.assert_error(r, 404)
            assert err["code"] == missing["code"] and err["message"] == missing["message"]
        # a type of the same name in globex does not reach acme's index
        new = globex.post(SCHEMAS, json={"name": typ, "labels": {"en": typ}})
        assert new.status_code == 201, new.text
        k.assert_error(globex.request("DELETE", f"{indexes(typ)}/{ix['id']}"), 404, "not_found")
        assert globex.get(indexes(typ)).json()["results"] == []
        assert [x["id"] for x in sup.get(indexes(typ)).json()["results"]] == [ix["id"]]
    finally:
        assert sup.request("DELETE", f"{indexes(typ)}/{ix['id']}").status_code == 204


@pytest.mark.parametrize("bad", ["0", "-1", "abc", "1x", "99999999999999999999", "987654321"])
def test_malformed_or_missing_index_id(acme, typ, bad):
    k.assert_error(acme["admin"].request("DELETE", f"{indexes(typ)}/{bad}"), 404, "not_found")


def test_a_column_stays_live_and_clear(acme):
    sup = acme["super_admin"]
    obj = new_type(sup, [("stage", "enumeration"), ("city", "string")])
    ix = sup.post(indexes(obj), json={"properties": ["stage", "city"]}).json()
    err = k.assert_error(sup.request("DELETE", f"{PROPS}/{obj}/city"), 409, "conflict")
    assert err["details"][0]["code"] == "in_index"
    err = k.assert_error(sup.request("PATCH", f"{PROPS}/{obj}/city", json={"sensitive": True}),
                         409, "conflict")
    assert err["details"][0] == {"field": "sensitive", "code": "in_index",
                                 "message": err["details"][0]["message"]}
    prop = sup.get(f"{PROPS}/{obj}/city").json()
    assert prop["sensitive"] is False
    # a change that leaves it clear is fine
    r = sup.request("PATCH", f"{PROPS}/{obj}/city", json={"labels": {"en": "Town"}})
    assert r.status_code == 200, r.text
    assert sup.request("DELETE", f"{indexes(obj)}/{ix['id']}").status_code == 204
    r = sup.request("PATCH", f"{PROPS}/{obj}/city", json={"sensitive": True})
    assert r.status_code in (200, 202), r.text
    assert sup.request("DELETE", f"{PROPS}/{obj}/stage").status_code == 204


def test_searches_are_the_same_with_and_without(acme):
    """Every page and total of searches that an index over (stage, joined)
    or (stage, city, score) serves, before and after it exists."""
    sup = acme["super_admin"]
    obj = new_type(sup, [("stage", "enumeration"), ("joined", "date"), ("city", "string"),
                         ("score", "number")])
    rows = []
    for i in range(1200):
        rows.append({"stage": ("lead", "customer", "other")[i % 3],
                     "joined": f"20{10 + i % 15:02d}-{1 + i % 12:02d}-{1 + i % 28:02d}",
                     "city": ("Tokyo", "Osaka", "Nagoya", "東京都港区")[i % 7 % 4],
                     "score": i % 101})
    made = []
    for b in range(0, len(rows), 100):
        r = sup.post(f"{OBJ}/{obj}/batch/create",
                     json={"inputs": [{"properties": p} for p in rows[b:b + 100]]})
        assert r.status_code in (200, 201), r.text[:300]
        made += [x["record"]["id"] for x in r.json()["results"]]
    by_id = dict(zip(made, rows))

    def run(filters):
        seen, after, total = [], None, None
        while True:
            body = {"filterGroups": [{"filters": filters}], "limit": 50}
            if after:
                body["after"] = after
            out = k.crm_search(sup, obj, body)
            total = out["total"] if total is None else total
            seen += [x["id"] for x in out["results"]]
            after = out.get("paging", {}).get("next", {}).get("after")
            if not after:
                return seen, total

    def f(p, op, v, hi=None):
        out = {"propertyName": p, "operator": op}
        if op == "IN":
            out["values"] = v
        else:
            out["value"] = v
        if hi is not None:
            out["highValue"] = hi
        return out

    cases = [
        ([f("stage", "EQ", "lead"), f("joined", "BETWEEN", "2012-01-01", "2016-12-31")],
         lambda p: p["stage"] == "lead" and "2012-01-01" <= p["joined"] <= "2016-12-31"),
        ([f("stage", "IN", ["lead", "other"]), f("joined", "GTE", "2020-06-01")],
         lambda p: p["stage"] in ("lead", "other") and p["joined"] >= "2020-06-01"),
        ([f("stage", "EQ", "customer"), f("city", "EQ", "東京都港区"), f("score", "LT", 30)],
         lambda p: p["stage"] == "customer" and p["city"] == "東京都港区" and p["score"] < 30),
        ([f("stage", "EQ", "customer"), f("city", "STARTS_WITH", "O")],
         lambda p: p["stage"] == "customer" and p["city"].startswith("O")),
        # a filter no index serves is checked on the rows
        ([f("stage", "EQ", "other"), f("joined", "LT", "2015-01-01"), f("city", "NEQ", "Tokyo")],
         lambda p: p["stage"] == "other" and p["joined"] < "2015-01-01" and p["city"] != "Tokyo"),
        # nothing matches
        ([f("stage", "EQ", "lead"), f("joined", "GT", "2100-01-01")], lambda p: False),
    ]
    before = [run(filters) for filters, _ in cases]
    for (filters, want), (got, total) in zip(cases, before):
        expect = sorted((i for i, p in by_id.items() if want(p)), key=int)
        assert got == expect, filters
        assert total == len(expect), filters
    for cols in (["stage", "joined"], ["stage", "city", "score"]):
        r = sup.post(indexes(obj), json={"properties": cols})
        assert r.status_code == 201, r.text
    assert [run(filters) for filters, _ in cases] == before
    # the answers still follow changes
    first = before[0][0][0]
    r = sup.request("PATCH", f"{OBJ}/{obj}/{first}", json={"properties": {"stage": "other"}})
    assert r.status_code == 200, r.text
    got, total = run(cases[0][0])
    assert got == before[0][0][1:] and total == before[0][1] - 1
