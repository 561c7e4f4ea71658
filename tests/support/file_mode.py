"""What the configuration-file mode is told apart by, for the tiers that run a service."""

from __future__ import annotations

# Standard variables with an equivalent in otel-config.yaml that the file does not
# reference: with the file in charge they change nothing. Set on a service in file mode,
# telemetry still arriving proves the file, not the environment, configured the SDK
# (the environment would export nothing and sample nothing).
IGNORED_BY_THE_FILE = {
    "OTEL_TRACES_EXPORTER": "none",
    "OTEL_METRICS_EXPORTER": "none",
    "OTEL_LOGS_EXPORTER": "none",
    "OTEL_TRACES_SAMPLER": "always_off",
}
