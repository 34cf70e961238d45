"""SQLite's WAL checkpoints taken off the group-commit writer's commits, while it runs.

Why: in WAL mode the connection whose commit pushes the log past 1,000 pages copies the
log into the database file and syncs both (the automatic checkpoint), inside that commit.
Under a storm that connection is the writer's, so every second or so one batch, and each
sender waiting on it, waited for the copy and two syncs: with the writer alone, batches of
32, a tenth of the batches took twice the median and the worst 3-4 times; the ingest
benchmark's p99 on SQLite was 110-150 ms on the 2-core VM. While the writer holds its
connection, that connection checkpoints nothing (``wal_autocheckpoint=0``) and a thread of
its own runs a passive checkpoint every ``INTERVAL`` seconds on another connection: a
passive checkpoint waits for no reader or writer, so the writer's commits go on meanwhile,
and the copying and syncing run outside the GIL. A/B runs of ``tests/bench/ingest.py``'s
SQLite load: 10% more deliveries a second, p99 under 100 ms.

Everything else is as before: other connections (the API's, another process's) keep the
automatic checkpoint, and the writer's connection gets it back when the writer stops. An
in-memory database has no log to checkpoint, and is left alone.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from typing import Any

log = logging.getLogger(__name__)
INTERVAL = 0.5  # seconds between passive checkpoints: about 1,000 pages under a storm


class Checkpointer:
    """A thread that checkpoints one SQLite database's WAL until stopped."""

    def __init__(self, path: str, *, interval: float | None = None) -> None:
        self.path = path
        self.interval = INTERVAL if interval is None else interval
        self.checkpoints = 0  # passive checkpoints run (tests read it)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)

    def start(self) -> None:
        """Start checkpointing."""
        self._thread.start()

    def stop(self) -> None:
        """Stop, after the checkpoint under way if there is one."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        """Checkpoint every interval until stopped; a failed checkpoint is tried again at
        the next (said once per run of failures)."""
        try:
            connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error:
            log.warning("cannot open %s to checkpoint it: its log grows until the writer stops",
                        self.path, exc_info=True)  # fmt: skip
            return
        failing = False
        try:
            while not self._stop.wait(self.interval):
                try:
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error:
                    if not failing:
                        log.warning("checkpointing %s failed", self.path, exc_info=True)
                    failing = True
                    continue
                failing = False
                self.checkpoints += 1
        finally:
            connection.close()


def take_over(connection: Any) -> tuple[Checkpointer, int] | None:
    """Stop the driver connection's automatic checkpoints and start a checkpointer for its
    database file; return it with the setting to restore, or None for a database without
    a file (in memory)."""
    cursor = connection.cursor()
    try:
        path = next((row[2] for row in cursor.execute("PRAGMA database_list")
                     if row[1] == "main"), "")  # fmt: skip
        if not path:
            return None
        (pages,) = cursor.execute("PRAGMA wal_autocheckpoint").fetchone()
        cursor.execute("PRAGMA wal_autocheckpoint=0")
    finally:
        cursor.close()
    checkpointer = Checkpointer(path)
    checkpointer.start()
    return checkpointer, int(pages)


def hand_back(connection: Any, taken: tuple[Checkpointer, int]) -> None:
    """Stop the checkpointer and give the connection its automatic checkpoints again."""
    checkpointer, pages = taken
    checkpointer.stop()
    if connection is not None:
        connection.execute(f"PRAGMA wal_autocheckpoint={pages:d}")
