"""Sharing a site's cameras among several workers through Redis leases.

Each camera has one lease key holding its owner's worker id (``SET NX PX ttl``). The
owner extends it with a compare-and-extend script and gives it up with
compare-and-delete, so a worker can never extend or delete a lease it lost. A worker
that dies stops renewing; its leases expire after ``ttl_ms`` and the others take the
cameras on their next tick (so takeover takes at most ``ttl_ms`` + one tick interval
after the last renewal).

Balance: workers heartbeat into a sorted set (scores from Redis's clock, so worker
clocks do not matter). With ``n`` live workers a worker holds at most
``ceil(cameras / n)``; it prefers the cameras that rendezvous hashing assigns to it and
gives up extras when a new worker joins, so load spreads without a coordinator.

Caveat: a worker stalled longer than the TTL (e.g. a frozen VM) may process a camera
for up to one tick after another worker took it; its next tick reports it ``lost``.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import redis

from alerts import keys

log = logging.getLogger(__name__)

# KEYS: the leases to extend. ARGV: worker id, ttl ms. One flag per key: 1 if still ours.
_RENEW = """
local out = {}
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then
    out[i] = redis.call('PEXPIRE', key, ARGV[2])
  else
    out[i] = 0
  end
end
return out
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

# KEYS: workers, loads, our drain flag. ARGV: worker id, ttl ms, cameras we hold.
# Adds/refreshes our heartbeat and load, drops expired workers; returns the live workers
# and their loads (cameras held as of their last heartbeat); false when draining.
_HEARTBEAT = """
if redis.call('EXISTS', KEYS[3]) == 1 then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
  return false
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. now)
if #dead > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. now)
  redis.call('HDEL', KEYS[2], unpack(dead))
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ttl * 10)
redis.call('PEXPIRE', KEYS[2], ttl * 10)
local live = redis.call('ZRANGE', KEYS[1], 0, -1)
return {live, redis.call('HMGET', KEYS[2], unpack(live))}
"""


@dataclass(frozen=True, slots=True)
class LeaseChange:
    """What one :meth:`LeaseManager.tick` changed.

    Attributes:
        gained: cameras this worker must start.
        lost: cameras whose lease was taken or expired: stop them at once.
        released: cameras given up for balance: stop them.
        owned: everything owned after the tick.
        workers: live workers seen.
    """

    gained: frozenset[str] = field(default_factory=frozenset)
    lost: frozenset[str] = field(default_factory=frozenset)
    released: frozenset[str] = field(default_factory=frozenset)
    owned: frozenset[str] = field(default_factory=frozenset)
    workers: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        """Whether the worker has to start or stop any camera."""
        return bool(self.gained or self.lost or self.released)


# Rendezvous comparisons (cameras x workers hashes) allowed per tick before a worker
# falls back to its own scores alone (a city's cold start: 8,640 x 100 would take ~1 s).
_HASH_BUDGET = 20_000


