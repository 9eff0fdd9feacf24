"""Benchmarks/run's output: tables per model with ratios, the doc section, the latency-throughput plot."""

import re
from pathlib import Path

BEGIN = "<!-- Benchmarks/run: begin (generated; the script replaces this section) -->"
END = "<!-- Benchmarks/run: end -->"


def _rate(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value / 1000:.1f}k" if value >= 1000 else f"{value:.0f}"


def _us(value: float) -> str:
    return f"{value / 1000:.1f} ms" if value >= 10_000 else f"{value:.0f} µs"


def _ratio(numerator, denominator) -> str:
    if not numerator or not denominator:
        return "—"
    return f"{numerator / denominator:.2f}×"


def _max_rate(entry: dict) -> str:
    if not entry.get("open"):
        return "n/a (closed loop only)"
    if entry.get("max_rate") is None:
        return f"none ≥ {_rate(min(point['rate'] for point in entry['open']))}"
    return _rate(entry["max_rate"])


def _ok(point: dict) -> str:
    bad = {code: count for code, count in point["status"].items() if code != "OK"}
    return "" if not bad else " (" + ", ".join(f"{code} {count}" for code, count in bad.items()) + ")"


def render(results: dict, groups: dict[str, str]) -> str:
    """The markdown section: machine, command, one table per model, targets, generator ceilings, skipped peers."""
    machine, settings = results["machine"], results["settings"]
    lines = [
        f"Command: `{results['command']}` — {settings['duration']:g} s per point, one round; machine: {machine['cpu']}, "
        f"{machine['cores']} cores (load average before: {machine['load_before']}); setup + release build "
        f"{results['seconds']['setup_and_build']} s, whole run {results['seconds']['total']} s.",
        "",
        "The servers, their load generators and every helper share these cores (nothing is pinned), so absolute figures "
        "move from run to run: read the ratios, which are taken within this run. Closed loop at C requests in flight; "
        "\"max rate\" is the highest open-loop rate tried (rising fractions of the system's best closed-loop "
        "throughput) whose p99 stayed ≤ 5 ms with every reply OK. \"vs best peer\" divides max rates; \"C=1 p50 vs "
        "floor\" divides by (raw echo REQ/REP C=1 p50 + `zserve perf` kernel p50). CPU µs/req: the server process's "
        "user + system time over the C=64 run divided by its replies (Ray's replicas run in other processes: not "
        "counted).",
        "",
    ]
    for model, systems in results["models"].items():
        kernel = results["kernel"][model]["p50_us"]
        echo_req = systems.get("raw echo REQ/REP", {}).get("closed", {}).get(1, {}) or \
            systems.get("raw echo REQ/REP", {}).get("closed", {}).get("1", {})
        floor = (echo_req.get("p50_us", 0) + kernel) if echo_req else None
        peer_rates = {name: entry["max_rate"] for name, entry in systems.items()
                      if groups.get(name) == "peer" and entry.get("max_rate")}
        best_peer = max(peer_rates.items(), key=lambda item: item[1]) if peer_rates else None
        lines += [f"### {model} (kernel p50 {kernel:.1f} µs, batch 1, `zserve perf`)", "",
                  "| system | C=1 req/s · p50 · p99 | C=8 req/s · p99 | C=64 req/s · p99 | max rate, p99 ≤ 5 ms | "
                  "vs best peer | C=1 p50 vs floor | CPU µs/req C=64 |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for name, entry in systems.items():
            closed = {int(key): value for key, value in entry["closed"].items()}
            one, eight, many = closed.get(1), closed.get(8), closed.get(64)
            cells = [
                f"{_rate(one['throughput_rps'])} · {_us(one['p50_us'])} · {_us(one['p99_us'])}{_ok(one)}" if one else "—",
                f"{_rate(eight['throughput_rps'])} · {_us(eight['p99_us'])}{_ok(eight)}" if eight else "—",
                f"{_rate(many['throughput_rps'])} · {_us(many['p99_us'])}{_ok(many)}" if many else "—",
                _max_rate(entry),
                _ratio(entry.get("max_rate"), best_peer[1] if best_peer else None)
                if entry.get("open") and groups.get(name) != "floor" else "—",
                _ratio(one["p50_us"], floor) if one and floor and groups.get(name) != "floor" else "—",
                f"{many['cpu_us_per_request']:.1f}" if many and "cpu_us_per_request" in many else "—",
            ]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines.append("")
        lines += _targets(model, systems, groups, floor, best_peer)
    if results["skipped"]:
        lines += ["Skipped: " + "; ".join(f"{name}: {why}" for name, why in results["skipped"].items()), ""]
    return "\n".join(lines)


def _targets(model: str, systems: dict, groups: dict, floor: float | None, best_peer) -> list[str]:
    """Issue 16's targets for one model, and the generators' ceilings."""
    zserve = {name: entry for name, entry in systems.items() if groups.get(name) == "zserve"}
    lines = []
    if zserve and best_peer:
        name, entry = max(zserve.items(), key=lambda item: item[1].get("max_rate") or 0)
        lines.append(f"- Throughput at p99 ≤ 5 ms: {name} {_rate(entry.get('max_rate'))} req/s vs best peer "
                     f"({best_peer[0]}) {_rate(best_peer[1])}: **{_ratio(entry.get('max_rate'), best_peer[1])}** "
                     "(target ≥ 3×).")
    if zserve and floor:
        def c1(entry):
            return {int(k): v for k, v in entry["closed"].items()}.get(1)
        name, entry = min(zserve.items(), key=lambda item: c1(item[1])["p50_us"] if c1(item[1]) else 1e18)
        one = c1(entry)
        lines.append(f"- Batch-1 latency: {name} C=1 p50 {_us(one['p50_us'])} vs floor {_us(floor)}: "
                     f"**{_ratio(one['p50_us'], floor)}** (target ≤ 1.25×); its p99 / p50 "
                     f"**{_ratio(one['p99_us'], one['p50_us'])}** (target ≤ 2×).")
    batched = systems.get("ZServe 2 workers, batch 64")
    if batched:
        many = {int(k): v for k, v in batched["closed"].items()}.get(64, {})
        if "cpu_us_per_request" in many:
            lines.append(f"- Server CPU per request, 2 workers, batch 64, C=64: **{many['cpu_us_per_request']:.1f} µs** "
                         "(target ≤ 10 µs).")
    echo = systems.get("raw echo DEALER/ROUTER")
    if echo and zserve:
        echo64 = {int(k): v for k, v in echo["closed"].items()}.get(64)
        best64 = max(({int(k): v for k, v in entry["closed"].items()}.get(64, {}).get("throughput_rps", 0)
                      for entry in zserve.values()))
        if echo64:
            lines.append(f"- Generator ceiling: `zserve bench` against the raw DEALER/ROUTER echo at C=64 reaches "
                         f"{_rate(echo64['throughput_rps'])} req/s; the best ZServe C=64 run is "
                         f"{_ratio(best64, echo64['throughput_rps'])} of it.")
    grpc_echo, grpc_peer = systems.get("gRPC echo (load.py ceiling)"), systems.get("grpcio aio + onnxruntime")
    if grpc_echo and grpc_peer:
        ceiling = {int(k): v for k, v in grpc_echo["closed"].items()}.get(64, {}).get("throughput_rps")
        peer = {int(k): v for k, v in grpc_peer["closed"].items()}.get(64, {}).get("throughput_rps")
        lines.append(f"- gRPC generator ceiling (load.py, 2 processes, against a gRPC echo) at C=64: {_rate(ceiling)} "
                     f"req/s; the grpcio peer reaches {_ratio(peer, ceiling)} of it.")
    return lines + [""]


def write_doc(path: Path, text: str) -> None:
    """Replaces the marked section of docs/benchmarks.md (added after the title paragraph when missing)."""
    doc = path.read_text()
    section = f"{BEGIN}\n## Floor, ZServe and peers in one run (issue 16, `Benchmarks/run`)\n\n{text}\n" \
              f"![p99 latency against throughput](benchmarks-latency-throughput.png)\n{END}"
    if BEGIN in doc and END in doc:
        doc = re.sub(re.escape(BEGIN) + r".*?" + re.escape(END), lambda _: section, doc, flags=re.S)
    else:
        head, _, rest = doc.partition("\n\n## ")
        doc = f"{head}\n\n{section}\n\n## {rest}"
    path.write_text(doc)


def plot(results: dict, path: Path) -> None:
    """p99 latency against throughput per model: every closed-loop and open-loop point of every system."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    models = list(results["models"])
    figure, axes = plt.subplots(1, len(models), figsize=(7 * len(models), 5.5), squeeze=False)
    for axis, model in zip(axes[0], models):
        colors = plt.get_cmap("tab20").colors
        for index, (name, entry) in enumerate(results["models"][model].items()):
            color = colors[(2 * index) % 20 if index < 10 else (2 * index + 1) % 20]
            style = "--" if name.startswith(("raw echo", "gRPC echo")) else "-"
            # Open loop: a line through the sweep, in rate order; closed loop: squares labelled C.
            sweep = sorted((p["throughput_rps"], p["p99_us"] / 1000) for p in entry["open"] if p["throughput_rps"] > 0)
            if sweep:
                axis.plot(*zip(*sweep), style, color=color, marker="o", markersize=3)
            closed = [(c, p["throughput_rps"], p["p99_us"] / 1000) for c, p in entry["closed"].items()
                      if p["throughput_rps"] > 0]
            axis.scatter([x for _, x, _ in closed], [y for _, _, y in closed], color=color, marker="s", s=14,
                         label=name)
            for concurrency, x, y in closed:
                axis.annotate(str(concurrency), (x, y), fontsize=6, color=color, xytext=(2, 2),
                              textcoords="offset points")
        axis.axhline(5, color="grey", linewidth=0.8, linestyle=":")
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xlabel("throughput (req/s)")
        axis.set_ylabel("p99 latency (ms)")
        axis.set_title(f"{model}: closed loop (squares, labelled C) and open-loop sweep (lines)")
        axis.grid(True, which="both", linewidth=0.3)
    axes[0][0].legend(fontsize=7, loc="upper left")
    figure.suptitle(f"{results['machine']['cpu']}, {results['machine']['cores']} cores shared by servers and "
                    f"generators — {results['command']}", fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)
