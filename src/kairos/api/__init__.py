"""The REST API (FastAPI): event ingestion, health; later decisions, management and reports."""

from kairos.api.app import create_app

__all__ = ["create_app"]
