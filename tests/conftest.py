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
    built = Lab.up(name, routers=4, icmp_ratelimit="off")
    try:
        yield built
    finally:
        built.down()


_lab_counter = _itertools.count(1)


@_pytest.fixture
def make_lab(request):
    """Factory: ``make_lab(routers=8, silent_router=2, mtu=(2, 1280))`` -> a fresh Lab,
    removed at the end of the test (also when it fails). Options are ``Lab.up``'s; unlike
    ``netdiag lab up``, ICMP errors are unlimited unless the test asks for limits
    (``icmp_ratelimit="default"`` for the kernel's, or a number of ms)."""
    from netdiag.lab.lab import Lab

    _skip_or_fail_without_root("the make_lab fixture")
    built = []

    def factory(**options):
        name = f"{_LAB_SESSION_NAME}x{next(_lab_counter)}"
        Lab.down_name(name)
        _atexit.register(_down_quietly, name)
        request.addfinalizer(lambda: Lab.down_name(name))
        options.setdefault("icmp_ratelimit", "off")
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


# --- netdiag run as nobody (uid/gid 65534) ----------------------------------------
# `nobody_netdiag` is an interpreter and a copy of netdiag that uid 65534 can run, so
# tests that start netdiag as nobody do not depend on where the checkout and the venv
# lie (a checkout in a 0700 directory, a venv whose python is under a 0700 /root: neither
# is readable by nobody). The copy (netdiag and tabulate: *.py and py.typed only) is made once
# per session in a fresh world-readable directory and removed at the end. The interpreter
# is this one if nobody can run it, else the system's; with none, the test is skipped,
# unless NETDIAG_REQUIRE_ROOT=1.
import importlib.util as _importlib_util  # noqa: E402 (this section was appended)
import stat as _stat  # noqa: E402
import subprocess as _subprocess  # noqa: E402
import sys as _sys  # noqa: E402
import tempfile as _tempfile  # noqa: E402
from pathlib import Path as _Path  # noqa: E402
from typing import NamedTuple as _NamedTuple  # noqa: E402

NOBODY_UID = NOBODY_GID = 65534
_NOBODY_PACKAGES = ("netdiag", "tabulate")  # what the child imports beyond the stdlib
_SYSTEM_PYTHONS = ("/usr/bin/python3", "/usr/local/bin/python3")


class NobodyNetdiag(_NamedTuple):
    python: str  # an interpreter (3.11+) that uid/gid 65534 can execute and run
    path: str  # a world-readable directory holding netdiag and tabulate, for sys.path


def _searchable_by_others(directory: str) -> bool:
    """Every directory from / down to ``directory`` has o+x."""
    path = _Path(directory).resolve()
    return all(p.stat().st_mode & _stat.S_IXOTH for p in (path, *path.parents))


def _copy_for_nobody(name: str, dest: _Path) -> None:
    """Copy the package or module ``name``, as this session imports it, into ``dest``:
    *.py and py.typed files only (no __pycache__), directories 0755, files 0644."""
    spec = _importlib_util.find_spec(name)
    if spec is None or spec.origin is None:
        raise LookupError(f"{name} is not importable")
    if not spec.submodule_search_locations:  # a single-file module
        _shutil.copyfile(spec.origin, dest / f"{name}.py")
        _os.chmod(dest / f"{name}.py", 0o644)
        return
    top = _Path(next(iter(spec.submodule_search_locations)))
    for path in sorted(top.rglob("*")):
        rel = path.relative_to(top)
        if "__pycache__" in rel.parts or not path.is_file():
            continue
        if path.suffix == ".py" or path.name == "py.typed":
            target = dest / name / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            _shutil.copyfile(path, target)
            _os.chmod(target, 0o644)
    for directory, _, _ in _os.walk(dest / name):
        _os.chmod(directory, 0o755)


def _python_candidates() -> list[str]:
    """This interpreter's real file (through a venv's link, nobody's python would look
    for its stdlib under the venv's home), then the system's."""
    found: list[str] = []
    base = getattr(_sys, "_base_executable", _sys.executable)
    for candidate in (_sys.executable, base, *_SYSTEM_PYTHONS):
        real = _os.path.realpath(candidate)
        if _os.path.isfile(real) and real not in found:
            found.append(real)
    return found


