"""Every Redis key and channel Shouwang uses, with its type and lifetime.

One place, so an operator can read what lives in Redis and a reviewer can see that
nothing grows without bound. All keys share the ``shouwang:`` prefix; run one Redis
database per site (``REDIS_URL=redis://host:6379/<db>``) to keep sites apart.
"""

from __future__ import annotations

PREFIX = "shouwang:"

# Stream. The durable alert log: one entry per alert publication (first time and every
# update), fields ``alert`` (the Alert JSON), ``id`` (alert ULID), ``type``, ``camera``.
# No TTL; bounded by XADD MAXLEN ~ STREAM_MAXLEN (oldest entries trimmed first).
ALERT_STREAM = PREFIX + "alerts"

# Approximate length bound of ALERT_STREAM (MAXLEN ~): about a month of a busy site.
STREAM_MAXLEN = 100_000

# Pub/Sub channel. Live fan-out of the same Alert JSON as the stream entry, for dashboards
# that only want what happens now. Nothing is stored; subscribers that are away miss it
# (they catch up from ALERT_STREAM).
ALERT_CHANNEL = PREFIX + "alerts:live"

# Stream. Dead letters: stream entries a consumer group could not parse, copied here
# with ``source`` (the stream), ``source_id`` and ``error`` before being acknowledged.
# MAXLEN ~ DEAD_MAXLEN, no TTL.
DEAD_STREAM = PREFIX + "alerts:dead"
DEAD_MAXLEN = 10_000

# Default consumer group of ALERT_STREAM (downstream systems use their own names,
# e.g. "police-liaison", "dashboard"). Groups live inside the stream key.
DEFAULT_GROUP = "downstream"


def dedup(dedup_key: str) -> str:
    """Hash ``shouwang:dedup:<dedup key>``: the open incident for a dedup key.

    Fields ``id`` (alert ULID), ``update_count``, ``occurrences``, ``severity``. TTL: the
    publisher's cooldown, refreshed on every publication, so a camera handed to another
    worker (leases) continues the same incident instead of opening a new alert.
    """
    return f"{PREFIX}dedup:{dedup_key}"


def camera_lease(camera_id: str) -> str:
    """String ``shouwang:lease:camera:<camera id>``: the worker id owning the camera.

    Set with ``SET NX PX <lease ttl>``, extended by its owner with a compare-and-extend
    script and deleted with compare-and-delete; expires by itself (PX = lease TTL) when
    the owner dies, which is how its cameras are taken over.
    """
    return f"{PREFIX}lease:camera:{camera_id}"


# Sorted set. Live workers: member = worker id, score = heartbeat expiry in Redis server
# milliseconds (Redis TIME + lease TTL). Members whose score has passed are removed by
# whoever heartbeats next; the key itself has a TTL of 10 x the lease TTL as a backstop.
WORKERS = PREFIX + "workers"

# Stream. The vehicle access log feed: one entry per plate read at a gate camera (every
# vehicle pass's voted reading, list hit or not), field ``read`` (PlateRead JSON). No TTL;
# bounded by XADD MAXLEN ~ PLATE_READS_MAXLEN. The store's group copies it into the
# database, where it is kept per the retention policy.
PLATE_READS = PREFIX + "plates:reads"
PLATE_READS_MAXLEN = 200_000

# Pub/Sub channel. Live incident events from the store, JSON ``{"event": ..., "incident":
# {...}}`` with event ``incident.created``, ``incident.updated`` (a new alert update),
# ``incident.changed`` (an operator's action) or ``incident.escalated``. Nothing stored;
# incidents of snoozed cameras are stored but not announced here.
INCIDENT_CHANNEL = PREFIX + "incidents:live"


def camera_offline(camera_id: str) -> str:
    """String ``shouwang:camera:offline:<camera id>``: an offline incident was raised.

    Set with ``SET NX EX`` (TTL ``alerts.camera_watch.OFFLINE_TTL_S``, 10 minutes) by the
    web service that noticed the camera lose its worker, so several services watching
    one site raise one incident per outage.
    """
    return f"{PREFIX}camera:offline:{camera_id}"


def camera_health(camera_id: str) -> str:
    """Hash ``shouwang:camera:health:<camera id>``: the camera's stream health.

    Fields of ``alerts.camera_health.CameraHealth`` (state, fps_decoded, fps_analysed,
    frames_dropped, reconnects, decode_errors, last_error (redacted), last_frame_at,
    worker, reported_at), rewritten about once a second by the worker serving the camera.
    TTL ``alerts.camera_health.HEALTH_TTL_S`` (5 s), refreshed on every write: no hash
    means no worker reports on the camera (offline).
    """
    return f"{PREFIX}camera:health:{camera_id}"


# Consumer group of the alert store on ALERT_STREAM and PLATE_READS.
STORE_GROUP = "store"
# Hash. Live workers' loads: field = worker id, value = cameras it held at its last
# heartbeat (so a tick knows who is short without reading every lease). Fields of
# expired workers are deleted with their WORKERS member; TTL 10 x the lease TTL.
WORKER_LOADS = PREFIX + "workers:loads"


