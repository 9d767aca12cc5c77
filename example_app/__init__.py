"""The example app: ``uvicorn example_app:app``."""

from .main import app

__all__ = ["app"]
