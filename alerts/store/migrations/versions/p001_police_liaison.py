"""Police liaison: API clients, subscriptions, push deliveries, watch orders.

Its own Alembic branch (``police``) off the initial schema, so it merges with the
store's own later migrations without renumbering (:func:`alerts.store.db.migrate`
upgrades every head).

Revision ID: p001
Revises: 0001
Create Date: 2026-12-01 23:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import alerts.store.db

revision: str = "p001"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = ("police",)
depends_on: str | Sequence[str] | None = None

UTC = alerts.store.db.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "police_clients",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("compounds", sa.JSON(), nullable=False),
        sa.Column("division", sa.String(length=12), nullable=True),
        sa.Column("organisation", sa.String(length=200), nullable=False),
        sa.Column("rate_per_minute", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC(), nullable=False),
        sa.Column("revoked_at", UTC(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_police_clients")),
        sa.UniqueConstraint("name", name=op.f("uq_police_clients_name")),
    )
    op.create_table(
        "police_subscriptions",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("client_id", sa.String(length=40), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("secret", sa.String(length=80), nullable=False),
        sa.Column("types", sa.JSON(), nullable=False),
        sa.Column("compounds", sa.JSON(), nullable=False),
        sa.Column("min_severity", sa.String(length=10), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTC(), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["police_clients.id"],
            name=op.f("fk_police_subscriptions_client_id_police_clients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_police_subscriptions")),
    )
    op.create_index(
        op.f("ix_police_subscriptions_client_id"), "police_subscriptions", ["client_id"]
    )
    op.create_table(
        "police_deliveries",
        sa.Column("id", sa.String(length=120), nullable=False),
        sa.Column("subscription_id", sa.String(length=26), nullable=False),
        sa.Column("alert_id", sa.String(length=26), nullable=False),
        sa.Column("event", sa.String(length=40), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_at", UTC(), nullable=False),
        sa.Column("created_at", UTC(), nullable=False),
        sa.Column("sent_at", UTC(), nullable=True),
        sa.Column("last_error", sa.String(length=300), nullable=False),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["police_subscriptions.id"],
            name=op.f("fk_police_deliveries_subscription_id_police_subscriptions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_police_deliveries")),
    )
    op.create_index(
        op.f("ix_police_deliveries_subscription_id"), "police_deliveries", ["subscription_id"]
    )
    op.create_index("ix_police_deliveries_status_next", "police_deliveries", ["status", "next_at"])
    op.create_table(
        "police_watch_orders",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("client_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("plate", sa.String(length=16), nullable=True),
        sa.Column("face", sa.JSON(), nullable=True),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("case_number", sa.String(length=64), nullable=False),
        sa.Column("compounds", sa.JSON(), nullable=False),
        sa.Column("created_at", UTC(), nullable=False),
        sa.Column("expires_at", UTC(), nullable=False),
        sa.Column("ended_at", UTC(), nullable=True),
        sa.Column("end_reason", sa.String(length=16), nullable=True),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["police_clients.id"],
            name=op.f("fk_police_watch_orders_client_id_police_clients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_police_watch_orders")),
    )
    op.create_index(op.f("ix_police_watch_orders_client_id"), "police_watch_orders", ["client_id"])
    op.create_index(
        op.f("ix_police_watch_orders_expires_at"), "police_watch_orders", ["expires_at"]
    )


def downgrade() -> None:
    op.drop_table("police_watch_orders")
    op.drop_table("police_deliveries")
    op.drop_table("police_subscriptions")
    op.drop_table("police_clients")
