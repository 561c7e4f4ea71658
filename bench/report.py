"""Turns bench/results.json into the results section of docs/performance.md.

Only the text between the two markers is replaced; the prose around it is written by
hand. ``python3 bench/report.py`` re-renders from the last results file.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path
from typing import Any

START = "<!-- bench:results:start -->"
END = "<!-- bench:results:end -->"
# The I/O cases are compared with the bare I/O run; every other case with "bare".
BASELINE = {"io_bare": "io_bare", "io_full": "io_bare"}
CASE_LABELS = {
    "bare": "bare (no OpenTelemetry)",
    "full": "full: traces 100% + metrics + logs, OTLP",
    "ratio10": "10% head sampling",
    "collector_down": "collector down",
    "io_bare": "~1 ms I/O, bare",
    "io_full": "~1 ms I/O, full",
    "before": "full, as released before these changes (--before)",
    "no_log_export": "full without OTLP log export (OTEL_LOGS_EXPORTER=none)",
    "no_metric_export": "full without metric export (OTEL_METRICS_EXPORTER=none)",
}


def _spread(values: list[float], digits: int = 0) -> str:
    median = statistics.median(values)
    if len(values) == 1:
        return f"{median:.{digits}f}"
    return f"{median:.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def _throughput_tables(runs: list[dict[str, Any]]) -> list[str]:
    lines: list[str] = []
    frameworks = list(dict.fromkeys(run["framework"] for run in runs))
    for framework in frameworks:
        mine = [run for run in runs if run["framework"] == framework]
        by_case: dict[str, list[dict[str, Any]]] = {}
        for run in mine:
            by_case.setdefault(run["case"], []).append(run)
        lines += [
            f"#### {framework}",
            "",
            "| case | req/s | ratio to bare | p50 ms | p99 ms | CPU µs/req | RSS MB | errors |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for case, case_runs in by_case.items():
            baseline = {
                run["round"]: run["requests_per_second"]
                for run in by_case.get(BASELINE.get(case, "bare"), [])
            }
            ratios = [
                run["requests_per_second"] / baseline[run["round"]]
                for run in case_runs
                if baseline.get(run["round"])
            ]
            lines.append(
                "| "
                + " | ".join(
                    [
                        CASE_LABELS.get(case, case),
                        _spread([r["requests_per_second"] for r in case_runs]),
                        _spread(ratios, 2) if ratios else "",
                        _spread([r["p50_ms"] for r in case_runs], 2),
                        _spread([r["p99_ms"] for r in case_runs], 2),
                        _spread([r["cpu_us_per_request"] for r in case_runs]),
                        _spread([r["rss_mb"] for r in case_runs]),
                        str(sum(r["errors"] for r in case_runs)),
                    ]
                )
                + " |"
            )
        lines.append("")
    return lines


def _median_cpu(runs: list[dict[str, Any]], framework: str, case: str) -> float | None:
    values = [
        run["cpu_us_per_request"]
        for run in runs
        if run["framework"] == framework and run["case"] == case
    ]
    return statistics.median(values) if values else None


def _floor_table(runs: list[dict[str, Any]], floor: dict[str, Any]) -> list[str]:
    """How close each framework could get at best: its bare CPU per request against bare
    plus the SDK's own floor (bench/floor.py), next to what the service costs."""
    floor_us = floor["cpu_us_per_request"]["median"]
    floor10_us = floor["cpu_us_per_request_ratio10"]["median"]
    lines = [
        "#### The floor: what the SDK alone costs per request",
        "",
        f"bench/floor.py, same interpreter and SDK: {floor_us:.0f} µs of CPU per request "
        f"(min-max {floor['cpu_us_per_request']['min']:.0f}-"
        f"{floor['cpu_us_per_request']['max']:.0f}) for one server span with the HTTP "
        "attributes, the duration histogram and in-flight counter, one log record, and "
        f"OTLP encoding of the span and the record; {floor10_us:.0f} µs with 10% head "
        "sampling (the span is sampled, the metrics and the log record are not). "
        "Importing the SDK and the OTLP/HTTP "
        f"exporters alone adds {floor['import_ms']['sdk_and_otlp_http_exporters']:.0f} ms "
        "to an empty interpreter.",
        "",
        "| framework | bare CPU µs/req | full CPU µs/req | telemetry µs/req | "
        "full, by CPU: bare / full | best possible: bare / (bare + floor) | "
        "10% sampling, best possible |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for framework in dict.fromkeys(run["framework"] for run in runs):
        bare = _median_cpu(runs, framework, "bare")
        full = _median_cpu(runs, framework, "full")
        if bare is None or full is None:
            continue
        lines.append(
            f"| {framework} | {bare:.0f} | {full:.0f} | {full - bare:.0f} | {bare / full:.2f} | "
            f"{bare / (bare + floor_us):.2f} | {bare / (bare + floor10_us):.2f} |"
        )
    lines.append("")
    return lines


def render_results(results: dict[str, Any]) -> str:
    settings = results["settings"]
    machine = results["machine"]
    load = ", ".join(f"{value:.2f}" for value in machine["load_average_at_start"])
    lines = [
        START,
        "",
        f"Machine: {machine['cpus']} CPUs (load average at start {load}), "
        f"Python {machine['python']}, kernel {machine['kernel']}. "
        f"wrk -t{settings['threads']} -c{settings['connections']}, {settings['warmup']:g} s "
        f"warm-up then {settings['duration']:g} s measured per run, {settings['rounds']} "
        f"interleaved rounds, gunicorn WEB_CONCURRENCY={settings['workers']}. Cells: median "
        "(min-max over rounds); ratios are per round against the bare run of the same round.",
        "",
        *_throughput_tables(results["runs"]),
    ]
    if imports := results.get("import_seconds"):
        lines += [
            "#### Cold start: importing the app module",
            "",
            "| framework | bare ms | with telemetry ms | added ms |",
            "| --- | --- | --- | --- |",
        ]
        for framework, seconds in imports.items():
            bare, full = seconds["bare"] * 1000, seconds["telemetry"] * 1000
            lines.append(f"| {framework} | {bare:.0f} | {full:.0f} | {full - bare:.0f} |")
        lines.append("")
    if floor := results.get("floor"):
        lines += _floor_table(results["runs"], floor)
    if render := results.get("render_seconds"):
        lines += [
            "#### Render time: `copier copy`",
            "",
            "| template | seconds |",
            "| --- | --- |",
            f"| this template, every option | {render['full']:.2f} |",
            f"| a one-file template | {render['one_file']:.2f} |",
            "",
        ]
    lines.append(END)
    return "\n".join(lines)


def write_report(results: dict[str, Any], report: Path) -> None:
    section = render_results(results)
    text = report.read_text() if report.exists() else f"# Performance\n\n{START}\n{END}\n"
    before, _, rest = text.partition(START)
    _, _, after = rest.partition(END)
    report.write_text(before + section + after)


if __name__ == "__main__":
    here = Path(__file__).resolve().parent
    results_path = Path(sys.argv[1]) if len(sys.argv) > 1 else here / "results.json"
    write_report(json.loads(results_path.read_text()), here.parent / "docs" / "performance.md")
