"""
CRM associations, activities and lists, black-box: symmetric associations
between records, activities (notes, calls, ...) on a record, static lists
whose members are added and removed by hand and dynamic lists whose
members follow the records' values; what purging a record takes with it;
permissions by role; another tenant's records and lists answered exactly
like missing ones.
"""

import re
import secrets

import pytest

import kura_e2e as k

RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
OBJ = "/api/v1/objects"
LISTS = "/api/v1/lists"


def tag() -> str:
    return secrets.token_hex(5)


def contact(client, **p) -> str:
    p.setdefault("firstname", f"C{tag()}")
    return k.crm_create(client, "contacts", p)["id"]


def company(client, **p) -> str:
    p.setdefault("name", f"Co {tag()}")
    return k.crm_create(client, "companies", p)["id"]


def assoc_path(obj, rid, to, to_id=None):
    p = f"{OBJ}/{obj}/{rid}/associations/{to}"
    return p if to_id is None else f"{p}/{to_id}"


def assoc_list(client, obj, rid, to) -> dict:
    """{id: label} of rid's associations to `to`, walking the pages."""
    out, after = {}, None
    for _ in range(100):
        params = {"after": after} if after else {}
        r = client.get(assoc_path(obj, rid, to), params=params)
        assert r.status_code == 200, f"GET associations: {r.status_code} {r.text[:300]}"
        body = r.json()
        for x in body["results"]:
            assert x["id"] not in out, f"listed twice: {x}"
            out[x["id"]] = x.get("label")
        after = body.get("paging", {}).get("next", {}).get("after")
        if not after:
            return out
    raise AssertionError("association paging does not end")


# ---------------------------------------------------------------- associations


