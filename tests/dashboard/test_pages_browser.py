"""Every page of the dashboard on the demo site, in Debian's Chromium: the screenshots
(out/screenshots, or docs/img with SHOUWANG_UPDATE_SCREENSHOTS=1) come from here, and
bad input gets a sentence in the page, nothing half-saved.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from playwright.sync_api import expect
from ulid import ULID

from alerts.camera_health import HealthReporter
from alerts.plate_reads import PlateRead, publish_read
from streams import SourceOptions, open_source
from tests.dashboard.fixtures import Server
from tests.dashboard.operator import Operator
from tests.dashboard.scene import Scene
from tests.dashboard.test_desk_browser import wait_stored
from tests.streams.conftest import free_port, make_clip

pytestmark = [pytest.mark.browser, pytest.mark.redis, pytest.mark.slow]
SECRET = "s3cret-pw"


def plate_crop(text: str) -> np.ndarray:
    """A blue plate-like crop (OpenCV draws no CJK, so the province is left out)."""
    img = np.full((70, 240, 3), (160, 60, 20), np.uint8)
    cv2.rectangle(img, (3, 3), (236, 66), (255, 255, 255), 2)
    cv2.putText(img, text, (18, 50), cv2.FONT_HERSHEY_SIMPLEX, 1.3, (255, 255, 255), 3)
    return img


@pytest.fixture(scope="module")
def streams_reported(scene: Scene, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A worker's health reports on real streams: north-gate decodes a video file, the
    b3 entrance camera's RTSP address does not answer (so it reconnects, with an error)."""
    clip = make_clip(tmp_path_factory.mktemp("cams") / "north-gate.mp4", 4)
    dead = f"rtsp://admin:{SECRET}@127.0.0.1:{free_port()}/Streaming/101"
    sources = {
        "north-gate": open_source("north-gate", str(clip), SourceOptions(realtime=True, loop=True)),
        "b3-entrance": open_source("b3-entrance", dead),
    }
    for src in sources.values():
        src.start()
    reporter = HealthReporter(
        scene.r,
        "worker-a",
        lambda: {cid: src.health() for cid, src in sources.items()},
        lambda: {"north-gate": 5.0},
        lambda: sources,
        interval_s=0.5,
    )
    reporter.start()
    yield
    reporter.stop()
    for src in sources.values():
        src.stop(timeout=2.0)


@pytest.fixture(scope="module")
def demo(server: Server, scene: Scene, streams_reported: None) -> dict[str, Any]:
    """The demo shift: a blacklisted plate, an intrusion, a covered camera, plate reads."""
    plate = scene.alert(camera="north-gate", kind="plate", box=(520, 380, 760, 470), track_id=11)
    intrusion = scene.alert(camera="b3-entrance", track_id=12, box=(300, 420, 420, 700))
    tamper = scene.alert(camera="b3-entrance", kind="tamper", severity="critical", track_id=13)
    loiter = scene.alert(  # stored as before clean frames: the box is burnt in only
        camera="north-gate", track_id=14, severity="medium", box=(820, 300, 900, 560), clean=False
    )
    for a in (loiter, tamper, intrusion, plate):
        scene.publish(a)
        time.sleep(0.05)
    for n, (p, at) in enumerate((("宁B88888", 0), ("宁B8B888", 600), ("宁A12345", 1200))):
        ref = scene.evidence.put(
            scene.evidence.encode(plate_crop(p[1:])), kind="crop", width=240, height=70
        )
        publish_read(
            scene.r,
            PlateRead(
                id=str(ULID()),
                plate=p,
                confidence=0.9 - n * 0.05,
                camera="north-gate",
                compound="lijing",
                gate="north vehicle gate",
                direction="in" if n % 2 == 0 else "out",
                read_at=datetime.fromtimestamp(time.time() - at, UTC),
                crop_sha256=ref.sha256,
                list_id="blacklist" if p == "宁B88888" else None,
                list_kind="blacklist" if p == "宁B88888" else None,
            ),
        )
    for a in (plate, intrusion, tamper, loiter):
        wait_stored(server, a.id)
    return {"plate": plate, "intrusion": intrusion, "tamper": tamper, "loiter": loiter}


