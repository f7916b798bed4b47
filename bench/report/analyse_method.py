"""The facts the report's Method states about each run (settings, clients, versions, host, the
client's own overhead) and the client's health: levels sampled, budget, findings.

Health findings come from :func:`bench.analysis.saturation.saturation`, the code the run's
summary used, so the warning at the top, the Method section and the summary agree.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from bench.analysis.metrics import ok_mask, percentiles
from bench.analysis.saturation import saturation, summary_lines
from bench.analysis.workload import shape_order
from bench.fmt import DASH
from bench.report.data import ReportData, RunView
from bench.report.model import HealthRun, MethodRun, Overhead, Saturation
from bench.results.health import Budget, LevelHealth
from bench.results.run_file import RunMeta
from bench.scenario.flags import FLAGS_SOURCE
from bench.scenario.lengths import LengthDistribution, describe
from bench.scenario.slo import AggregateSlo, parse_key, slo_for_scenario
from bench.schema import BY_NAME, unit

#: What each client path is, for the method table.
CLIENT_NOTES: dict[str, str] = {
    "fast": "bench's lean HTTP client, the default: no SDK on the hot path, one write per request, stamps per socket read",
    "sdk": "each provider's official SDK, connection pool sized to the level's concurrency: what an application using the SDK sees, the SDK's own cost included",
}


def _health(run: RunView) -> tuple[list[LevelHealth], Budget, list[str]] | None:
    """run.json's client health: the levels, the budget it was judged by, the findings' messages
    (from :func:`bench.run.health.saturation`, the code the run's summary used); None when not sampled."""
    health = run.meta.client_health
    if health is None:
        return None
    levels, budget = health.levels, health.budget
    findings = [f.message for f in saturation(levels, budget=budget)]
    if not findings and health.saturated:
        findings = list(health.findings)
    return levels, budget, findings


def saturation_findings(data: ReportData) -> tuple[Saturation, ...]:
    """The runs whose measuring client went over its budget, with what it went over."""
    out = []
    for run in data.runs:
        health = _health(run)
        if health is not None and health[2]:
            out.append(Saturation(run.label, tuple(health[2])))
    return tuple(out)


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def health_runs(data: ReportData) -> tuple[HealthRun, ...]:
    """Method → Client health, per run that sampled its client or has a calibration."""
    out = []
    for run in data.runs:
        health = _health(run)
        calibration = run.meta.calibration
        if health is None and calibration is None:
            continue
        levels: tuple[LevelHealth, ...] | None = None
        budget: Budget | None = None
        findings: tuple[str, ...] = ()
        verdict = None
        if health is not None:
            level_list, budget, finding_list = health
            if any(level.shape for level in level_list):
                # With request shapes, levels as the other tables order groups (not as they finished).
                level_list = sorted(level_list, key=lambda level: shape_order(level.shape))
            levels, findings = tuple(level_list), tuple(finding_list)
            if not findings:
                lines = summary_lines(saturation(level_list, budget=budget), level_list, budget)
                verdict = _sentence(lines[0].removeprefix("client health: ")) + "."
        out.append(
            HealthRun(
                label=run.label,
                run_id=run.run_id,
                levels=levels,
                budget=budget,
                findings=findings,
                verdict=verdict,
                calibration_note=calibration.note if calibration is not None and calibration.note else None,
                calibration_date=calibration.date if calibration is not None and calibration.date else None,
            )
        )
    return tuple(out)


# --------------------------------------------------------------------------- method facts


def _scenario_path(path: object) -> str | None:
    """As recorded, but an absolute path is cut to its last two parts: a report must not depend
    on (or reveal) where the run's checkout lived. None when nothing was recorded."""
    if not isinstance(path, str) or not path:
        return None
    parts = path.replace("\\", "/").split("/")
    if path.startswith("/") or (len(path) > 1 and path[1] == ":"):
        return "…/" + "/".join(parts[-2:])
    return path


def _versions(meta: RunMeta) -> str:
    versions = meta.versions
    return ", ".join(f"{k} {versions[k]}" for k in sorted(versions)) or DASH


def _host(meta: RunMeta) -> str:
    host = meta.host
    if not host:
        return DASH
    parts = [str(host.get(k)) for k in ("hostname", "platform", "machine") if host.get(k)]
    if host.get("cpu_count"):
        parts.append(f"{host['cpu_count']} CPUs")
    return ", ".join(parts)


def _table(value: object) -> dict[str, Any]:
    """A table of the recorded scenario, or an empty one when an old or odd run.json lacks it."""
    return value if isinstance(value, dict) else {}


def _length(value: object) -> str:
    """A recorded length: ``128``, or a distribution as ``mean 600 ± 300 (16–4000)``."""
    if isinstance(value, dict):
        try:
            return describe(LengthDistribution.model_validate(value))
        except ValueError:
            return str(value)
    return str(value)


def _ladder(values: list[Any]) -> str:
    """``2,000 / 8,000 / 24,000``: a ladder's rungs as the report writes numbers."""
    return " / ".join(f"{int(v):,}" if isinstance(v, (int, float)) else str(v) for v in values)


def _request_text(req: dict[str, Any]) -> str:
    parts = [
        (
            f"max_tokens: ladder {_ladder(req[k])}, each rung its own group"
            if k == "max_tokens" and isinstance(req[k], list)
            else f"{k} = {_length(req[k]) if k == 'max_tokens' else req[k]}"
        )
        for k in ("stream", "max_tokens", "temperature", "max_retries")
        if k in req
    ]
    if req.get("tools"):
        parts.append(f"{len(req['tools'])} tool(s), tool_choice = {req.get('tool_choice') or 'auto'}")
    if req.get("response_format"):
        parts.append(f"response_format = {req['response_format']}")
    return ", ".join(parts) or DASH


def _per_target(sc: dict[str, Any]) -> str:
    """Each target's own ``[target.request]`` settings, where it has any."""
    out = []
    for target in sc.get("targets") or []:
        own = target.get("request") if isinstance(target, dict) else None
        if isinstance(own, dict) and own:
            shown = ", ".join(
                f"{k} = {_length(v) if k == 'max_tokens' else (f'{len(v)} tool(s)' if k == 'tools' else v)}"
                for k, v in own.items()
            )
            out.append(f"{target.get('label', '?')}: {shown}")
    return "; ".join(out)


def _settings(run: RunView) -> tuple[str, str, str]:
    sc = run.scenario
    req = _table(sc.get("request"))
    prompts = _table(sc.get("prompts"))
    load = _table(sc.get("load"))
    request = _request_text(req)
    own = _per_target(sc)
    if own:
        request += f"; per target: {own}"
    prompt = DASH
    if prompts:
        prompt = f"{prompts.get('source', '?')}, " + _input_text(prompts.get("input_tokens", "?"))
        if prompts.get("seed") is not None:
            prompt += f", seed {prompts['seed']}"
        bins = prompts.get("bins")
        if isinstance(bins, list) and bins:
            prompt += "; " + _bins_text(bins)
        cache = prompts.get("cache", "cold")
        if isinstance(cache, list):
            cache_text = (
                " and ".join(str(c) for c in cache)
                + " cache, each its own group"
                + ("; warm primed once per target, level and rung" if "warm" in cache else "")
            )
        else:
            cache_text = f"{cache} cache"
        if prompts.get("shared_prefix_tokens"):
            prompt += f"; a shared {prompts['shared_prefix_tokens']:,}-token prefix, {cache_text}"
        elif isinstance(cache, list):
            prompt += f"; {cache_text}"
        if (prompts.get("turns") or 1) > 1:
            prompt += f"; conversations of {prompts['turns']} turns, {prompts.get('think_time_s', 0):g} s think time"
    if run.meta.prompts_unique:
        prompt += "; unique prompt per request (no prompt-cache flattery)"
    load_text = DASH
    if load:
        levels = ", ".join(f"{float(x):g}" for x in load.get("levels") or [])
        load_text = f"{load.get('mode', '?')} [{levels}]"
        if load.get("trace"):
            name = str(load["trace"]).replace("\\", "/").rsplit("/", 1)[-1]
            load_text = f"trace replay of `{name}` (sha256 {load.get('trace_sha256', '?')}) at speedup {load.get('speedup', 1):g}, mean {levels} req/s"
        if load.get("requests") is not None:
            load_text += f", {load['requests']} requests per level"
        if load.get("duration_s") is not None:
            load_text += f", {load['duration_s']} s per level"
        if load.get("burstiness", 1.0) != 1.0:
            load_text += f", burstiness {load['burstiness']:g} (gamma arrivals)"
        if load.get("ramp_up_s"):
            load_text += f", {load['ramp_up_s']:g} s linear ramp-up"
        load_text += f", {load.get('warmup', 0)} warm-up per level, timeout {load.get('timeout_s', '?')} s"
    order = run.meta.order if len(sc.get("targets") or []) > 1 else None
    if order:
        load_text += (
            "; targets interleaved (each level run by every target side by side)"
            if order == "interleaved"
            else "; targets one after another"
        )
    return request, prompt, load_text


def _input_text(value: object) -> str:
    """The prompt length: ``~128 input tokens``, a distribution, or a ladder's rungs."""
    if isinstance(value, list):
        return f"input tokens: ladder {_ladder(value)}, each rung its own group"
    return f"~{_length(value)} input tokens"


def _bins_text(bins: list[Any]) -> str:
    """``bins = [0, 1000, 8000]`` in words: the groups drawn or replayed lengths fall into."""
    edges = [int(b) for b in bins if isinstance(b, (int, float))]
    names = []
    if edges and edges[0] > 0:
        names.append(f"below {edges[0]:,}")
    for i, low in enumerate(edges):
        names.append(f"{low:,}–{edges[i + 1] - 1:,}" if i + 1 < len(edges) else f"{low:,} and more")
    return "input lengths grouped in bins " + " / ".join(names) + " tokens, each bin its own group"


def _rule_words(key: str, value: float) -> str:
    """One SLO rule in words: ``first token p95 ≤ 4,000 ms``."""
    if key == "error_rate_max":
        return f"error rate ≤ {value:.1%}"
    rule = parse_key(key, value)
    if rule is None:
        return f"{key} = {value:g}"
    stat = rule.stat if isinstance(rule, AggregateSlo) else "of each request (goodput)"
    ms = " ms" if unit(rule.column) == "ms" else ""
    return f"{BY_NAME[rule.column].heading} {stat} {'≥' if rule.at_least else '≤'} {value:,.10g}{ms}"


def slo_classes_text(scenario: dict[str, Any]) -> str | None:
    """Each ``[slo.class.NAME]`` of the run in words: what it covers and its rules (which replace
    the scenario's and the target's rules of the same keys there); None when there is none."""
    classes = slo_for_scenario(scenario).classes
    if not classes:
        return None
    out = []
    for klass in classes:
        covers = []
        if klass.input_tokens:
            covers.append(f"input {_ladder(list(klass.input_tokens))} tokens")
        if klass.max_tokens:
            covers.append(f"output {_ladder(list(klass.max_tokens))} tokens")
        if klass.cache:
            covers.append(f"{klass.cache} cache")
        rules = ", ".join(_rule_words(k, v) for k, v in klass.table)
        name = klass.name.replace("`", "'")
        out.append(f"`{name}` covers {' and '.join(covers) or 'no shape'}: {rules}")
    return "; ".join(out) + " (in place of the scenario's rules of the same key there)"


def _overhead(run: RunView) -> Overhead:
    """The client's own cost and saturation: from the rows when they carry it, else from run.json."""
    m = run.measured
    covered: set[str] = set()
    prep_figures = lag_figures = None
    if len(m):
        prep = percentiles(m["sdk_prep_ms"].to_numpy(dtype="float64", na_value=np.nan), [50, 99])
        if not math.isnan(prep[0]):
            covered.add("sdk_prep_ms")
            prep_figures = (float(prep[0]), float(prep[1]))
        lag = percentiles(m["start_lag_ms"].to_numpy(dtype="float64", na_value=np.nan), [50, 99])
        if not math.isnan(lag[0]):
            covered.add("start_lag_ms")
            lag_figures = (float(lag[0]), float(lag[1]))
    extras = []
    overhead = run.meta.overhead
    for key in sorted(overhead):
        value = overhead[key]
        if any(key.startswith(c) for c in covered) or isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        extras.append((key, float(value)))
    return Overhead(prep_figures, lag_figures, tuple(extras))


def _token_sources(run: RunView) -> tuple[tuple[str, int], ...]:
    m = run.measured
    sources = m["token_source"].loc[ok_mask(m)]
    if sources.empty:
        return ()
    counts = sources.astype("object").fillna("none").value_counts()
    return tuple((str(k), int(counts[k])) for k in sorted(counts.index))


def clients_by_target(run: RunView) -> dict[str, list[str]]:
    """Which client paths measured each target: from its requests, else from run.json."""
    m = run.measured
    out: dict[str, list[str]] = {}
    if len(m):
        # Distinct pairs in order of first appearance (a million rows: deduplicated, not iterated).
        for target, client in m[["target", "client"]].drop_duplicates().itertuples(index=False, name=None):
            if isinstance(client, str) and client:
                out.setdefault(str(target), []).append(client)
    if out:
        return {target: sorted(clients, key=lambda c: (c != "fast", c)) for target, clients in out.items()}
    for target in run.scenario.get("targets") or []:
        if isinstance(target, dict) and target.get("label"):
            client = target.get("client")
            out[str(target["label"])] = [str(c) for c in client] if isinstance(client, list) else [str(client)] if client else []
    if not any(out.values()) and run.meta.client:
        return {"": run.meta.client.split(",")}
    return out


def _clients(run: RunView) -> str:
    """Which client measured each target (one line when every target had the same)."""
    by_target = {target: clients for target, clients in clients_by_target(run).items() if clients}
    if not by_target:
        return DASH
    used = sorted({c for clients in by_target.values() for c in clients}, key=lambda c: (c != "fast", c))
    sets = {tuple(clients) for clients in by_target.values()}
    if len(used) == 1:
        return f"{used[0]} ({CLIENT_NOTES[used[0]]})" if used[0] in CLIENT_NOTES else used[0]
    notes = "; ".join(f"{c} is {CLIENT_NOTES[c]}" if c in CLIENT_NOTES else c for c in used)
    if len(sets) == 1:
        which = " and ".join(next(iter(sets))) + " for every target, one after the other within each load level"
    else:
        which = "; ".join(f"{target}: {' and '.join(clients)}" for target, clients in by_target.items())
    return f"{which} ({notes})"


def _execution(run: RunView) -> str | None:
    meta = run.meta
    if all(v is None for v in (meta.event_loop, meta.workers, meta.executor)):
        return None
    parts = []
    if meta.event_loop:
        parts.append(f"{meta.event_loop} event loop")
    if meta.workers is not None:
        parts.append(f"{meta.workers} worker process{'es' if meta.workers != 1 else ''}")
    if meta.executor:
        parts.append(f"executor {meta.executor}")
    return ", ".join(parts) or DASH


def method_runs(data: ReportData) -> tuple[MethodRun, ...]:
    out = []
    for r in data.runs:
        request, prompts, load = _settings(r)
        out.append(
            MethodRun(
                name=r.label or "this run",
                run_id=r.run_id,
                started_at=r.meta.started_at if isinstance(r.meta.started_at, str) else None,
                ended_at=r.meta.ended_at if isinstance(r.meta.ended_at, str) else None,
                emulated=r.emulated,
                scenario_path=_scenario_path(r.meta.scenario_path),
                scenario_from_flags=r.meta.scenario_path == FLAGS_SOURCE,
                fingerprint=r.meta.fingerprint or None,
                clients=_clients(r),
                request=request,
                prompts=prompts,
                load=load,
                measured=len(r.measured),
                warmup=r.warmup_rows,
                cancelled=r.cancelled_rows,
                retries=int(r.measured["retries"].sum()) if len(r.measured) else 0,
                token_sources=_token_sources(r),
                versions=_versions(r.meta),
                host=_host(r.meta),
                git_revision=r.meta.git_revision or None,
                overhead=_overhead(r),
                execution=_execution(r),
                prompt_note=r.meta.prompt_note or None,
                slo_classes=slo_classes_text(r.scenario),
            )
        )
    return tuple(out)
