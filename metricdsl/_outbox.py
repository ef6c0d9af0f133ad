"""The outbox: events kept on disk until the backend acknowledges them.

Storage: one SQLite database (the standard library's ``sqlite3``) in WAL mode.
Chosen because it gives, with nothing to install: atomic, crash-safe appends
(an insert that returned survives the process being killed: with WAL and
``synchronous=NORMAL`` a committed transaction is in the OS's hands, and only a
power loss can take the last ones back); several processes reading and writing
one file under its locking (readers never block the writer); deleting
acknowledged rows in any order; and an index to find a process's own rows. A
JSON-lines file would need our own locking, compaction and torn-line recovery.

Every row belongs to an *owner*, the process that wrote it (``pid:start``, the
start time telling a reused pid apart on Linux). A process sends only its own
rows; when it opens the outbox, and every half minute, it adopts the rows of
owners that are no longer running (``adopt()``), so the next process replays
what a crashed or killed one left, and two live processes sharing the file
never send the same row. The rows' sizes add up in ``meta`` (kept by
triggers); past ``max_bytes`` the oldest rows are deleted and counted.
The database and its ``-wal`` and ``-shm`` files are readable by their owner only.

Before ``fork()`` every connection is closed (and reopened on next use): SQLite
keeps per-process lock bookkeeping that a child must not inherit, or the
child's writes can land in a WAL file the parent deletes
(https://sqlite.org/howtocorrupt.html, "carrying an open database connection
across a fork"). The child becomes an owner of its own.
"""

from __future__ import annotations

import contextlib
import os
import threading
import weakref
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Final, NamedTuple

if TYPE_CHECKING:
    import sqlite3

__all__ = ["Outbox", "OutboxError", "Row", "owner_token"]

_SCHEMA: Final = """
BEGIN IMMEDIATE;
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    owner TEXT NOT NULL,
    session TEXT NOT NULL,
    size INTEGER NOT NULL,
    body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS events_owner ON events (owner, id);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID;
INSERT OR IGNORE INTO meta
    VALUES ('bytes', (SELECT COALESCE(SUM(size), 0) FROM events));
CREATE TRIGGER IF NOT EXISTS events_added AFTER INSERT ON events BEGIN
    UPDATE meta SET value = value + NEW.size WHERE key = 'bytes';
END;
CREATE TRIGGER IF NOT EXISTS events_removed AFTER DELETE ON events BEGIN
    UPDATE meta SET value = value - OLD.size WHERE key = 'bytes';
END;
COMMIT;
"""
_TOTAL: Final = "SELECT value FROM meta WHERE key = 'bytes'"  # all rows' sizes
_BUSY_MS: Final = 2000  # how long a statement waits for another process's lock
_FILES: Final = ("", "-wal", "-shm")

#: Connections opened while a fork was under way, kept (never used or
#: closed) in the child: closing them could disturb the parent's locks.
_ABANDONED: list[sqlite3.Connection] = []


class OutboxError(Exception):
    """The outbox cannot be opened or written."""


class Row(NamedTuple):
    id: int
    session: str
    body: bytes


def owner_token(pid: int | None = None) -> str:
    """``pid:start`` of a process (start is the kernel's start time on Linux)."""
    pid = os.getpid() if pid is None else pid
    return f"{pid}:{_start_time(pid) or 0}"


def _start_time(pid: int) -> str | None:
    stat = _proc_stat(pid)
    return stat[19] if stat is not None and len(stat) > 19 else None


def _proc_stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/PID/stat`` after the command name, or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as file:
            text = file.read().decode("ascii", "replace")
    except OSError:
        return None
    return text.rpartition(")")[2].split()


