"""The database edge: SQLAlchemy 2 models, engines, Alembic migrations and repositories."""
