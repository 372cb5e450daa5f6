"""Initial schema: incidents, updates, activity, comments, evidence, users, sessions,
audit log, vehicle access log, camera snoozes.

Revision ID: 0001
Revises:
Create Date: 2026-12-01 23:19:11.200995
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import alerts.store.db

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_head")),
    )
    # The chain starts at the genesis hash (audit.GENESIS).
    op.execute("INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '" + "0" * 64 + "')")
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("at", alerts.store.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False, comment="client address"),
        sa.Column("detail", sa.Text(), nullable=False, comment="canonical JSON"),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_log_action"), ["action"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_log_actor"), ["actor"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_log_at"), ["at"], unique=False)

    op.create_table(
        "camera_snoozes",
        sa.Column("camera", sa.String(length=64), nullable=False),
        sa.Column("until", alerts.store.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("by", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", alerts.store.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("camera", name=op.f("pk_camera_snoozes")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False, comment="argon2id"),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("compounds", sa.JSON(), nullable=False, comment="compounds an operator works on"),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", alerts.store.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("name", name=op.f("uq_users_name")),
    )
    op.create_table(
        "vehicle_reads",
        sa.Column("id", sa.String(length=26), nullable=False, comment="read ULID"),
        sa.Column(
            "plate", sa.String(length=16), nullable=False, comment="normalised plate as read"
        ),
        sa.Column(
            "key",
            sa.String(length=16).with_variant(sa.String(length=16, collation="C"), "postgresql"),
            nullable=False,
            comment="confusion key of the plate",
        ),
        sa.Column(
            "key_rev",
            sa.String(length=16).with_variant(sa.String(length=16, collation="C"), "postgresql"),
            nullable=False,
            comment="the confusion key reversed",
        ),
        sa.Column("length", sa.Integer(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("low_confidence", sa.Boolean(), nullable=False),
        sa.Column("camera", sa.String(length=64), nullable=False),
        sa.Column("compound", sa.String(length=64), nullable=False),
        sa.Column("gate", sa.String(length=64), nullable=True),
        sa.Column("direction", sa.String(length=8), nullable=True, comment="in/out"),
        sa.Column("read_at", alerts.store.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("crop_sha256", sa.String(length=64), nullable=True),
        sa.Column("list_id", sa.String(length=64), nullable=True),
        sa.Column("list_kind", sa.String(length=16), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vehicle_reads")),
    )
    with op.batch_alter_table("vehicle_reads", schema=None) as batch_op:
        batch_op.create_index("ix_vehicle_reads_crop", ["crop_sha256"], unique=False)
        batch_op.create_index("ix_vehicle_reads_key", ["key"], unique=False)
        batch_op.create_index("ix_vehicle_reads_key_rev", ["key_rev"], unique=False)
        batch_op.create_index("ix_vehicle_reads_read_at", ["read_at"], unique=False)

    op.create_table(
        "incidents",
        sa.Column("id", sa.String(length=26), nullable=False, comment="alert ULID"),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column(
            "severity", sa.String(length=10), nullable=False, comment="current (after escalation)"
        ),
        sa.Column("original_severity", sa.String(length=10), nullable=False),
        sa.Column("camera", sa.String(length=64), nullable=False),
        sa.Column("compound", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False, comment="optimistic concurrency"),
        sa.Column("assignee_id", sa.Integer(), nullable=True),
        sa.Column("close_reason", sa.String(length=16), nullable=True),
        sa.Column("close_note", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            alerts.store.db.UTCDateTime(timezone=True),
            nullable=False,
            comment="first detection",
        ),
        sa.Column("last_seen_at", alerts.store.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("state_since", alerts.store.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("escalated_at", alerts.store.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_at", alerts.store.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("update_count", sa.Integer(), nullable=False),
        sa.Column("occurrences", sa.Integer(), nullable=False),
        sa.Column("plate", sa.String(length=16), nullable=True),
        sa.Column("person_id", sa.String(length=64), nullable=True),
        sa.Column("summary", sa.String(length=300), nullable=False),
        sa.Column("place", sa.String(length=300), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("legal_hold", sa.Boolean(), nullable=False),
        sa.Column(
            "snoozed",
            sa.Boolean(),
            nullable=False,
            comment="camera was snoozed: stored, not pushed",
        ),
        sa.Column("alert", sa.JSON(), nullable=False, comment="latest Alert JSON"),
        sa.ForeignKeyConstraint(
            ["assignee_id"],
            ["users.id"],
            name=op.f("fk_incidents_assignee_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incidents")),
    )
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.create_index("ix_incidents_camera_id", ["camera", "id"], unique=False)
        batch_op.create_index("ix_incidents_compound_id", ["compound", "id"], unique=False)
        batch_op.create_index("ix_incidents_created_at", ["created_at"], unique=False)
        batch_op.create_index("ix_incidents_person_id", ["person_id"], unique=False)
        batch_op.create_index("ix_incidents_plate", ["plate"], unique=False)
        batch_op.create_index("ix_incidents_state_id", ["state", "id"], unique=False)

    op.create_table(
        "user_sessions",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", alerts.store.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", alerts.store.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False, comment="client address"),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_user_sessions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_user_sessions")),
    )
    with op.batch_alter_table("user_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_user_sessions_user_id"), ["user_id"], unique=False)

    op.create_table(
        "incident_activity",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("incident_id", sa.String(length=26), nullable=False),
        sa.Column("at", alerts.store.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False, comment="user name or 'system'"),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("from_state", sa.String(length=16), nullable=True),
        sa.Column("to_state", sa.String(length=16), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False, comment="incident version after it"),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_incident_activity_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_activity")),
    )
    with op.batch_alter_table("incident_activity", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_incident_activity_incident_id"), ["incident_id"], unique=False
        )

    op.create_table(
        "incident_comments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("incident_id", sa.String(length=26), nullable=False),
        sa.Column("at", alerts.store.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("author", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_incident_comments_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_comments")),
    )
    with op.batch_alter_table("incident_comments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_incident_comments_incident_id"), ["incident_id"], unique=False
        )

    op.create_table(
        "incident_evidence",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("incident_id", sa.String(length=26), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("media_type", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_incident_evidence_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_evidence")),
        sa.UniqueConstraint("incident_id", "sha256", name="uq_evidence_once"),
    )
    with op.batch_alter_table("incident_evidence", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_incident_evidence_sha256"), ["sha256"], unique=False)

    op.create_table(
        "incident_updates",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("incident_id", sa.String(length=26), nullable=False),
        sa.Column("update_count", sa.Integer(), nullable=False),
        sa.Column("severity", sa.String(length=10), nullable=False),
        sa.Column("occurrences", sa.Integer(), nullable=False),
        sa.Column("detected_at", alerts.store.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("stored_at", alerts.store.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "stream_id", sa.String(length=32), nullable=False, comment="Redis stream entry id"
        ),
        sa.Column("alert", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_incident_updates_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_updates")),
        sa.UniqueConstraint("incident_id", "update_count", name="uq_update_once"),
    )


def downgrade() -> None:
    op.drop_table("incident_updates")
    with op.batch_alter_table("incident_evidence", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_incident_evidence_sha256"))

    op.drop_table("incident_evidence")
    with op.batch_alter_table("incident_comments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_incident_comments_incident_id"))

    op.drop_table("incident_comments")
    with op.batch_alter_table("incident_activity", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_incident_activity_incident_id"))

    op.drop_table("incident_activity")
    with op.batch_alter_table("user_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_user_sessions_user_id"))

    op.drop_table("user_sessions")
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_index("ix_incidents_state_id")
        batch_op.drop_index("ix_incidents_plate")
        batch_op.drop_index("ix_incidents_person_id")
        batch_op.drop_index("ix_incidents_created_at")
        batch_op.drop_index("ix_incidents_compound_id")
        batch_op.drop_index("ix_incidents_camera_id")

    op.drop_table("incidents")
    with op.batch_alter_table("vehicle_reads", schema=None) as batch_op:
        batch_op.drop_index("ix_vehicle_reads_read_at")
        batch_op.drop_index("ix_vehicle_reads_key_rev")
        batch_op.drop_index("ix_vehicle_reads_key")
        batch_op.drop_index("ix_vehicle_reads_crop")

    op.drop_table("vehicle_reads")
    op.drop_table("users")
    op.drop_table("camera_snoozes")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_log_at"))
        batch_op.drop_index(batch_op.f("ix_audit_log_actor"))
        batch_op.drop_index(batch_op.f("ix_audit_log_action"))

    op.drop_table("audit_log")
    op.drop_table("audit_head")
