#!/usr/bin/env python3
"""
bench/gen.py: a synthetic CRM tenant for the records benchmarks.

Makes N contacts (default 1,000,000) with 20 properties: the 8 standard ones
(firstname, lastname, email, phone, company, jobtitle, lifecyclestage, city)
and 12 custom ones it creates through POST /api/v1/properties/contacts
(kana readings, birthdate, gender, prefecture, postal_code, address,
mobile_phone, signup_at, score, customer_rank, newsletter_opt_in). About 60 %
are Japanese (kanji names with matching katakana readings), 40 % have Latin
names; e-mails are unique; phones use Japanese formats (fixed lines such as
03-1234-5678, mobiles such as 090-1234-5678, or +81 forms) or foreign ones
for people abroad. The same seed
gives the same data, byte for byte.

Steps (each one only when asked for):
  1. generate: the request bodies of POST /api/v1/objects/contacts/batch/create
     (100 inputs each, one JSON body a line) to OUT/batches.ndjson, the same
     rows as CSV (OUT/rows.csv, for the raw sqlite3 baseline), and search
     bodies for the wrk scripts (OUT/search_filter.ndjson, OUT/search_query.ndjson);
  2. properties: creates the 12 custom properties (an existing one is kept);
  3. load: posts every body over keep-alive HTTPS (the certificate is not
     verified: kurad's is self-signed) with bench/load_batches (C, libcurl)
     or Python's http.client, and prints the rate. Generation is never timed.
     The ids the server gave are written to OUT/ids.txt.

  bench/gen.py --records 20000 --out /tmp/g --dry-run          # generate and check only
  bench/gen.py --records 20000 --out /tmp/g --base https://127.0.0.1:8443 \\
               --token-file key.txt [--client c|python] [--connections 2]

The API key needs the scopes records.read, records.write, properties.manage.
Exit status: 0 when everything asked for ran and every record was created.
"""

import argparse
import bisect
import csv
import datetime
import http.client
import json
import os
import random
import re
import resource
import ssl
import subprocess
import sys
import threading
import time
import unicodedata
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_data as D  # noqa: E402

BATCH = 100
OBJECT = "contacts"
STANDARD = ["firstname", "lastname", "email", "phone", "company", "jobtitle", "lifecyclestage", "city"]
CUSTOM = ["firstname_kana", "lastname_kana", "birthdate", "gender", "prefecture", "postal_code",
          "address", "mobile_phone", "signup_at", "score", "customer_rank", "newsletter_opt_in"]
COLUMNS = STANDARD + CUSTOM

LIFECYCLE = [("subscriber", 30), ("lead", 25), ("marketingqualifiedlead", 12),
             ("salesqualifiedlead", 8), ("opportunity", 7), ("customer", 14),
             ("evangelist", 2), ("other", 2)]
GENDERS = [("male", "男性", "Male"), ("female", "女性", "Female"), ("other", "その他", "Other"),
           ("prefer_not_to_say", "回答しない", "Prefer not to say")]
RANKS = [("none", "ランクなし", "None", 55), ("bronze", "ブロンズ", "Bronze", 20),
         ("silver", "シルバー", "Silver", 13), ("gold", "ゴールド", "Gold", 9),
         ("platinum", "プラチナ", "Platinum", 3)]

JST = datetime.timezone(datetime.timedelta(hours=9))
EPOCH_SIGNUP_FROM = int(datetime.datetime(2015, 1, 1, tzinfo=datetime.timezone.utc).timestamp())
EPOCH_SIGNUP_TO = int(datetime.datetime(2026, 11, 1, tzinfo=datetime.timezone.utc).timestamp())
BIRTH_FROM = datetime.date(1941, 1, 1)
BIRTH_DAYS = (datetime.date(2008, 10, 31) - BIRTH_FROM).days
POSTAL_RE = re.compile(r"^[0-9]{3}-[0-9]{4}$")
KATAKANA_RE = re.compile(r"^[\u30a1-\u30fa]+$")
PHONE_RE = re.compile(r"^[+0-9 ()\-]+$")


