"""
CRM search, black-box: POST /api/v1/objects/{object}/search with every
filter operator, OR of filter groups, sorts, cursor paging, the limits of
the request, full-text queries (Japanese substrings, Latin prefixes) and
what search must never find (archived records, another tenant's records).

Every search here also filters on a marker value written only by this
module's data set, so records of other tests never show up.
"""

import secrets

import pytest

import kura_e2e as k

OBJ = "/api/v1/objects"


COMPANIES = {
    # key: (name, industry, numberofemployees)
    "A": ("Alpha Corp", "tech", 10),
    "B": ("Beta Ltd", "retail", 20),
    "C": ("Gamma Inc", "tech", 30),
    "D": ("Delta", "tech", None),
    "E": ("Alpine Works", "retail", 50),
}

CONTACTS = {
    "tanaka_kanji": {"firstname": "田中太郎", "lastname": "テスト"},
    "yamada": {"firstname": "山田花子", "lastname": "テスト"},
    "sato": {"firstname": "佐藤太郎", "lastname": "テスト"},
    "tanaka_latin": {"firstname": "Ichiro", "lastname": "Tanaka"},
    "smith": {"firstname": "John", "lastname": "Smith"},
}

DEALS = {
    "d1": {"amount": 100, "closedate": "2026-01-15", "dealstage": "closedwon"},
    "d2": {"amount": 250.5, "closedate": "2026-02-01", "dealstage": "closedlost"},
    "d3": {"amount": 900, "closedate": "2026-03-31", "dealstage": "closedwon"},
}


@pytest.fixture(scope="module")
def data(acme):
    """The module's records: {"marker", "companies": {key: id}, "contacts": {key: id},
    "deals": {key: id}}. Companies and contacts carry the marker in "city",
    deals start their name with it."""
    sup = acme["super_admin"]
    marker = f"srch{secrets.token_hex(5)}"
    out = {"marker": marker, "companies": {}, "contacts": {}, "deals": {}}
    for key, (name, industry, n) in COMPANIES.items():
        p = {"name": name, "industry": industry, "city": marker}
        if n is not None:
            p["numberofemployees"] = n
        out["companies"][key] = k.crm_create(sup, "companies", p)["id"]
    for key, p in CONTACTS.items():
        out["contacts"][key] = k.crm_create(sup, "contacts", dict(p, city=marker))["id"]
    for key, p in DEALS.items():
        out["deals"][key] = k.crm_create(sup, "deals", dict(p, dealname=f"{marker} {key}"))["id"]
    return out


def mark(data):
    return {"propertyName": "city", "operator": "EQ", "value": data["marker"]}


def deal_mark(data):
    return {"propertyName": "dealname", "operator": "STARTS_WITH", "value": data["marker"]}


def search(client, obj, body):
    return k.crm_search(client, obj, body)


def ids(out) -> list:
    return [r["id"] for r in out["results"]]


def keys_of(data, obj, out) -> set:
    back = {v: key for key, v in data[obj].items()}
    got = ids(out)
    assert set(got) <= set(back), f"records outside the data set: {set(got) - set(back)}"
    return {back[i] for i in got}


def company_search(client, data, *filters, **extra):
    body = {"filterGroups": [{"filters": [mark(data), *filters]}], "limit": 100}
    body.update(extra)
    return search(client, "companies", body)


# ---------------------------------------------------------------- operators


