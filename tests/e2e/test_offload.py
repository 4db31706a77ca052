"""
Searches, batches and list members run on the work pool (route flag
KURA_ROUTE_OFFLOAD) with their connection suspended, so that the HTTP
thread that accepted the connection goes on serving its other connections.
With a single HTTP thread and a single pool thread, concurrent searches,
batch writes and reads on many connections all get their own right
answers, and a kurad stopped while offloaded requests are in flight lets
them finish and stops cleanly (the sanitizer build checks the rest).
"""

import concurrent.futures
import threading
import time

import kura_e2e as k

OBJ = "/api/v1/objects/contacts"


def test_offloaded_requests_under_concurrency(binaries):
    w = k.make_world(env={"KURA_WORKERS": "1", "KURA_HASH_WORKERS": "1"})
    try:
        admin = w.login("acme_admin")
        r = admin.post(f"{OBJ}/batch/create", json={"inputs": [
            {"properties": {"email": f"o{i}@example.com", "lastname": f"Offload{i % 7}"}}
            for i in range(100)]})
        assert r.status_code == 200, r.text
        ids = [x["record"]["id"] for x in r.json()["results"]]
        want = {n: sorted(ids[i] for i in range(100) if i % 7 == n) for n in range(7)}

        def search(n):
            c = w.login("acme_admin")
            try:
                got = []
                for _ in range(5):
                    r = c.post(f"{OBJ}/search", json={"filterGroups": [{"filters": [
                        {"propertyName": "lastname", "operator": "EQ", "value": f"Offload{n}"}]}],
                        "limit": 100})
                    assert r.status_code == 200, r.text
                    got.append(sorted(x["id"] for x in r.json()["results"]))
                return n, got
            finally:
                c.close()

        def read_and_write(j):
            c = w.login("acme_admin")
            try:
                r = c.post(f"{OBJ}/batch/update", json={"inputs": [
                    {"id": ids[j], "properties": {"firstname": f"F{j}"}}]})
                assert r.status_code in (200, 207), r.text
                r = c.get(f"{OBJ}/{ids[j]}")
                assert r.status_code == 200, r.text
                return r.json()["properties"].get("firstname")
            finally:
                c.close()

        with concurrent.futures.ThreadPoolExecutor(max_workers=12) as ex:
            searches = [ex.submit(search, n) for n in range(7)]
            writes = [ex.submit(read_and_write, j) for j in range(10)]
            for f in searches:
                n, got = f.result()
                assert all(g == want[n] for g in got), (n, got)
            assert [f.result() for f in writes] == [f"F{j}" for j in range(10)]
    finally:
        k.destroy_world(w)


def test_stop_with_offloaded_requests_in_flight(binaries):
    w = k.make_world(env={"KURA_WORKERS": "1"})
    try:
        admin = w.login("acme_admin")
        body = {"inputs": [{"properties": {"email": f"s{i}@example.com"}} for i in range(100)]}
        assert admin.post(f"{OBJ}/batch/create", json=body).status_code == 200
        stop = threading.Event()
        answers = []

        def hammer():
            c = w.login("acme_admin")
            while not stop.is_set():
                try:
                    r = c.post(f"{OBJ}/search", json={"query": "example", "limit": 50})
                    answers.append(r.status_code)
                except Exception:  # the server went away: expected at the end
                    return
        threads = [threading.Thread(target=hammer) for _ in range(4)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 60
        while len(answers) < 20 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(answers) >= 20, answers
        rc = w.server.stop()
        stop.set()
        for t in threads:
            t.join(timeout=30)
        assert rc == 0, w.server.log()[-2000:]
        # every answer before the stop was a right one (or "stopping, try again")
        assert set(answers) <= {200, 503}, set(answers)
        assert 200 in answers
        w.server.start()
    finally:
        k.destroy_world(w)