def custom_property_defs():
    """The bodies of POST /api/v1/properties/contacts for the 12 custom properties."""
    def lab(en, ja):
        return {"en": en, "ja": ja}
    kana_rule = {"characterClasses": ["katakana"], "maxLength": 50}
    # "indexed" is always said, so that the tenant (and what each write
    # costs) does not change with the server's defaults: the properties a
    # CRM filters or sorts on get an index (6 of the 12), free text does not.
    return [
        {"name": "firstname_kana", "labels": lab("First name (kana)", "名（フリガナ）"), "type": "string",
         "indexed": False, "validation": kana_rule},
        {"name": "lastname_kana", "labels": lab("Last name (kana)", "姓（フリガナ）"), "type": "string",
         "indexed": True, "validation": kana_rule},  # the usual sort key of Japanese lists
        {"name": "birthdate", "labels": lab("Date of birth", "生年月日"), "type": "date",
         "indexed": True, "classification": "confidential"},
        {"name": "gender", "labels": lab("Gender", "性別"), "type": "enumeration", "indexed": False,
         "options": [{"value": v, "labels": lab(en, ja)} for v, ja, en in GENDERS]},
        {"name": "prefecture", "labels": lab("Prefecture", "都道府県"), "type": "enumeration",
         "indexed": True,
         "options": [{"value": p[0], "labels": lab(p[2], p[1])} for p in D.PREFECTURES]},
        {"name": "postal_code", "labels": lab("Postal code", "郵便番号"), "type": "string",
         "indexed": False, "validation": {"pattern": "^[0-9]{3}-[0-9]{4}$"}},
        {"name": "address", "labels": lab("Address", "住所"), "type": "string", "indexed": False,
         "classification": "confidential", "validation": {"maxLength": 200}},
        {"name": "mobile_phone", "labels": lab("Mobile phone", "携帯電話番号"), "type": "phone",
         "indexed": False},
        {"name": "signup_at", "labels": lab("Signed up at", "登録日時"), "type": "datetime",
         "indexed": True},
        {"name": "score", "labels": lab("Score", "スコア"), "type": "number", "indexed": True,
         "validation": {"min": 0, "max": 100}},
        {"name": "customer_rank", "labels": lab("Customer rank", "顧客ランク"), "type": "enumeration",
         "indexed": True,
         "options": [{"value": v, "labels": lab(en, ja)} for v, ja, en, _ in RANKS]},
        {"name": "newsletter_opt_in", "labels": lab("Newsletter opt-in", "メールマガジン購読"),
         "type": "bool", "indexed": False},
    ]


class Weighted:
    """Draws items by relative weight with one random() and a bisect."""

    def __init__(self, items, weights):
        self.items = list(items)
        self.cum = []
        t = 0.0
        for w in weights:
            t += w
            self.cum.append(t)
        self.total = t

    def pick(self, rng):
        return self.items[bisect.bisect_right(self.cum, rng.random() * self.total)]


def ascii_fold(s):
    return unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode().lower()


def latin_local(s):
    return re.sub(r"[^a-z]", "", ascii_fold(s))


