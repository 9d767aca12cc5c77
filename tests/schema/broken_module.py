"""A module that fails on import (tests/schema/test_cli.py)."""

raise RuntimeError("boom")