@pytest.mark.parametrize("filters,want", [
    ([{"propertyName": "numberofemployees", "operator": "EQ", "value": 20}], "B"),
    ([{"propertyName": "numberofemployees", "operator": "NEQ", "value": 20},
      {"propertyName": "numberofemployees", "operator": "HAS_PROPERTY"}], "ACE"),
    ([{"propertyName": "numberofemployees", "operator": "LT", "value": 20}], "A"),
    ([{"propertyName": "numberofemployees", "operator": "LTE", "value": 20}], "AB"),
    ([{"propertyName": "numberofemployees", "operator": "GT", "value": 20}], "CE"),
    ([{"propertyName": "numberofemployees", "operator": "GTE", "value": 20}], "BCE"),
    ([{"propertyName": "numberofemployees", "operator": "BETWEEN", "value": 20, "highValue": 30}],
     "BC"),
    ([{"propertyName": "numberofemployees", "operator": "BETWEEN", "value": 11, "highValue": 49}],
     "BC"),
    ([{"propertyName": "numberofemployees", "operator": "IN", "values": [10, 30, 99]}], "AC"),
    ([{"propertyName": "numberofemployees", "operator": "NOT_IN", "values": [10, 30]},
      {"propertyName": "numberofemployees", "operator": "HAS_PROPERTY"}], "BE"),
    ([{"propertyName": "numberofemployees", "operator": "HAS_PROPERTY"}], "ABCE"),
    ([{"propertyName": "numberofemployees", "operator": "NOT_HAS_PROPERTY"}], "D"),
    ([{"propertyName": "name", "operator": "EQ", "value": "Beta Ltd"}], "B"),
    ([{"propertyName": "name", "operator": "NEQ", "value": "Beta Ltd"}], "ACDE"),
    ([{"propertyName": "name", "operator": "IN", "values": ["Delta", "Gamma Inc", "Nope"]}], "CD"),
    ([{"propertyName": "industry", "operator": "NOT_IN", "values": ["tech"]}], "BE"),
    ([{"propertyName": "name", "operator": "CONTAINS_TOKEN", "value": "Corp"}], "A"),
    ([{"propertyName": "name", "operator": "CONTAINS_TOKEN", "value": "Works"}], "E"),
    ([{"propertyName": "name", "operator": "STARTS_WITH", "value": "Alp"}], "AE"),
    ([{"propertyName": "name", "operator": "STARTS_WITH", "value": "Gamma"}], "C"),
    ([{"propertyName": "industry", "operator": "EQ", "value": "tech"},
      {"propertyName": "numberofemployees", "operator": "GT", "value": 10}], "C"),
])
def test_operators(acme, data, filters, want):
    out = company_search(acme["read_only"], data, *filters)
    assert keys_of(data, "companies", out) == set(want), (filters, out)
    assert out["total"] == len(want) and out["totalIsExact"] is True, out


@pytest.mark.parametrize("filters,want", [
    ([{"propertyName": "closedate", "operator": "GTE", "value": "2026-02-01"}], {"d2", "d3"}),
    ([{"propertyName": "closedate", "operator": "LT", "value": "2026-02-01"}], {"d1"}),
    ([{"propertyName": "closedate", "operator": "BETWEEN", "value": "2026-01-01",
       "highValue": "2026-02-01"}], {"d1", "d2"}),
    ([{"propertyName": "amount", "operator": "GT", "value": 250}], {"d2", "d3"}),
    ([{"propertyName": "amount", "operator": "LTE", "value": 250.5}], {"d1", "d2"}),
    ([{"propertyName": "dealstage", "operator": "EQ", "value": "closedwon"}], {"d1", "d3"}),
    ([{"propertyName": "dealstage", "operator": "IN", "values": ["closedlost"]}], {"d2"}),
])
def test_date_number_and_enumeration_filters(acme, data, filters, want):
    out = search(acme["member"], "deals", {"filterGroups": [{"filters": [deal_mark(data), *filters]}],
                                           "limit": 100})
    assert keys_of(data, "deals", out) == want, out
    assert out["total"] == len(want)


@pytest.fixture(scope="module")
def typed_deals(acme, data):
    """A datetime and a bool property on deals, set on the data set's deals."""
    sup = acme["super_admin"]
    for name, typ in (("signed_at", "datetime"), ("won", "bool")):
        r = sup.post("/api/v1/properties/deals",
                     json={"name": name, "labels": {"en": name, "ja": name}, "type": typ})
        assert r.status_code == 201, r.text
    for key, values in (("d1", {"signed_at": "2026-05-01T09:00:00+09:00", "won": True}),
                        ("d2", {"signed_at": "2026-05-01T01:00:00Z", "won": False}),
                        ("d3", {"won": True})):
        r = sup.request("PATCH", f"{OBJ}/deals/{data['deals'][key]}", json={"properties": values})
        assert r.status_code == 200, r.text
    return True


