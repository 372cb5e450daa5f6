"""Named face watchlists stored durably in one SQLite file.

Layout under the data dir (``SHOUWANG_DATA_DIR``, default ``.shouwang/``)::

    faces/watchlists.db          lists, entries, embeddings, photos (if the list keeps them)
    faces/cache/<list>.<model>.npz   search index built from the DB, rebuilt when stale

Privacy rules the code keeps:

- embeddings always, photos only for lists configured ``store_photos``;
- removing an entry deletes its rows, embeddings and photos, overwrites the freed pages
  (``PRAGMA secure_delete``), ``VACUUM``\\s the file and deletes every cached index of
  the list, so no byte of the person is left in the data dir;
- the rollback journal is deleted after each transaction (no WAL file keeping old pages);
- embeddings and photos are never logged; log lines name the list and entry only.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from detectors.faces.errors import WatchlistError
from detectors.faces.search import FaceIndex
from shouwang.config.site import WatchlistRef

log = logging.getLogger(__name__)

# Cosine thresholds per embedder when a list sets none. dlib: its documented operating
# point (Euclidean 0.6 on raw descriptors, norms ~1.42) is cosine ~0.91. The other
# models and the fusion: the most-correct same/different threshold on the East-Asian
# development pairs (faces_asian/pairs.csv); docs/faces.md gives the leave-one-identity-out
# accuracy such a threshold has on people it was not fitted on.
DEFAULT_THRESHOLDS: dict[str, float] = {
    "dlib-resnet-128": 0.91,
    "facenet-casia": 0.6255,
    "human-faceres": 0.629,
    "human-faceres-deep": 0.6711,
    "human-mobileface": 0.2773,
    "human-mobilefacenet": 0.9916,
    "fusion-4": 0.7326,
    "arcface-w600k-mbf": 0.2526,
    "sface": 0.3788,
}
FALLBACK_THRESHOLD = 0.5  # ArcFace-family models; calibrate with `shouwang faces calibrate`

_SCHEMA = """
CREATE TABLE IF NOT EXISTS lists (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, threshold REAL, store_photos INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS entries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    list_id TEXT NOT NULL REFERENCES lists(id) ON DELETE CASCADE,
    name TEXT NOT NULL, created REAL NOT NULL, UNIQUE (list_id, name)
);
CREATE TABLE IF NOT EXISTS embeddings (
    id INTEGER PRIMARY KEY,
    entry_id INTEGER NOT NULL REFERENCES entries(id) ON DELETE CASCADE,
    model TEXT NOT NULL, dim INTEGER NOT NULL, vector BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS photos (
    id INTEGER PRIMARY KEY,
    entry_id INTEGER NOT NULL REFERENCES entries(id) ON DELETE CASCADE,
    filename TEXT NOT NULL, data BLOB NOT NULL
);
"""


def data_dir() -> Path:
    """Where Shouwang keeps durable state (``SHOUWANG_DATA_DIR``, default ``.shouwang``)."""
    return Path(os.environ.get("SHOUWANG_DATA_DIR", ".shouwang"))


@dataclass(frozen=True, slots=True)
class ListInfo:
    """A watchlist's settings and size."""

    id: str
    kind: str
    threshold: float | None
    store_photos: bool
    n_entries: int


@dataclass(frozen=True, slots=True)
class EntryInfo:
    """One enrolled person (never their embeddings or photos)."""

    id: int
    list_id: str
    name: str
    n_embeddings: int
    n_photos: int
    created: float


class WatchlistStore:
    """The watchlists of one data dir.

    Example:
        >>> store = WatchlistStore()
        >>> store.ensure_list(WatchlistRef(id="residents", kind="residents"))
        >>> store.add_entry("residents", "Wang Fang", vectors, model="dlib-resnet-128")
        >>> store.remove_entry("residents", "Wang Fang")  # every trace gone
    """

    def __init__(self, root: Path | None = None) -> None:
        self.root = (root or data_dir()) / "faces"
        self.db_path = self.root / "watchlists.db"
        self.cache_dir = self.root / "cache"
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)  # biometric data: owner only
        with self._db() as db:
            db.executescript(_SCHEMA)
        self.db_path.chmod(0o600)

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        try:
            db = sqlite3.connect(self.db_path, isolation_level=None)
        except sqlite3.Error as exc:
            raise WatchlistError(f"cannot open watchlist store {self.db_path}: {exc}") from exc
        try:
            db.execute("PRAGMA foreign_keys = ON")
            db.execute("PRAGMA secure_delete = ON")
            db.execute("PRAGMA journal_mode = DELETE")
            yield db
        except sqlite3.Error as exc:
            raise WatchlistError(f"watchlist store {self.db_path}: {exc}") from exc
        finally:
            db.close()

    # --- lists ---
    def ensure_list(self, ref: WatchlistRef) -> ListInfo:
        """Create the list, or update its kind, threshold and photo policy from ``ref``.

        Turning ``store_photos`` off deletes the photos the list already holds.
        """
        with self._db() as db:
            db.execute(
                "INSERT INTO lists (id, kind, threshold, store_photos) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET kind = excluded.kind, "
                "threshold = excluded.threshold, store_photos = excluded.store_photos",
                (ref.id, ref.kind, ref.threshold, int(ref.store_photos)),
            )
            if not ref.store_photos:
                cur = db.execute(
                    "DELETE FROM photos WHERE entry_id IN "
                    "(SELECT id FROM entries WHERE list_id = ?)",
                    (ref.id,),
                )
                if cur.rowcount:
                    db.execute("VACUUM")
        self._changed(ref.id)
        return self.get_list(ref.id)

    def lists(self) -> list[ListInfo]:
        """Every list, by id."""
        with self._db() as db:
            rows = db.execute(
                "SELECT l.id, l.kind, l.threshold, l.store_photos, COUNT(e.id) FROM lists l "
                "LEFT JOIN entries e ON e.list_id = l.id GROUP BY l.id ORDER BY l.id"
            ).fetchall()
        return [ListInfo(r[0], r[1], r[2], bool(r[3]), int(r[4])) for r in rows]

    def get_list(self, list_id: str) -> ListInfo:
        """One list; :class:`WatchlistError` naming the known lists otherwise."""
        for info in self.lists():
            if info.id == list_id:
                return info
        known = ", ".join(i.id for i in self.lists()) or "none"
        raise WatchlistError(f"no watchlist {list_id!r} in {self.db_path}; known: {known}")

    def set_threshold(self, list_id: str, threshold: float | None) -> None:
        """Set (or clear, with ``None``) a list's match threshold."""
        self.get_list(list_id)
        with self._db() as db:
            db.execute("UPDATE lists SET threshold = ? WHERE id = ?", (threshold, list_id))
        self._changed(list_id)

    def remove_list(self, list_id: str) -> None:
        """Delete a list and every trace of every entry in it."""
        self.get_list(list_id)
        with self._db() as db:
            db.execute("DELETE FROM lists WHERE id = ?", (list_id,))
            db.execute("VACUUM")
        self._changed(list_id)
        log.info("watchlist %s removed", list_id)

    # --- entries ---
    def add_entry(
        self,
        list_id: str,
        name: str,
        embeddings: NDArray[np.float32],
        *,
        model: str,
        photos: list[tuple[str, bytes]] | None = None,
    ) -> int:
        """Enrol a person with one or more embeddings; photos kept only if the list says so.

        Returns:
            The new entry's id.

        Raises:
            WatchlistError: unknown list, empty name, no embeddings, or the name is taken.
        """
        info = self.get_list(list_id)
        if not name.strip():
            raise WatchlistError("entry name must not be empty")
        vecs = np.ascontiguousarray(np.atleast_2d(embeddings), dtype=np.float32)
        if vecs.size == 0:
            raise WatchlistError(f"entry {name!r}: no embeddings to enrol")
        with self._db() as db:
            db.execute("BEGIN")
            try:
                cur = db.execute(
                    "INSERT INTO entries (list_id, name, created) VALUES (?, ?, ?)",
                    (list_id, name, time.time()),
                )
            except sqlite3.IntegrityError:
                db.execute("ROLLBACK")
                raise WatchlistError(
                    f"watchlist {list_id!r} already has an entry named {name!r}; "
                    "remove it first or choose another name"
                ) from None
            entry_id = int(cur.lastrowid or 0)
            db.executemany(
                "INSERT INTO embeddings (entry_id, model, dim, vector) VALUES (?, ?, ?, ?)",
                [(entry_id, model, vecs.shape[1], v.tobytes()) for v in vecs],
            )
            if info.store_photos and photos:
                db.executemany(
                    "INSERT INTO photos (entry_id, filename, data) VALUES (?, ?, ?)",
                    [(entry_id, fn, data) for fn, data in photos],
                )
            db.execute("COMMIT")
        self._changed(list_id)
        log.info("watchlist %s: enrolled entry %d (%d embeddings)", list_id, entry_id, len(vecs))
        return entry_id

    def entries(self, list_id: str) -> list[EntryInfo]:
        """The list's entries by name."""
        self.get_list(list_id)
        with self._db() as db:
            rows = db.execute(
                "SELECT e.id, e.name, e.created, "
                "(SELECT COUNT(*) FROM embeddings m WHERE m.entry_id = e.id), "
                "(SELECT COUNT(*) FROM photos p WHERE p.entry_id = e.id) "
                "FROM entries e WHERE e.list_id = ? ORDER BY e.name",
                (list_id,),
            ).fetchall()
        return [EntryInfo(r[0], list_id, r[1], r[3], r[4], r[2]) for r in rows]

    def photos(self, list_id: str, name: str) -> list[tuple[str, bytes]]:
        """The stored photos of an entry (empty when the list keeps none)."""
        entry_id = self._entry_id(list_id, name)
        with self._db() as db:
            rows = db.execute(
                "SELECT filename, data FROM photos WHERE entry_id = ? ORDER BY id", (entry_id,)
            ).fetchall()
        return [(str(r[0]), bytes(r[1])) for r in rows]

    def remove_entry(self, list_id: str, name: str) -> None:
        """Delete a person: rows, embeddings, photos, freed pages and cached indices."""
        entry_id = self._entry_id(list_id, name)
        with self._db() as db:
            db.execute("DELETE FROM entries WHERE id = ?", (entry_id,))
            db.execute("VACUUM")
        self._changed(list_id)
        log.info("watchlist %s: removed entry %d", list_id, entry_id)

    def _entry_id(self, list_id: str, name: str) -> int:
        self.get_list(list_id)
        with self._db() as db:
            row = db.execute(
                "SELECT id FROM entries WHERE list_id = ? AND name = ?", (list_id, name)
            ).fetchone()
        if row is None:
            raise WatchlistError(f"watchlist {list_id!r} has no entry named {name!r}")
        return int(row[0])

    # --- search index ---
    def index(self, list_id: str, model: str) -> tuple[FaceIndex, dict[int, str]]:
        """The list's search index for ``model`` and its entry-id -> name map.

        Loaded from the cache file when present, else built from the DB and cached.
        """
        names = {e.id: e.name for e in self.entries(list_id)}
        cache = self._cache_file(list_id, model)
        if cache.is_file():
            with np.load(cache) as npz:
                labels, mat = npz["labels"], npz["vectors"]
        else:
            with self._db() as db:
                rows = db.execute(
                    "SELECT m.entry_id, m.dim, m.vector FROM embeddings m "
                    "JOIN entries e ON e.id = m.entry_id WHERE e.list_id = ? AND m.model = ? "
                    "ORDER BY m.id",
                    (list_id, model),
                ).fetchall()
            if not rows and names:
                self.check_model(list_id, model)
            labels = np.array([r[0] for r in rows], dtype=np.int64)
            dims = {int(r[1]) for r in rows}
            if len(dims) > 1:
                raise WatchlistError(
                    f"watchlist {list_id!r}: embeddings of model {model!r} have different "
                    f"sizes {sorted(dims)}; re-enrol the list"
                )
            dim = dims.pop() if dims else 0
            mat = np.array([np.frombuffer(r[2], dtype=np.float32) for r in rows]).reshape(
                len(rows), dim
            )
            if len(rows):
                self.cache_dir.mkdir(parents=True, exist_ok=True)
                np.savez(cache, labels=labels, vectors=mat)
        idx = FaceIndex(mat.shape[1] if mat.size else 1, capacity=max(len(labels), 1))
        if len(labels):
            idx.add(labels, mat)
        return idx, names

    def models(self, list_id: str) -> dict[str, int]:
        """Embedder name -> number of embeddings the list holds for it."""
        with self._db() as db:
            rows = db.execute(
                "SELECT m.model, COUNT(*) FROM embeddings m JOIN entries e ON e.id = m.entry_id "
                "WHERE e.list_id = ? GROUP BY m.model ORDER BY m.model",
                (list_id,),
            ).fetchall()
        return {str(r[0]): int(r[1]) for r in rows}

    def check_model(self, list_id: str, model: str) -> None:
        """Refuse to search a list whose people were enrolled with another embedder."""
        other = self.models(list_id)
        if other and model not in other:
            raise WatchlistError(
                f"watchlist {list_id!r} was enrolled with embedder {', '.join(other)}, not "
                f"{model!r}; embeddings of different models are not comparable. Run "
                f"`shouwang faces reembed {list_id}` (needs the list's kept photos) or "
                "re-enrol its people"
            )

    def replace_embeddings(
        self, list_id: str, vectors: dict[str, NDArray[np.float32]], model: str
    ) -> None:
        """Swap every entry's embeddings for ``vectors[name]`` of ``model``, in one
        transaction (the old model's rows are deleted and their pages overwritten)."""
        ids = {e.name: e.id for e in self.entries(list_id)}
        missing = sorted(set(ids) - set(vectors))
        if missing:
            raise WatchlistError(f"watchlist {list_id!r}: no new embeddings for {missing}")
        with self._db() as db:
            db.execute("BEGIN")
            for name, entry_id in ids.items():
                vecs = np.ascontiguousarray(np.atleast_2d(vectors[name]), dtype=np.float32)
                db.execute("DELETE FROM embeddings WHERE entry_id = ?", (entry_id,))
                db.executemany(
                    "INSERT INTO embeddings (entry_id, model, dim, vector) VALUES (?, ?, ?, ?)",
                    [(entry_id, model, vecs.shape[1], v.tobytes()) for v in vecs],
                )
            db.execute("COMMIT")
            db.execute("VACUUM")
        self._changed(list_id)
        log.info("watchlist %s: %d entries re-embedded with %s", list_id, len(ids), model)

    def _cache_file(self, list_id: str, model: str) -> Path:
        return self.cache_dir / f"{list_id}.{model}.npz"

    def generation(self) -> int:
        """A counter bumped by every change, so other processes know to reload."""
        with self._db() as db:
            row = db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
        return int(row[0]) if row else 0

    def _changed(self, list_id: str) -> None:
        with self._db() as db:
            db.execute(
                "INSERT INTO meta (key, value) VALUES ('generation', 1) "
                "ON CONFLICT(key) DO UPDATE SET value = value + 1"
            )
        self._drop_cache(list_id)

    def _drop_cache(self, list_id: str) -> None:
        if self.cache_dir.is_dir():
            for f in self.cache_dir.glob(f"{list_id}.*.npz"):
                f.unlink()
