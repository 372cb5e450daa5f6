"""The alert record, precise location, Redis publishing and delivery.

Where to start:

* :class:`alerts.sink.AlertSink` - what a worker calls per finding (``emit``).
* :class:`alerts.model.Alert` - the record (its JSON is the contract downstream).
* :func:`alerts.location.locate` / :class:`alerts.location.SiteLocator` - box → lat/lon.
* :class:`alerts.evidence.EvidenceStore` - snapshot + crop JPEGs by SHA-256.
* :class:`alerts.publisher.AlertPublisher` - Redis stream + Pub/Sub, dedup, outbox.
* :class:`alerts.consumer.AlertConsumer` - consumer groups, at-least-once delivery.
* :class:`alerts.leases.LeaseManager` - cameras shared among workers.
* :mod:`alerts.keys` - every Redis key, with type and TTL.
"""
