"""otel-service-template generator: helpers over Copier's public API."""
