"""Police API clients on both engines: ``shouwang clients add/revoke/list``, secrets kept
only as hashes, jurisdictions by compound list and by administrative division, key files."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from alerts.police.clients import authenticate, division_covers, jurisdiction
from alerts.police.models import PoliceClient
from alerts.police.signing import KeyRing
from alerts.store.db import transaction
from shouwang.cli.main import app

runner = CliRunner()


@pytest.fixture
def cli_env(db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    monkeypatch.setenv("SHOUWANG_DATABASE_URL", db_url)
    monkeypatch.setenv("SHOUWANG_DATA_DIR", str(tmp_path))
    return db_url


def test_clients_add_revoke_list(cli_env: str, factory: sessionmaker[Session]) -> None:
    args = ["psb", "--scopes", "alerts:read,evidence:export", "--compounds", "lijing"]
    res = runner.invoke(app, ["clients", "add", *args])
    assert res.exit_code == 0, res.output
    lines = dict(line.split(":", 1) for line in res.output.splitlines() if ":" in line)
    cid, secret = lines["client_id"].strip(), lines["client_secret"].strip()
    with transaction(factory) as s:
        c = s.get(PoliceClient, cid)
        assert c is not None and secret not in (c.secret_hash, str(c.__dict__))
        assert authenticate(s, cid, secret) is not None
        assert authenticate(s, cid, secret + "x") is None
    res = runner.invoke(app, ["clients", "add", *args])
    assert res.exit_code == 2 and "exists already" in res.output
    res = runner.invoke(app, ["clients", "revoke", "psb"])
    assert res.exit_code == 0 and "revoked psb" in res.output
    with transaction(factory) as s:
        assert authenticate(s, cid, secret) is None
    listing = runner.invoke(app, ["clients", "list"])
    assert '"revoked": "20' in listing.output and secret not in listing.output


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["psb", "--scopes", "alerts:write", "--compounds", "lijing"], "unknown scope(s) alerts:write"),
        (["psb", "--scopes", "alerts:read"], "needs a jurisdiction"),
        (["psb", "--scopes", "alerts:read", "--division", "6401"], "6-digit"),
        (["bad name", "--scopes", "alerts:read", "--compounds", "x"], "client name"),
    ],
)  # fmt: skip
def test_clients_add_refuses_naming_the_field(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, args: list[str], says: str
) -> None:
    monkeypatch.setenv("SHOUWANG_DATABASE_URL", f"sqlite:///{tmp_path / 'store.sqlite'}")
    res = runner.invoke(app, ["clients", "add", *args])
    assert res.exit_code == 2 and says in res.output, res.output


@pytest.mark.parametrize(
    ("code", "compound", "covered"),
    [
        ("640104", "640104", True),  # the district itself
        ("640100", "640104", True),  # the city covers its districts
        ("640000", "640104", True),  # the province
        ("640100", "640205", False),  # another city of the province
        ("640104", "640106", False),  # a neighbouring district
        ("640104", None, False),  # a compound with no division set
    ],
)
def test_division_covers(code: str, compound: str | None, covered: bool) -> None:
    assert division_covers(code, compound) is covered


def test_jurisdiction_is_the_compound_list_plus_the_division() -> None:
    site = {"lijing": "640104", "jinfeng": "640106", "yuanyang": "640205", "nodiv": None}
    assert jurisdiction(["nodiv"], "640100", site) == {"nodiv", "lijing", "jinfeng"}
    assert jurisdiction(["lijing"], None, site) == {"lijing"}


def test_private_keys_are_0600_in_a_0700_folder_and_never_in_repr(tmp_path: Path) -> None:
    ring = KeyRing(tmp_path / "keys")
    key = ring.signing()
    pem = tmp_path / "keys" / f"{key.kid}.pem"
    assert stat.S_IMODE(pem.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700
    assert "PRIVATE" not in repr(key) and "PRIVATE" in pem.read_text()
    old = key.kid
    ring.rotate(ahead_s=0, now=key.signs_from + 1)
    assert ring.signing(now=key.signs_from + 2).kid != old
    assert ring.prune(now=key.signs_from + 10_000) == [old]
    assert old not in {k["kid"] for k in ring.jwks()["keys"]}
    assert old in ring.all_public()  # still verifies old evidence packages