class Generator:
    def __init__(self, seed):
        self.rng = random.Random(seed)
        r = D.SURNAMES
        self.surnames = Weighted(r, [1.0 / (i + 1) ** 0.6 for i in range(len(r))])
        self.given_m = [g for g in D.GIVEN_NAMES if g[2] == "male"]
        self.given_f = [g for g in D.GIVEN_NAMES if g[2] == "female"]
        self.latin_m = [g for g, s in D.LATIN_GIVEN if s == "male"]
        self.latin_f = [g for g, s in D.LATIN_GIVEN if s == "female"]
        self.prefs = Weighted(D.PREFECTURES, [p[3] for p in D.PREFECTURES])
        self.lifecycle = Weighted([v for v, _ in LIFECYCLE], [w for _, w in LIFECYCLE])
        self.ranks = Weighted([r[0] for r in RANKS], [r[3] for r in RANKS])
        self.jp_domains = Weighted([d for d, _ in D.JP_EMAIL_DOMAINS], [w for _, w in D.JP_EMAIL_DOMAINS])
        self.latin_domains = Weighted([d for d, _ in D.LATIN_EMAIL_DOMAINS], [w for _, w in D.LATIN_EMAIL_DOMAINS])
        self.romaji = {k: D.romaji(k) for k in
                       {r for _, r in D.SURNAMES} | {r for _, r, _ in D.GIVEN_NAMES}}
        self.emails = set()
        self.next_n = {}

    # -- pieces

    def digits(self, n):
        rng = self.rng
        return str(rng.randint(1, 9)) + "".join(str(rng.randint(0, 9)) for _ in range(n - 1))

    def landline(self, area):
        rng = self.rng
        rest = 10 - len(area)
        mid = rest - 4
        a, b = self.digits(mid), "%04d" % rng.randint(0, 9999)
        x = rng.random()
        if x < 0.70:
            return f"{area}-{a}-{b}"
        if x < 0.80:
            return f"{area}({a}){b}"
        if x < 0.90:
            return f"{area}{a}{b}"
        return f"+81 {area[1:]}-{a}-{b}"

    def mobile(self):
        rng = self.rng
        pfx = rng.choice(("090", "090", "080", "080", "070"))
        a, b = self.digits(4), "%04d" % rng.randint(0, 9999)
        x = rng.random()
        if x < 0.65:
            return f"{pfx}-{a}-{b}"
        if x < 0.80:
            return f"{pfx}{a}{b}"
        if x < 0.92:
            return f"+81 {pfx[1:]}-{a}-{b}"
        return f"+81-{pfx[1:]}-{a}-{b}"

    def foreign_phone(self, place):
        _, cc, area, n, _ = place
        if cc == "1":
            return f"+1 ({area}) 555-{self.rng.randint(100, 199):04d}"
        d = self.digits(n)
        return f"+{cc} {area} {d[:len(d) // 2]} {d[len(d) // 2:]}"

    def email(self, local, domain):
        e = f"{local}@{domain}"
        if e in self.emails:
            key = (local, domain)
            n = self.next_n.get(key, 2)
            while f"{local}{n}@{domain}" in self.emails:
                n += 1
            self.next_n[key] = n + 1
            e = f"{local}{n}@{domain}"
        self.emails.add(e)
        return e

    def jp_place(self, props):
        rng = self.rng
        pref = self.prefs.pick(rng)
        value, _, _, _, postal, groups = pref
        gi = 0 if rng.random() < 0.6 else rng.randrange(len(groups))
        area, cities = groups[gi]
        city = rng.choice(cities)
        if value == "tokyo":
            p3 = rng.randint(100, 179) if gi == 0 else rng.randint(180, 208)
        else:
            p3 = postal + rng.randint(0, 9)
        town = rng.choice(D.TOWNS)
        addr = f"{town}{rng.randint(1, 5)}丁目{rng.randint(1, 30)}-{rng.randint(1, 25)}"
        if rng.random() < 0.4:
            b = rng.choice(D.BUILDINGS).format(s=self.surnames.pick(rng)[0], t=town)
            addr += f" {b}{rng.randint(1, 12)}{rng.randint(1, 9):02d}"
        props["prefecture"] = value
        props["city"] = city
        props["postal_code"] = "%03d-%04d" % (p3, rng.randint(0, 9999))
        props["address"] = addr
        return area

    def company(self, jp):
        rng = self.rng
        if jp:
            w, k = rng.choice(D.JP_COMPANY_WORDS), rng.choice(D.JP_COMPANY_KINDS)
            x = rng.random()
            if x < 0.45:
                return f"株式会社{w}{k}"
            if x < 0.80:
                return f"{w}{k}株式会社"
            if x < 0.92:
                return f"{self.surnames.pick(rng)[0]}{k}株式会社"
            if x < 0.97:
                return f"有限会社{self.surnames.pick(rng)[0]}{k}"
            return f"合同会社{w}"
        return f"{rng.choice(D.LATIN_COMPANY_WORDS)} {rng.choice(D.LATIN_COMPANY_KINDS)} " \
               f"{rng.choice(D.LATIN_COMPANY_FORMS)}"

    # -- one contact

    def contact(self):
        rng = self.rng
        p = {}
        jp = rng.random() < 0.6
        bd = BIRTH_FROM + datetime.timedelta(days=rng.randrange(BIRTH_DAYS))
        if jp:
            sk, sr = self.surnames.pick(rng)
            gk, gr, sex = rng.choice(self.given_m if rng.random() < 0.5 else self.given_f)
            p["firstname"], p["lastname"] = gk, sk
            p["firstname_kana"], p["lastname_kana"] = gr, sr
            g, s = self.romaji[gr], self.romaji[sr]
            domain = self.jp_domains.pick(rng)
        else:
            sex = "male" if rng.random() < 0.5 else "female"
            gn = rng.choice(self.latin_m if sex == "male" else self.latin_f)
            sn = rng.choice(D.LATIN_SURNAMES)
            p["firstname"], p["lastname"] = gn, sn
            g, s = latin_local(gn), latin_local(sn)
            domain = self.latin_domains.pick(rng)
        x = rng.random()
        if x < 0.35:
            local = f"{g}.{s}"
        elif x < 0.50:
            local = f"{s}.{g}"
        elif x < 0.65:
            local = f"{g[0]}{s}"
        elif x < 0.75:
            local = f"{g}_{s}"
        elif x < 0.88:
            local = f"{s}{g}"
        else:
            local = f"{g}{s}{bd.year % 100:02d}"
        p["email"] = self.email(local, domain)

        in_japan = jp or rng.random() < 0.5
        if in_japan:
            area = self.jp_place(p)
            if rng.random() < 0.9:
                p["phone"] = self.landline(area) if rng.random() < 0.5 else self.mobile()
            if rng.random() < 0.65:
                p["mobile_phone"] = self.mobile()
        else:
            place = rng.choice(D.ABROAD)
            p["city"] = place[0]
            p["address"] = f"{rng.randint(1, 2400)} {rng.choice(place[4])}"
            p["phone"] = self.foreign_phone(place)
            if rng.random() < 0.5:
                p["mobile_phone"] = self.foreign_phone(place)

        if rng.random() < 0.8:
            p["company"] = self.company(jp if rng.random() < 0.85 else not jp)
            if rng.random() < 0.75:
                p["jobtitle"] = rng.choice(D.JP_TITLES if jp else D.LATIN_TITLES)
        p["lifecyclestage"] = self.lifecycle.pick(rng)
        if rng.random() < 0.85:
            p["birthdate"] = bd.isoformat()
        y = rng.random()
        p["gender"] = "prefer_not_to_say" if y < 0.03 else "other" if y < 0.04 else sex
        ts = rng.randrange(EPOCH_SIGNUP_FROM, EPOCH_SIGNUP_TO)
        if jp:
            p["signup_at"] = datetime.datetime.fromtimestamp(ts, JST).isoformat()
        else:
            p["signup_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))
        p["score"] = round(rng.betavariate(2, 5) * 100, 1)
        p["customer_rank"] = self.ranks.pick(rng)
        p["newsletter_opt_in"] = rng.random() < 0.42
        return p


# ---------------------------------------------------------------- generate

def csv_value(v):
    if v is None:
        return ""
    if v is True:
        return "true"
    if v is False:
        return "false"
    return str(v)


def search_bodies(seed, n=2000):
    """Filter searches (an EQ on an indexed enumeration AND a range on a date
    or datetime) and full-text queries, varied, deterministic."""
    rng = random.Random(seed + 1)
    prefs = Weighted([p[0] for p in D.PREFECTURES], [p[3] for p in D.PREFECTURES])
    lc = Weighted([v for v, _ in LIFECYCLE], [w for _, w in LIFECYCLE])
    filt = []
    for i in range(n):
        if i % 2 == 0:
            y = rng.randint(1941, 2004)
            f = [{"propertyName": "prefecture", "operator": "EQ", "value": prefs.pick(rng)},
                 {"propertyName": "birthdate", "operator": "BETWEEN",
                  "value": f"{y}-01-01", "highValue": f"{y + 4}-12-31"}]
        else:
            d = datetime.date(2015, 1, 1) + datetime.timedelta(days=rng.randrange(4200))
            e = d + datetime.timedelta(days=90)
            f = [{"propertyName": "lifecyclestage", "operator": "EQ", "value": lc.pick(rng)},
                 {"propertyName": "signup_at", "operator": "GTE", "value": f"{d.isoformat()}T00:00:00Z"},
                 {"propertyName": "signup_at", "operator": "LT", "value": f"{e.isoformat()}T00:00:00Z"}]
        filt.append({"filterGroups": [{"filters": f}], "limit": 20})
    # Japanese substrings (2 and 3 characters, surnames, given names, places,
    # katakana readings) and Latin prefixes (names, romanised e-mails).
    words = ["田中", "中村", "佐藤", "鈴木", "高橋", "山本", "渡辺", "伊藤", "小林", "加藤",
             "藤原", "村上", "中島", "山田", "木村", "佐々木", "長谷川", "五十嵐", "久保田", "大久保",
             "美智子", "由美子", "久美子", "健太郎", "龍之介", "翔太", "陽子", "美咲", "大輔", "直樹",
             "世田谷", "港北", "中央区", "名古屋", "札幌市", "株式会社", "商事", "製作所",
             "タナカ", "サトウ", "ナカムラ", "ヤマモト", "ユウコ", "ショウタ",
             "tan", "sato", "suzu", "yama", "naka", "kobay", "taka", "yuko", "shota",
             "smi", "john", "gar", "mart", "mül", "nguy", "will", "sophi", "emma", "acme", "gmail"]
    queries = [{"query": rng.choice(words), "limit": 20} for _ in range(n)]
    return filt, queries


def generate(args):
    os.makedirs(args.out, exist_ok=True)
    gen = Generator(args.seed)
    t0 = time.time()
    n = args.records
    nbatches = 0
    maxbody = 0
    with open(os.path.join(args.out, "batches.ndjson"), "w", encoding="utf-8") as bf, \
            open(os.path.join(args.out, "rows.csv"), "w", encoding="utf-8", newline="") as cf:
        w = csv.writer(cf)
        w.writerow(COLUMNS)
        done = 0
        while done < n:
            k = min(BATCH, n - done)
            rows = [gen.contact() for _ in range(k)]
            body = json.dumps({"inputs": [{"properties": r} for r in rows]},
                              ensure_ascii=False, separators=(",", ":"))
            maxbody = max(maxbody, len(body.encode("utf-8")))
            bf.write(body)
            bf.write("\n")
            w.writerows([csv_value(r.get(c)) for c in COLUMNS] for r in rows)
            done += k
            nbatches += 1
    filt, queries = search_bodies(args.seed)
    for name, bodies in (("search_filter.ndjson", filt), ("search_query.ndjson", queries)):
        with open(os.path.join(args.out, name), "w", encoding="utf-8") as f:
            for b in bodies:
                f.write(json.dumps(b, ensure_ascii=False, separators=(",", ":")) + "\n")
    with open(os.path.join(args.out, "properties.json"), "w", encoding="utf-8") as f:
        json.dump(custom_property_defs(), f, ensure_ascii=False, indent=1)
    print(f"gen: {n} contacts in {nbatches} batch bodies (largest {maxbody} bytes) in "
          f"{time.time() - t0:.1f} s -> {args.out}", file=sys.stderr)
    return nbatches


def check(args):
    """Re-reads what generate wrote and checks it: counts, unique e-mails
    (case-insensitive), formats the properties' validation rules demand,
    enumeration values, dates."""
    defs = {d["name"]: d for d in custom_property_defs()}
    options = {k: {o["value"] for o in d["options"]} for k, d in defs.items() if d["type"] == "enumeration"}
    options["lifecyclestage"] = {v for v, _ in LIFECYCLE}
    emails = set()
    count = 0
    jp = 0
    problems = []
    with open(os.path.join(args.out, "batches.ndjson"), encoding="utf-8") as bf:
        for line_no, line in enumerate(bf, 1):
            body = json.loads(line)
            inputs = body["inputs"]
            if not 1 <= len(inputs) <= BATCH or len(line.encode()) > 1048576:
                problems.append(f"batch {line_no}: {len(inputs)} inputs, {len(line)} bytes")
            for item in inputs:
                p = item["properties"]
                count += 1
                unknown = set(p) - set(COLUMNS)
                if unknown:
                    problems.append(f"unknown {unknown}")
                e = p["email"].lower()
                if e in emails:
                    problems.append(f"duplicate e-mail {e}")
                emails.add(e)
                if "firstname_kana" in p:
                    jp += 1
                    for k in ("firstname_kana", "lastname_kana"):
                        if not KATAKANA_RE.match(p[k]):
                            problems.append(f"{k} {p[k]!r}")
                if "postal_code" in p and not POSTAL_RE.match(p["postal_code"]):
                    problems.append(f"postal_code {p['postal_code']!r}")
                for k in ("phone", "mobile_phone"):
                    if k in p and not PHONE_RE.match(p[k]):
                        problems.append(f"{k} {p[k]!r}")
                for k, allowed in options.items():
                    if k in p and p[k] not in allowed:
                        problems.append(f"{k} {p[k]!r}")
                if "birthdate" in p:
                    datetime.date.fromisoformat(p["birthdate"])
                datetime.datetime.fromisoformat(p["signup_at"].replace("Z", "+00:00"))
                if not 0 <= p["score"] <= 100:
                    problems.append(f"score {p['score']}")
                if len(problems) > 20:
                    break
    with open(os.path.join(args.out, "rows.csv"), encoding="utf-8", newline="") as cf:
        csv_rows = sum(1 for _ in csv.reader(cf)) - 1
    if count != args.records or csv_rows != args.records:
        problems.append(f"{count} records in bodies, {csv_rows} CSV rows, {args.records} asked for")
    for p in problems[:20]:
        print(f"gen: check: {p}", file=sys.stderr)
    print(f"gen: check: {count} contacts ({jp} Japanese, {100.0 * jp / max(count, 1):.1f} %), "
          f"{len(emails)} unique e-mails, {csv_rows} CSV rows: {'OK' if not problems else 'FAILED'}",
          file=sys.stderr)
    return not problems


# ---------------------------------------------------------------- the server

class Api:
    def __init__(self, base, token):
        u = urllib.parse.urlsplit(base)
        self.host, self.port = u.hostname, u.port or 443
        self.ctx = ssl.create_default_context()
        self.ctx.check_hostname = False
        self.ctx.verify_mode = ssl.CERT_NONE  # kurad's certificate is self-signed
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.conn = None

    def connect(self):
        return http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=120)

    def call(self, method, path, body=None):
        if self.conn is None:
            self.conn = self.connect()
        data = None if body is None else json.dumps(body, ensure_ascii=False).encode()
        try:
            self.conn.request(method, path, body=data, headers=self.headers)
            r = self.conn.getresponse()
            raw = r.read()
        except (http.client.HTTPException, OSError):
            self.conn.close()
            self.conn = None
            raise
        try:
            return r.status, json.loads(raw) if raw else None, raw
        except ValueError:
            return r.status, None, raw