def test_association_is_symmetric(acme):
    member = acme["member"]
    c, co = contact(member), company(member)
    r = member.request("PUT", assoc_path("contacts", c, "companies", co), json={"label": "Employer"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["from"] == {"object": "contacts", "id": c}, body
    assert body["to"] == {"object": "companies", "id": co}, body
    assert body["label"] == "Employer", body
    assert assoc_list(acme["read_only"], "contacts", c, "companies") == {co: "Employer"}
    assert assoc_list(acme["read_only"], "companies", co, "contacts") == {c: "Employer"}
    # deleted from the other side: gone from both
    r = member.request("DELETE", assoc_path("companies", co, "contacts", c))
    assert r.status_code == 204, r.text
    assert assoc_list(member, "contacts", c, "companies") == {}
    assert assoc_list(member, "companies", co, "contacts") == {}
    k.assert_error(member.request("DELETE", assoc_path("contacts", c, "companies", co)), 404, "not_found")


def test_association_without_label(acme):
    """An empty JSON object is no label."""
    member = acme["member"]
    c, co = contact(member), company(member)
    r = member.request("PUT", assoc_path("contacts", c, "companies", co), json={})
    assert r.status_code == 200, r.text
    assert r.json()["label"] in ("", None), r.text
    assert set(assoc_list(member, "companies", co, "contacts")) == {c}
    assert set(assoc_list(member, "contacts", c, "companies")) == {co}


def test_association_without_body(acme):
    """No body at all (no Content-Type either) is no label too."""
    member = acme["member"]
    c, co = contact(member), company(member)
    r = member.request("PUT", assoc_path("contacts", c, "companies", co))
    assert r.status_code == 200, r.text
    assert set(assoc_list(member, "companies", co, "contacts")) == {c}
    r = member.request("PUT", assoc_path("contacts", c, "companies", co), data="x",
                       headers={"Content-Type": "text/plain"})
    k.assert_error(r, 415, "unsupported_media_type")


def test_association_within_one_object_is_symmetric(acme):
    member = acme["member"]
    a, b = contact(member), contact(member)
    r = member.request("PUT", assoc_path("contacts", a, "contacts", b), json={"label": "referred"})
    assert r.status_code == 200, r.text
    assert assoc_list(member, "contacts", a, "contacts") == {b: "referred"}
    assert assoc_list(member, "contacts", b, "contacts") == {a: "referred"}
    assert member.request("DELETE", assoc_path("contacts", b, "contacts", a)).status_code == 204
    assert assoc_list(member, "contacts", a, "contacts") == {}
    assert assoc_list(member, "contacts", b, "contacts") == {}


def test_many_associations(acme):
    member = acme["member"]
    co = company(member)
    cs = [contact(member) for _ in range(3)]
    for c in cs:
        r = member.request("PUT", assoc_path("companies", co, "contacts", c), json={})
        assert r.status_code == 200, r.text
    assert set(assoc_list(member, "companies", co, "contacts")) == set(cs)
    for c in cs:
        assert set(assoc_list(member, "contacts", c, "companies")) == {co}
    # PUT again is not a second association
    r = member.request("PUT", assoc_path("contacts", cs[0], "companies", co), json={})
    assert r.status_code == 200, r.text
    assert set(assoc_list(member, "companies", co, "contacts")) == set(cs)


def test_association_to_missing_or_archived_record(acme):
    sup = acme["super_admin"]
    c, co = contact(sup), company(sup)
    k.assert_error(sup.request("PUT", assoc_path("contacts", c, "companies", k.CRM_MISSING_ID), json={}),
                   404, "not_found")
    k.assert_error(sup.request("PUT", assoc_path("contacts", k.CRM_MISSING_ID, "companies", co), json={}),
                   404, "not_found")
    k.assert_error(sup.request("PUT", assoc_path("contacts", c, "nosuchobject", co), json={}), 404, "not_found")
    assert sup.request("DELETE", f"{OBJ}/companies/{co}").status_code == 204
    k.assert_error(sup.request("PUT", assoc_path("contacts", c, "companies", co), json={}), 404, "not_found")
    assert assoc_list(sup, "contacts", c, "companies") == {}


def test_association_label_validation(acme):
    member = acme["member"]
    c, co = contact(member), company(member)
    for body in ({"label": "x" * 65}, {"label": 5}, {"label": "ok", "bogus": 1}):
        r = member.request("PUT", assoc_path("contacts", c, "companies", co), json=body)
        k.assert_error(r, 422, "validation_failed")
    assert assoc_list(member, "contacts", c, "companies") == {}
    r = member.request("PUT", assoc_path("contacts", c, "companies", co), json={"label": "x" * 64})
    assert r.status_code == 200, r.text


def test_association_permissions(acme):
    ro = acme["read_only"]
    c, co = contact(acme["member"]), company(acme["member"])
    k.assert_error(ro.request("PUT", assoc_path("contacts", c, "companies", co), json={}), 403, "forbidden")
    assert assoc_list(acme["member"], "contacts", c, "companies") == {}
    assert acme["member"].request("PUT", assoc_path("contacts", c, "companies", co), json={}).status_code == 200
    k.assert_error(ro.request("DELETE", assoc_path("contacts", c, "companies", co)), 403, "forbidden")
    assert set(assoc_list(ro, "contacts", c, "companies")) == {co}


def test_association_with_other_tenants_record(acme, globex):
    sup = acme["super_admin"]
    fid = k.crm_foreign_id(globex, sup, "companies", {"name": "Globex side"})
    c = contact(sup)
    missing = sup.request("PUT", assoc_path("contacts", c, "companies", k.CRM_MISSING_ID), json={})
    r = sup.request("PUT", assoc_path("contacts", c, "companies", fid), json={})
    k.assert_error(r, 404, "not_found")
    k.assert_same_error(r, missing)
    ref = sup.get(assoc_path("companies", k.CRM_MISSING_ID, "contacts"))
    r = sup.get(assoc_path("companies", fid, "contacts"))
    if ref.status_code == 200:
        assert r.status_code == 200 and r.json()["results"] == [], r.text
    else:
        k.assert_error(r, 404, "not_found")
        k.assert_same_error(r, ref)
    # after globex links its company, acme still sees nothing of it
    gc = k.crm_create(globex, "contacts", {"firstname": "Globex person"})["id"]
    assert globex.request("PUT", assoc_path("companies", fid, "contacts", gc), json={}).status_code == 200
    r = sup.get(assoc_path("companies", fid, "contacts"))
    assert r.status_code == ref.status_code, r.text
    if r.status_code == 200:
        assert r.json()["results"] == [], r.text
    k.assert_error(sup.request("DELETE", assoc_path("companies", fid, "contacts", gc)), 404, "not_found")
    assert set(assoc_list(globex, "companies", fid, "contacts")) == {gc}


def test_purge_removes_associations(acme):
    sup = acme["super_admin"]
    c, co = contact(sup), company(sup)
    assert sup.request("PUT", assoc_path("contacts", c, "companies", co), json={}).status_code == 200
    assert sup.request("DELETE", f"{OBJ}/contacts/{c}").status_code == 204
    assert sup.post(f"{OBJ}/contacts/{c}/purge").status_code == 204
    assert c not in assoc_list(sup, "companies", co, "contacts")


def test_association_with_custom_object(acme):
    sup = acme["super_admin"]
    name = f"site_{tag()}"
    r = sup.post("/api/v1/schemas", json={"name": name, "labels": {"en": "Sites", "ja": "拠点"}})
    assert r.status_code == 201, r.text
    site = k.crm_create(sup, name, {"name": "Osaka"})["id"]
    co = company(sup)
    r = sup.request("PUT", assoc_path(name, site, "companies", co), json={"label": "owner"})
    assert r.status_code == 200, r.text
    assert assoc_list(sup, "companies", co, name) == {site: "owner"}


# ---------------------------------------------------------------- activities


def test_activities(acme):
    member = acme["member"]
    c = contact(member)
    r = member.post(f"{OBJ}/contacts/{c}/activities",
                    json={"type": "note", "body": "初回面談のメモ"})
    assert r.status_code == 201, r.text
    a1 = r.json()
    assert {"id", "type", "body", "occurredAt", "author", "createdAt"} <= set(a1), a1
    assert a1["type"] == "note" and a1["body"] == "初回面談のメモ"
    assert a1["author"]["id"] == member.user_id
    assert RFC3339.match(a1["occurredAt"]) and RFC3339.match(a1["createdAt"])
    r = member.post(f"{OBJ}/contacts/{c}/activities", json={"type": "call", "body": "Called back"})
    assert r.status_code == 201, r.text
    for typ in ("email", "meeting", "task"):
        r = member.post(f"{OBJ}/contacts/{c}/activities", json={"type": typ, "body": typ})
        assert r.status_code == 201, r.text
    r = acme["read_only"].get(f"{OBJ}/contacts/{c}/activities")
    assert r.status_code == 200, r.text
    got = r.json()["results"]
    assert [x["type"] for x in got] == ["task", "meeting", "email", "call", "note"], got
    assert got[-1]["id"] == a1["id"] and got[-1]["body"] == "初回面談のメモ"


def test_activity_occurred_at(acme):
    member = acme["member"]
    c = contact(member)
    r = member.post(f"{OBJ}/contacts/{c}/activities",
                    json={"type": "meeting", "body": "Visit", "occurredAt": "2026-11-20T18:30:00+09:00"})
    assert r.status_code == 201, r.text
    assert r.json()["occurredAt"].startswith("2026-11-20T09:30:00"), r.json()
    assert r.json()["occurredAt"].endswith("Z"), r.json()
    got = member.get(f"{OBJ}/contacts/{c}/activities").json()["results"]
    assert [x["occurredAt"] for x in got] == [r.json()["occurredAt"]]


def test_activity_paging(acme):
    member = acme["member"]
    c = contact(member)
    made = []
    for i in range(5):
        r = member.post(f"{OBJ}/contacts/{c}/activities", json={"type": "note", "body": f"n{i}"})
        assert r.status_code == 201, r.text
        made.append(r.json()["id"])
    seen, after = [], None
    for _ in range(10):
        params = {"limit": 2}
        if after:
            params["after"] = after
        r = member.get(f"{OBJ}/contacts/{c}/activities", params=params)
        assert r.status_code == 200, r.text
        assert len(r.json()["results"]) <= 2
        seen += [x["id"] for x in r.json()["results"]]
        after = r.json().get("paging", {}).get("next", {}).get("after")
        if not after:
            break
    assert seen == list(reversed(made))


@pytest.mark.parametrize("body,field", [
    ({"type": "fax", "body": "x"}, "type"),
    ({"body": "x"}, "type"),
    ({"type": "note"}, "body"),
    ({"type": "note", "body": ""}, "body"),
    ({"type": "note", "body": "x" * 65536}, "body"),
    ({"type": "note", "body": "x", "occurredAt": "last week"}, "occurredAt"),
    ({"type": "note", "body": "x", "bogus": 1}, "bogus"),
], ids=["bad-type", "no-type", "no-body", "empty-body", "body-65536-chars", "bad-occurredAt",
        "unknown-member"])
def test_activity_validation(acme, body, field):
    member = acme["member"]
    c = contact(member)
    r = member.post(f"{OBJ}/contacts/{c}/activities", json=body)
    err = k.assert_error(r, 422, "validation_failed")
    assert field in {d["field"] for d in err["details"]}, err
    assert member.get(f"{OBJ}/contacts/{c}/activities").json()["results"] == []


def test_activity_longest_body(acme):
    member = acme["member"]
    c = contact(member)
    r = member.post(f"{OBJ}/contacts/{c}/activities", json={"type": "note", "body": "x" * 65535})
    assert r.status_code == 201, r.text
    assert len(r.json()["body"]) == 65535


def test_activity_permissions_and_missing_records(acme, globex):
    sup, ro = acme["super_admin"], acme["read_only"]
    c = contact(sup)
    r = ro.post(f"{OBJ}/contacts/{c}/activities", json={"type": "note", "body": "x"})
    k.assert_error(r, 403, "forbidden")
    assert sup.get(f"{OBJ}/contacts/{c}/activities").json()["results"] == []
    fid = k.crm_foreign_id(globex, sup, "contacts", {"firstname": "Globex"})
    r = globex.post(f"{OBJ}/contacts/{fid}/activities", json={"type": "note", "body": "private"})
    assert r.status_code == 201, r.text
    for method, body in (("GET", None), ("POST", {"type": "note", "body": "x"})):
        ref = sup.request(method, f"{OBJ}/contacts/{k.CRM_MISSING_ID}/activities", json=body)
        k.assert_error(ref, 404, "not_found")
        r = sup.request(method, f"{OBJ}/contacts/{fid}/activities", json=body)
        k.assert_same_error(r, ref)
        assert "private" not in r.text
    assert len(globex.get(f"{OBJ}/contacts/{fid}/activities").json()["results"]) == 1


def test_purge_removes_activities(acme):
    sup = acme["super_admin"]
    c = contact(sup)
    r = sup.post(f"{OBJ}/contacts/{c}/activities", json={"type": "note", "body": "bye"})
    assert r.status_code == 201
    assert sup.request("DELETE", f"{OBJ}/contacts/{c}").status_code == 204
    assert sup.post(f"{OBJ}/contacts/{c}/purge").status_code == 204
    k.assert_error(sup.get(f"{OBJ}/contacts/{c}/activities"), 404, "not_found")


# ---------------------------------------------------------------- lists


def new_list(client, **body) -> dict:
    r = client.post(LISTS, json=body)
    assert r.status_code == 201, f"POST {LISTS} {body}: {r.status_code} {r.text[:300]}"
    return r.json()


def member_ids(client, list_id) -> list:
    out, after = [], None
    for _ in range(100):
        params = {"limit": 100}
        if after:
            params["after"] = after
        r = client.get(f"{LISTS}/{list_id}/members", params=params)
        assert r.status_code == 200, f"members of {list_id}: {r.status_code} {r.text[:300]}"
        out += [x["id"] for x in r.json()["results"]]
        after = r.json().get("paging", {}).get("next", {}).get("after")
        if not after:
            assert len(out) == len(set(out)), f"a member listed twice: {out}"
            return out
    raise AssertionError("member paging does not end")


def by_city(city):
    return [{"filters": [{"propertyName": "city", "operator": "EQ", "value": city}]}]


def test_static_list(acme):
    member = acme["member"]
    lst = new_list(member, name="Trade fair", object="contacts", type="static")
    assert {"id", "name", "object", "type", "createdAt", "updatedAt"} <= set(lst), lst
    assert (lst["name"], lst["object"], lst["type"]) == ("Trade fair", "contacts", "static")
    assert lst.get("size") == 0
    a, b, c = contact(member), contact(member), contact(member)
    r = member.post(f"{LISTS}/{lst['id']}/members", json={"ids": [a, b]})
    assert r.status_code == 200 and r.json() == {"added": 2}, r.text
    assert sorted(member_ids(member, lst["id"]), key=int) == sorted([a, b], key=int)
    r = member.post(f"{LISTS}/{lst['id']}/members", json={"ids": [c]})
    assert r.status_code == 200 and r.json() == {"added": 1}, r.text
    got = acme["read_only"].get(f"{LISTS}/{lst['id']}")
    assert got.status_code == 200 and got.json()["size"] == 3, got.text
    r = member.post(f"{LISTS}/{lst['id']}/members/remove", json={"ids": [a]})
    assert r.status_code == 200 and r.json() == {"removed": 1}, r.text
    assert set(member_ids(member, lst["id"])) == {b, c}
    r = member.post(f"{LISTS}/{lst['id']}/members/remove", json={"ids": [a]})
    assert r.status_code == 200 and r.json() == {"removed": 0}, r.text
    assert lst["id"] in [x["id"] for x in acme["read_only"].get(LISTS).json()["results"]]
    # a static list's members do not change with their values
    r = member.request("PATCH", f"{OBJ}/contacts/{b}", json={"properties": {"city": "Elsewhere"}})
    assert r.status_code == 200
    assert set(member_ids(member, lst["id"])) == {b, c}


def test_static_list_add_limits(acme):
    member = acme["member"]
    lst = new_list(member, name="Limits", object="contacts", type="static")
    for ids in ([], [str(i) for i in range(1, 102)]):
        r = member.post(f"{LISTS}/{lst['id']}/members", json={"ids": ids})
        k.assert_client_error(r, allowed_status=(400, 422))
    assert member_ids(member, lst["id"]) == []


def test_static_list_refuses_foreign_and_wrong_object_ids(acme, globex):
    sup = acme["super_admin"]
    lst = new_list(sup, name="Strict", object="contacts", type="static")
    fid = k.crm_foreign_id(globex, sup, "contacts", {"firstname": "Globex"})
    for ids in ([fid], [k.CRM_MISSING_ID]):
        r = sup.post(f"{LISTS}/{lst['id']}/members", json={"ids": ids})
        assert (400 <= r.status_code < 500) or r.json() == {"added": 0}, r.text
    assert member_ids(sup, lst["id"]) == []


def test_purge_removes_list_membership(acme):
    sup = acme["super_admin"]
    lst = new_list(sup, name="Purge", object="contacts", type="static")
    a, b = contact(sup), contact(sup)
    assert sup.post(f"{LISTS}/{lst['id']}/members", json={"ids": [a, b]}).status_code == 200
    assert sup.request("DELETE", f"{OBJ}/contacts/{a}").status_code == 204
    assert sup.post(f"{OBJ}/contacts/{a}/purge").status_code == 204
    assert member_ids(sup, lst["id"]) == [b]
    assert sup.get(f"{LISTS}/{lst['id']}").json()["size"] == 1


def test_dynamic_list_follows_records(acme):
    member = acme["member"]
    city = f"dyn{tag()}"
    a = contact(member, city=city)
    b = contact(member, city=city)
    contact(member, city=city + "x")
    lst = new_list(member, name="Dynamic", object="contacts", type="dynamic",
                   filterGroups=by_city(city))
    assert lst["type"] == "dynamic", lst
    f0 = lst["filterGroups"][0]["filters"][0]
    assert (f0["propertyName"], f0["operator"], f0["value"]) == ("city", "EQ", city), lst
    assert set(member_ids(member, lst["id"])) == {a, b}
    c = contact(member, city=city)
    assert set(member_ids(member, lst["id"])) == {a, b, c}
    r = member.request("PATCH", f"{OBJ}/contacts/{a}", json={"properties": {"city": "moved"}})
    assert r.status_code == 200
    assert set(member_ids(member, lst["id"])) == {b, c}
    assert acme["admin"].request("DELETE", f"{OBJ}/contacts/{b}").status_code == 204
    assert set(member_ids(member, lst["id"])) == {c}
    assert acme["admin"].post(f"{OBJ}/contacts/{b}/restore").status_code == 200
    assert set(member_ids(member, lst["id"])) == {b, c}
    # members cannot be added by hand
    r = member.post(f"{LISTS}/{lst['id']}/members", json={"ids": [a]})
    k.assert_client_error(r)
    assert set(member_ids(member, lst["id"])) == {b, c}
    # a new filter, a new membership
    r = member.request("PATCH", f"{LISTS}/{lst['id']}", json={"filterGroups": by_city("moved")})
    assert r.status_code == 200, r.text
    assert a in member_ids(member, lst["id"]) and b not in member_ids(member, lst["id"])


def test_list_patch_and_delete(acme):
    member, admin = acme["member"], acme["admin"]
    lst = new_list(member, name="Before", object="companies", type="static")
    r = member.request("PATCH", f"{LISTS}/{lst['id']}", json={"name": "After"})
    assert r.status_code == 200 and r.json()["name"] == "After", r.text
    assert member.get(f"{LISTS}/{lst['id']}").json()["name"] == "After"
    r = member.request("PATCH", f"{LISTS}/{lst['id']}", json={"name": "x", "bogus": 1})
    k.assert_error(r, 422, "validation_failed")
    k.assert_error(member.request("DELETE", f"{LISTS}/{lst['id']}"), 403, "forbidden")
    k.assert_error(acme["read_only"].request("PATCH", f"{LISTS}/{lst['id']}", json={"name": "y"}),
                   403, "forbidden")
    assert member.get(f"{LISTS}/{lst['id']}").json()["name"] == "After"
    assert admin.request("DELETE", f"{LISTS}/{lst['id']}").status_code == 204
    k.assert_error(member.get(f"{LISTS}/{lst['id']}"), 404, "not_found")
    k.assert_error(member.get(f"{LISTS}/{lst['id']}/members"), 404, "not_found")
    assert lst["id"] not in [x["id"] for x in member.get(LISTS).json()["results"]]


def test_list_read_only_role(acme):
    ro = acme["read_only"]
    k.assert_error(ro.post(LISTS, json={"name": "n", "object": "contacts", "type": "static"}),
                   403, "forbidden")
    lst = new_list(acme["member"], name="RO", object="contacts", type="static")
    a = contact(acme["member"])
    k.assert_error(ro.post(f"{LISTS}/{lst['id']}/members", json={"ids": [a]}), 403, "forbidden")
    assert acme["member"].post(f"{LISTS}/{lst['id']}/members", json={"ids": [a]}).status_code == 200
    k.assert_error(ro.post(f"{LISTS}/{lst['id']}/members/remove", json={"ids": [a]}), 403, "forbidden")
    assert member_ids(ro, lst["id"]) == [a]


@pytest.mark.parametrize("body,field", [
    ({"object": "contacts", "type": "static"}, "name"),
    ({"name": "n", "type": "static"}, "object"),
    ({"name": "n", "object": "contacts"}, "type"),
    ({"name": "n", "object": "contacts", "type": "smart"}, "type"),
    ({"name": "n", "object": "contacts", "type": "dynamic"}, "filterGroups"),
    ({"name": "n", "object": "contacts", "type": "static", "filterGroups": by_city("x")},
     "filterGroups"),
    ({"name": "n", "object": "contacts", "type": "static", "bogus": 1}, "bogus"),
])
def test_list_validation(acme, body, field):
    r = acme["member"].post(LISTS, json=body)
    err = k.assert_error(r, 422, "validation_failed")
    assert field in {d["field"] for d in err["details"]}, err


def test_list_of_unknown_object(acme):
    new_list(acme["member"], name="n", object="contacts", type="static")
    r = acme["member"].post(LISTS, json={"name": "n", "object": "nosuchobject", "type": "static"})
    k.assert_client_error(r, allowed_status=(404, 422))


def test_dynamic_list_filter_rules(acme):
    member = acme["member"]
    six = [{"filters": [{"propertyName": "city", "operator": "EQ", "value": str(i)}]}
           for i in range(6)]
    r = member.post(LISTS, json={"name": "n", "object": "contacts", "type": "dynamic",
                                 "filterGroups": six})
    k.assert_details(r, 400, "bad_request", {("filterGroups", "limit")})
    r = member.post(LISTS, json={"name": "n", "object": "contacts", "type": "dynamic",
                                 "filterGroups": [{"filters": [
                                     {"propertyName": "nosuch", "operator": "EQ", "value": "x"}]}]})
    err = k.assert_error(r, 422)
    assert "unknown_property" in {d.get("code") for d in err["details"]}, err


def test_other_tenants_list_is_missing(acme, globex):
    sup = acme["super_admin"]
    own = {x["id"] for x in sup.get(LISTS).json()["results"]}
    foreign = None
    for _ in range(100):
        lst = new_list(globex, name="Globex secret", object="contacts", type="static")
        if lst["id"] not in own and sup.get(f"{LISTS}/{lst['id']}").status_code == 404:
            foreign = lst["id"]
            break
    assert foreign, "no globex list id is free in acme"
    gc = contact(globex)
    assert globex.post(f"{LISTS}/{foreign}/members", json={"ids": [gc]}).status_code == 200
    a = contact(sup)
    for method, tail, body in (("GET", "", None), ("PATCH", "", {"name": "mine"}),
                               ("GET", "/members", None), ("POST", "/members", {"ids": [a]}),
                               ("POST", "/members/remove", {"ids": [gc]}), ("DELETE", "", None)):
        ref = sup.request(method, f"{LISTS}/{k.CRM_MISSING_ID}{tail}", json=body)
        k.assert_error(ref, 404, "not_found")
        r = sup.request(method, f"{LISTS}/{foreign}{tail}", json=body)
        k.assert_same_error(r, ref)
    assert foreign not in {x["id"] for x in sup.get(LISTS).json()["results"]}
    got = globex.get(f"{LISTS}/{foreign}").json()
    assert got["name"] == "Globex secret" and got["size"] == 1
    assert member_ids(globex, foreign) == [gc]


@pytest.mark.parametrize("kind", ["static", "dynamic"])
def test_member_paging_walks_every_member_once(acme, kind):
    member = acme["member"]
    city = f"pg{tag()}"
    made = [contact(member, city=city) for _ in range(5)]
    if kind == "static":
        lst = new_list(member, name="Paged", object="contacts", type="static")
        assert member.post(f"{LISTS}/{lst['id']}/members", json={"ids": made}).json() == {"added": 5}
    else:
        lst = new_list(member, name="Paged", object="contacts", type="dynamic",
                       filterGroups=by_city(city))
    seen, after, pages = [], None, 0
    while True:
        params = {"limit": 2}
        if after:
            params["after"] = after
        r = member.get(f"{LISTS}/{lst['id']}/members", params=params)
        assert r.status_code == 200, r.text
        assert len(r.json()["results"]) <= 2
        seen += [x["id"] for x in r.json()["results"]]
        pages += 1
        after = r.json().get("paging", {}).get("next", {}).get("after")
        if not after or pages > 10:
            break
    assert pages == 3, pages
    assert sorted(seen, key=int) == sorted(made, key=int) and len(seen) == len(set(seen)), seen
    for limit in ("0", "101"):
        r = member.get(f"{LISTS}/{lst['id']}/members", params={"limit": limit})
        k.assert_client_error(r, allowed_status=(400, 422))
