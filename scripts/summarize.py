"""Adds up the unit (meson testlog.json) and black-box (pytest JUnit XML)
results of scripts/test.sh and prints one closing line "N passed, N failed".
Exits non-zero if anything failed, nothing ran, or a build failed."""
import glob
import json
import os
import sys
import xml.etree.ElementTree as ET


def main() -> int:
    results, build_failed = sys.argv[1], sys.argv[2] == "1"
    passed = failed = skipped = 0
    for path in glob.glob(os.path.join(results, "unit-*.json")):
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                r = json.loads(line).get("result")
                if r == "OK":
                    passed += 1
                elif r == "SKIP":
                    skipped += 1
                else:
                    failed += 1
    for path in glob.glob(os.path.join(results, "e2e-*.xml")):
        root = ET.parse(path).getroot()
        suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
        for s in suites:
            tests = int(s.get("tests", 0))
            bad = int(s.get("failures", 0)) + int(s.get("errors", 0))
            skip = int(s.get("skipped", 0))
            failed += bad
            skipped += skip
            passed += tests - bad - skip
    if build_failed:
        failed += 1
        print("a build failed")
    if passed + failed == 0:
        print("no tests ran")
        failed = 1
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