def test_screenshots_of_every_page(
    browser: Any, server: Server, demo: dict[str, Any], contexts: list[Any]
) -> None:
    admin = Operator(browser, server, "admin", contexts)
    admin.page.goto("/ui/login")
    admin.screenshot("login")
    admin.logs_in().watches_the_desk()
    for a in demo.values():
        admin.sees_alert(a.id)
    expect(admin.page.locator(".banner")).to_be_visible()
    admin.screenshot("desk")

    admin.opens(demo["intrusion"].id)
    admin.claims()
    expect(admin.page.locator("#drawer .holder")).to_contain_text("admin")
    admin.page.fill('#drawer input[name="text"][required]', "保安已前往3号楼")
    admin.page.click("#drawer form.wide button")
    expect(admin.page.locator("#drawer .activity")).to_contain_text("保安已前往3号楼")
    admin.page.wait_for_function(
        "[...document.querySelectorAll('#drawer img')].every(i => i.complete && i.naturalWidth)"
    )
    admin.screenshot("drawer")

    admin.opens(demo["plate"].id)
    expect(admin.page.locator("#drawer .facts")).to_contain_text("宁B88888")
    admin.page.wait_for_timeout(300)  # the mini plan's tiles
    admin.screenshot("drawer-plate")

    admin.goes_to("plan")
    expect(admin.page.locator(".site-plan .incident-pin").first).to_be_visible()
    admin.screenshot("plan")

    admin.goes_to("cameras")
    expect(admin.page.locator('tr[data-camera="north-gate"] .health')).to_have_class(
        "health h-streaming"
    )
    expect(admin.page.locator('tr[data-camera="b3-entrance"] .health')).to_have_class(
        "health h-tampered"
    )
    gate = admin.page.locator('tr[data-camera="north-gate"]')
    expect(gate.locator(".fps")).to_contain_text("5.0 /")
    b3 = admin.page.locator('tr[data-camera="b3-entrance"]')
    expect(b3.locator(".last-error")).to_contain_text("rtsp://***@127.0.0.1")
    assert SECRET not in admin.page.content()
    expect(admin.page.locator(".banner")).to_contain_text("Building 3 entrance")
    admin.screenshot("cameras")

    admin.goes_to("search")
    admin.page.fill("input[name=plate]", "宁B88888")
    admin.page.click("form.filters button")
    expect(admin.page.locator("table.reads tbody tr")).to_have_count(2)  # exact + 8/B confusion
    admin.page.wait_for_function(
        "[...document.querySelectorAll('.plate-crop')].every(i => i.complete && i.naturalWidth)"
    )
    admin.screenshot("search")

    admin.goes_to("lists")
    admin.screenshot("lists")


def test_english_labels_at_the_switch(
    browser: Any, server: Server, demo: dict[str, Any], contexts: list[Any]
) -> None:
    op = Operator(browser, server, "wang", contexts).logs_in()
    expect(op.page.locator('nav a[data-nav="desk"]')).to_have_text("告警台")
    op.page.click("text=English")
    expect(op.page.locator('nav a[data-nav="desk"]')).to_have_text("Alarm desk")
    op.waits_until_live()
    op.screenshot("desk-en")


def _face(scene_dir: Path, name: str, scale: float = 1.0, blur: int = 0) -> Path:
    from shouwang.demo import DEMO_POI_CROP_X, samples_dir

    img = cv2.imread(str(samples_dir() / "zidane.jpg"), cv2.IMREAD_COLOR)
    assert img is not None
    img = img[:, DEMO_POI_CROP_X:]
    if scale != 1.0:
        img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    if blur:
        img = cv2.GaussianBlur(img, (0, 0), blur)
    path = scene_dir / name
    cv2.imwrite(str(path), img)
    return path


@pytest.mark.parametrize(
    ("what", "field", "value", "message"),
    [
        ("malformed plate", "plate", "ABC-1", "is not a Chinese licence plate"),
        ("empty reason", "reason", "", "reason: say why"),
        ("past expiry", "until", "2001-01-01", "is in the past"),
    ],
)
def test_a_bad_plate_entry_is_named_and_nothing_is_written(
    browser: Any,
    server: Server,
    contexts: list[Any],
    what: str,
    field: str,
    value: str,
    message: str,
) -> None:
    admin = Operator(browser, server, "admin", contexts).logs_in()
    admin.goes_to("lists")
    path = server.site.parent / "demo-lists" / "blacklist-plates.txt"
    before = path.read_bytes()
    form = admin.page.locator('[data-list="blacklist"] form.add-plate')
    good = {"plate": "宁A54321", "reason": "test " + what, "until": ""}
    good[field] = value
    form.locator("input[name=plate]").fill(good["plate"])
    form.locator("input[name=reason]").fill(good["reason"])
    form.locator("input[name=until]").fill(good["until"])
    form.locator("button").click()
    expect(admin.page.locator("#lists-panel [data-msg]")).to_contain_text(message)
    assert path.read_bytes() == before, f"{what}: the list file is unchanged"


