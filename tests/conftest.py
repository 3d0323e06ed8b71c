# --- root marker and lab fixtures (netdiag.lab.lab) ------------------------------
# Tests marked @pytest.mark.root are skipped when not root, unless
# NETDIAG_REQUIRE_ROOT=1 (CI), where the skip becomes a failure. The `lab`
# fixture is one 4-router lab per test session; `make_lab(**opts)` builds a
# special lab that is removed at the end of its test. Lab names start with
# "t<pid>" so concurrent sessions never share namespaces.
import atexit as _atexit
import itertools as _itertools
import os as _os

import pytest as _pytest


def _skip_or_fail_without_root(what: str) -> None:
    if _os.geteuid() == 0:
        return
    message = f"{what} needs root (CAP_NET_ADMIN/CAP_NET_RAW)"
    if _os.environ.get("NETDIAG_REQUIRE_ROOT") == "1":
        _pytest.fail(f"{message}, and NETDIAG_REQUIRE_ROOT=1 forbids skipping", pytrace=False)
    _pytest.skip(message)


def pytest_runtest_setup(item: _pytest.Item) -> None:
    if item.get_closest_marker("root") is not None:
        _skip_or_fail_without_root(item.nodeid)


_LAB_SESSION_NAME = f"t{_os.getpid()}"


def _down_quietly(name: str) -> None:
    from netdiag.lab.lab import Lab

    try:
        Lab.down_name(name)
    except Exception as exc:  # at exit there is no one left to raise to
        print(f"netdiag lab {name}: teardown failed: {exc}")


@_pytest.fixture(scope="session")
def lab():
    """A 4-router lab shared by the session (src, r1..r4, dst)."""
    from netdiag.lab.lab import Lab

    _skip_or_fail_without_root("the lab fixture")
    name = _LAB_SESSION_NAME
    Lab.down_name(name)  # leftovers of a crashed run with a reused pid
    _atexit.register(_down_quietly, name)
    built = Lab.up(name, routers=4)
    try:
        yield built
    finally:
        built.down()


_lab_counter = _itertools.count(1)


@_pytest.fixture
def make_lab(request):
    """Factory: ``make_lab(routers=8, silent_router=2, mtu=(2, 1280))`` -> a fresh Lab,
    removed at the end of the test (also when it fails)."""
    from netdiag.lab.lab import Lab

    _skip_or_fail_without_root("the make_lab fixture")
    built = []

    def factory(**options):
        name = f"{_LAB_SESSION_NAME}x{next(_lab_counter)}"
        Lab.down_name(name)
        _atexit.register(_down_quietly, name)
        request.addfinalizer(lambda: Lab.down_name(name))
        new = Lab.up(name, **options)
        built.append(new)
        return new

    yield factory
    for one in built:
        one.down()


# --- external tools (tcpdump, tshark, editcap) ----------------------------------
# `require_tool("tshark")` returns the tool's path; without it the test is skipped,
# unless NETDIAG_REQUIRE_TOOLS=1 (CI), where the skip becomes a failure.
import shutil as _shutil  # noqa: E402 (this section was appended)


def _require_tool(name: str) -> str:
    path = _shutil.which(name)
    if path is not None:
        return path
    message = f"{name} is not installed (needed as the reference for this test)"
    if _os.environ.get("NETDIAG_REQUIRE_TOOLS") == "1":
        _pytest.fail(f"{message}, and NETDIAG_REQUIRE_TOOLS=1 forbids skipping", pytrace=False)
    _pytest.skip(message)


@_pytest.fixture
def require_tool():
    """``require_tool("tshark")`` -> its path, or skip (fail if NETDIAG_REQUIRE_TOOLS=1)."""
    return _require_tool
