"""``shouwang users add`` and ``shouwang audit verify`` on both engines."""

from __future__ import annotations

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from alerts.store.audit import AuditEntry
from alerts.store.db import transaction
from alerts.store.users import authenticate
from shouwang.cli.main import app

runner = CliRunner()


@pytest.mark.parametrize(
    ("args", "password", "code", "says"),
    [
        (
            ["wang", "--role", "operator", "--compounds", "lijing,jinfeng"],
            "long enough pw\n",
            0,
            "created",
        ),
        (["wang", "--role", "operator"], "long enough pw\n", 2, "needs --compounds"),
        (["wang", "--role", "guard", "--compounds", "x"], "long enough pw\n", 2, "not one of"),
        (["wang", "--role", "admin"], "short\n", 2, "at least 8"),
    ],
)
def test_users_add_reads_the_password_from_stdin(
    db_url: str,
    factory: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    password: str,
    code: int,
    says: str,
) -> None:
    monkeypatch.setenv("SHOUWANG_DATABASE_URL", db_url)
    res = runner.invoke(app, ["users", "add", *args], input=password)
    assert res.exit_code == code, res.output
    assert says in res.output
    if code == 0:
        with factory() as s:
            u = authenticate(s, "wang", password.strip())
            assert u is not None and u.compounds == ["lijing", "jinfeng"]
            assert u.password_hash.startswith("$argon2id$")


def test_audit_verify_exit_status_tells_intact_from_broken(
    db_url: str, factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOUWANG_DATABASE_URL", db_url)
    for name in ("a1", "a2", "a3"):
        assert (
            runner.invoke(
                app, ["users", "add", name, "--role", "admin"], input="long enough pw\n"
            ).exit_code
            == 0
        )
    ok = runner.invoke(app, ["audit", "verify"])
    assert ok.exit_code == 0 and "3 entries verified" in ok.output
    with transaction(factory) as s:
        s.execute(update(AuditEntry).where(AuditEntry.seq == 2).values(target="someone else"))
    bad = runner.invoke(app, ["audit", "verify"])
    assert bad.exit_code == 1
    assert "BROKEN at entry 2" in bad.output
