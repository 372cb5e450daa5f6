"""A two-compound test site built from the demo site, and real alerts with real evidence.

Compound ``lijing`` (the demo's, with its plan and cameras) and compound ``yuhua``
(one camera) let the scope tests check that an operator of one never sees the other.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import redis
import yaml

from alerts import keys
from alerts.evidence import EvidenceStore
from alerts.location import Locator
from alerts.model import Alert, PlateSubject, SceneSubject, Severity, TrackSubject
from shouwang.config import load_site
from shouwang.config.site import Site

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "configs" / "demo-site.yaml"

OTHER_COMPOUND = {
    "id": "yuhua",
    "name": "裕华园小区 (test)",
    "lat": 38.49500,
    "lon": 106.24000,
}
OTHER_CAMERA = {
    "id": "yuhua-gate",
    "name": "Yuhua gate",
    "compound": "yuhua",
    "url": "file:///dev/null",
    "placement": {"gate": "south gate"},
    "lat": 38.49480,
    "lon": 106.24010,
}


def write_site(dest: Path) -> Path:
    """The test site file in ``dest`` (lists and plan copied, so tests may change them)."""
    data = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    data["compounds"].append(OTHER_COMPOUND)
    data["cameras"].append(OTHER_CAMERA)
    for cam in data["cameras"]:
        cam["url"] = "file:///dev/null"
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copytree(DEMO.parent / "demo-lists", dest / "demo-lists", dirs_exist_ok=True)
    shutil.copy(DEMO.parent / "demo-plan.svg", dest / "demo-plan.svg")
    path = dest / "site.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def frame(seed: int = 0) -> np.ndarray:
    """A 1280x720 camera-like frame built from the installed sample photo."""
    from shouwang.demo import samples_dir

    raw = cv2.imread(str(samples_dir() / "bus.jpg"), cv2.IMREAD_COLOR)
    if raw is None:
        raise FileNotFoundError(samples_dir() / "bus.jpg")
    img = np.asarray(cv2.resize(raw, (1280, 720)), dtype=np.uint8)
    if seed:
        img = np.roll(img, seed * 37, axis=1)
    return img


class Scene:
    """Publishes alerts of the test site the way the workers do (stream entry + fields)."""

    def __init__(self, site_file: Path, r: redis.Redis, evidence_dir: Path) -> None:
        self.site: Site = load_site(site_file)
        self.r = r
        self.evidence = EvidenceStore(evidence_dir)

    def alert(
        self,
        *,
        camera: str = "b3-entrance",
        kind: str = "intrusion",
        severity: Severity | None = None,
        track_id: int = 7,
        box: tuple[float, float, float, float] = (560.0, 330.0, 700.0, 700.0),
        evidence: bool = True,
        plate: str = "宁B88888",
        clean: bool = True,
    ) -> Alert:
        """A new alert with a located subject and (by default) a real snapshot, crop and
        clean frame; ``clean=False`` leaves the frame out, as alerts stored before it did."""
        cam = self.site.camera(camera)
        comp = self.site.compound(cam.compound)
        loc = Locator(cam, comp).locate(box)
        refs = (
            self.evidence.snapshot(frame(track_id % 5), box, label=f"#{track_id}", clean=clean)
            if evidence
            else []
        )
        subject: Any
        if kind == "plate":
            subject = PlateSubject(
                plate=plate,
                confidence=0.93,
                list_id="blacklist",
                list_kind="blacklist",
                list_entry=plate,
                distance=0.0,
                track_id=track_id,
            )
            atype = "plate.blacklist"
        elif kind == "tamper":
            subject = SceneSubject(rule="covered", score=0.97)
            atype = "camera.tamper"
        else:
            subject = TrackSubject(
                track_id=track_id,
                class_name="person",
                rule="intrusion",
                zone="flower-bed" if camera == "b3-entrance" else None,
            )
            atype = "zone.intrusion"
        return Alert.new(
            type=atype,  # type: ignore[arg-type]
            camera=camera,
            compound=cam.compound,
            subject=subject,
            location=loc,
            captured=time.time() - 0.2,
            severity=severity,
            evidence=refs,
        )

    def publish(self, alert: Alert) -> str:
        """XADD as the publisher does, stamping ``published`` now; the entry id."""
        now = time.time()
        stages = {**alert.times.stages, "published": now}
        from datetime import UTC, datetime

        a = alert.model_copy(
            update={
                "times": alert.times.model_copy(
                    update={"published": datetime.fromtimestamp(now, UTC), "stages": stages}
                )
            }
        )
        fields = {"alert": a.model_dump_json(), "id": a.id, "type": a.type, "camera": a.camera}
        return str(self.r.xadd(keys.ALERT_STREAM, fields))  # type: ignore[arg-type]