def _score(worker_id: str, camera: str) -> int:
    digest = hashlib.blake2b(f"{worker_id}\x00{camera}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


class LeaseManager:
    """One worker's view of camera ownership.

    Call :meth:`tick` every ``renew_interval_s`` (or :meth:`start` a thread that does)
    and act on the returned :class:`LeaseChange`.

    Example:
        >>> leases = LeaseManager(client, "worker-a", ["gate", "roof"])  # doctest: +SKIP
        >>> change = leases.tick()  # doctest: +SKIP
        >>> for cam in change.gained: start(cam)  # doctest: +SKIP
    """

    def __init__(
        self, client: redis.Redis, worker_id: str, cameras: Iterable[str], ttl_ms: int = 10_000
    ) -> None:
        if ttl_ms < 100:
            raise ValueError(f"ttl_ms must be at least 100, got {ttl_ms}")
        self.redis = client
        self.worker_id = worker_id
        self.cameras = tuple(dict.fromkeys(cameras))
        self.ttl_ms = ttl_ms
        self._owned: set[str] = set()
        self._lock = threading.Lock()
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)
        self._heartbeat = client.register_script(_HEARTBEAT)
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._own_score = {c: _score(worker_id, c) for c in self.cameras}
        self._ticks = 0
        self._joined = False
        self.settled = False  # as of the last tick: see acquire()
        self._last_workers: tuple[str, ...] = ()
        self.scan_every = 10  # ticks between look-ups of every lease in steady state

    @property
    def renew_interval_s(self) -> float:
        """How often to tick: a third of the TTL leaves two chances before expiry."""
        return self.ttl_ms / 3000

    def owned(self) -> frozenset[str]:
        """Cameras this worker holds a lease on (as of the last tick)."""
        with self._lock:
            return frozenset(self._owned)

    def heartbeat(self) -> tuple[str, ...] | None:
        """Announce this worker alive; returns every live worker id, None when draining.

        The first :meth:`tick` of a worker that has not announced itself only does this.
        """
        beat = self._beat()
        self._joined = True
        return None if beat is None else tuple(beat)

    def _beat(self) -> dict[str, int] | None:
        with self._lock:
            held = len(self._owned)
        res = self._heartbeat(
            keys=[keys.WORKERS, keys.WORKER_LOADS, keys.worker_drain(self.worker_id)],
            args=[self.worker_id, self.ttl_ms, held],
        )
        if res is None:
            return None
        live, loads = res
        out = {str(w): int(n or 0) for w, n in zip(live, loads, strict=True)}
        out[self.worker_id] = held
        return out

    def renew(self) -> frozenset[str]:
        """Extend every owned lease (one script call); returns (and forgets) those lost."""
        with self._lock:
            owned = sorted(self._owned)
            if not owned:
                return frozenset()
            flags = self._renew(
                keys=[keys.camera_lease(c) for c in owned], args=[self.worker_id, self.ttl_ms]
            )
            lost = frozenset(c for c, ok in zip(owned, flags, strict=True) if not ok)
            self._owned -= lost
        if lost:
            log.warning(
                "worker %s lost %d camera(s) (lease expired or taken): %s",
                self.worker_id,
                len(lost),
                ", ".join(sorted(lost)[:10]) + (" ..." if len(lost) > 10 else ""),
            )
        return lost

    def acquire(self) -> LeaseChange:
        """Heartbeat, renew, then give up extras or take free cameras up to a fair share.

        Shares: nobody holds more than ``ceil(cameras / workers)``; while some live worker
        holds fewer than ``floor(cameras / workers)`` the others take no more than the
        floor, and if no camera is free the busiest workers (as many as cameras are
        missing, ties by id) give one back each, so a late joiner fills up in a tick.

        Cost: every worker's heartbeat carries its load, so a tick reads the lease keys
        of all cameras (one ``MGET``) only when it can take more and some may be free,
        when the set of live workers changed, or every ``scan_every`` ticks; in steady
        state a tick is two script calls, whatever the number of cameras.
        """
        loads = self._beat()
        if loads is None:  # drained (``shouwang leases drain``): serve nothing
            return self._drained()
        workers = tuple(sorted(loads))
        if not self._joined:
            # Announce first, take from the next tick on: workers started together
            # (a fleet rolled out, a city after a power cut) then all see each other
            # before anyone grabs, instead of the first one taking every camera.
            self._joined = True
            self._last_workers = workers
            return LeaseChange(workers=workers)
        lost = self.renew()
        mine = len(self.owned())
        loads[self.worker_id] = mine
        n, w = len(self.cameras), max(1, len(workers))
        hi, lo = math.ceil(n / w), n // w
        released = self._shed(workers, hi)
        loads[self.worker_id] = mine = mine - len(released)
        starving = sorted(x for x in workers if x != self.worker_id and loads[x] < lo)
        free = n - sum(loads.values())
        if not released and starving and free <= 0:
            missing = sum(lo - loads[x] for x in starving)
            donors = sorted((x for x in workers if loads[x] > lo), key=lambda x: (-loads[x], x))
            if self.worker_id in donors[:missing]:
                released = self._shed(workers, mine - 1, prefer=starving)
        limit = lo if starving else hi
        self._ticks += 1
        changed = workers != self._last_workers
        self._last_workers = workers
        gained: frozenset[str] = frozenset()
        if len(self.owned()) < limit and (
            free > 0 or changed or lost or self._ticks % self.scan_every == 0
        ):
            holders = [
                None if h is None else str(h)
                for h in self.redis.mget([keys.camera_lease(c) for c in self.cameras])
            ]
            gained = self._grab(workers, limit, holders)
        held = len(self.owned())
        if gained or released or lost:  # others read our load before deciding
            self.redis.hset(keys.WORKER_LOADS, self.worker_id, held)
        # Settled: this worker at its share, nobody short, nothing free as far as known.
        self.settled = lo <= held <= hi and not starving and free - len(gained) <= 0
        return LeaseChange(
            gained=gained, lost=lost, released=released, owned=self.owned(), workers=workers
        )

    tick = acquire

    def _drained(self) -> LeaseChange:
        with self._lock:
            held = frozenset(self._owned)
            for cam in held:
                self._release(keys=[keys.camera_lease(cam)], args=[self.worker_id])
            self._owned.clear()
        if held:
            log.info("worker %s drained: released %s", self.worker_id, sorted(held))
        return LeaseChange(released=held)

    def clear_drain(self) -> None:
        """Forget a drain flag left by this worker id's previous life (a restarted pod)."""
        self.redis.delete(keys.worker_drain(self.worker_id))

    def release_all(self) -> None:
        """Give every lease back now (graceful shutdown), so others take over at once."""
        with self._lock:
            for cam in list(self._owned):
                self._release(keys=[keys.camera_lease(cam)], args=[self.worker_id])
            self._owned.clear()
        self.redis.zrem(keys.WORKERS, self.worker_id)
        self.redis.hdel(keys.WORKER_LOADS, self.worker_id)

    def start(self, on_change: Callable[[LeaseChange], None]) -> None:
        """Tick in a daemon thread, calling ``on_change`` when cameras must start/stop.

        Handle ``change.lost`` and ``change.released`` before ``change.gained``: after an
        outage one tick can report a camera lost (its lease vanished) and gained again.
        While Redis is unreachable ticks fail and the worker keeps its cameras (watching
        beats exclusivity; alerts go to the outbox); the first tick after the outage
        reports whatever was taken meanwhile as lost.
        """
        if self._thread is not None:
            return
        try:
            self.clear_drain()
        except (redis.RedisError, OSError) as exc:
            log.warning("could not clear the drain flag of %s: %s", self.worker_id, exc)

        def loop() -> None:
            if self._joined and not self._ticks:  # announced by the caller: let the
                self._stop.wait(self.renew_interval_s / 3)  # others announce too
            while not self._stop.is_set():
                try:
                    change = self.tick()
                    if change.changed:
                        on_change(change)
                except (redis.RedisError, OSError) as exc:
                    # Keep running: leases we cannot renew will be reported lost.
                    log.warning("lease tick of %s failed: %s", self.worker_id, exc)
                # While shares are moving, tick three times as often: convergence takes
                # ticks, and renewing more often costs only while things change.
                self._stop.wait(self.renew_interval_s / (1 if self.settled else 3))

        self._thread = threading.Thread(target=loop, name=f"leases-{self.worker_id}", daemon=True)
        self._thread.start()

    def stop(self, release: bool = True) -> None:
        """Stop the tick thread; release leases unless ``release`` is False."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.renew_interval_s + 1)
            self._thread = None
        if release:
            self.release_all()

    # -- balance -------------------------------------------------------------------

    def _preferred_owner(self, camera: str, workers: tuple[str, ...]) -> str:
        return max(workers, key=lambda w: _score(w, camera)) if workers else self.worker_id

    def _shed(
        self, workers: tuple[str, ...], share: int, prefer: list[str] | None = None
    ) -> frozenset[str]:
        with self._lock:
            extra = len(self._owned) - share
            if extra <= 0:
                return frozenset()
            # Give up first what rendezvous hashing assigns to the preferred takers (else
            # to anyone else), so a camera tends to land where it will stay.
            takers = set(prefer or ()) or set(workers) - {self.worker_id}
            if len(self._owned) * len(workers) <= _HASH_BUDGET:
                order = sorted(
                    self._owned,
                    key=lambda c: (
                        self._preferred_owner(c, workers) not in takers,
                        self._own_score[c],
                    ),
                )
            else:  # a city-sized cold start: what this worker scores lowest goes first
                order = sorted(self._owned, key=lambda c: self._own_score[c])
            released = order[:extra]
            pipe = self.redis.pipeline(transaction=False)
            for cam in released:
                self._release(keys=[keys.camera_lease(cam)], args=[self.worker_id], client=pipe)
            pipe.execute()
            self._owned.difference_update(released)
        log.info("worker %s released %d camera(s) for balance", self.worker_id, len(released))
        return frozenset(released)

    def _grab(
        self, workers: tuple[str, ...], share: int, holders: list[str | None]
    ) -> frozenset[str]:
        with self._lock:
            if len(self._owned) >= share:
                return frozenset()
            free = [c for c, h in zip(self.cameras, holders, strict=True) if h is None]
            # Rendezvous hashing: first what this worker scores highest among the live
            # ones (where it will stay), then by its own score. Comparing with every
            # worker costs cameras x workers hashes, so a city-sized cold start (8,640
            # free cameras, 100 workers) goes by the worker's own score alone.
            if len(free) * len(workers) <= _HASH_BUDGET:
                free.sort(
                    key=lambda c: (
                        self._preferred_owner(c, workers) != self.worker_id,
                        -self._own_score[c],
                    )
                )
            else:
                free.sort(key=lambda c: -self._own_score[c])
            # SET NX in pipelined rounds (one round trip each), so taking hundreds of
            # cameras stays far shorter than a lease; others may win some of them.
            gained: set[str] = set()
            for _ in range(3):
                need = share - len(self._owned)
                batch, free = free[:need], free[need:]
                if need <= 0 or not batch:
                    break
                pipe = self.redis.pipeline(transaction=False)
                for cam in batch:
                    pipe.set(keys.camera_lease(cam), self.worker_id, nx=True, px=self.ttl_ms)
                for cam, ok in zip(batch, pipe.execute(), strict=True):
                    if ok:
                        self._owned.add(cam)
                        gained.add(cam)
        if gained:
            log.info("worker %s took %d camera(s)", self.worker_id, len(gained))
        return frozenset(gained)


def drain(client: redis.Redis, worker_id: str, ttl_ms: int = 10_000, hold_s: float = 300) -> int:
    """Make worker ``worker_id`` give up its cameras now and take no more (pod ``preStop``).

    Sets the worker's drain flag (for ``hold_s``, longer than any graceful shutdown;
    cleared when the worker id starts again), drops it from the live set, and deletes
    the leases it holds (compare-and-delete), so the other workers take its cameras on
    their next tick instead of after the lease TTL. Returns how many leases it deleted.
    """
    client.set(keys.worker_drain(worker_id), "1", px=max(int(hold_s * 1000), ttl_ms * 3))
    client.zrem(keys.WORKERS, worker_id)
    client.hdel(keys.WORKER_LOADS, worker_id)
    release = client.register_script(_RELEASE)
    freed = 0
    for key in client.scan_iter(match=keys.camera_lease("*"), count=1000):
        freed += int(release(keys=[key], args=[worker_id]))
    return freed