def create_properties(api):
    st, body, raw = api.call("GET", f"/api/v1/properties/{OBJECT}")
    if st != 200:
        raise SystemExit(f"gen: GET /api/v1/properties/{OBJECT} answered {st}: {raw[:300]!r}")
    have = {p["name"]: p for p in body.get("results", [])}
    missing = [n for n in STANDARD if n not in have]
    if missing:
        print(f"gen: warning: standard contact properties missing: {', '.join(missing)}", file=sys.stderr)
    made = 0
    for d in custom_property_defs():
        if d["name"] in have:
            continue
        st, _, raw = api.call("POST", f"/api/v1/properties/{OBJECT}", d)
        if st == 409:
            continue
        if st != 201:
            raise SystemExit(f"gen: POST /api/v1/properties/{OBJECT} {d['name']} answered {st}: {raw[:400]!r}")
        made += 1
    # the filter benchmark's EQ on lifecyclestage should use an index
    lc = have.get("lifecyclestage")
    if lc is not None and not lc.get("indexed"):
        st, _, raw = api.call("PATCH", f"/api/v1/properties/{OBJECT}/lifecyclestage", {"indexed": True})
        if st != 200:
            print(f"gen: warning: PATCH lifecyclestage indexed=true answered {st}: {raw[:200]!r}",
                  file=sys.stderr)
    st, body, raw = api.call("GET", f"/api/v1/properties/{OBJECT}")
    if st == 200:
        idx = sorted(p["name"] for p in body.get("results", []) if p["name"] in COLUMNS and p.get("indexed"))
        print(f"gen: indexed contact properties ({len(idx)} of {len(COLUMNS)}): {' '.join(idx)}",
              file=sys.stderr)
    print(f"gen: {made} custom properties created, {len(CUSTOM) - made} were there", file=sys.stderr)