def running(owner: str) -> bool:
    """Whether the process an owner token names is still running."""
    pid_text, _, start = owner.partition(":")
    try:
        pid = int(pid_text)
    except ValueError:
        return False
    if pid == os.getpid():
        return owner == owner_token()
    if os.name != "posix":  # pragma: no cover - no cheap liveness test there
        return False  # adopt: a duplicate beats a loss (metricIds tell them apart)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, as someone else
    stat = _proc_stat(pid)
    if stat is None:
        return True  # no /proc here: the pid is all we know
    return stat[0] != "Z" and (start == "0" or stat[19] == start)


class Outbox:
    """One process's view of an outbox file; thread-safe."""

    def __init__(self, path: str, *, max_bytes: int) -> None:
        self.path = os.path.abspath(os.path.expanduser(path))
        self.max_bytes = max_bytes
        self.owner = owner_token()
        self.dropped = 0  # rows deleted because the outbox was full
        self._lock = threading.RLock()  # reentrant, as the sender's (signals)
        self._db: sqlite3.Connection | None = None
        self._in_use = False  # opened, and not closed since
        _OUTBOXES.add(self)

    @property
    def opened(self) -> bool:
        """Whether the file was opened (and not closed since)."""
        return self._in_use

    @contextlib.contextmanager
    def _use(self) -> Iterator[sqlite3.Connection]:
        """The connection, under the lock; SQLite errors become OutboxError."""
        import sqlite3

        with self._lock:
            db = self._connection()
            try:
                yield db
            except sqlite3.Error as exc:
                raise OutboxError(f"outbox {self.path}: {exc}") from exc

    # -- opening -----------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        db = self._db
        if db is None:
            db = self._db = self._open()
            self._in_use = True
        return db

    def _open(self) -> sqlite3.Connection:
        import sqlite3  # (imported on first use: most programs have no outbox)

        try:
            directory = os.path.dirname(self.path)
            os.makedirs(directory, mode=0o700, exist_ok=True)
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
            self._restrict()
            db = sqlite3.connect(
                self.path,
                timeout=_BUSY_MS / 1000,
                isolation_level=None,
                check_same_thread=False,
            )
            try:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
                db.executescript(_SCHEMA)
                self._restrict()
            except BaseException:
                db.close()
                raise
        except (OSError, sqlite3.Error) as exc:
            raise OutboxError(f"cannot open the outbox {self.path}: {exc}") from exc
        return db

    def _restrict(self) -> None:
        """Owner-only permissions on the database and the files SQLite adds."""
        for suffix in _FILES:
            with contextlib.suppress(FileNotFoundError):
                if os.stat(self.path + suffix).st_mode & 0o077:
                    os.chmod(self.path + suffix, 0o600)

    # -- what callers do ------------------------------------------------------------

    def add(self, session: str, body: bytes) -> int:
        """Store one event; return its row id. Drops the oldest rows when full."""
        with self._use() as db:
            cursor = db.execute(
                "INSERT INTO events (owner, session, size, body) VALUES (?, ?, ?, ?)",
                (self.owner, session, len(body), body),
            )
            if _one(db, _TOTAL) > self.max_bytes:  # all writers' rows count
                self._trim(db)
            return int(cursor.lastrowid or 0)

    def _trim(self, db: sqlite3.Connection) -> None:
        """Delete the oldest rows (any owner's) until the rest fit in max_bytes."""
        with _transaction(db):
            excess, last, count = _one(db, _TOTAL) - self.max_bytes, None, 0
            if excess > 0:
                oldest = db.execute("SELECT id, size FROM events ORDER BY id")
                try:
                    for row_id, size in oldest:  # only as far as needed
                        last, count, excess = row_id, count + 1, excess - size
                        if excess <= 0:
                            break
                finally:
                    oldest.close()
                if last is not None:
                    db.execute("DELETE FROM events WHERE id <= ?", (last,))
        self.dropped += count

    def take(self, limit: int, max_bytes: int) -> list[Row]:
        """This process's oldest rows: at most ``limit`` of them and, past the
        first, at most ``max_bytes`` in all. (One worker takes them, and sends
        a batch before it takes the next: the rows still here are unsent.)"""
        rows: list[Row] = []
        size = 0
        with self._use() as db:
            for row_id, session, body in db.execute(
                "SELECT id, session, body FROM events WHERE owner = ?"
                " ORDER BY id LIMIT ?",
                (self.owner, limit),
            ):
                size += len(body)
                if rows and size > max_bytes:
                    break
                rows.append(Row(row_id, session, body))
        return rows

    def remove(self, ids: Sequence[int]) -> None:
        """Forget rows (acknowledged, or refused for good)."""
        with self._use() as db, _transaction(db):
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                db.execute(
                    f"DELETE FROM events WHERE id IN ({','.join('?' * len(chunk))})",
                    chunk,
                )

    def adopt(self) -> int:
        """Take over the rows of owners that are no longer running."""
        with self._use() as db:
            owners = [
                owner
                for (owner,) in db.execute("SELECT DISTINCT owner FROM events")
                if owner != self.owner
            ]
            gone = [owner for owner in owners if not running(owner)]
            adopted = 0
            with _transaction(db):
                for owner in gone:
                    adopted += db.execute(
                        "UPDATE events SET owner = ? WHERE owner = ?",
                        (self.owner, owner),
                    ).rowcount
        return adopted

    def last_id(self) -> int:
        """The highest id among this process's rows (0 when it has none)."""
        with self._use() as db:
            return int(
                _one(
                    db,
                    "SELECT COALESCE(MAX(id), 0) FROM events WHERE owner = ?",
                    self.owner,
                )
            )

    def pending_through(self, last: int) -> bool:
        """Whether any of this process's rows up to id ``last`` is still here."""
        with self._use() as db:
            return bool(
                _one(
                    db,
                    "SELECT EXISTS (SELECT 1 FROM events WHERE owner = ? AND id <= ?)",
                    self.owner,
                    last,
                )
            )

    def pending(self) -> int:
        """How many of this process's rows wait."""
        with self._use() as db:
            return int(
                _one(
                    db,
                    "SELECT COUNT(*) FROM events WHERE owner = ?",
                    self.owner,
                )
            )

    def client_id(self) -> str:
        """A random id kept in the outbox: the same for every process using it."""
        with self._use() as db, _transaction(db):
            db.execute(
                "INSERT OR IGNORE INTO meta VALUES ('clientId', ?)",
                (os.urandom(16).hex(),),
            )
            return str(_one(db, "SELECT value FROM meta WHERE key='clientId'"))

    def close(self) -> None:
        with self._lock:
            self._disconnect()
            self._in_use = False

    def _disconnect(self) -> None:
        """Close the connection (lock held); the next use opens another."""
        import sqlite3

        db, self._db = self._db, None
        if db is not None:
            with contextlib.suppress(sqlite3.Error):
                db.close()


_OUTBOXES: Final[weakref.WeakSet[Outbox]] = weakref.WeakSet()
_FORKING: list[Outbox] = []  # outboxes whose lock is held while fork() runs


def _before_fork() -> None:
    for outbox in list(_OUTBOXES):
        outbox._lock.acquire()  # released once the fork is done
        _FORKING.append(outbox)
        outbox._disconnect()


def _after_fork_in_parent() -> None:
    while _FORKING:
        _FORKING.pop()._lock.release()


def _after_fork_in_child() -> None:
    _FORKING.clear()
    for outbox in list(_OUTBOXES):
        if outbox._db is not None:  # opened while the fork was under way
            _ABANDONED.append(outbox._db)
            outbox._db = None
        outbox._lock = threading.RLock()
        outbox.owner = owner_token()
        outbox.dropped = 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_before_fork,
        after_in_parent=_after_fork_in_parent,
        after_in_child=_after_fork_in_child,
    )


@contextlib.contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _one(db: sqlite3.Connection, sql: str, *params: object) -> Any:
    row = db.execute(sql, params).fetchone()
    return row[0] if row is not None else None