@pytest.mark.parametrize("filters,want", [
    ([{"propertyName": "signed_at", "operator": "GT", "value": "2026-05-01T00:30:00Z"}], {"d2"}),
    ([{"propertyName": "signed_at", "operator": "LTE", "value": "2026-05-01T09:00:00+09:00"}],
     {"d1"}),
    ([{"propertyName": "signed_at", "operator": "EQ", "value": "2026-05-01T00:00:00Z"}], {"d1"}),
    ([{"propertyName": "signed_at", "operator": "BETWEEN", "value": "2026-04-30T23:30:00-01:00",
       "highValue": "2026-05-01T02:00:00Z"}], {"d2"}),
    ([{"propertyName": "signed_at", "operator": "NOT_HAS_PROPERTY"}], {"d3"}),
    ([{"propertyName": "won", "operator": "EQ", "value": True}], {"d1", "d3"}),
    ([{"propertyName": "won", "operator": "EQ", "value": False}], {"d2"}),
    ([{"propertyName": "won", "operator": "NEQ", "value": True}], {"d2"}),
])
def test_datetime_and_bool_filters(acme, data, typed_deals, filters, want):
    out = search(acme["member"], "deals", {"filterGroups": [{"filters": [deal_mark(data), *filters]}],
                                           "limit": 100})
    assert keys_of(data, "deals", out) == want, out


def test_datetime_sort(acme, data, typed_deals):
    out = search(acme["member"], "deals", {
        "filterGroups": [{"filters": [deal_mark(data),
                                      {"propertyName": "signed_at", "operator": "HAS_PROPERTY"}]}],
        "sorts": [{"propertyName": "signed_at", "direction": "DESCENDING"}]})
    assert ids(out) == [data["deals"]["d2"], data["deals"]["d1"]]


def test_or_of_filter_groups(acme, data):
    out = search(acme["super_admin"], "companies", {"limit": 100, "filterGroups": [
        {"filters": [mark(data), {"propertyName": "numberofemployees", "operator": "EQ", "value": 10}]},
        {"filters": [mark(data), {"propertyName": "name", "operator": "EQ", "value": "Gamma Inc"}]},
        {"filters": [mark(data), {"propertyName": "name", "operator": "EQ", "value": "Alpha Corp"}]},
    ]})
    assert keys_of(data, "companies", out) == {"A", "C"}
    assert out["total"] == 2, "a record matching two groups is counted once"


def test_no_filter_groups_with_query(acme, data):
    """A query alone searches the whole object."""
    out = search(acme["super_admin"], "companies", {"query": data["marker"], "limit": 100})
    assert keys_of(data, "companies", out) == set(COMPANIES)


# ---------------------------------------------------------------- sorts and paging


def test_sorts(acme, data):
    has = {"propertyName": "numberofemployees", "operator": "HAS_PROPERTY"}
    c = data["companies"]
    out = company_search(acme["member"], data, has,
                         sorts=[{"propertyName": "numberofemployees", "direction": "ASCENDING"}])
    assert ids(out) == [c["A"], c["B"], c["C"], c["E"]]
    out = company_search(acme["member"], data, has,
                         sorts=[{"propertyName": "numberofemployees", "direction": "DESCENDING"}])
    assert ids(out) == [c["E"], c["C"], c["B"], c["A"]]
    out = company_search(acme["member"], data,
                         sorts=[{"propertyName": "name", "direction": "ASCENDING"}])
    assert ids(out) == [c["A"], c["E"], c["B"], c["D"], c["C"]]
    out = company_search(acme["member"], data, has, sorts=[
        {"propertyName": "industry", "direction": "ASCENDING"},
        {"propertyName": "numberofemployees", "direction": "DESCENDING"}])
    assert ids(out) == [c["E"], c["B"], c["C"], c["A"]]


