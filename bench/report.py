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
    "full": "ours: traces 100% + metrics + logs, OTLP",
    "collector_down": "collector down",
    "io_bare": "~1 ms I/O, bare",
    "io_full": "~1 ms I/O, full",
    "before": "full, as released before these changes (--before)",
    "no_log_export": "full without OTLP log export (OTEL_LOGS_EXPORTER=none)",
    "no_metric_export": "full without metric export (OTEL_METRICS_EXPORTER=none)",
    "ratio10": "ours, 10% head sampling",
    "zerocode": "zero-code: opentelemetry-instrument",
    "zerocode10": "zero-code, 10% head sampling",
    "tutorial": "tutorial set-up (bench/tutorial_app.py)",
    "tutorial10": "tutorial set-up, 10% head sampling",
}
# The peer table: (label, case at 100%, case at 10% head sampling).
PEERS = (
    ("ours", "full", "ratio10"),
    ("zero-code", "zerocode", "zerocode10"),
    ("tutorial", "tutorial", "tutorial10"),
)
IMPORT_BUDGET_MS = 60  # added import time may exceed the floor's by this much


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
                        str(sum(r["errors"] + r.get("fixed_rate_errors", 0) for r in case_runs)),
                    ]
                )
                + " |"
            )
        lines.append("")
    return lines


def _per_round(runs: list[dict[str, Any]], framework: str, case: str) -> dict[int, dict]:
    return {r["round"]: r for r in runs if r["framework"] == framework and r["case"] == case}


def _overheads(runs: list[dict[str, Any]], framework: str, case: str) -> dict[int, float]:
    """CPU µs per request above the bare run of the same round, by round."""
    bare = _per_round(runs, framework, "bare")
    return {
        round_: run["cpu_us_per_request"] - bare[round_]["cpu_us_per_request"]
        for round_, run in _per_round(runs, framework, case).items()
        if round_ in bare
    }


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _fmt(value: float | None, digits: int = 0) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _exported(runs: list[dict[str, Any]]) -> str:
    """What reached the collector per request served: a case that drops telemetry under
    load (a full export queue) pays less for it, and must not pass for cheaper."""
    if not all("spans_per_request" in run for run in runs):
        return ""
    spans = _median([run["spans_per_request"] for run in runs])
    logs = _median([run["log_records_per_request"] for run in runs])
    return f"{spans:.2f}, {logs:.2f}"