ID_RE = re.compile(rb'"record":\s*\{.*?"id":\s*"([^"]+)"', re.S)


def load_python(api, bodies, connections):
    """Posts every body over `connections` keep-alive connections; returns
    (ids per batch, seconds, failures)."""
    ids = [None] * len(bodies)
    failures = []
    lock = threading.Lock()
    nxt = [0]

    def worker():
        conn = api.connect()
        while True:
            with lock:
                i = nxt[0]
                nxt[0] += 1
            if i >= len(bodies) or len(failures) > 10:
                break
            conn.request("POST", f"/api/v1/objects/{OBJECT}/batch/create", body=bodies[i], headers=api.headers)
            r = conn.getresponse()
            raw = r.read()
            if r.status != 200:
                with lock:
                    failures.append((i, r.status, raw[:600]))
            ids[i] = ID_RE.findall(raw)
        conn.close()

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return ids, time.perf_counter() - t0, failures


def load(args, api, nbatches):
    ru0 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    path = os.path.join(args.out, "batches.ndjson")
    ids_path = os.path.join(args.out, "ids.txt")
    loader = args.loader or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                         "build-bench", "bench", "load_batches")
    if args.client == "c":
        if not os.access(loader, os.X_OK):
            raise SystemExit(f"gen: {loader} is not built (ninja -C BUILD bench/load_batches), or use --client python")
        p = subprocess.run([loader, f"{args.base}/api/v1/objects/{OBJECT}/batch/create", args.token_file,
                            path, ids_path, str(args.connections)], capture_output=True, text=True)
        sys.stderr.write(p.stderr)
        if p.returncode != 0:
            raise SystemExit(f"gen: load_batches exited {p.returncode}")
        res = json.loads(p.stdout.strip().splitlines()[-1])
        seconds, created = res["seconds"], res["ids"]
    else:
        with open(path, "rb") as f:
            bodies = [line.rstrip(b"\n") for line in f]
        ids, seconds, failures = load_python(api, bodies, args.connections)
        for i, st, raw in failures[:3]:
            print(f"gen: batch {i} answered {st}: {raw!r}", file=sys.stderr)
        if failures:
            raise SystemExit(f"gen: {len(failures)} batches failed")
        with open(ids_path, "wb") as f:
            created = 0
            for batch in ids:
                for x in batch or []:
                    f.write(x + b"\n")
                    created += 1
    rate = created / seconds if seconds > 0 else 0.0
    # the client's own CPU time (this process for python, the loader for c)
    ru1 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    k = 0 if args.client == "python" else 1
    cpu = (ru1[k].ru_utime + ru1[k].ru_stime) - (ru0[k].ru_utime + ru0[k].ru_stime)
    print(f"gen: loaded {created} contacts in {seconds:.2f} s over {args.connections} connection(s) "
          f"({args.client} client, {cpu:.2f} s of client CPU): {rate:,.0f} records/s", file=sys.stderr)
    print(json.dumps({"records": created, "seconds": round(seconds, 3), "records_per_s": round(rate, 1),
                      "client": args.client, "connections": args.connections,
                      "client_cpu_s": round(cpu, 3)}))
    if created != args.records:
        raise SystemExit(f"gen: {created} ids read back, {args.records} records sent")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=1000000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", required=True, help="directory for the generated files")
    ap.add_argument("--dry-run", action="store_true", help="generate and check; no server")
    ap.add_argument("--no-generate", action="store_true", help="reuse the files in --out")
    ap.add_argument("--base", help="https://HOST:PORT of kurad")
    ap.add_argument("--token-file", help="file holding the API key (kura_<tenant>_<secret>)")
    ap.add_argument("--client", choices=("c", "python"), default="c")
    ap.add_argument("--loader", help="path of load_batches (default: build-bench/bench/load_batches)")
    ap.add_argument("--connections", type=int, default=2)
    ap.add_argument("--index", action="append", default=[], metavar="A,B",
                    help="an index over these properties, made before the load (repeatable)")
    args = ap.parse_args()
    if args.records < 1:
        ap.error("--records must be at least 1")

    if not args.no_generate:
        generate(args)
    nbatches = (args.records + BATCH - 1) // BATCH
    if args.dry_run:
        return 0 if check(args) else 1
    if not args.base or not args.token_file:
        ap.error("--base and --token-file are needed unless --dry-run")
    with open(args.token_file) as f:
        token = f.read().strip()
    api = Api(args.base, token)
    create_properties(api)
    for cols in args.index:
        st, _, raw = api.call("POST", f"/api/v1/schemas/{OBJECT}/indexes", {"properties": cols.split(",")})
        if st not in (201, 409):
            raise SystemExit(f"gen: index over {cols} answered {st}: {raw[:300]!r}")
        print(f"gen: index over ({cols}) before the load", file=sys.stderr)
    load(args, api, nbatches)
    return 0


if __name__ == "__main__":
    sys.exit(main())
