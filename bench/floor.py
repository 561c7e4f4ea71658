"""The floor: the least CPU that full telemetry costs per request with the OpenTelemetry
Python SDK, whatever the framework or instrumentation, and the least import time.

Per request, a service with traces at 100%, HTTP metrics and logs over OTLP must at
least: start and end one server span carrying the stable HTTP semantic-convention
attributes, record the request duration histogram (with an exemplar, as the span is
sampled) and the in-flight up-down counter (+1, -1), hand the request's one log line to
the SDK through the logging bridge, and encode the span and the log record to OTLP
protobuf in the batch processors' threads. This script does exactly that through the
SDK's own classes with no web framework, no instrumentation library and no network
(the exporters encode and serialise, then drop the bytes), and reports the process CPU
time per request. Nothing the template chooses can make a request cheaper than this.

With 10% head sampling the metrics stay per request, and the span and the log record
only for the sampled requests, as in the service (its OTLP log export follows the
sampler).

Import floor: a fresh interpreter importing the SDK and the OTLP/HTTP exporters, and
nothing else, against an empty interpreter.

Run with the rendered service's interpreter (it has the SDK and exporters installed):

    build/bench/flask/.venv/bin/python bench/floor.py   # prints JSON

bench/instructions.py counts its instructions per request too (cases ``floor``,
``floor10``).
"""

from __future__ import annotations

import json
import logging
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence

from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import (
    BatchLogRecordProcessor,
    LogRecordExporter,
    LogRecordExportResult,
)
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased, Sampler, TraceIdRatioBased
from opentelemetry.trace import SpanKind

REQUESTS = 20_000
REPEATS = 5

# What the instrumentations put on a /hello server span (stable HTTP conventions).
SPAN_ATTRIBUTES = {
    "http.request.method": "GET",
    "url.scheme": "http",
    "url.path": "/hello",
    "server.address": "127.0.0.1",
    "server.port": 8000,
    "network.protocol.version": "1.1",
    "user_agent.original": "wrk",
    "client.address": "127.0.0.1",
    "client.port": 51234,
    "http.route": "/hello",
}
DURATION_ATTRIBUTES = {
    "http.request.method": "GET",
    "http.response.status_code": 200,
    "http.route": "/hello",
    "url.scheme": "http",
}
ACTIVE_ATTRIBUTES = {"http.request.method": "GET", "url.scheme": "http"}

IMPORTS = (
    "opentelemetry.sdk.trace",
    "opentelemetry.sdk.metrics",
    "opentelemetry.sdk._logs",
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "opentelemetry.exporter.otlp.proto.http.metric_exporter",
    "opentelemetry.exporter.otlp.proto.http._log_exporter",
)


class _EncodingSpanExporter(SpanExporter):
    """Encodes and serialises like the OTLP exporter, then drops the bytes."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        encode_spans(spans).SerializeToString()
        return SpanExportResult.SUCCESS


class _EncodingLogExporter(LogRecordExporter):
    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        encode_logs(batch).SerializeToString()
        return LogRecordExportResult.SUCCESS

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


def floor_requests(sampler: Sampler) -> Callable[[int], float]:
    """A function that makes n floor requests, flushes the batch processors and returns
    the process CPU µs per request."""
    resource = Resource.create({"service.name": "floor", "service.version": "0.1.0"})
    tracer_provider = TracerProvider(resource=resource, sampler=sampler, shutdown_on_exit=False)
    tracer_provider.add_span_processor(BatchSpanProcessor(_EncodingSpanExporter()))
    tracer = tracer_provider.get_tracer("opentelemetry.instrumentation.asgi")
    meter = MeterProvider(
        resource=resource, metric_readers=[InMemoryMetricReader()], shutdown_on_exit=False
    ).get_meter("opentelemetry.instrumentation.asgi")
    duration = meter.create_histogram("http.server.request.duration", unit="s")
    active = meter.create_up_down_counter("http.server.active_requests")
    logger_provider = LoggerProvider(resource=resource, shutdown_on_exit=False)
    logger_provider.add_log_record_processor(BatchLogRecordProcessor(_EncodingLogExporter()))
    handler = LoggingHandler(logger_provider=logger_provider)
    record = logging.LogRecord("app", logging.INFO, __file__, 1, "saying hello", None, None)

    def one_request() -> None:
        active.add(1, ACTIVE_ATTRIBUTES)
        with tracer.start_as_current_span(
            "GET /hello", kind=SpanKind.SERVER, attributes=SPAN_ATTRIBUTES
        ) as span:
            if span.get_span_context().trace_flags.sampled:
                # As the service: an unsampled request's INFO line is not exported.
                handler.emit(record)
            span.set_attribute("http.response.status_code", 200)
            duration.record(0.001, DURATION_ATTRIBUTES)
        active.add(-1, ACTIVE_ATTRIBUTES)

    def run(requests: int) -> float:
        start = time.process_time()
        for _ in range(requests):
            one_request()
        tracer_provider.force_flush()
        logger_provider.force_flush()
        return (time.process_time() - start) * 1e6 / requests

    return run


def per_request_cpu_us(sampler: Sampler, repeats: int = REPEATS) -> dict[str, float]:
    """Median process CPU µs per request over ``repeats`` runs of REQUESTS requests."""
    run = floor_requests(sampler)
    run(2_000)  # warm-up
    samples = [run(REQUESTS) for _ in range(repeats)]
    return {"median": statistics.median(samples), "min": min(samples), "max": max(samples)}


def counted(sampler: Sampler, requests: int) -> None:
    """bench/instructions.py's protocol: warm up, print "ready", wait for a line, make
    ``requests`` requests, print "done", wait for a line."""
    run = floor_requests(sampler)
    run(200)
    print("ready", flush=True)
    sys.stdin.readline()
    run(requests)
    print("done", flush=True)
    sys.stdin.readline()


def import_ms() -> dict[str, float]:
    """Median ms to import the SDK and OTLP/HTTP exporters, minus an empty interpreter."""

    # Bytecode caches on, as `pip install` leaves them in the image.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}

    def timed(code: str) -> float:
        # CPU time of the child: wall time on a loaded machine measures the load.
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run([sys.executable, "-c", code], check=True, env=env)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        return (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)

    timed("import " + ", ".join(IMPORTS))  # bytecode caches written
    empty = statistics.median(timed("pass") for _ in range(REPEATS))
    full = statistics.median(timed("import " + ", ".join(IMPORTS)) for _ in range(REPEATS))
    return {"sdk_and_otlp_http_exporters": (full - empty) * 1e3}


def main() -> None:
    if "--wait" in sys.argv[1:]:
        # Under callgrind (bench/instructions.py): `floor.py REQUESTS --wait [--ratio10]`.
        ratio10 = "--ratio10" in sys.argv[1:]
        counted(ParentBased(TraceIdRatioBased(0.1)) if ratio10 else ALWAYS_ON, int(sys.argv[1]))
        return
    # --cpu-only: one quick CPU measurement, as bench/run.py takes in every round.
    cpu_only = "--cpu-only" in sys.argv[1:]
    repeats = 1 if cpu_only else REPEATS
    results = {
        "cpu_us_per_request": per_request_cpu_us(ALWAYS_ON, repeats),
        # Metrics stay per request; the span and its log record are sampled.
        "cpu_us_per_request_ratio10": per_request_cpu_us(
            ParentBased(TraceIdRatioBased(0.1)), repeats
        ),
    }
    if not cpu_only:
        results["import_ms"] = import_ms()
    print(json.dumps(results))


if __name__ == "__main__":
    main()
