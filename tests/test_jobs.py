"""The stack's background jobs: a detached runner, state files with progress, failures named, order kept."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from tests.hub_support import wait_until
from workbench.errors import ConfigError
from workbench.platform import jobs


def test_progress_and_time_left_come_from_the_jobs_own_tqdm_bar() -> None:
    from tqdm import tqdm

    out = io.StringIO()
    bar = tqdm(total=200, file=out, desc="training tagger", mininterval=0, miniters=1)
    for _ in range(120):
        bar.update(1)
    bar.refresh()
    done, left = jobs.log_progress("starting\n" + out.getvalue())  # type: ignore[misc]
    assert done == 0.6
    assert left is not None and left >= 0
    assert jobs.log_progress("no bar here\n") is None


def test_a_job_shows_no_library_progress_bar_that_would_pass_for_its_own() -> None:
    """transformers draws "Loading weights: 100%" as the topic job loads its encoder; in a job's environment
    it draws nothing, so the job's progress is its own bar's (or its elapsed time against its last run)."""
    import os
    import subprocess
    import sys

    draw = ("from transformers.utils import logging; "
            "list(logging.tqdm(range(3), desc='Loading weights', mininterval=0))")
    plain = {k: v for k, v in os.environ.items() if k != "HF_HUB_DISABLE_PROGRESS_BARS"}
    for env, drawn in ((plain, True), (jobs.job_environment(), False)):
        shown = subprocess.run([sys.executable, "-c", draw], env=env, capture_output=True, text=True, timeout=120)
        assert shown.returncode == 0, shown.stderr
        assert (jobs.log_progress(shown.stderr) is not None) is drawn, shown.stderr[-300:]


@pytest.mark.parametrize(("text", "reason"), [
    ('[[jobs]]\nname = "a"\ntitle = "A"\ncommand = ["config"]\nafter = ["b"]\n', "jobs: jobs[0] (a): after names unknown jobs ['b']"),
    ('[[jobs]]\nname = "a"\ntitle = "A"\ncommand = []\n', "jobs.0.command"),
    ('[[jobs]]\nname = "a"\ntitle = "A"\ncommand = ["x"]\n[[jobs]]\nname = "a"\ntitle = "B"\ncommand = ["y"]\n', "jobs: job names must be unique: ['a']"),
    ('[[jobs]]\nname = "a"\ntitle = "A"\ncommand = ["x"]\nafter = ["b"]\n[[jobs]]\nname = "b"\ntitle = "B"\ncommand = ["y"]\n', "jobs: jobs[0] (a): after ['b'], which come later in the file"),
])
def test_a_broken_plan_names_the_file_the_key_and_the_reason(tmp_path: Path, text: str, reason: str) -> None:
    plan = tmp_path / "jobs.toml"
    plan.write_text(text)
    with pytest.raises(ConfigError, match=str(plan)) as caught:
        jobs.load_plan(plan)
    assert reason in str(caught.value)


def test_the_packaged_plan_is_valid_and_names_a_step_for_each_table_it_makes() -> None:
    plan = jobs.load_plan()
    assert jobs.missing_step("curated.graph_nodes") == "workbench network build"
    assert jobs.missing_step("curated.document_mentions") == "workbench nlp extract"
    assert jobs.missing_step("curated.declarations") is None  # made by ingest before the stack starts
    last = plan.jobs[-1]
    assert set(plan.deps(last)) == {j.name for j in plan.jobs[:-1]}  # "*": after everything else


def test_detached_runner_tracks_each_job_names_failures_and_blocks_dependents(tmp_path: Path) -> None:
    """A job fails on a table a packaged job makes (the error names that step), the job after it is
    blocked naming it, and the job after "*" still runs and succeeds; the runner outlives `start`.
    Meanwhile the supervised group the plan outranks runs niced, and at full priority again after."""
    import os

    from workbench.platform.supervisor import Program, Supervisor

    lake, state = tmp_path / "lake", tmp_path / "state"
    plan_file = tmp_path / "jobs.toml"
    plan_file.write_text(f"""parallel = 2
