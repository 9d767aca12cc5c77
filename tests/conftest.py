"""Settings for the whole suite: Hypothesis runs derandomized under CI, so a CI failure reproduces."""

from __future__ import annotations

import os

from hypothesis import settings

from tests.ci import in_ci

# "ci": the same examples on every run (a red CI can be replayed locally with
# HYPOTHESIS_PROFILE=ci); "dev": fresh examples each run, to keep finding new ones.
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
settings.register_profile("dev", print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if in_ci() else "dev"))