@pytest.mark.parametrize("sorts", [
    None,
    [{"propertyName": "numberofemployees", "direction": "DESCENDING"}],
    [{"propertyName": "name", "direction": "ASCENDING"}],
    [{"propertyName": "industry", "direction": "ASCENDING"}],
    [{"propertyName": "industry", "direction": "DESCENDING"}],
    [{"propertyName": "numberofemployees", "direction": "ASCENDING"}],
], ids=["id", "employees-desc", "name-asc", "industry-ties-asc", "industry-ties-desc",
        "employees-asc-null"])
def test_cursor_paging_walks_all_results_once(acme, data, sorts):
    sup = acme["super_admin"]
    body = {"filterGroups": [{"filters": [mark(data)]}], "limit": 2}
    if sorts:
        body["sorts"] = sorts
    full = search(sup, "companies", dict(body, limit=100))
    seen, after, pages = [], None, 0
    while True:
        b = dict(body)
        if after:
            b["after"] = after
        out = search(sup, "companies", b)
        pages += 1
        assert len(out["results"]) <= 2
        assert out["total"] == 5, out
        seen += ids(out)
        after = out.get("paging", {}).get("next", {}).get("after")
        if not after:
            break
        assert pages < 10, "paging does not end"
    assert pages == 3
    assert len(seen) == len(set(seen)) == 5, seen
    assert seen == ids(full), "pages differ from the one-page answer"
    if sorts and sorts[0]["propertyName"] == "industry":
        back = {v: key for key, v in data["companies"].items()}
        order = [COMPANIES[back[i]][1] for i in seen]
        assert order == sorted(order, reverse=sorts[0]["direction"] == "DESCENDING"), order


def test_default_limit_is_ten(acme, data):
    sup = acme["super_admin"]
    marker = f"many{secrets.token_hex(4)}"
    r = sup.post(f"{OBJ}/companies/batch/create", json={"inputs": [
        {"properties": {"name": f"Many {i}", "city": marker}} for i in range(12)]})
    assert r.status_code == 200, r.text
    out = search(sup, "companies", {"filterGroups": [{"filters": [
        {"propertyName": "city", "operator": "EQ", "value": marker}]}]})
    assert len(out["results"]) == 10 and out["total"] == 12
    assert out["paging"]["next"]["after"]


def test_properties_in_results(acme, data):
    out = company_search(acme["super_admin"], data, properties=["name"])
    assert len(out["results"]) == 5
    for rec in out["results"]:
        assert "name" in rec["properties"] and "industry" not in rec["properties"], rec


# ---------------------------------------------------------------- full text


@pytest.mark.parametrize("query,want", [
    ("中太", {"tanaka_kanji"}),
    ("田", {"tanaka_kanji", "yamada"}),
    ("太郎", {"tanaka_kanji", "sato"}),
    ("田中太郎", {"tanaka_kanji"}),
    ("花子", {"yamada"}),
    ("tan", {"tanaka_latin"}),
    ("TAN", {"tanaka_latin"}),
    ("Tanaka", {"tanaka_latin"}),
    ("smi", {"smith"}),
    ("テスト", {"tanaka_kanji", "yamada", "sato"}),
    ("鈴木", set()),
])
def test_full_text(acme, data, query, want):
    out = search(acme["read_only"], "contacts", {"query": query, "limit": 100,
                                                 "filterGroups": [{"filters": [mark(data)]}]})
    assert keys_of(data, "contacts", out) == want, (query, out)
    assert out["total"] == len(want)


def test_full_text_follows_changes_and_archive(acme, data):
    sup = acme["super_admin"]
    word = f"zq{secrets.token_hex(4)}"
    rec = k.crm_create(sup, "contacts", {"firstname": word, "city": data["marker"] + "x"})
    by_word = {"query": word, "limit": 100}
    assert ids(search(sup, "contacts", by_word)) == [rec["id"]]
    new = f"zr{secrets.token_hex(4)}"
    r = sup.request("PATCH", f"{OBJ}/contacts/{rec['id']}", json={"properties": {"firstname": new}})
    assert r.status_code == 200, r.text
    assert ids(search(sup, "contacts", by_word)) == []
    assert ids(search(sup, "contacts", {"query": new})) == [rec["id"]]
    assert sup.request("DELETE", f"{OBJ}/contacts/{rec['id']}").status_code == 204
    out = search(sup, "contacts", {"query": new})
    assert out["results"] == [] and out["total"] == 0
    out = search(sup, "contacts", {"filterGroups": [{"filters": [
        {"propertyName": "firstname", "operator": "EQ", "value": new}]}]})
    assert out["results"] == [] and out["total"] == 0, "an archived record was found by a filter"
    assert sup.post(f"{OBJ}/contacts/{rec['id']}/restore").status_code == 200
    assert ids(search(sup, "contacts", {"query": new})) == [rec["id"]]