def worker_drain(worker_id: str) -> str:
    """String ``shouwang:drain:<worker id>``: "1" while the worker must serve nothing.

    Set by ``shouwang leases drain`` (a pod's ``preStop``) with a TTL of a few minutes;
    the worker sees it on its next heartbeat, releases its leases and takes none; deleted
    when a worker with that id starts again.
    """
    return f"{PREFIX}drain:{worker_id}"


# -- police liaison (alerts/police, api/police) ---------------------------------------

# Consumer group of the police push fan-out on ALERT_STREAM (one for every subscription:
# deliveries are queued in the database, per subscription, before the entry is acked).
POLICE_GROUP = "police-push"

# The plate list id workers report for a police watch order hit (ListMatch.list_id).
POLICE_PLATE_LIST = "police-watch"


def police_plates(compound: str) -> str:
    """Hash ``shouwang:police:plates:<compound>``: the live police plate watchlist.

    Field = watch order id, value = JSON ``{"plate", "expires_at" (UNIX s), "client"}``.
    Written by the API when an order is posted, deleted when it is revoked or expires;
    workers of the compound re-read it every second or so and ignore entries whose
    ``expires_at`` has passed. TTL: EXPIREAT the latest expiry among its entries, so an
    abandoned list cannot outlive its orders.
    """
    return f"{PREFIX}police:plates:{compound}"


# The face watchlist id workers report for a police face watch order hit
# (FaceSubject.watchlist_id; its person_id is the order id).
POLICE_FACE_LIST = "police-watch"


def police_faces(compound: str) -> str:
    """Hash ``shouwang:police:faces:<compound>``: the live police face watchlist.

    Field = watch order id, value = JSON ``{"model" (embedder name), "embedding"
    (base64 of little-endian float32, unit length), "threshold", "expires_at" (UNIX s),
    "client"}`` (an embedding, never a photo). Written by the API when a face order is
    posted, deleted when it is revoked or expires; the face stage of the compound's
    workers re-reads it every second or so and ignores passed expiries and embeddings of
    another embedder. TTL: EXPIREAT the latest expiry among its entries.
    """
    return f"{PREFIX}police:faces:{compound}"


def police_rate(client_id: str, window: int) -> str:
    """String ``shouwang:police:rate:<client id>:<window>``: calls in one minute window.

    INCR per call; TTL 120 s (the window plus a margin), so it never accumulates.
    """
    return f"{PREFIX}police:rate:{client_id}:{window}"


# String. The police clients' revocation epoch: INCR after every revocation commits
# (alerts.police.client_cache.announce_revocation). Every police call reads it in the
# same round trip as its rate-limit step; an API process whose cached clients were read
# at another epoch drops them. No TTL (one integer per site).
POLICE_CLIENTS_EPOCH = PREFIX + "police:clients:epoch"


def live_tracks(camera_id: str) -> str:
    """Stream ``shouwang:live:tracks:<camera id>``: the camera's current tracks, for the
    live view's overlay.

    One entry per analysed frame (the worker's analysis rate), field ``tracks``: JSON
    ``{"t": capture time, "w": width, "h": height, "tracks": [{"id", "cls", "conf",
    "box": [x1, y1, x2, y2], "zones": [zone ids]}]}`` in the analysis frame's pixels.
    Bounded: XADD MAXLEN LIVE_TRACKS_MAXLEN (exact); TTL LIVE_TRACKS_TTL_S, renewed on
    every entry, so a camera nobody analyses any more leaves nothing behind.
    """
    return f"{PREFIX}live:tracks:{camera_id}"


LIVE_TRACKS_MAXLEN = 32
LIVE_TRACKS_TTL_S = 30


# -- GA/T 1400 lower platform (alerts/gat1400) -------------------------------------------

# Consumer group of the GA/T 1400 collector on ALERT_STREAM and PLATE_READS.
GAT1400_GROUP = "gat1400"

# Stream. The GA/T 1400 outbox: one entry per record to push, in push order, fields
# ``kind`` (vehicle/face/notification), ``id`` (the record's GA/T 1400 id) and ``record``
# (the object's JSON). No TTL; entries before GAT1400_SENT are trimmed (XTRIM MINID).
GAT1400_OUTBOX = PREFIX + "gat1400:outbox"

# String. The id of the last GAT1400_OUTBOX entry the upper platform accepted. No TTL.
GAT1400_SENT = PREFIX + "gat1400:sent"

# Stream. Records the upper platform refused (a StatusCode other than 0), with ``code``
# and ``reason``. MAXLEN ~ DEAD_MAXLEN, no TTL.
GAT1400_DEAD = PREFIX + "gat1400:dead"


def gat1400_queued(source_id: str) -> str:
    """String ``shouwang:gat1400:queued:<source id>``: this alert update or read is in
    the outbox already (a redelivered stream entry queues nothing twice). TTL 7 days."""
    return f"{PREFIX}gat1400:queued:{source_id}"