def _peer_tables(results: dict[str, Any]) -> list[str]:
    """Ours against the peers and the floor, per framework, at 100% and 10% sampling."""
    runs, floors = results["runs"], results.get("floor_rounds", [])
    floor_by_round = {
        "full": {f["round"]: f["cpu_us_per_request"]["median"] for f in floors},
        "ratio10": {f["round"]: f["cpu_us_per_request_ratio10"]["median"] for f in floors},
    }
    imports = results.get("import_seconds", {})
    import_floor = results.get("floor", {}).get("import_ms", {}).get("sdk_and_otlp_http_exporters")
    lines = [
        "#### Ours against the peers and the SDK's floor",
        "",
        "Same run, same bare app, same exporters, sampler and collector. *Above bare*: CPU "
        "µs per request minus the bare run of the same round; *x floor*: that divided by "
        "the floor measured in the same round at the same sampling (100% or 10%); *10% / "
        "100%*: the overhead at 10% sampling over the overhead at 100%; *import +ms*: CPU "
        "ms of a fresh interpreter from its start to the app imported, minus bare's (for "
        "the floor: the SDK and OTLP/HTTP exporters alone); *of it system*: the kernel's "
        "part of the CPU time; *exported*: spans and log records the collector received "
        "per request served (one of each per request is everything at 100%; FastAPI's "
        "peers also export the ASGI instrumentation's send and receive spans). Medians "
        "over rounds.",
        "",
    ]
    summary: list[str] = []
    rate = results["settings"].get("latency_rate")
    at_rate = f" at {rate} req/s" if rate else ""
    # Latency at a constant rate every case sustains where measured; else under wrk.
    p50, p99 = ("fixed_rate_p50_ms", "fixed_rate_p99_ms") if rate else ("p50_ms", "p99_ms")
    for framework in dict.fromkeys(run["framework"] for run in runs):
        lines += [
            f"##### {framework}",
            "",
            "| set-up | sampling | CPU µs/req | of it system | above bare µs | x floor "
            f"| 10% / 100% | exported spans, logs per req | req/s | p50 ms{at_rate} "
            f"| p99 ms{at_rate} | RSS MB | import +ms |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        bare = _per_round(runs, framework, "bare")
        lines.append(
            f"| bare | | {_fmt(_median([r['cpu_us_per_request'] for r in bare.values()]))} "
            f"| {_fmt(_median([r.get('system_us_per_request', 0) for r in bare.values()]))} "
            f"| | | | | {_fmt(_median([r['requests_per_second'] for r in bare.values()]))} "
            f"| {_fmt(_median([r[p50] for r in bare.values()]), 2)} "
            f"| {_fmt(_median([r[p99] for r in bare.values()]), 2)} "
            f"| {_fmt(_median([r['rss_mb'] for r in bare.values()]))} | |"
        )
        overhead: dict[tuple[str, str], float | None] = {}
        for label, full_case, sampled_case in PEERS:
            full_by_round = _overheads(runs, framework, full_case)
            for sampling, case, floor_key in (
                ("100%", full_case, "full"),
                ("10%", sampled_case, "ratio10"),
            ):
                case_runs = _per_round(runs, framework, case)
                if not case_runs:
                    continue
                above = _overheads(runs, framework, case)
                multiple = [
                    value / floor_by_round[floor_key][round_]
                    for round_, value in above.items()
                    if floor_by_round[floor_key].get(round_)
                ]
                share = [
                    value / full_by_round[round_]
                    for round_, value in above.items()
                    if sampling == "10%" and full_by_round.get(round_)
                ]
                overhead[(label, sampling)] = _median(list(above.values()))
                added_import = None
                if sampling == "100%" and framework in imports:
                    key = {"ours": "ours", "zero-code": "zerocode", "tutorial": "tutorial"}[label]
                    seconds = imports[framework]
                    if key in seconds:
                        added_import = (seconds[key] - seconds["bare"]) * 1000
                        overhead[(label, "import")] = added_import
                values = list(case_runs.values())
                lines.append(
                    f"| {label} | {sampling} "
                    f"| {_fmt(_median([r['cpu_us_per_request'] for r in values]))} "
                    f"| {_fmt(_median([r.get('system_us_per_request', 0) for r in values]))} "
                    f"| {_fmt(overhead[(label, sampling)])} | {_fmt(_median(multiple), 2)} "
                    f"| {_fmt(_median(share), 2)} | {_exported(values)} "
                    f"| {_fmt(_median([r['requests_per_second'] for r in values]))} "
                    f"| {_fmt(_median([r[p50] for r in values]), 2)} "
                    f"| {_fmt(_median([r[p99] for r in values]), 2)} "
                    f"| {_fmt(_median([r['rss_mb'] for r in values]))} | {_fmt(added_import)} |"
                )
        for sampling, key in (("100%", "full"), ("10%", "ratio10")):
            value = _median(list(floor_by_round[key].values()))
            import_cell = _fmt(import_floor) if sampling == "100%" else ""
            lines.append(
                f"| floor (bench/floor.py) | {sampling} | | | {_fmt(value)} | 1.00 | | | | | | "
                f"| {import_cell} |"
            )
        lines.append("")
        summary.append(_target_row(framework, runs, overhead, floor_by_round, import_floor))
    lines += [
        "#### Targets",
        "",
        "| framework | ours cheapest at 100% | ours cheapest at 10% | full overhead <= 2.0x "
        "floor | 10% overhead <= 0.5x full | import <= floor + 60 ms |",
        "| --- | --- | --- | --- | --- | --- |",
        *summary,
        "",
    ]
    return lines


def _target_row(
    framework: str,
    runs: list[dict[str, Any]],
    overhead: dict[tuple[str, str], float | None],
    floor_by_round: dict[str, dict[int, float]],
    import_floor: float | None,
) -> str:
    def verdict(ok: bool | None, text: str) -> str:
        return text if ok is None else f"{'yes' if ok else '**no**'}: {text}"

    cells = []
    for sampling in ("100%", "10%"):
        ours = overhead.get(("ours", sampling))
        peers = [v for (label, s), v in overhead.items() if s == sampling and label != "ours"]
        peers = [v for v in peers if v is not None]
        ok = None if ours is None or not peers else ours <= min(peers)
        cells.append(verdict(ok, f"{_fmt(ours)} vs {_fmt(min(peers) if peers else None)} µs"))
    full = _overheads(runs, framework, "full")
    multiple = _median(
        [v / floor_by_round["full"][r] for r, v in full.items() if floor_by_round["full"].get(r)]
    )
    cells.append(verdict(None if multiple is None else multiple <= 2.0, f"{_fmt(multiple, 2)}x"))
    sampled = _overheads(runs, framework, "ratio10")
    share = _median([v / full[r] for r, v in sampled.items() if full.get(r)])
    cells.append(verdict(None if share is None else share <= 0.5, f"{_fmt(share, 2)}"))
    added = overhead.get(("ours", "import"))
    ok = None if added is None or import_floor is None else added <= import_floor + IMPORT_BUDGET_MS
    cells.append(verdict(ok, f"+{_fmt(added)} ms vs {_fmt(import_floor)} + 60"))
    return f"| {framework} | " + " | ".join(cells) + " |"


def _instruction_tables(counts: dict[str, Any]) -> list[str]:
    """bench/instructions.py's counts (thousands per request) and the targets by them."""
    rows, targets = [], []
    for framework, case in counts["frameworks"].items():
        framework_rows, target = _instruction_rows(framework, case)
        rows += framework_rows
        targets.append(target)
    return [
        "#### Instructions per request (bench/instructions.py)",
        "",
        f"In-process GET /hello, {counts['requests']} requests counted by callgrind, export "
        "threads and the final flush included; thousands of instructions per request, in "
        "brackets above bare. The floor does only the SDK's work: all of it is overhead.",
        "",
        "| framework | sampling | bare | floor | ours | zero-code | tutorial |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        *rows,
        "",
        "| framework | ours cheapest at 100% | ours cheapest at 10% | full overhead <= 2.0x "
        "floor | 10% overhead <= 0.5x full |",
        "| --- | --- | --- | --- | --- |",
        *targets,
        "",
    ]


def _instruction_rows(framework: str, case: dict[str, int]) -> tuple[list[str], str]:
    bare = case.get("bare")

    def above(name: str) -> float | None:
        value = case.get(name)
        return None if value is None or bare is None else value - bare

    def cell(name: str) -> str:
        value, extra = case.get(name), above(name)
        return "" if value is None or extra is None else f"{value / 1000:.0f} ({extra / 1000:.0f})"

    def verdict(ok: bool, text: str) -> str:
        return f"{'yes' if ok else '**no**'}: {text}"

    rows, cells = [], []
    for sampling, suffix, ours in (("100%", "", "full"), ("10%", "10", "ratio10")):
        floor = case.get(f"floor{suffix}")
        rows.append(
            f"| {framework} | {sampling} | {_fmt(bare and bare / 1000)} | "
            f"{_fmt(floor and floor / 1000)} | {cell(ours)} | {cell(f'zerocode{suffix}')} "
            f"| {cell(f'tutorial{suffix}')} |"
        )
        mine = above(ours)
        peers = [
            v for v in (above(f"zerocode{suffix}"), above(f"tutorial{suffix}")) if v is not None
        ]
        cells.append(
            verdict(mine <= min(peers), f"{mine / 1000:.0f}k vs {min(peers) / 1000:.0f}k")
            if mine is not None and peers
            else ""
        )
    full, sampled, floor = above("full"), above("ratio10"), case.get("floor")
    multiple = full / floor if full is not None and floor else None
    share = sampled / full if sampled is not None and full else None
    cells.append("" if multiple is None else verdict(multiple <= 2.0, f"{multiple:.2f}x"))
    cells.append("" if share is None else verdict(share <= 0.5, f"{share:.2f}"))
    return rows, f"| {framework} | " + " | ".join(cells) + " |"


def render_results(results: dict[str, Any]) -> str:
    settings = results["settings"]
    machine = results["machine"]
    load = ", ".join(f"{value:.2f}" for value in machine["load_average_at_start"])
    during = [run["load_average"] for run in results["runs"] if run.get("load_average")]
    load_during = (
        f"; 1-minute load average during the runs {min(during):.2f}-{max(during):.2f}, "
        f"median {statistics.median(during):.2f}"
        if during
        else ""
    )
    lines = [
        START,
        "",
        f"Machine: {machine['cpus']} CPUs (load average at start {load}{load_during}), "
        f"Python {machine['python']}, kernel {machine['kernel']}. "
        f"wrk -t{settings['threads']} -c{settings['connections']}, {settings['warmup']:g} s "
        f"warm-up then {settings['duration']:g} s measured per run, {settings['rounds']} "
        f"interleaved rounds, gunicorn WEB_CONCURRENCY={settings['workers']}"
        + (
            f"; then {settings['latency_duration']:g} s at a constant "
            f"{settings['latency_rate']} req/s (vegeta) for the latency at a load every case "
            "sustains"
            if settings.get("latency_rate")
            else ""
        )
        + ". Cells: median (min-max over rounds); ratios are per round against the bare run "
        "of the same round; CPU and req/s are from the wrk run.",
        "",
        *_peer_tables(results),
        *(_instruction_tables(results["instructions"]) if "instructions" in results else []),
        "#### Every case",
        "",
        *_throughput_tables(results["runs"]),
    ]
    if imports := results.get("import_seconds"):
        names = list(next(iter(imports.values())))
        lines += [
            "#### Cold start: CPU ms of a fresh interpreter from its start to the app imported",
            "",
            "| framework | " + " | ".join(names) + " |",
            "| --- | " + " | ".join("---" for _ in names) + " |",
        ]
        for framework, seconds in imports.items():
            lines.append(
                f"| {framework} | "
                + " | ".join(f"{seconds[name] * 1000:.0f}" for name in names)
                + " |"
            )
        lines.append("")
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