def test_full_text_follows_batches_and_text_properties(acme, data):
    sup = acme["super_admin"]
    w1, w2 = f"zs{secrets.token_hex(4)}", f"zt{secrets.token_hex(4)}"
    r = sup.post(f"{OBJ}/tickets/batch/create", json={"inputs": [
        {"properties": {"subject": f"Printer {w1}", "content": "東京都港区のオフィスで紙詰まり"}}]})
    assert r.status_code == 200, r.text
    tid = r.json()["results"][0]["record"]["id"]
    assert ids(search(sup, "tickets", {"query": w1})) == [tid]
    assert tid in ids(search(sup, "tickets", {"query": "港区のオフィス", "limit": 100}))
    r = sup.post(f"{OBJ}/tickets/batch/update", json={"inputs": [
        {"id": tid, "properties": {"subject": f"Printer {w2}"}}]})
    assert r.status_code == 200, r.text
    assert ids(search(sup, "tickets", {"query": w1})) == []
    assert ids(search(sup, "tickets", {"query": w2})) == [tid]
    r = sup.post(f"{OBJ}/tickets/batch/archive", json={"ids": [tid]})
    assert r.status_code == 200, r.text
    assert ids(search(sup, "tickets", {"query": w2})) == []


def test_full_text_covers_email(acme, data):
    sup = acme["super_admin"]
    local = f"mailbox{secrets.token_hex(4)}"
    rec = k.crm_create(sup, "contacts", {"email": f"{local}@example.org"})
    assert ids(search(sup, "contacts", {"query": local})) == [rec["id"]]


# ---------------------------------------------------------------- isolation


def test_other_tenant_records_are_never_found(acme, globex, data):
    gword = f"gx{secrets.token_hex(4)}"
    k.crm_create(globex, "contacts", {"firstname": gword, "city": data["marker"]})
    sup = acme["super_admin"]
    assert search(sup, "contacts", {"query": gword})["total"] == 0
    out = search(sup, "contacts", {"filterGroups": [{"filters": [
        {"propertyName": "firstname", "operator": "EQ", "value": gword}]}]})
    assert out["total"] == 0 and out["results"] == []
    out = search(globex, "contacts", {"limit": 100, "filterGroups": [{"filters": [mark(data)]}]})
    assert [r["properties"].get("firstname") for r in out["results"]] == [gword]


def test_api_key_with_records_read_searches(world, acme, data):
    _, token = k.crm_api_key(acme["admin"], ["records.read"])
    r = k.bearer(world.server, token, "POST", f"{OBJ}/companies/search",
                 json={"filterGroups": [{"filters": [mark(data)]}], "limit": 100})
    assert r.status_code == 200, r.text
    assert keys_of(data, "companies", r.json()) == set(COMPANIES)
    _, other = k.crm_api_key(acme["admin"], ["mail.send"])
    r = k.bearer(world.server, other, "POST", f"{OBJ}/companies/search",
                 json={"filterGroups": [{"filters": [mark(data)]}]})
    k.assert_error(r, 403, "forbidden")


def test_unknown_object(acme):
    search(acme["super_admin"], "companies", {})
    r = acme["super_admin"].post(f"{OBJ}/nosuchobject/search", json={})
    k.assert_error(r, 404, "not_found")


# ---------------------------------------------------------------- limits and validation


def mark_any():
    return {"propertyName": "name", "operator": "HAS_PROPERTY"}


def f(n=0):
    return {"propertyName": "numberofemployees", "operator": "GT", "value": n}


