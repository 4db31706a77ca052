"""The documentation stays true to the program: every setting kurad knows
is in the README's configuration table (and the table names no setting
kurad does not know), and every route is in docs/API.md."""

import json
import re
import subprocess

import kura_e2e as k


def kurad_settings():
    p = subprocess.run([str(k.kurad_bin()), "--print-config"], capture_output=True, text=True,
                       env=k.clean_env(), timeout=30)
    assert p.returncode == 0, p.stderr
    keys = re.findall(r"^([a-z_0-9]+) = ", p.stdout, flags=re.M)
    assert len(keys) >= 20, p.stdout
    return set(keys)


def readme_table_keys():
    text = (k.REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("### Configuration", 1)[1].split("\n## ", 1)[0]
    keys = set()
    for line in section.splitlines():
        m = re.match(r"\|\s*(`[a-z_0-9]+`(?:\s*,\s*`[a-z_0-9]+`)*)\s*\|", line)
        if m:
            keys |= set(re.findall(r"`([a-z_0-9]+)`", m.group(1)))
    return keys


def test_readme_lists_every_setting(binaries):
    known, listed = kurad_settings(), readme_table_keys()
    assert known - listed == set(), f"settings missing from the README: {sorted(known - listed)}"
    assert listed - known == set(), f"README lists unknown settings: {sorted(listed - known)}"


def test_api_md_lists_every_route():
    doc = json.loads((k.REPO / "docs" / "openapi.json").read_text(encoding="utf-8"))
    api_md = (k.REPO / "docs" / "API.md").read_text(encoding="utf-8")
    missing = [p for p in doc["paths"] if f"`{p}`" not in api_md]
    assert missing == [], f"docs/API.md does not mention: {missing}"
