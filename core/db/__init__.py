"""Database: SQLAlchemy 2 async models (``models``), engine and sessions (``engine``), and the repositories, one
module per thing they serve (``users``, ``jobs``, ``claims``, ``limits``, ``chats``, ``admin``, ``web_jobs``). Only
the repositories write SQL; each function takes an ``AsyncSession`` and commits."""