def test_six_filter_groups_is_over_the_limit(acme):
    r = acme["super_admin"].post(f"{OBJ}/companies/search",
                                 json={"filterGroups": [{"filters": [f(i)]} for i in range(6)]})
    k.assert_details(r, 400, "bad_request", {("filterGroups", "limit")})


def test_five_filter_groups_and_ten_filters_are_allowed(acme):
    sup = acme["super_admin"]
    search(sup, "companies", {"filterGroups": [{"filters": [f(i)]} for i in range(5)]})
    search(sup, "companies", {"filterGroups": [{"filters": [f(i) for i in range(10)]}]})
    search(sup, "companies", {"filterGroups": [{"filters": [f(i) for i in range(5)]}
                                               for _ in range(5)]})
    search(sup, "companies", {"filterGroups": [{"filters": [
        {"propertyName": "numberofemployees", "operator": "IN", "values": list(range(100))}]}]})
    search(sup, "companies", {"query": "x" * 200})
    search(sup, "companies", {"sorts": [{"propertyName": "name", "direction": "ASCENDING"},
                                        {"propertyName": "city", "direction": "DESCENDING"}]})


@pytest.mark.parametrize("body", [
    {"filterGroups": [{"filters": [f(i) for i in range(11)]}]},
    {"filterGroups": [{"filters": [f(i) for i in range(9)]} for _ in range(3)]},
    {"filterGroups": [{"filters": [
        {"propertyName": "numberofemployees", "operator": "IN", "values": list(range(101))}]}]},
    {"filterGroups": [{"filters": [
        {"propertyName": "numberofemployees", "operator": "NOT_IN", "values": list(range(101))}]}]},
    {"sorts": [{"propertyName": p, "direction": "ASCENDING"} for p in ("name", "city", "industry")]},
    {"query": "x" * 201},
], ids=["11-filters", "27-filters", "101-in", "101-not-in", "3-sorts", "long-query"])
def test_other_limits(acme, body):
    r = acme["super_admin"].post(f"{OBJ}/companies/search", json=body)
    err = k.assert_error(r, 400, "bad_request")
    assert any(d.get("code") == "limit" for d in err.get("details", [])), err


@pytest.mark.parametrize("body,field,code", [
    ({"filterGroups": [{"filters": [{"propertyName": "nosuch", "operator": "EQ", "value": 1}]}]},
     "nosuch", "unknown_property"),
    ({"filterGroups": [{"filters": [{"propertyName": "nosuch", "operator": "HAS_PROPERTY"}]}]},
     "nosuch", "unknown_property"),
    ({"filterGroups": [{"filters": [mark_any()]},
                       {"filters": [{"propertyName": "nosuch", "operator": "IN", "values": ["a"]}]}]},
     "nosuch", "unknown_property"),
])
def test_unknown_property_is_refused(acme, body, field, code):
    r = acme["super_admin"].post(f"{OBJ}/companies/search", json=body)
    err = k.assert_error(r, 422)
    assert code in {d.get("code") for d in err["details"]}, err
    # the detail points into the filters (by path or by name)
    assert any(d.get("field", "").startswith("filterGroups") or field in d.get("field", "")
               for d in err["details"] if d.get("code") == code), err


@pytest.mark.parametrize("body", [
    {"filterGroups": [{"filters": [
        {"propertyName": "numberofemployees", "operator": "EQ", "value": "many"}]}]},
    {"filterGroups": [{"filters": [
        {"propertyName": "numberofemployees", "operator": "IN", "values": [1, "two"]}]}]},
    {"filterGroups": [{"filters": [
        {"propertyName": "numberofemployees", "operator": "BETWEEN", "value": 1, "highValue": "x"}]}]},
], ids=["eq-string-for-number", "in-mixed", "between-high"])
def test_value_of_wrong_type(acme, body):
    r = acme["super_admin"].post(f"{OBJ}/companies/search", json=body)
    k.assert_error(r, 422)