def _why_nobody_cannot_run(python: str, path: str) -> str | None:
    """None when ``python``, run by uid/gid 65534, is 3.11+ and imports netdiag from the
    copy in ``path``; else the reason (its last line on stderr)."""
    code = (
        f"import sys; sys.path.insert(0, {path!r}); import netdiag.cli, tabulate; "
        f"assert netdiag.__file__.startswith({path!r}), netdiag.__file__; "
        "sys.exit(0 if sys.version_info >= (3, 11) else f'Python {sys.version.split()[0]}')"
    )
    try:
        done = _subprocess.run(
            [python, "-c", code],
            user=NOBODY_UID,
            group=NOBODY_GID,
            extra_groups=[],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, _subprocess.SubprocessError) as exc:
        return f"{python}: {exc}"
    if done.returncode != 0:
        last = done.stderr.strip().splitlines() or [f"exit status {done.returncode}"]
        return f"{python}: {last[-1]}"
    return None


@_pytest.fixture(scope="session")
def nobody_netdiag():
    """``NobodyNetdiag(python, path)``: ``setpriv --reuid=65534 ... python -c "import sys;
    sys.path.insert(0, path); ..."`` (or PYTHONPATH=path) runs this session's netdiag."""
    _skip_or_fail_without_root("the nobody_netdiag fixture")
    parents = [_tempfile.gettempdir(), "/tmp", "/var/tmp"]
    parent = next((p for p in parents if _os.path.isdir(p) and _searchable_by_others(p)), None)
    if parent is None:
        _pytest.fail(f"none of {parents} is searchable by other users", pytrace=False)
    where = _tempfile.mkdtemp(prefix="netdiag-nobody-", dir=parent)
    try:
        _os.chmod(where, 0o755)
        for name in _NOBODY_PACKAGES:
            _copy_for_nobody(name, _Path(where))
        reasons = []
        for python in _python_candidates():
            why = _why_nobody_cannot_run(python, where)
            if why is None:
                yield NobodyNetdiag(python, where)
                return
            reasons.append(why)
        message = f"no Python 3.11+ that uid {NOBODY_UID} can run: " + "; ".join(reasons)
        if _os.environ.get("NETDIAG_REQUIRE_ROOT") == "1":
            _pytest.fail(f"{message}, and NETDIAG_REQUIRE_ROOT=1 forbids skipping", pytrace=False)
        _pytest.skip(message)
    finally:
        _shutil.rmtree(where, ignore_errors=True)


# --- the fuzz corpus (../shared/corpus, beside the checkout) ----------------------
# `require_corpus("tcpdump-tests")` returns that corpus directory; without it the test is
# skipped, unless NETDIAG_REQUIRE_CORPUS=1 (CI), where the skip becomes a failure.
CORPUS = _Path(__file__).resolve().parents[1].parent / "shared" / "corpus"


def _require_corpus(name: str = "tcpdump-tests", *, missing_ok: bool = False) -> _Path | None:
    root = _Path(_os.environ.get("NETDIAG_CORPUS") or CORPUS)
    path = root / name
    if path.is_dir() and any(path.iterdir()):
        return path
    message = f"corpus not found at {path} (NETDIAG_CORPUS=DIR reads it from DIR/{name})"
    if _os.environ.get("NETDIAG_REQUIRE_CORPUS") == "1":
        _pytest.fail(f"{message}, and NETDIAG_REQUIRE_CORPUS=1 forbids skipping", pytrace=False)
    if missing_ok:
        return None
    _pytest.skip(message)


@_pytest.fixture(scope="session")
def require_corpus():
    """``require_corpus("tcpdump-tests")`` -> the non-empty directory of that corpus, or
    skip (fail if NETDIAG_REQUIRE_CORPUS=1). The corpus is ``../shared/corpus`` beside
    the checkout, or the directory in NETDIAG_CORPUS if set (``NETDIAG_CORPUS=/nonexistent``
    makes it missing). ``missing_ok=True``: None instead of a skip, for tests that use the
    corpus when it is there (NETDIAG_REQUIRE_CORPUS=1 still fails them without it)."""
    return _require_corpus