def test_a_plate_is_added_with_reason_and_expiry_then_removed(
    browser: Any, server: Server, contexts: list[Any]
) -> None:
    admin = Operator(browser, server, "admin", contexts).logs_in()
    admin.goes_to("lists")
    form = admin.page.locator('[data-list="residents"] form.add-plate')
    form.locator("input[name=plate]").fill("宁A·66666")
    form.locator("input[name=reason]").fill("new resident, building 5")
    form.locator("input[name=until]").fill("2099-12-31")
    form.locator("button").click()
    card = admin.page.locator('[data-list="residents"]')
    expect(card).to_contain_text("宁A66666")
    residents = (server.site.parent / "demo-lists" / "resident-plates.txt").read_text()
    assert "宁A66666,new resident, building 5 until=2099-12-31" in residents
    row = card.locator("tr", has_text="宁A66666")
    row.locator("input[name=reason]").fill("moved out")
    row.locator("button").click()
    expect(card).not_to_contain_text("宁A66666")


@pytest.mark.parametrize(
    ("what", "make", "message"),
    [
        ("not an image", lambda d: _text_file(d), "not an image"),
        ("face too small", lambda d: _face(d, "small.jpg", scale=0.08), "too small"),
        ("face blurred", lambda d: _face(d, "blurred.jpg", blur=9), "blurred"),
    ],
)
def test_a_bad_enrolment_photo_is_named_and_nothing_is_enrolled(
    browser: Any,
    server: Server,
    contexts: list[Any],
    tmp_path: Path,
    what: str,
    make: Any,
    message: str,
) -> None:
    admin = Operator(browser, server, "admin", contexts).logs_in()
    admin.goes_to("lists")
    card = admin.page.locator('[data-watchlist="persons-of-interest"]')
    count = card.locator("tr").count()
    form = card.locator("form.enrol")
    form.locator("input[name=name]").fill(f"test person ({what})")
    form.locator("input[type=file]").set_input_files(str(make(tmp_path)))
    form.locator("button").click()
    msg = admin.page.locator("#lists-panel [data-msg]")
    expect(msg).to_contain_text(message, timeout=60_000)
    admin.page.reload()
    assert admin.page.locator('[data-watchlist="persons-of-interest"] tr').count() == count


def _text_file(d: Path) -> Path:
    p = d / "notes.jpg"
    p.write_text("this is not a photo\n")
    return p


def test_a_person_is_enrolled_with_the_verdict_and_removed_without_trace(
    browser: Any, server: Server, contexts: list[Any], tmp_path: Path
) -> None:
    admin = Operator(browser, server, "admin", contexts).logs_in()
    admin.goes_to("lists")
    card = admin.page.locator('[data-watchlist="persons-of-interest"]')
    form = card.locator("form.enrol")
    form.locator("input[name=name]").fill("测试人员甲")
    form.locator("input[type=file]").set_input_files(str(_face(tmp_path, "good.jpg")))
    form.locator("button").click()
    expect(admin.page.locator("#lists-panel [data-msg]")).to_contain_text(
        "质量检查通过", timeout=60_000
    )
    card = admin.page.locator('[data-watchlist="persons-of-interest"]')
    row = card.locator("tr", has_text="测试人员甲")
    expect(row).to_have_count(1)
    row.locator("button").click()
    expect(admin.page.locator('[data-watchlist="persons-of-interest"]')).not_to_contain_text(
        "测试人员甲"
    )
    from detectors.faces import WatchlistStore

    store = WatchlistStore(server.data)
    assert all(e.name != "测试人员甲" for e in store.entries("persons-of-interest"))


@pytest.mark.parametrize(
    ("which", "shown", "box_drawn"),
    [("intrusion", "frame", True), ("loiter", "snapshot", False)],
    ids=["clean-frame-with-box", "older-alert-box-burnt-in"],
)
def test_the_drawer_draws_the_box_over_the_clean_frame(
    browser: Any,
    server: Server,
    demo: dict[str, Any],
    contexts: list[Any],
    which: str,
    shown: str,
    box_drawn: bool,
) -> None:
    alert = demo[which]
    refs = {e.kind: e for e in alert.evidence}
    op = Operator(browser, server, "admin", contexts).logs_in()
    op.watches_the_desk()
    op.opens(alert.id)
    snap = op.page.locator("#drawer figure.snap")
    expect(snap.locator("img")).to_have_attribute("src", f"/ui/evidence/{refs[shown].sha256}")
    rect = snap.locator("svg.overlay rect.box")
    if not box_drawn:
        expect(rect).to_have_count(0)
        return
    expect(rect).to_have_count(1)
    x1, y1, x2, y2 = refs["frame"].box
    got = [float(rect.get_attribute(a) or "nan") for a in ("x", "y", "width", "height")]
    assert got == pytest.approx([x1, y1, x2 - x1, y2 - y1])
    # The SVG is laid over the picture at the picture's size: the box lands on the subject.
    img_box = snap.locator("img").bounding_box()
    svg_box = snap.locator("svg.overlay").bounding_box()
    assert img_box is not None and svg_box is not None
    assert svg_box["width"] == pytest.approx(img_box["width"], abs=1)
    assert svg_box["height"] == pytest.approx(img_box["height"], abs=1)