outranks = ["loop"]
[[jobs]]
name = "needs-graph"
title = "Graph query"
command = ["sql", "SELECT count(*) FROM curated.graph_nodes", "--lake", "{lake}"]
[[jobs]]
name = "after-graph"
title = "Never runs"
command = ["config"]
after = ["needs-graph"]
[[jobs]]
name = "last"
title = "Always runs"
command = ["config", "--format", "json"]
after = ["*"]
""")
    plan = jobs.load_plan(plan_file)
    assert [s.status for s in jobs.states(state, plan)] == ["not started"] * 3
    supervisor = Supervisor(state)
    supervisor.add_group("loop", [Program("feed", ["/bin/sleep", "600"], startsecs=0)], dict(os.environ))
    try:
        feed = wait_until(lambda: supervisor.processes()[0].pid, 30, what="the loop running")
        pid = jobs.start(state, cwd=tmp_path, env={"WORKBENCH_CONFIG": ""}, plan_file=plan_file)
        assert jobs.start(state, cwd=tmp_path, plan_file=plan_file) == pid  # one runner at a time
        ours = os.getpriority(os.PRIO_PROCESS, 0)  # the runner's and supervisord's too
        yielding = min(ours + jobs.JOB_NICENESS + jobs.YIELDING, 19)
        wait_until(lambda: os.getpriority(os.PRIO_PROCESS, feed) == yielding, 30, what="the loop yielding")
        final = {s.name: s for s in jobs.wait(state, timeout=180, poll=0.5, plan=plan)}
        wait_until(lambda: jobs.runner_pid(state) is None, 30, what="the runner ending after its last job")
        assert os.getpriority(os.PRIO_PROCESS, feed) == ours
    finally:
        supervisor.stop(timeout=30)
    assert {n: s.status for n, s in final.items()} == {
        "needs-graph": "failed", "after-graph": "blocked", "last": "done"}
    assert final["last"].exit_code == 0 and final["last"].progress == 1.0
    assert "unknown table 'curated.graph_nodes'" in (final["needs-graph"].error or "")
    assert "it is made by `workbench network build`" in (final["needs-graph"].error or "")
    assert "needs-graph" in (final["after-graph"].error or "")
    assert final["last"].started is not None and final["last"].started >= (final["needs-graph"].finished or 0)
    folder = jobs.jobs_dir(state)
    assert oct(folder.stat().st_mode & 0o777) == "0o700"
    assert json.loads((folder / "last.json").read_text())["status"] == "done"
    assert "lake" in (folder / "last.log").read_text()  # each job's output in its own log
    assert final["last"].cpu_seconds is not None and final["last"].cpu_seconds > 0  # its own CPU, children included


def test_apps_and_commands_can_say_how_far_a_missing_table_is(tmp_path: Path) -> None:
    """What an app shows instead of "not available": the job making the table, its progress and time left."""
    import subprocess
    import sys
    import time

    state = tmp_path / "state"
    folder = jobs.jobs_dir(state)
    folder.mkdir(parents=True)
    assert jobs.building(["curated.graph_nodes"], state) is None  # never started: nothing to promise
    runner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "workbench"])
    try:
        jobs._record_runner(folder, runner.pid)
        (folder / "network-build.json").write_text(json.dumps(
            {"status": "running", "pid": runner.pid, "started": time.time() - 60, "progress": 0.6,
             "seconds_left": 130}))
        assert jobs.building(["curated.graph_nodes"], state) == "being built: 60%, about 2 min (Evidence graph)"
        assert jobs.building(["curated.declarations"], state) is None  # no job makes it
        (folder / "nlp-extract.json").write_text(json.dumps({"status": "failed", "error": "error: out of memory"}))
        (folder / "network-build.json").write_text(json.dumps({"status": "blocked", "error": "needs nlp-extract"}))
        assert jobs.building(["curated.document_mentions"], state) == (
            "not built: Entity extraction from documents failed (error: out of memory); "
            "run `workbench nlp extract` or see `workbench jobs`")
    finally:
        runner.kill()
        runner.wait()


def test_extract_without_a_model_exits_naming_the_step_that_makes_it(tmp_path: Path) -> None:
    """Issue 15's contract: no model -> exit non-zero naming the command (never a silent rules-only run)."""
    from click.testing import CliRunner

    from workbench.cli.main import main

    texts = tmp_path / "in.jsonl"
    texts.write_text('{"id": "1", "text": "Call 9123 4567"}\n')
    result = CliRunner().invoke(main, ["nlp", "extract", "--input", str(texts), "--output", str(tmp_path / "out.jsonl"),
                                       "--lake", str(tmp_path / "lake")])
    assert result.exit_code == 1, result.output
    assert "no trained ner model" in result.stderr and "`workbench nlp train --task ner`" in result.stderr
    assert "workbench jobs" in result.stderr and not (tmp_path / "out.jsonl").exists()
