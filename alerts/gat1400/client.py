"""Talking to the upper platform: register (HTTP Digest), keepalive, time, push.

:class:`LowerPlatform` is one loop, restartable at any point: it registers on
``/VIID/System/Register`` (Digest challenge, then ``User-Identify: <platform id>`` on
every later call), reads the upper platform's clock on ``/VIID/System/Time``, sends a
keepalive every ``keepalive_s``, and posts the outbox oldest first. Any failed call
(connection refused, HTTP error, a keepalive the upper platform no longer knows)
drops the registration; the loop waits ``retry_s`` and registers again, so an upper
platform restarted without state gets this platform back by itself. Every accepted
record is audited (``gat1400.pushed``), every refused one too (``gat1400.refused``).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import redis
from sqlalchemy.orm import Session, sessionmaker

from alerts import keys
from alerts.gat1400 import codes, outbox
from alerts.store import audit
from alerts.store.db import transaction
from shouwang.config.gat1400 import Gat1400Site

log = logging.getLogger(__name__)

#: Where each record kind is posted, and its list and object names.
ROUTES = {
    "vehicle": ("/VIID/MotorVehicles", "MotorVehicleListObject", "MotorVehicleObject"),
    "face": ("/VIID/Faces", "FaceListObject", "FaceObject"),
    "notification": (
        "/VIID/DispositionNotifications",
        "DispositionNotificationListObject",
        "DispositionNotificationObject",
    ),
}


class UpperError(Exception):
    """The upper platform did not answer as GA/T 1400 says (the message says how)."""


def statuses(body: Any) -> list[dict[str, Any]]:
    """The ``ResponseStatusObject`` entries of an answer (list or single form)."""
    if not isinstance(body, dict):
        raise UpperError(f"answer is not a JSON object: {str(body)[:80]}")
    got: Any = None
    if isinstance(body.get("ResponseStatusListObject"), dict):
        got = body["ResponseStatusListObject"].get("ResponseStatusObject")
    elif "ResponseStatusObject" in body:
        got = body["ResponseStatusObject"]
    items = [got] if isinstance(got, dict) else got
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise UpperError(f"no ResponseStatusObject in the answer: {sorted(body)[:5]}")
    return items


def password(cfg: Gat1400Site) -> str:
    """The Digest password from the environment variable the site names."""
    pw = os.environ.get(cfg.password_env)
    if not pw:
        raise UpperError(f"set {cfg.password_env} to the GA/T 1400 password (never the file)")
    return pw


class LowerPlatform:
    """Register, keep alive and push the outbox to one upper platform.

    Args:
        cfg: the site's ``gat1400`` section.
        client: Redis (decode_responses=True) holding the outbox.
        factory: store sessions (audit).
        collector: fills the outbox from the alert and plate streams (None: only send).
        timezone: the site's zone (times on the wire).
    """

    def __init__(
        self,
        cfg: Gat1400Site,
        client: redis.Redis,
        factory: sessionmaker[Session],
        *,
        collector: outbox.Collector | None = None,
        timezone: str = "Asia/Shanghai",
    ) -> None:
        self.cfg, self.redis, self.factory = cfg, client, factory
        self.collector = collector
        self.timezone = timezone
        self.http = httpx.Client(base_url=cfg.upper_url, timeout=cfg.timeout_s)
        self.registered = False
        self.registrations = 0
        self.pushed = 0
        self.clock_offset_s: float | None = None
        self._next_keepalive = 0.0

    def _headers(self) -> dict[str, str]:
        return {"User-Identify": self.cfg.platform_id, "Content-Type": "application/json"}

    def _call(self, method: str, path: str, body: Any = None, **kw: Any) -> Any:
        resp = self.http.request(method, path, json=body, headers=self._headers(), **kw)
        if resp.status_code == 401:
            self.registered = False
            raise UpperError(f"{path}: 401, not registered")
        if resp.status_code >= 300:
            raise UpperError(f"{path}: HTTP {resp.status_code}")
        try:
            return resp.json()
        except ValueError as exc:
            raise UpperError(f"{path}: answer is not JSON") from exc

    def _ok(self, path: str, answer: Any) -> None:
        for st in statuses(answer):
            if str(st.get("StatusCode")) != "0":
                code, text = st.get("StatusCode"), st.get("StatusString")
                raise UpperError(f"{path}: StatusCode {code} {text}")

    def register(self) -> None:
        """``/VIID/System/Register`` with HTTP Digest, then read the upper clock."""
        auth = httpx.DigestAuth(self.cfg.user, password(self.cfg))
        body = {"RegisterObject": {"DeviceID": self.cfg.platform_id}}
        answer = self._call("POST", "/VIID/System/Register", body, auth=auth)
        self._ok("/VIID/System/Register", answer)
        self.registered = True
        self.registrations += 1
        self._next_keepalive = time.monotonic() + self.cfg.keepalive_s
        log.info("gat1400: registered with %s", self.cfg.upper_url)
        self.sync_time()

    def sync_time(self) -> None:
        """Read ``/VIID/System/Time``; keep the offset (the host clock is NTP's job)."""
        try:
            doc = self._call("GET", "/VIID/System/Time")["SystemTimeObject"]
            upper = datetime.strptime(doc["LocalTime"], "%Y%m%d%H%M%S")
            upper = upper.replace(tzinfo=ZoneInfo(self.timezone))
        except (UpperError, KeyError, TypeError, ValueError, httpx.HTTPError) as exc:
            log.warning("gat1400: upper platform time not read: %s", exc)
            return
        self.clock_offset_s = (upper - datetime.now(UTC)).total_seconds()
        if abs(self.clock_offset_s) > 2:
            log.warning("gat1400: upper platform clock is %.0f s off ours", self.clock_offset_s)

    def keepalive(self) -> None:
        """``/VIID/System/Keepalive``; a refusal drops the registration."""
        body = {"KeepaliveObject": {"DeviceID": self.cfg.platform_id}}
        try:
            self._ok("/VIID/System/Keepalive", self._call("POST", "/VIID/System/Keepalive", body))
        except UpperError:
            self.registered = False
            raise
        self._next_keepalive = time.monotonic() + self.cfg.keepalive_s

    def unregister(self) -> None:
        """``/VIID/System/UnRegister`` (best effort, on shutdown)."""
        if not self.registered:
            return
        try:
            body = {"UnRegisterObject": {"DeviceID": self.cfg.platform_id}}
            self._call("POST", "/VIID/System/UnRegister", body)
        except (UpperError, httpx.HTTPError):
            pass
        self.registered = False

    def push_once(self) -> int:
        """Post the oldest run of same-kind records; returns how many were accepted."""
        batch = outbox.pending(self.redis, self.cfg.batch)
        if not batch:
            return 0
        kind = batch[0].kind
        run: list[outbox.Pending] = []
        for p in batch:
            if p.kind != kind:
                break
            run.append(p)
        path, list_name, obj_name = ROUTES[kind]
        answer = self._call("POST", path, {list_name: {obj_name: [p.record for p in run]}})
        by_id = {str(s.get("Id", s.get("ID", ""))): s for s in statuses(answer)}
        accepted: list[outbox.Pending] = []
        refused: list[tuple[outbox.Pending, dict[str, Any]]] = []
        for p in run:
            st = by_id.get(p.record_id)
            if st is None and len(by_id) == 1 and len(run) == 1:
                st = next(iter(by_id.values()))
            if st is None:
                raise UpperError(f"{path}: no status for {p.record_id}; will resend")
            if str(st.get("StatusCode")) == "0":
                accepted.append(p)
            else:
                refused.append((p, st))
        self._audit(kind, accepted, refused)
        for p, st in refused:
            self.redis.xadd(
                keys.GAT1400_DEAD,
                {"kind": p.kind, "id": p.record_id, "code": str(st.get("StatusCode")),
                 "reason": str(st.get("StatusString", ""))[:200],
                 "record": json.dumps(p.record, ensure_ascii=False)},
                maxlen=keys.DEAD_MAXLEN, approximate=True,
            )  # fmt: skip
        outbox.mark_sent(self.redis, run[-1].entry_id)
        self.pushed += len(accepted)
        return len(accepted)

    def _audit(
        self,
        kind: str,
        accepted: Iterable[outbox.Pending],
        refused: Iterable[tuple[outbox.Pending, dict[str, Any]]],
    ) -> None:
        with transaction(self.factory) as s:
            for p in accepted:
                audit.append(
                    s, actor="gat1400", action="gat1400.pushed", target=p.record_id,
                    detail={"kind": kind, "upper": self.cfg.upper_url,
                            "device_id": p.record.get("DeviceID", "")},
                )  # fmt: skip
            for p, st in refused:
                audit.append(
                    s, actor="gat1400", action="gat1400.refused", target=p.record_id,
                    detail={"kind": kind, "upper": self.cfg.upper_url,
                            "code": str(st.get("StatusCode"))},
                )  # fmt: skip

    def step(self) -> bool:
        """One round: collect, (re-)register or keep alive, push. True when it did work."""
        if self.collector is not None:
            self.collector.step(block_ms=None)
        if not self.registered:
            self.register()
        elif time.monotonic() >= self._next_keepalive:
            self.keepalive()
        return self.push_once() > 0

    def run(self, stop: threading.Event, idle_s: float = 0.2) -> None:
        """Until ``stop``: rounds; a failure waits ``retry_s`` and registers again."""
        while not stop.is_set():
            try:
                busy = self.step()
            except (UpperError, httpx.HTTPError, OSError) as exc:
                log.warning("gat1400: %s; retrying in %.1f s", exc, self.cfg.retry_s)
                self.registered = False
                stop.wait(self.cfg.retry_s)
                continue
            except redis.RedisError as exc:
                log.warning("gat1400: Redis unavailable: %s", exc)
                stop.wait(self.cfg.retry_s)
                continue
            if not busy:
                stop.wait(min(idle_s, self.cfg.keepalive_s))
        self.unregister()
        self.http.close()


__all__ = ["ROUTES", "LowerPlatform", "UpperError", "codes", "password", "statuses"]
