"""Police face watch orders: the legal basis a face order states.

A face order is personal data (a biometric template), so it names its legal basis as
well as its case number; plate orders keep an empty one.

Revision ID: p002f
Revises: p001
Create Date: 2026-12-02 03:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "p002f"
down_revision: str | None = "p001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "police_watch_orders",
        sa.Column("legal_basis", sa.String(length=300), nullable=False, server_default=""),
    )


def downgrade() -> None:
    with op.batch_alter_table("police_watch_orders") as batch:
        batch.drop_column("legal_basis")
