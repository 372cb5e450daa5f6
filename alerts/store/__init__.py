"""The alert store: incidents and their updates, the workflow, users, audit, retention.

Where to start:

* :func:`alerts.store.db.open_store` - the engine, schema migrated (SQLite by default,
  PostgreSQL through ``SHOUWANG_DATABASE_URL``).
* :class:`alerts.store.consumer.StoreConsumer` - alert stream → database, exactly once.
* :mod:`alerts.store.workflow` - states, claims, closes, comments, 409s.
* :mod:`alerts.store.audit` - the hash-chained audit log (``append``, ``verify``).
"""
