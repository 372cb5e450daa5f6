"""The one object a worker holds: locate, keep evidence, build and publish an alert.

Example:
    >>> sink = AlertSink(site, state_dir="/var/lib/shouwang", redis_url=url)  # doctest: +SKIP
    >>> sink.emit(frame, type="zone.intrusion", box=dets.xyxy[i],
    ...           subject=TrackSubject(track_id=int(dets.tracker_id[i]), class_name="person",
    ...                                rule="intrusion", zone="roof"))  # doctest: +SKIP
    >>> sink.close()  # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from alerts.evidence import EvidenceStore, UnacknowledgedEvidence
from alerts.location import SiteLocator
from alerts.model import (
    DEFAULT_SEVERITY,
    Alert,
    AlertType,
    EvidenceRef,
    FaceSubject,
    Location,
    PlateSubject,
    SceneSubject,
    Severity,
    TrackSubject,
    default_dedup_key,
)
from alerts.publisher import AlertPublisher, PublishResult, connect
from shouwang.config.site import Site
from streams.frame import Frame

SubjectT = PlateSubject | FaceSubject | TrackSubject | SceneSubject


class AlertSink:
    """Per-alert work for a worker, in one call (:meth:`emit`); thread-safe.

    Args:
        site: the site (cameras, calibrations, zones, compounds).
        state_dir: local folder for ``outbox.sqlite`` and ``evidence/``.
        redis_url: defaults to ``redis://127.0.0.1:6379/0``.
        evidence_max_bytes: disk budget of the evidence store.
        protect_unacked: keep evidence of alerts a consumer group has not acknowledged.
        cooldown_s: same dedup key within this many seconds of the last sighting is
            an update of the open incident, not a new alert.
        update_interval_s: at most one published update per incident this often
            (unless the severity rises).
        timeout_s: Redis socket timeout; past it alerts go to the outbox.
        wait_replicas: Redis replicas that must confirm each alert (``WAIT``) before
            it counts as sent; 1 with Sentinel, so a failover loses nothing.
    """

    def __init__(
        self,
        site: Site,
        *,
        state_dir: str | Path,
        redis_url: str | None = None,
        evidence_max_bytes: int = 2 * 2**30,
        protect_unacked: bool = True,
        cooldown_s: float = 60.0,
        update_interval_s: float = 5.0,
        timeout_s: float = 1.0,
        wait_replicas: int = 0,
    ) -> None:
        state = Path(state_dir)
        self.locator = SiteLocator(site)
        client = connect(redis_url, timeout_s=timeout_s)
        self.evidence = EvidenceStore(
            state / "evidence",
            max_bytes=evidence_max_bytes,
            protected=UnacknowledgedEvidence(client) if protect_unacked else None,
        )
        self.publisher = AlertPublisher(
            outbox_path=state / "outbox.sqlite",
            client=client,
            cooldown_s=cooldown_s,
            update_interval_s=update_interval_s,
            wait_replicas=wait_replicas,
        )

    def emit(
        self,
        frame: Frame,
        *,
        type: AlertType,
        subject: SubjectT,
        box: Sequence[float] | NDArray[np.floating] | None = None,
        severity: Severity | None = None,
        dedup_key: str | None = None,
        label: str = "",
    ) -> PublishResult:
        """Raise (or update) an alert about ``box`` in ``frame``.

        Args:
            frame: the frame the finding was made on (its ``captured_at`` and ``stamps``
                give the alert's times).
            box: the object's box in the frame's pixels; None for whole-scene findings
                (the location is then the camera's own position).
            label: ASCII text drawn on the snapshot above the box.

        Returns:
            what the publisher did; ``action == "suppressed"`` skipped the evidence.
        """
        cam = frame.camera_id
        locator = self.locator[cam]
        sev: Severity = severity or DEFAULT_SEVERITY[type]
        key = dedup_key or default_dedup_key(type, cam, subject)
        location: Location
        if box is None:
            w, h = frame.size
            location = locator.fallback(w / 2, h / 2, "whole-scene finding")
        else:
            location = locator.locate(box)
        evidence: list[EvidenceRef] = []
        if not self.publisher.would_suppress(key, sev):
            if box is None:
                evidence = [self.evidence.put(self.evidence.encode(frame.image), kind="snapshot")]
            else:
                evidence = self.evidence.snapshot(frame.image, box, label=label, clean=True)
        stages = {**frame.stamps, "captured": frame.captured_at, "evidence": time.time()}
        alert = Alert.new(
            type=type,
            camera=cam,
            compound=locator.camera.compound,
            subject=subject,
            location=location,
            captured=frame.captured_at,
            severity=sev,
            evidence=evidence,
            stages=stages,
            dedup_key=key,
        )
        return self.publisher.publish(alert)

    def close(self, timeout_s: float = 5.0) -> int:
        """Publish what is queued (or keep it in the outbox); returns how many are left."""
        return self.publisher.close(timeout_s)
