"""The bench's report logic on fixed numbers (never timings), and the forked `matrix` recorder:
same graphs as in-process recording, JSON round trip exact, errors as a sequential run's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from offline import bench, parallel
from offline.bench import Check, Figure, Run
from resource_graph import Graph
from tests.conftest import ENVIRONMENTS, environment_graph


def figure(name: str, *seconds: float, mib: float = 100.0) -> Figure:
    return Figure(name, tuple(Run(s, mib) for s in seconds))


def test_figures_are_medians_of_their_runs() -> None:
    f = Figure("plan", (Run(9.0, 150.0), Run(2.0, 190.0), Run(3.0, 170.0)))
    assert (f.seconds, f.peak_mib) == (3.0, 170.0)


def test_checks_are_ratios_against_the_issue_targets() -> None:
    plan = figure("plan", 2.2, mib=199.0)
    reference = figure("reference", 2.0)
    matrix = figure("matrix", 2.7)
    found = {c.what: c for c in bench.checks(plan, matrix, reference, suite_seconds=50.0)}
    ratio = found["plan / reference (wall)"]
    assert ratio.value == pytest.approx(1.1) and ratio.limit == 1.1 and ratio.ok
    assert found["matrix / plan (wall)"].value == pytest.approx(2.7 / 2.2)
    assert not found["matrix / plan (wall)"].ok  # 1.23x > 1.2x
    assert found["plan peak RSS"].ok and found["plan peak RSS"].limit == 200.0
    assert not found["test suite (wall)"].ok
    assert "test suite (wall)" not in {c.what for c in bench.checks(plan, matrix, reference)}


def test_report_shows_figures_side_by_side_and_every_verdict() -> None:
    figures = [figure("plan --env prod", 3.0, 2.0, 2.5), figure("reference", 2.4, 2.3, 2.2)]
    found = [
        Check("plan / reference (wall)", 1.25, 1.1, "x"),
        Check("plan peak RSS", 180, 200, "MiB"),
    ]
    lines = bench.report(figures, found, 3, once=[("pytest -n 2", 41.5)])
    assert "median of 3" in lines[0]
    plan_row = next(line for line in lines if line.startswith("plan --env prod"))
    assert plan_row.split()[3:5] == ["2.50", "100.0"]
    assert "(3.00, 2.00, 2.50)" in plan_row
    assert any(line.startswith("pytest -n 2") and "41.50" in line for line in lines)
    verdicts = {line.split("  ")[0]: line for line in lines if "target <=" in line}
    assert verdicts["plan / reference (wall)"].endswith("OVER") and "1.25x" in lines[-2]
    assert verdicts["plan peak RSS"].endswith("ok") and "target <= 200 MiB" in lines[-1]


def test_the_reference_imports_the_services_the_program_uses() -> None:
    services = bench.program_services()
    assert {"ec2", "s3", "sqs", "ecs", "rds"} <= set(services)
    assert all(not s.startswith("get_") for s in services)


def test_sdk_services_reads_aliases_and_from_imports(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text(
        "import pulumi_aws as cloud\nfrom pulumi_aws.appautoscaling import Policy\n"
        "cloud.sqs.Queue('q')\naws.sns.Topic('not the sdk alias here')\n"
    )
    assert parallel.sdk_services([source]) == {"sqs", "appautoscaling"}


def canonical(graph: Graph) -> object:
    """Registration order (and dependency order) varies run to run; the content does not."""
    resources = sorted(
        (
            {**parallel.graph_to_json(Graph(graph.env, graph.suffix, (r,), {}))["resources"][0]}
            | {"dependencies": sorted(r.dependencies)}
            for r in graph
        ),
        key=lambda r: str(r["urn"]),
    )
    return json.dumps([graph.env, graph.suffix, dict(graph.outputs), resources], sort_keys=True)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_graph_json_round_trip_is_exact(env: str) -> None:
    graph = environment_graph(env)
    data = json.loads(json.dumps(parallel.graph_to_json(graph)))
    assert parallel.graph_from_json(data) == graph


@pytest.mark.skipif(not parallel.can_fork(), reason="fork is unavailable on this platform")
def test_forked_recording_gives_the_in_process_graphs() -> None:
    jobs = [parallel.Job(env) for env in ENVIRONMENTS] + [parallel.Job(ENVIRONMENTS[0], "pr-3")]
    forked = parallel.record_all(jobs, processes=2)
    assert [(g.env, g.suffix) for g in forked] == [(job.env, job.suffix or job.env) for job in jobs]
    for job, graph in zip(jobs, forked, strict=True):
        expected = environment_graph(job.env, job.suffix)
        assert canonical(graph) == canonical(expected), job


def test_a_failing_child_is_recorded_again_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """The parent's own attempt raises exactly what a sequential run would."""
    calls: list[str] = []

    def record(env: str, suffix: str | None = None) -> Graph:
        calls.append(env)
        raise SystemExit(f"config error: {env}")

    monkeypatch.setattr(parallel, "record", record)
    monkeypatch.setattr(parallel, "preload", lambda: None)
    with pytest.raises(SystemExit, match="config error: dev"):
        parallel.record_all([parallel.Job("dev"), parallel.Job("prod")], processes=2)
    assert calls == ["dev"]  # the children's calls happened in their own processes


def test_without_fork_recording_is_sequential(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "can_fork", lambda: False)
    monkeypatch.setattr(parallel, "record", lambda env, suffix=None: Graph(env, env, (), {}))
    graphs = parallel.record_all([parallel.Job("dev"), parallel.Job("prod")])
    assert [g.env for g in graphs] == ["dev", "prod"]
