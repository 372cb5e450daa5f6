"""GA/T 1400 (视图库): Shouwang as the lower platform (下级) of a police view library.

* :mod:`~alerts.gat1400.codes` - national codes, ids and times on the wire;
* :mod:`~alerts.gat1400.records` - plate reads and face alerts as GA/T 1400 objects;
* :mod:`~alerts.gat1400.outbox` - the Redis-stream outbox and its collector;
* :mod:`~alerts.gat1400.client` - register (Digest), keepalive, time, push;
* :mod:`~alerts.gat1400.dispositions` - watch orders received from the upper platform.

See docs/gat1400.md.
"""