def test_date_filter_of_wrong_type(acme):
    r = acme["super_admin"].post(f"{OBJ}/deals/search", json={"filterGroups": [{"filters": [
        {"propertyName": "closedate", "operator": "GT", "value": "not a date"}]}]})
    k.assert_error(r, 422)


@pytest.mark.parametrize("body", [
    {"filterGroups": [{"filters": [{"propertyName": "name", "operator": "LIKE", "value": "x"}]}]},
    {"filterGroups": [{"filters": [{"propertyName": "name", "operator": "EQ"}]}]},
    {"filterGroups": [{"filters": [{"propertyName": "numberofemployees", "operator": "BETWEEN",
                                    "value": 1}]}]},
    {"filterGroups": [{"filters": [{"propertyName": "name", "operator": "IN"}]}]},
    {"sorts": [{"propertyName": "name", "direction": "UP"}]},
    {"limit": 0},
    {"limit": 101},
    {"after": "not-a-cursor!"},
    {"bogus": 1},
    {"filterGroups": "x"},
    {"filterGroups": [{"filters": [{"propertyName": "name", "operator": "EQ", "value": "x",
                                    "bogus": 1}]}]},
    {"query": ""},
], ids=["bad-operator", "eq-no-value", "between-no-high", "in-no-values", "bad-direction",
        "limit-0", "limit-101", "bad-cursor", "unknown-member", "groups-not-array",
        "unknown-filter-member", "empty-query"])
def test_malformed_requests(acme, body):
    r = acme["super_admin"].post(f"{OBJ}/companies/search", json=body)
    k.assert_client_error(r, allowed_status=(400, 422))


# ---------------------------------------------------------------- the 10,000 cap


def test_total_and_paging_are_capped_at_10000(acme):
    """10,100 records on an object of their own: total stops at 10,000 with
    totalIsExact false; paging by id (no sorts) reaches every record, paging
    with a sort ends after 10,000 results."""
    sup = acme["super_admin"]
    obj = f"bulk_{secrets.token_hex(4)}"
    r = sup.post("/api/v1/schemas", json={"name": obj, "labels": {"en": "Bulk", "ja": "一括"}})
    assert r.status_code == 201, r.text
    for b in range(101):
        r = sup.post(f"{OBJ}/{obj}/batch/create",
                     json={"inputs": [{"properties": {"name": f"n{b}-{i}"}} for i in range(100)]})
        assert r.status_code == 200, f"batch {b}: {r.status_code} {r.text[:300]}"
    out = search(sup, obj, {"limit": 100})
    assert out["total"] == 10000 and out["totalIsExact"] is False, \
        {key: out[key] for key in ("total", "totalIsExact")}

    def walk(extra):
        seen, after, pages = [], None, 0
        while True:
            body = {"limit": 100, **extra}
            if after:
                body["after"] = after
            page = search(sup, obj, body)
            seen += ids(page)
            pages += 1
            after = page.get("paging", {}).get("next", {}).get("after")
            if not after or pages > 200:
                return seen

    seen = walk({})
    assert len(seen) == len(set(seen)) == 10100, len(seen)
    seen = walk({"sorts": [{"propertyName": "name", "direction": "DESCENDING"}]})
    assert len(seen) == len(set(seen)) == 10000, f"sorted paging reached {len(seen)} results"
    # under the cap the count is exact
    out = search(sup, obj, {"filterGroups": [{"filters": [
        {"propertyName": "name", "operator": "STARTS_WITH", "value": "n1-"}]}]})
    assert out["total"] == 100 and out["totalIsExact"] is True, out["total"]


# ---------------------------------------------------------------- what values may hold


