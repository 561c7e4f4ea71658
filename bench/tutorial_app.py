"""The "tutorial" peer: the bare app instrumented the way the common articles show.

TracerProvider with a BatchSpanProcessor and the OTLP exporter, MeterProvider with a
PeriodicExportingMetricReader, LoggerProvider with a BatchLogRecordProcessor (so the
log records leave over OTLP as ours do), the framework's instrumentor with its defaults,
and ``LoggingInstrumentor().instrument(set_logging_format=True)``. Exporters, sampler and
semantic-convention opt-in come from the same ``OTEL_*`` variables as the other cases.

The instrumentor is applied globally before the app is imported (``instrument()``),
since bench/bare_app.py stubs the instrumentor the app module would call itself.
Served as ``tutorial_app:app`` (Flask, FastAPI) or ``tutorial_app:application`` (Django).
"""

from __future__ import annotations

import importlib.util
import os

from opentelemetry import metrics, trace
from opentelemetry._logs import set_logger_provider
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.logging import LoggingInstrumentor
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

PACKAGE = os.environ["BENCH_PACKAGE"]

resource = Resource.create()
tracer_provider = TracerProvider(resource=resource)
tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
trace.set_tracer_provider(tracer_provider)

reader = PeriodicExportingMetricReader(OTLPMetricExporter())
metrics.set_meter_provider(MeterProvider(resource=resource, metric_readers=[reader]))

logger_provider = LoggerProvider(resource=resource)
logger_provider.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter()))
set_logger_provider(logger_provider)

LoggingInstrumentor().instrument(set_logging_format=True)

if importlib.util.find_spec(f"{PACKAGE}.wsgi"):
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", f"{PACKAGE}.settings")
    from opentelemetry.instrumentation.django import DjangoInstrumentor

    DjangoInstrumentor().instrument()
    from bare_app import application  # noqa: E402, F401
elif importlib.util.find_spec("flask"):
    from opentelemetry.instrumentation.flask import FlaskInstrumentor

    FlaskInstrumentor().instrument()
    from bare_app import app  # noqa: E402, F401
else:
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor().instrument()
    from bare_app import app  # noqa: E402, F401
