"""
One kurad per data directory, and the operator commands that must not run
beside it (master-key rotation, tenant deletion) refuse while it runs:
they would change keys under a server that goes on sealing and unwrapping
with the old ones.
"""

import kura_e2e as k
from test_auth import run_kurad_expect_failure


def test_commands_refuse_while_kurad_runs(fresh_world):
    w = fresh_world
    before = (w.data_dir / "master.key").read_bytes()
    p = w.cli.run("keys", "rotate-master", check=False)
    assert p.returncode != 0 and "kurad is running" in p.stderr, (p.stdout, p.stderr)
    assert (w.data_dir / "master.key").read_bytes() == before
    assert not (w.data_dir / "master.key.new").exists()
    p = w.cli.run("tenant", "delete", "globex", "--yes", check=False)
    assert p.returncode != 0 and "kurad is running" in p.stderr, (p.stdout, p.stderr)
    assert "globex" in [t[0] for t in w.cli.tenant_list()]
    assert w.login("globex_admin").me().status_code == 200
    # a second kurad on the same files does not start
    _, out = run_kurad_expect_failure(w.data_dir)
    assert "data_dir_lock" in out, out
    # stopped, both commands go through
    assert w.server.stop() == 0
    assert "master key replaced" in w.cli.run("keys", "rotate-master").stdout
    assert "deleted" in w.cli.run("tenant", "delete", "globex", "--yes").stdout
    w.server.start()
    assert w.login("acme_admin").me().status_code == 200