def test_wildcards_and_query_syntax_are_plain_text(acme):
    """%, _ and quotes in a STARTS_WITH value are characters, not patterns;
    a query with full-text syntax (OR, NEAR, quotes, *) is words to find."""
    sup = acme["super_admin"]
    city = f"lit{secrets.token_hex(4)}"
    names = ["50% off", "50 percent", "a_c", "abc", "O'Brien", 'say "hi"', "NEAR(a b)",
             "left OR right"]
    made = {n: k.crm_create(sup, "companies", {"name": n, "city": city})["id"] for n in names}

    def starts(value):
        out = search(sup, "companies", {"limit": 100, "filterGroups": [{"filters": [
            {"propertyName": "city", "operator": "EQ", "value": city},
            {"propertyName": "name", "operator": "STARTS_WITH", "value": value}]}]})
        return set(ids(out))

    assert starts("50%") == {made["50% off"]}
    assert starts("a_c") == {made["a_c"]}
    assert starts("a%") == set()
    assert starts("_bc") == set()
    assert starts("O'") == {made["O'Brien"]}
    assert starts('say "') == {made['say "hi"']}

    def query(q):
        out = search(sup, "companies", {"query": q, "limit": 100, "filterGroups": [{"filters": [
            {"propertyName": "city", "operator": "EQ", "value": city}]}]})
        return set(ids(out))

    assert query("O'Brien") == {made["O'Brien"]}
    assert query("NEAR(a b)") == {made["NEAR(a b)"]}
    assert query("left OR right") == {made["left OR right"]}
    assert query("percent") == {made["50 percent"]}
    assert query('"hi"') == {made['say "hi"']}


def test_filters_on_two_indexed_properties_find_exactly_the_matches(fresh_world):
    """An AND of filters on two indexed properties (an enumeration and a
    date, a number and a date) is walked through the EQ's index, or through
    the range's when the range is small (2,400 deals: a year's range is not,
    a fortnight's is); either way the results, their order, the total and
    the pages are exactly those of the filter."""
    admin = fresh_world.login("acme_admin")
    rows = []
    for i in range(2400):
        rows.append({"dealname": f"deal {i}",
                     "dealstage": "closedwon" if i % 10 == 0 else "closedlost",
                     "closedate": f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}",
                     "amount": i % 50})
    made = []
    for b in range(0, len(rows), 100):
        r = admin.post(f"{OBJ}/deals/batch/create",
                       json={"inputs": [{"properties": p} for p in rows[b:b + 100]]})
        assert r.status_code in (200, 201), r.text[:300]
        made += [x["record"]["id"] if "record" in x else x["id"] for x in r.json()["results"]]
    by_id = dict(zip(made, rows))

    def run(filters):
        seen, after, total = [], None, None
        while True:
            body = {"filterGroups": [{"filters": filters}], "limit": 20}
            if after:
                body["after"] = after
            r = admin.post(f"{OBJ}/deals/search", json=body)
            assert r.status_code == 200, r.text
            out = r.json()
            total = out["total"] if total is None else total
            seen += [x["id"] for x in out["results"]]
            after = out.get("paging", {}).get("next", {}).get("after")
            if not after:
                return seen, total

    cases = [
        # the enumeration is the narrower side
        ([{"propertyName": "dealstage", "operator": "EQ", "value": "closedwon"},
          {"propertyName": "closedate", "operator": "BETWEEN", "value": "2026-01-01",
           "highValue": "2026-12-31"}],
         lambda p: p["dealstage"] == "closedwon"),
        # the date range is the narrower side
        ([{"propertyName": "dealstage", "operator": "EQ", "value": "closedlost"},
          {"propertyName": "closedate", "operator": "GTE", "value": "2026-03-01"},
          {"propertyName": "closedate", "operator": "LT", "value": "2026-03-15"}],
         lambda p: p["dealstage"] == "closedlost" and "2026-03-01" <= p["closedate"] < "2026-03-15"),
        ([{"propertyName": "amount", "operator": "IN", "values": [3, 4]},
          {"propertyName": "closedate", "operator": "GT", "value": "2026-06-30"}],
         lambda p: p["amount"] in (3, 4) and p["closedate"] > "2026-06-30"),
        # nothing matches one side
        ([{"propertyName": "amount", "operator": "GT", "value": 1000},
          {"propertyName": "dealstage", "operator": "EQ", "value": "closedlost"}],
         lambda p: False),
    ]
    for filters, want in cases:
        expect = sorted((i for i, p in by_id.items() if want(p)), key=int)
        got, total = run(filters)
        assert got == expect, filters
        assert total == len(expect), filters
