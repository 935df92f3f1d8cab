"""Tables: users and their settings, jobs, active model versions, and the admins' audit log."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    false,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from core.choices import TEXT_ONLY, VOICE_AND_TEXT


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def aware(moment: dt.datetime) -> dt.datetime:
    """A time read back from the database, in UTC: SQLite hands back naive datetimes, which are UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, dt.datetime: DateTime(timezone=True)}


class JobStatus(enum.StrEnum):
    queued = "queued"
    downloading = "downloading"
    denoising = "denoising"
    transcribing = "transcribing"
    sending = "sending"
    done = "done"
    failed = "failed"

    @property
    def finished(self) -> bool:
        return self in (JobStatus.done, JobStatus.failed)


class User(Base):
    """A Telegram user and the settings they chose in /settings."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    telegram_language: Mapped[str | None] = mapped_column(String(16))
    ui_language: Mapped[str | None] = mapped_column(String(8))  # None: follow Telegram's language_code
    transcribe_language: Mapped[str | None] = mapped_column(String(8))  # None: detect
    strength: Mapped[str | None] = mapped_column(String(8))  # noise removal off/gentle/strong; None: the default
    reply_mode: Mapped[str] = mapped_column(String(16), default=VOICE_AND_TEXT)  # core.choices.REPLY_MODES
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow, server_default=func.now())


class Job(Base):
    """One voice note and everything that happened to it."""

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_file_versions", "file_unique_id", "denoiser_version", "whisper_version", "status"),
        Index("ix_jobs_user_created", "user_id", "created_at"),
        Index("ix_jobs_status_created", "status", "created_at"),
        Index("ix_jobs_client_created", "client", "created_at"),
        Index("ix_jobs_chat_created", "chat_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)  # "<chat_id>:<message_id>"; "web:<public_id>"
    # Telegram's side of a job; empty for web uploads
    user_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"))
    chat_id: Mapped[int | None] = mapped_column(BigInteger)
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    status_message_id: Mapped[int | None] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(16))  # voice, audio, video_note, document; web: the file's format
    file_id: Mapped[str | None] = mapped_column(String(256))
    file_unique_id: Mapped[str | None] = mapped_column(String(64))
    file_size: Mapped[int | None] = mapped_column(BigInteger)
    duration_s: Mapped[float | None] = mapped_column(Float)
    status: Mapped[JobStatus] = mapped_column(Enum(JobStatus, native_enum=False, length=16), default=JobStatus.queued)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error_code: Mapped[str | None] = mapped_column(String(32))
    error: Mapped[str | None] = mapped_column(Text)
    language_hint: Mapped[str | None] = mapped_column(String(8))
    transcribe_language: Mapped[str | None] = mapped_column(String(8))  # fixed by the user or chat; None = detect
    header: Mapped[str | None] = mapped_column(Text)  # put above the transcript (a forwarded note's origin)
    strength: Mapped[str] = mapped_column(String(8), default="strong", server_default="strong")  # off/gentle/strong
    reply_mode: Mapped[str] = mapped_column(String(16), default=VOICE_AND_TEXT)
    denoiser_version: Mapped[str | None] = mapped_column(String(256))
    whisper_version: Mapped[str | None] = mapped_column(String(256))
    timings_ms: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    transcript: Mapped[str | None] = mapped_column(Text)
    segments: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)  # Whisper's: start, end (s), text
    source: Mapped[str] = mapped_column(String(16), default="telegram", server_default="telegram")  # or "web"
    public_id: Mapped[str | None] = mapped_column(String(64), unique=True)  # a web job's unguessable id
    client: Mapped[str | None] = mapped_column(String(64))  # a web job's sender: a hash of their address
    stage: Mapped[str | None] = mapped_column(String(16))  # a web job's pipeline stage (decoding, denoising...)
    language: Mapped[str | None] = mapped_column(String(8))
    result_voice_file_id: Mapped[str | None] = mapped_column(String(256))
    reused_job_id: Mapped[int | None] = mapped_column(Integer)
    worker: Mapped[str | None] = mapped_column(String(128))  # who holds the job now
    heartbeat_at: Mapped[dt.datetime | None]  # refreshed while a worker holds it; stale = the worker died
    sent_parts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # result messages sent
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, server_default=func.now())
    started_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]


class Chat(Base):
    """A group or supergroup the bot was used in, and how it behaves there (set by the chat's admins)."""

    __tablename__ = "chats"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    auto: Mapped[bool] = mapped_column(default=False, server_default=false())  # transcribe every note unasked
    transcribe_language: Mapped[str | None] = mapped_column(String(8))
    reply_mode: Mapped[str] = mapped_column(String(16), default=TEXT_ONLY, server_default=TEXT_ONLY)
    updated_by: Mapped[int | None] = mapped_column(BigInteger)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow, server_default=func.now())


class ModelSetting(Base):
    """The active version of a model family, as an admin last set it."""

    __tablename__ = "model_settings"

    family: Mapped[str] = mapped_column(String(16), primary_key=True)  # "denoiser" or "whisper"
    version: Mapped[str] = mapped_column(String(256))
    updated_by: Mapped[int | None] = mapped_column(BigInteger)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow, server_default=func.now())


class AuditLog(Base):
    """What an admin did (or tried to do) and when."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    admin_id: Mapped[int] = mapped_column(BigInteger)
    action: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text, default="")
    allowed: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, server_default=func.now())
