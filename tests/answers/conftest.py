"""Hypothesis profiles for the answers tier: `ci` (the default) tries a fixed, bounded set of
examples, the same on every run, and reports a failing one as found (shrinking it would
render hundreds of projects); `HYPOTHESIS_PROFILE=local` tries ten times as many, fresh
ones each run, and shrinks a failure to a minimal answer set."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, Phase, settings

# A render takes about a second: no deadline, and slow generation is expected.
RENDERING = {
    "deadline": None,
    "print_blob": True,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}
settings.register_profile(
    "ci",
    max_examples=50,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    **RENDERING,
)
settings.register_profile("local", max_examples=500, **RENDERING)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
