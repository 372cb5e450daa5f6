"""Face watch orders below the API: the compound's live police face list the workers'
face stage consults, expiry and revocation everywhere (audited, the template dropped),
restoring Redis from the store, and the face stage raising the hit on a real photo."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import redis
import yaml
from numpy.typing import NDArray
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from ulid import ULID

from alerts import keys
from alerts.model import Alert, FaceSubject
from alerts.police.clients import add_client
from alerts.police.faces import FaceTemplate, PoliceFaceLists, template_from_photo
from alerts.police.models import PushDelivery, Subscription, WatchOrder
from alerts.police.push import Fanout, new_secret
from alerts.police.watch import add_face_order, end_order, expire_due, sync
from alerts.store.audit import AuditEntry
from alerts.store.audit import verify as verify_chain
from alerts.store.db import transaction
from detectors.detections import Detections
from detectors.faces import TrackFaceMatcher, TrackMatchConfig, WatchlistMatcher
from detectors.faces.embedder import DEFAULT_EMBEDDER
from pipeline.stages import FaceStage
from streams.frame import Frame
from tests.alerts.factory import TEST_REDIS_URL, make_alert
from tests.police.conftest import World
from tests.store.helpers import xadd

pytestmark = pytest.mark.redis
MODEL = DEFAULT_EMBEDDER  # what the workers and the web service run


def unit(seed: int, dim: int = 64) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    return v / np.linalg.norm(v)


def template(v: np.ndarray, model: str = MODEL) -> FaceTemplate:
    return FaceTemplate(v, model, quality=0.8, threshold=0.7, photo_sha256="ab" * 32)


def order(
    factory: sessionmaker[Session],
    r: redis.Redis,
    face: FaceTemplate,
    *,
    hours: float = 1,
    compounds: tuple[str, ...] = ("lijing", "jinfeng"),
) -> str:
    with transaction(factory) as s:
        c, _ = add_client(s, f"c{ULID()}", scopes=["dispositions:write"], compounds=["x"])
        now = datetime.now(UTC)
        o = add_face_order(
            s,
            r,
            client_id=c.id,
            face=face,
            reason="test",
            case_number="2026-1",
            legal_basis="《刑事诉讼法》第54条",
            compounds=compounds,
            expires_at=now + timedelta(hours=hours),
            now=now - timedelta(hours=2),
        )
        return o.id


def lists(r: redis.Redis, compound: str = "lijing", model: str = MODEL) -> PoliceFaceLists:
    return PoliceFaceLists(WatchlistMatcher(model), r, compound, model=model, refresh_s=0)


@pytest.mark.parametrize(
    ("probe", "compound", "model", "hit"),
    [
        ("same", "lijing", MODEL, True),
        ("same", "jinfeng", MODEL, True),  # every target compound
        ("near", "lijing", MODEL, True),  # cosine ~0.8, over the threshold of 0.7
        ("stranger", "lijing", MODEL, False),
        ("same", "other", MODEL, False),  # not a target compound
        ("same", "lijing", "dlib-resnet-128", False),  # another embedder: not comparable
    ],
)
def test_workers_match_the_live_face_list(
    factory: sessionmaker[Session],
    r: redis.Redis,
    probe: str,
    compound: str,
    model: str,
    hit: bool,
) -> None:
    v = unit(1)
    oid = order(factory, r, template(v))
    noise = unit(2)
    near = 0.8 * v + 0.6 * (noise - (noise @ v) * v) / np.linalg.norm(noise - (noise @ v) * v)
    emb = {"same": v, "near": near.astype(np.float32), "stranger": unit(3)}[probe]
    got = lists(r, compound, model).match(emb)
    if not hit:
        assert got is None
        return
    assert got is not None
    assert (got.list_id, got.kind, got.entry_id) == (
        keys.POLICE_FACE_LIST,
        "persons_of_interest",
        oid,
    )
    assert got.similarity >= got.threshold == pytest.approx(0.7)


def test_the_redis_entry_holds_an_embedding_never_a_photo(
    factory: sessionmaker[Session], r: redis.Redis
) -> None:
    oid = order(factory, r, template(unit(4)))
    entry = json.loads(r.hget(keys.police_faces("lijing"), oid) or "{}")
    assert set(entry) == {"model", "embedding", "threshold", "expires_at", "client"}
    assert entry["model"] == MODEL
    assert r.ttl(keys.police_faces("lijing")) > 0
    with factory() as s:
        o = s.get(WatchOrder, oid)
        assert o is not None and o.kind == "face" and o.face is not None
        assert set(o.face) == {"model", "dim", "embedding", "threshold", "quality", "photo_sha256"}
        assert o.legal_basis == "《刑事诉讼法》第54条"


def test_expiry_and_revocation_remove_the_order_everywhere_and_are_audited(
    factory: sessionmaker[Session], r: redis.Redis
) -> None:
    v_due, v_live = unit(5), unit(6)
    due = order(factory, r, template(v_due), hours=-1)  # already past its expiry
    live = order(factory, r, template(v_live))
    police = lists(r, "jinfeng")
    assert police.match(v_due) is None  # workers ignore a passed expiry at once
    assert police.match(v_live) is not None
    with transaction(factory) as s:
        assert expire_due(s, r) == [due]
    assert set(r.hkeys(keys.police_faces("lijing"))) == {live}
    with transaction(factory) as s:
        o = s.get(WatchOrder, live)
        assert o is not None
        end_order(s, r, o, reason="revoked", actor="cli_x")
    assert r.hlen(keys.police_faces("lijing")) == r.hlen(keys.police_faces("jinfeng")) == 0
    assert police.match(v_live) is None
    with factory() as s:
        for oid in (due, live):  # nothing of the person outlives the order
            o = s.get(WatchOrder, oid)
            assert o is not None and o.face is not None and "embedding" not in o.face
            assert o.face["photo_sha256"] == "ab" * 32
        entries = list(s.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars())
        assert verify_chain(s).ok
    added = [json.loads(e.detail) for e in entries if e.action == "police.watch_added"]
    assert len(added) == 2 and all(d["kind"] == "face" for d in added)
    assert all(d["legal_basis"] == "《刑事诉讼法》第54条" for d in added)
    ended = {e.action: e.target for e in entries if e.action.startswith("police.watch_")}
    assert ended["police.watch_expired"] == due and ended["police.watch_revoked"] == live


def test_sync_puts_live_face_orders_back_after_redis_lost_them(
    factory: sessionmaker[Session], r: redis.Redis
) -> None:
    v = unit(7)
    live = order(factory, r, template(v))
    ended = order(factory, r, template(unit(8)))
    with transaction(factory) as s:
        o = s.get(WatchOrder, ended)
        assert o is not None
        end_order(s, r, o, reason="revoked", actor="cli_x")
    r.flushdb()
    with transaction(factory) as s:
        assert sync(s, r) == 1
    assert set(r.hkeys(keys.police_faces("lijing"))) == {live}
    got = lists(r).match(v)
    assert got is not None and got.entry_id == live


# -- the face stage on real photos --------------------------------------------------------


@pytest.fixture(scope="module")
def people() -> Any:
    """The real object detector (persons give the face stage its tracks)."""
    from detectors.objects import ObjectDetectorConfig, load_object_detector

    return load_object_detector(ObjectDetectorConfig())


def read(path: Path) -> NDArray[np.uint8]:
    img = cv2.imread(str(path))
    assert img is not None, path
    return np.asarray(img, dtype=np.uint8)


def tracked(detector: Any, image: np.ndarray, track: int) -> Detections:
    """The persons the detector finds, as one track (``track``) for the biggest."""
    dets = detector.detect([image])[0]
    dets = dets[dets.class_id == 0]
    assert len(dets), "no person found"
    area = (dets.xyxy[:, 2] - dets.xyxy[:, 0]) * (dets.xyxy[:, 3] - dets.xyxy[:, 1])
    one = dets[np.array([i == int(np.argmax(area)) for i in range(len(dets))])]
    return Detections(
        xyxy=one.xyxy,
        confidence=one.confidence,
        class_id=one.class_id,
        tracker_id=np.array([track]),
    )


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # both engines: above
def test_the_face_stage_raises_the_hit_on_another_photo_of_the_person_until_revoked(
    factory: sessionmaker[Session],
    r: redis.Redis,
    face_analyzer: Any,
    faces_dir: Path,
    people: Any,
) -> None:
    # The order: one photo of a person; the camera sees another photo of the same person.
    photo = (faces_dir / "obama_01.jpg").read_bytes()
    face = template_from_photo(face_analyzer, photo)
    assert face.model == face_analyzer.embedder.name == MODEL
    oid = order(factory, r, face, compounds=("lijing",))
    seen = read(faces_dir / "obama_04.jpg")
    stranger = read(faces_dir / "paul_allen_02.jpg")

    def stage(compound: str) -> FaceStage:
        police = PoliceFaceLists(WatchlistMatcher(MODEL), r, compound, model=MODEL, refresh_s=0)
        matcher = TrackFaceMatcher(police, TrackMatchConfig(refresh_s=0))
        return FaceStage(face_analyzer, matcher, [keys.POLICE_FACE_LIST], every_s=0)

    def run(st: FaceStage, image: NDArray[np.uint8], track: int, t: float) -> list[Any]:
        return st.update(Frame("b3", int(t), None, t, image), tracked(people, image, track))

    st = stage("lijing")
    assert run(st, stranger, 1, 1.0) == []  # someone else: nothing
    found = run(st, seen, 2, 2.0)
    assert len(found) == 1
    f = found[0]
    assert (f.kind, f.severity, f.camera_id, f.track_id) == ("face.watchlist", "high", "b3", 2)
    subject = FaceSubject.model_validate(f.subject)  # what the worker's sink builds
    assert (subject.watchlist_id, subject.person_id) == (keys.POLICE_FACE_LIST, oid)
    assert subject.similarity >= face.threshold
    assert run(stage("other"), seen, 3, 3.0) == []  # a compound the order does not target

    # Revoked: the same person, a new track, the same stage (no restart): nothing.
    with transaction(factory) as s:
        o = s.get(WatchOrder, oid)
        assert o is not None
        end_order(s, r, o, reason="revoked", actor="cli_x")
    assert run(st, seen, 4, 4.0) == []

    # Expired: a new order, then its time passes; the worker drops it at once.
    oid2 = order(factory, r, face, compounds=("lijing",))
    hit = run(st, seen, 5, 5.0)
    assert [h.subject["person_id"] for h in hit] == [oid2]
    with transaction(factory) as s:
        assert expire_due(s, r, datetime.now(UTC) + timedelta(hours=2)) == [oid2]
    assert run(st, seen, 6, 6.0) == []


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_person_already_in_view_is_matched_when_the_order_arrives(
    factory: sessionmaker[Session],
    r: redis.Redis,
    face_analyzer: Any,
    faces_dir: Path,
    people: Any,
) -> None:
    seen = read(faces_dir / "obama_04.jpg")
    police = PoliceFaceLists(WatchlistMatcher(MODEL), r, "lijing", model=MODEL, refresh_s=0)
    st = FaceStage(
        face_analyzer,
        TrackFaceMatcher(police, TrackMatchConfig(refresh_s=0)),
        [keys.POLICE_FACE_LIST],
        every_s=0,
    )
    dets = tracked(people, seen, 9)
    for t in range(4):  # the track's best faces are all in: it would not be searched again
        assert st.update(Frame("b3", t, None, float(t), seen), dets) == []
    photo = (faces_dir / "obama_01.jpg").read_bytes()
    oid = order(factory, r, template_from_photo(face_analyzer, photo), compounds=("lijing",))
    found = st.update(Frame("b3", 9, None, 9.0, seen), dets)
    assert [f.subject["person_id"] for f in found] == [oid]


def test_a_face_hit_is_pushed_to_the_ordering_client_only(world: World) -> None:
    w = world
    now = datetime.now(UTC)
    with transaction(w.factory) as s:
        subs = {}
        for name in ("full", "narrow"):  # both in lijing, both taking every alert
            sub = Subscription(
                id=str(ULID()),
                client_id=w.clients[name].id,
                url="http://127.0.0.1:9/hook",
                secret=new_secret(),
                types=[],
                compounds=[],
                min_severity="info",
                active=True,
                created_at=now,
            )
            s.add(sub)
            subs[name] = sub.id
        oid = add_face_order(
            s,
            w.redis,
            client_id=w.clients["full"].id,
            face=template(unit(9)),
            reason="test",
            case_number="2026-1",
            legal_basis="《刑事诉讼法》第54条",
            compounds=["lijing"],
            expires_at=now + timedelta(hours=1),
        ).id
    fan = Fanout(w.factory, w.redis, area_of=lambda c: frozenset(c.compounds), start_id="$")
    fan.step(block_ms=10)  # the group exists from here on

    def face_alert(watchlist: str, person: str) -> Alert:
        subject = FaceSubject(
            watchlist_id=watchlist, person_id=person, similarity=0.8, threshold=0.73
        )
        a = make_alert(type="face.watchlist", severity="high")
        return a.model_copy(update={"subject": subject})

    police = face_alert(keys.POLICE_FACE_LIST, oid)
    own = face_alert("persons-of-interest", "3")  # the site's own list: every subscriber
    for a in (police, own):
        xadd(w.redis, a)
    while fan.step(block_ms=20):
        pass
    with w.factory() as s:
        got = {
            (d.subscription_id, d.alert_id): d for d in s.execute(select(PushDelivery)).scalars()
        }
    assert set(got) == {
        (subs["full"], police.id),
        (subs["full"], own.id),
        (subs["narrow"], own.id),
    }
    hit = got[(subs["full"], police.id)]
    assert hit.event == "watch.hit"
    doc = json.loads(hit.payload)
    assert doc["type"] == "watch.hit" and doc["data"]["watch_order_id"] == oid
    assert doc["data"]["subject"]["kind"] == "face"
    assert got[(subs["narrow"], own.id)].event == "alert.created"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_residents_camera_analyses_faces_only_while_a_police_order_is_in_force(
    factory: sessionmaker[Session],
    r: redis.Redis,
    face_analyzer: Any,
    faces_dir: Path,
    people: Any,
) -> None:
    seen = read(faces_dir / "obama_04.jpg")
    police = PoliceFaceLists(WatchlistMatcher(MODEL), r, "lijing", model=MODEL, refresh_s=0)
    st = FaceStage(
        face_analyzer,
        TrackFaceMatcher(police, TrackMatchConfig(refresh_s=0)),
        [keys.POLICE_FACE_LIST],  # no persons-of-interest list: what the runtime builds
        every_s=0,
        idle=police.idle,
    )
    assert st.update(Frame("door", 1, None, 1.0, seen), tracked(people, seen, 1)) == []
    assert st.analyses == 0  # nothing could alert: no face analysis at all
    photo = (faces_dir / "obama_01.jpg").read_bytes()
    oid = order(factory, r, template_from_photo(face_analyzer, photo), compounds=("lijing",))
    found = st.update(Frame("door", 2, None, 2.0, seen), tracked(people, seen, 2))
    assert [f.subject["person_id"] for f in found] == [oid] and st.analyses == 1
    with transaction(factory) as s:
        o = s.get(WatchOrder, oid)
        assert o is not None
        end_order(s, r, o, reason="revoked", actor="cli_x")
    assert st.update(Frame("door", 3, None, 3.0, seen), tracked(people, seen, 3)) == []
    assert st.analyses == 1


def test_every_face_camera_watches_for_police_orders(
    tmp_path: Path, r: redis.Redis, people: Any
) -> None:
    from shouwang.config import load_site
    from shouwang.runtime import Runtime, RuntimeConfig

    def cam(cid: str, lists: list[str]) -> dict[str, Any]:
        return {"id": cid, "compound": "lijing", "url": f"{cid}.mp4", "lat": 38.4871,
                "lon": 106.231, "watchlists": lists}  # fmt: skip

    site = {
        "version": 1,
        "name": "t",
        "compounds": [{"id": "lijing", "name": "丽景湾", "lat": 38.4872, "lon": 106.2309}],
        "watchlists": [
            {"id": "poi", "kind": "persons_of_interest"},
            {"id": "residents", "kind": "residents"},
        ],
        "cameras": [
            cam("lobby", ["poi", "residents"]),
            cam("door", ["residents"]),
            cam("yard", []),
        ],
    }
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(site, allow_unicode=True), encoding="utf-8")
    cfg = RuntimeConfig(
        redis_url=TEST_REDIS_URL,
        state_dir=tmp_path / "state",
        leases=False,
        tamper=False,
    )
    rt = Runtime(load_site(path), tmp_path, cfg, detector=people)
    try:
        faces = {
            c: [s for s in rt.make_stages(c) if isinstance(s, FaceStage)]
            for c in ("lobby", "door", "yard")
        }
    finally:
        rt.close()
    assert faces["yard"] == []  # not a face camera
    lobby, door = faces["lobby"][0], faces["door"][0]
    assert lobby.lists == {"poi", keys.POLICE_FACE_LIST} and lobby.idle is None
    assert door.lists == {keys.POLICE_FACE_LIST} and door.idle is not None
    assert door.idle() is True  # no order in force: the residents' camera rests
