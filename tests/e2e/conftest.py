"""
Fixtures for Kura's black-box tests. Run with

    /usr/bin/python3 -m pytest tests/e2e

after building (`meson setup build && ninja -C build`); KURA_BUILD_DIR
points at another build directory. KURA_E2E_KEEP=1 keeps the temporary data
directories (and kurad logs) for a look after the run.
"""

import pytest

import kura_e2e as k


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def _failed(request) -> bool:
    rep = getattr(request.node, "rep_call", None)
    return rep is not None and rep.failed


@pytest.fixture(scope="session")
def binaries():
    """The built kurad and kura. A missing binary fails the test (it does
    not skip): a suite that silently skips proves nothing."""
    missing = [str(p) for p in (k.kurad_bin(), k.kura_bin()) if not p.is_file()]
    if missing:
        pytest.fail(f"not built: {', '.join(missing)} (run `meson setup build && ninja -C build`, "
                    f"or set KURA_BUILD_DIR)", pytrace=False)
    return k.kurad_bin(), k.kura_bin()


@pytest.fixture(scope="module")
def world(binaries):
    """A running server with tenants acme and globex, each with a
    super_admin and a member whose passwords are already changed. Shared by
    the tests of one module: tests that change state use their own users."""
    w = k.make_world()
    yield w
    k.destroy_world(w)


@pytest.fixture(scope="module")
def acme(world):
    """acme's signed-in clients by role (super_admin, admin, member, read_only),
    for the CRM modules."""
    callers = k.crm_callers(world)
    yield callers
    for c in callers.values():
        c.close()


@pytest.fixture(scope="module")
def globex(world):
    """globex's super admin: another tenant, for the CRM modules."""
    c = world.login("globex_admin")
    yield c
    c.close()


@pytest.fixture
def tmp_dir(binaries):
    d = k.new_tempdir()
    yield d
    k.remove_tempdir(d)


@pytest.fixture
def data_dir(tmp_dir):
    """(data_dir, cli) of a freshly initialised data directory."""
    return k.init_data_dir(tmp_dir)


@pytest.fixture
def servers(request, tmp_dir):
    """A factory of kurad processes that are all stopped after the test;
    the log of each is printed when the test failed."""
    started = []

    def start(data_dir, env=None, args=(), insecure_http=False, listen="127.0.0.1", run=True):
        s = k.Kurad(data_dir, env=env, args=tuple(args), insecure_http=insecure_http,
                    listen=listen, log_dir=tmp_dir)
        started.append(s)
        if run:
            s.start()
        return s

    yield start
    problems = []
    for s in started:
        rc = s.stop()
        if _failed(request):
            print(f"--- kurad log ({s.log_path}) ---\n{s.log()[-6000:]}")
        report = s.sanitizer_report()
        if report:
            problems.append(f"sanitizer report in the kurad log:\n{report}")
        elif rc not in (0, None):
            problems.append(f"kurad exited {rc} on SIGTERM\n{s.log()[-3000:]}")
    assert not problems, "\n".join(problems)


@pytest.fixture
def fresh_world(request, binaries):
    """A world of its own for one test, with extra settings given by
    indirect parametrisation or the `world_env` marker."""
    marker = request.node.get_closest_marker("world_env")
    env = dict(marker.args[0]) if marker else None
    w = k.make_world(env=env)
    yield w
    if _failed(request):
        print(f"--- kurad log ---\n{w.server.log()[-6000:]}")
    k.destroy_world(w)


def pytest_configure(config):
    config.addinivalue_line("markers", "world_env(env): extra KURA_* settings for fresh_world")
