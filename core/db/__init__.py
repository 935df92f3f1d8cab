"""Database: SQLAlchemy 2 async models, engine/session set-up and repositories."""
