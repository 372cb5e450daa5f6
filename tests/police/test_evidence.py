"""Evidence packages: verified by ``shouwang evidence verify`` and, independently, by
recomputing every SHA-256 and checking the Ed25519 signature with ``cryptography``;
one flipped byte in any file is detected and named; exported incidents go on hold."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from typer.testing import CliRunner

from alerts.store.incidents import Incident
from shouwang.cli.main import app
from tests.police.conftest import LEGAL, World

pytestmark = pytest.mark.redis
runner = CliRunner()
P = "/api/police/v1"


@pytest.fixture(scope="module")
def world(shared_world: World) -> World:
    """One world for the module: packaging changes nothing but the legal hold."""
    return shared_world


@pytest.fixture(scope="module")
def package(world: World, tmp_path_factory: pytest.TempPathFactory) -> Path:
    res = world.http.post(
        P + "/evidence", json={"incident_ids": [world.mine.id]}, headers=world.auth() | LEGAL
    )
    assert res.status_code == 200, res.text
    assert res.headers["content-type"] == "application/zip"
    path = tmp_path_factory.mktemp("package") / "package.zip"
    path.write_bytes(res.content)
    return path


def unb64url(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def test_cli_verifies_the_package_against_the_platform_keys(world: World, package: Path) -> None:
    keys = world.data_dir / "police" / "keys"
    res = runner.invoke(app, ["evidence", "verify", str(package), "--keys", str(keys)])
    assert res.exit_code == 0, res.output
    assert "OK: every hash and the signature match" in res.output
    assert "files checked: 2" in res.output  # alert.json + the snapshot


def test_independent_check_with_hashlib_and_cryptography(world: World, package: Path) -> None:
    z = zipfile.ZipFile(package)
    body = z.read("manifest.json")
    sig = json.loads(z.read("manifest.sig"))
    # The key in the package is the platform's: the one in its key ring.
    ring_pub = (
        world.data_dir / "police" / "keys" / "public" / f"{sig['kid']}.pub.pem"
    ).read_bytes()
    from cryptography.hazmat.primitives import serialization

    platform = serialization.load_pem_public_key(ring_pub)
    assert isinstance(platform, Ed25519PublicKey)
    raw = platform.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert raw == unb64url(sig["public_key"])
    platform.verify(base64.b64decode(sig["signature"]), body)  # raises if wrong
    manifest = json.loads(body)
    assert {f["path"] for f in manifest["files"]} | {"manifest.json", "manifest.sig"} == set(
        z.namelist()
    )
    for f in manifest["files"]:
        data = z.read(f["path"])
        assert hashlib.sha256(data).hexdigest() == f["sha256"] and len(data) == f["size"]
    snap = next(f for f in manifest["files"] if f["kind"] == "snapshot")
    # the original image, byte for byte as the worker stored it
    assert snap["sha256"] == world.mine.evidence[0].sha256 and snap["format"] == "image/jpeg"
    inc = manifest["incidents"][0]
    assert inc["camera"] == "gate-north" and inc["place"]["gate"] == "north gate"
    assert inc["place"]["lat"] == pytest.approx(world.mine.location.lat)
    assert inc["score"] == pytest.approx(0.9) and inc["model"]["name"]
    assert manifest["case_number"] == "2026-YC-0042"
    assert manifest["legal_basis"] == "《刑事诉讼法》第54条"
    assert manifest["requested_by"]["officer"] == "no. 7"
    assert manifest["requested_by"]["organisation"] == "银川市公安局兴庆分局"
    assert manifest["exported_at"]


def test_exported_incidents_go_on_legal_hold(world: World, package: Path) -> None:
    with world.factory() as s:
        inc = s.get(Incident, world.mine.id)
        assert inc is not None and inc.legal_hold


def _rezip(src: Path, dst: Path, target: str, flip_at: int) -> None:
    """Copy the ZIP with one byte of ``target`` flipped (CRCs recomputed, as a forger would)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for name in zin.namelist():
            data = bytearray(zin.read(name))
            if name == target:
                data[flip_at % len(data)] ^= 0x01
            zout.writestr(name, bytes(data))


_B64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def _signature_flip(package: Path, target: str, *, stays_base64: bool) -> int:
    """Where flipping bit 0 of one character of the base64 signature leaves it valid
    base64 (a different signature) or not (a malformed one): chosen, not left to the
    random signature (a flip to a character outside the alphabet changes what it means)."""
    text = zipfile.ZipFile(package).read(target)
    start = text.index(b'"signature": "') + len(b'"signature": "')
    for i in range(start, start + 80):  # the 64-byte signature is 88 characters
        if ((text[i] ^ 0x01) in _B64) is stays_base64:
            return i
    raise AssertionError("no such character in the signature")  # pragma: no cover


@pytest.mark.parametrize("which", ["manifest.json", "manifest.sig", "alert.json", "snapshot"])
def test_one_flipped_byte_in_any_file_is_detected_and_named(
    world: World, package: Path, tmp_path: Path, which: str
) -> None:
    names = zipfile.ZipFile(package).namelist()
    target = next(n for n in names if n.endswith(which) or f"/{which}-" in n)
    bad = tmp_path / "bad.zip"
    # manifest.sig: flip inside the base64 signature text so it stays parseable
    flip = 40 if which != "manifest.sig" else _signature_flip(package, target, stays_base64=True)
    _rezip(package, bad, target, flip)
    res = runner.invoke(app, ["evidence", "verify", str(bad)])
    assert res.exit_code == 1, res.output
    if which.startswith("manifest"):
        assert "FAIL manifest.json: the signature does not match" in res.output
        assert "(manifest.json or manifest.sig changed)" in res.output
    else:
        assert f"FAIL {target}" in res.output


def test_a_signature_that_is_no_longer_base64_is_named(
    world: World, package: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.zip"
    _rezip(
        package, bad, "manifest.sig", _signature_flip(package, "manifest.sig", stays_base64=False)
    )
    res = runner.invoke(app, ["evidence", "verify", str(bad)])
    assert res.exit_code == 1, res.output
    assert "FAIL manifest.sig is malformed" in res.output


def test_a_damaged_zip_entry_is_named_too(package: Path, tmp_path: Path) -> None:
    """A flipped byte in the stored (compressed) data, CRC untouched: still named."""
    data = bytearray(package.read_bytes())
    z = zipfile.ZipFile(io.BytesIO(bytes(data)))
    info = next(i for i in z.infolist() if i.filename.endswith(".jpg"))
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data[start + info.compress_size // 2] ^= 0xFF
    bad = tmp_path / "damaged.zip"
    bad.write_bytes(bytes(data))
    res = runner.invoke(app, ["evidence", "verify", str(bad)])
    assert res.exit_code == 1 and f"FAIL {info.filename}" in res.output


def test_outside_the_jurisdiction_no_package_and_nothing_on_hold(world: World) -> None:
    res = world.http.post(
        P + "/evidence",
        json={"incident_ids": [world.mine.id, world.theirs.id]},
        headers=world.auth() | LEGAL,
    )
    assert res.status_code == 404
    with world.factory() as s:
        theirs = s.get(Incident, world.theirs.id)
        assert theirs is not None and not theirs.legal_hold
