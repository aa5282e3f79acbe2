"""One-shot background work of the stack: tracked jobs with progress, time left and a log each.

``make up`` starts the hub first and leaves the heavy steps (NER and classifier training,
extraction, entity resolution, the graph, ...) to the jobs of ``jobs.toml``: ``start``
launches a detached runner (its own session, so it outlives the command that started it)
which runs each job as ``workbench <command>`` from the checkout, at most ``parallel`` at
once, in the order ``after`` allows. Daemons (hub, audit, SIEM) are not jobs: they belong
to the stack's supervisor (``stack.py``). Jobs run behind what people wait on (niceness +5),
and the supervised groups the plan ``outranks`` (the live loop) behind the jobs while they run.

Everything lives in ``<stack state>/jobs`` (0700, root's): ``<name>.json`` is a job's
state (status, progress, seconds left, exit code, the error of a failed job), written
atomically by the runner; ``<name>.log`` its output; ``runner.pid`` and ``runner.log`` the
runner's own; ``history.json`` the last measured duration of each job, which is what the
next run's time left is estimated from (before that: the file's ``estimate``).

Progress comes from the job's own tqdm bar when it prints one (the runner reads the
bar's last percentage and remaining time from the log; ``TQDM_MININTERVAL`` keeps the log
small), else from the time elapsed against the estimate. Why not a task queue (Celery,
RQ): one machine, a handful of steps run once per ``make up``, and no broker to run.

What a caller may rely on: ``states`` never raises for a missing or half-written file (a
job never started reads as pending; a running job whose process is gone as interrupted);
``building`` is the one call an app needs to say "being built: 60%, about 2 min".
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import xmlrpc.client
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from workbench.errors import ConfigError
from workbench.specfiles import parse_toml

JOBS_FILE = Path(__file__).with_name("jobs.toml")
ENDED = frozenset({"done", "failed", "blocked", "interrupted"})
ALL_OTHERS = "*"


class JobSpec(BaseModel):
    """One step of ``jobs.toml`` (see the file's header for each key)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    title: str
    command: tuple[str, ...] = Field(min_length=1)
    after: tuple[str, ...] = ()
    produces: tuple[str, ...] = ()
    estimate: float = Field(default=60.0, gt=0)


class JobPlan(BaseModel):
    """Every job, in file order, and how many may run at once."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    parallel: int = Field(default=1, ge=1)
    outranks: tuple[str, ...] = ()
    """Groups of the stack's supervisord (``Supervisor.add_group``) that yield the CPU to the jobs while they run."""
    jobs: tuple[JobSpec, ...] = ()

    @field_validator("jobs")
    @classmethod
    def _names_unique_and_after_earlier_jobs(cls, jobs: tuple[JobSpec, ...]) -> tuple[JobSpec, ...]:
        names = [j.name for j in jobs]
        if dupes := sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"job names must be unique: {dupes}")
        for i, job in enumerate(jobs):
            if unknown := [a for a in job.after if a != ALL_OTHERS and a not in names]:
                raise ValueError(f"jobs[{i}] ({job.name}): after names unknown jobs {unknown}")
            # file order must be a valid order: no job waits for a later one (so no cycles)
            if late := [a for a in job.after if a != ALL_OTHERS and a not in names[:i]]:
                raise ValueError(f"jobs[{i}] ({job.name}): after {late}, which come later in the file")
        return jobs

    def job(self, name: str) -> JobSpec:
        return next(j for j in self.jobs if j.name == name)

    def deps(self, job: JobSpec) -> list[str]:
        """Names of the jobs ``job`` waits for (``*``: every job that does not itself wait for all)."""
        if ALL_OTHERS in job.after:
            return [j.name for j in self.jobs if j.name != job.name and ALL_OTHERS not in j.after]
        return list(job.after)

    def producer(self, table: str) -> JobSpec | None:
        return next((j for j in self.jobs if table in j.produces), None)


def load_plan(path: str | os.PathLike[str] = JOBS_FILE) -> JobPlan:
    """``jobs.toml`` parsed and checked; ``ConfigError`` names the file, the key and the reason."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror}") from None
    return parse_toml(JobPlan, text, str(path))


@dataclass
class JobState:
    """A job as ``workbench jobs`` shows it; ``progress`` in 0..1 and ``seconds_left`` are estimates."""

    name: str
    title: str
    status: str = "pending"  # not started | pending | running | done | failed | blocked | interrupted
    command: list[str] = field(default_factory=list)
    pid: int | None = None
    started: float | None = None
    finished: float | None = None
    exit_code: int | None = None
    progress: float | None = None
    seconds_left: float | None = None
    cpu_seconds: float | None = None
    """User + system CPU time of the ended job and its children: unlike its wall time, comparable across loads."""
    error: str | None = None
    log: str = ""

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def jobs_dir(state_dir: str | os.PathLike[str]) -> Path:
    return Path(state_dir) / "jobs"


def _state_file(folder: Path, name: str) -> Path:
    return folder / f"{name}.json"


def _write_json(path: Path, data: object) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
    os.replace(tmp, path)


def _read_json(path: Path) -> dict[str, object]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _alive(pid: object) -> bool:
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:  # a zombie child of this process is not running
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def runner_pid(state_dir: str | os.PathLike[str]) -> int | None:
    """The runner's pid while it runs, else None (a recycled pid has another start time: not it)."""
    data = _read_json(jobs_dir(state_dir) / "runner.json")
    pid = data.get("pid")
    return pid if _alive(pid) and _started_at(pid) == data.get("ticks") else None  # type: ignore[arg-type]


def _started_at(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (``/proc/PID/stat`` field 22): with the pid, its identity."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def _record_runner(folder: Path, pid: int) -> None:
    _write_json(folder / "runner.json", {"pid": pid, "ticks": _started_at(pid), "started": time.time()})


def resolved_command(job: JobSpec, state_dir: str | os.PathLike[str]) -> list[str]:
    return [part.replace("{state}", str(state_dir)) for part in job.command]


def states(state_dir: str | os.PathLike[str], plan: JobPlan | None = None) -> list[JobState]:
    """Every job of the plan with its last recorded state, and time left along its chain of ``after``."""
    plan = plan or load_plan()
    folder = jobs_dir(state_dir)
    history = _read_json(folder / "history.json")
    runner_alive = runner_pid(state_dir) is not None
    result: dict[str, JobState] = {}
    for job in plan.jobs:
        data = _read_json(_state_file(folder, job.name))
        known = {k: v for k, v in data.items() if k in JobState.__dataclass_fields__}
        state = JobState(**{**known, "name": job.name, "title": job.title})  # type: ignore[arg-type]
        if state.status == "running" and not runner_alive:  # while it runs, the runner records the job's end
            state.status, state.error = "interrupted", state.error or "its runner is gone (stopped or the machine restarted)"
        if state.status == "pending" and not runner_alive:
            if not data:
                state.status = "not started"
            else:
                state.status, state.error = "interrupted", "the runner stopped before it started"
        own = float(history.get(job.name) or job.estimate)  # type: ignore[arg-type]
        if state.status == "pending":
            waits = [result[d].seconds_left or 0.0 for d in plan.deps(job) if d in result]
            state.seconds_left, state.progress = own + max(waits, default=0.0), 0.0
        result[job.name] = state
    return list(result.values())


# --- progress from a job's log -------------------------------------------------------------

_TQDM = re.compile(r"(\d{1,3})%\|[^\r\n]*?\[(?:[\d:]+)<([\d:]+|\?)")


def _clock(text: str) -> float | None:
    try:
        parts = [int(p) for p in text.split(":")]
    except ValueError:
        return None
    seconds = 0
    for p in parts:
        seconds = seconds * 60 + p
    return float(seconds)


def log_progress(log_tail: str) -> tuple[float, float | None] | None:
    """The last tqdm bar in a log's tail: (fraction done, seconds left or None); None without a bar."""
    matches = _TQDM.findall(log_tail)
    if not matches:
        return None
    percent, left = matches[-1]
    return min(int(percent), 100) / 100, _clock(left)


def _tail(path: Path, size: int = 8192) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - size))
            return f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


def _estimate(state: JobState, log: Path, expected: float, now: float) -> None:
    elapsed = now - (state.started or now)
    bar = log_progress(_tail(log))
    if bar is not None and bar[0] > 0:
        state.progress = bar[0]
        state.seconds_left = bar[1] if bar[1] is not None else elapsed * (1 - bar[0]) / bar[0]
    else:  # no bar (yet): elapsed time against what the job took last time
        state.progress = min(elapsed / expected, 0.95)
        state.seconds_left = max(expected - elapsed, 0.0) if elapsed < expected else None


def failure_text(log: Path) -> str:
    """What a failed job said last: its ``error:`` line (the CLI's one-line errors), else its last line."""
    lines = [line.strip() for line in _tail(log, 16384).replace("\r", "\n").splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:") or line.endswith("Error") or "Error:" in line]
    return (errors or lines or ["(no output)"])[-1][:500]


# --- the runner ------------------------------------------------------------------------

def start(state_dir: str | os.PathLike[str], cwd: str | os.PathLike[str], env: Mapping[str, str] | None = None,
          again: bool = False, plan_file: str | os.PathLike[str] = JOBS_FILE) -> int:
    """Start the detached runner of ``plan_file``'s jobs unless one runs; its pid. Returns at once."""
    if (pid := runner_pid(state_dir)) is not None:
        return pid
    load_plan(plan_file)  # a broken file fails here, in the caller's terminal, not in the runner's log
    folder = jobs_dir(state_dir)
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    command = [str(Path(sys.executable).parent / "workbench"), "jobs", "run", "--state", str(state_dir),
               "--plan", str(plan_file)]
    with open(folder / "runner.log", "ab") as log:
        proc = subprocess.Popen([*command, *(["--again"] if again else [])], cwd=cwd,
                                env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    _record_runner(folder, proc.pid)
    return proc.pid


def job_environment() -> dict[str, str]:
    """The environment every job runs in: one thread, offline, and only the job's own progress bars.

    A job's progress is the last tqdm bar in its log (``log_progress``). The bars Hugging Face
    libraries draw when they load or save weights ("Loading weights: 100%", "Writing model
    shards: 100%") would pass for the job's own: the topic job showed 100% and no time left
    for all its minutes of embedding and fitting. ``HF_HUB_DISABLE_PROGRESS_BARS`` turns
    them off (transformers follows huggingface_hub's switch); the jobs' own tqdm bars stay.
    """
    return {**os.environ, "TQDM_MININTERVAL": "2", "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
            "HF_HUB_DISABLE_PROGRESS_BARS": "1"}


def run(state_dir: str | os.PathLike[str], plan: JobPlan | None = None, again: bool = False,
        poll: float = 1.0) -> list[JobState]:
    """Run the plan's jobs to the end (the runner's body, in its own process); their final states."""
    plan = plan or load_plan()
    folder = jobs_dir(state_dir)
    folder.mkdir(parents=True, exist_ok=True)
    _record_runner(folder, os.getpid())
    history: dict[str, float] = {k: float(v) for k, v in _read_json(folder / "history.json").items()}  # type: ignore[arg-type]
    env = job_environment()
    jobs: dict[str, JobState] = {}
    for job in plan.jobs:
        command = resolved_command(job, state_dir)
        previous = _read_json(_state_file(folder, job.name))
        if not again and previous.get("status") == "done" and previous.get("command") == command:
            jobs[job.name] = JobState(**{k: v for k, v in previous.items() if k in JobState.__dataclass_fields__})  # type: ignore[arg-type]
        else:
            jobs[job.name] = JobState(job.name, job.title, command=command, log=str(folder / f"{job.name}.log"))
            _write_json(_state_file(folder, job.name), jobs[job.name].as_dict())
    procs: dict[str, subprocess.Popen[bytes]] = {}
    stopping: list[int] = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    outranked, yielding = 0.0, min(os.getpriority(os.PRIO_PROCESS, 0) + JOB_NICENESS + YIELDING, 19)
    try:
        while not stopping:
            if time.monotonic() - outranked > OUTRANK_EVERY:  # again and again: supervisord restarts processes
                _outrank(state_dir, plan.outranks, yielding)
                outranked = time.monotonic()
            now = time.time()
            for name, proc in list(procs.items()):
                state, spec = jobs[name], plan.job(name)
                if (ended := _reap(proc)) is None:
                    _estimate(state, Path(state.log), history.get(name, spec.estimate), now)
                else:
                    del procs[name]
                    state.finished, (state.exit_code, state.cpu_seconds), state.pid = now, ended, None
                    if state.exit_code == 0:
                        state.status, state.progress, state.seconds_left = "done", 1.0, 0.0
                        history[name] = round(now - (state.started or now), 1)
                        _write_json(folder / "history.json", history)
                    else:
                        state.status, state.error = "failed", failure_text(Path(state.log))
                _write_json(_state_file(folder, name), state.as_dict())
            for spec in plan.jobs:
                state = jobs[spec.name]
                if state.status != "pending" or len(procs) >= plan.parallel:
                    continue
                deps = [jobs[d] for d in plan.deps(spec)]
                waits_for_all = ALL_OTHERS in spec.after  # runs once the others ended, whatever their outcome
                if not waits_for_all and (bad := [d for d in deps if d.status in ("failed", "blocked")]):
                    state.status, state.finished = "blocked", now
                    state.error = f"needs {', '.join(d.name for d in bad)}, which did not finish (see `workbench jobs`)"
                    _write_json(_state_file(folder, spec.name), state.as_dict())
                    continue
                if all(d.status in (ENDED if waits_for_all else {"done"}) for d in deps):
                    procs[spec.name] = _launch(state, Path(state.log), env)
                    _write_json(_state_file(folder, spec.name), state.as_dict())
            if not procs and all(s.status != "pending" for s in jobs.values()):
                break
            time.sleep(poll)
    finally:
        _outrank(state_dir, plan.outranks, None)
    for name, proc in procs.items():  # stopped: the jobs go with the runner
        proc.terminate()
        proc.wait(timeout=30)
        jobs[name].status, jobs[name].error = "interrupted", "stopped (`workbench jobs stop`)"
        _write_json(_state_file(folder, name), jobs[name].as_dict())
    return list(jobs.values())


JOB_NICENESS = 5
"""Added to the runner's niceness for its jobs: what people wait on (a login, a notebook server
starting, a query) comes first, the jobs next (the scheduler weighs 1024 against 335), ``outranks`` last."""
YIELDING = 10
"""Added to the jobs' niceness for ``outranks``' processes while jobs run: against a job they get about
a tenth of a contested core (weight 36 against 335), and all they want of an idle one."""
OUTRANK_EVERY = 10.0
"""Seconds between renices: a process supervisord restarted meanwhile yields again within this."""


def _outrank(state_dir: str | os.PathLike[str], groups: Iterable[str], niceness: int | None) -> None:
    """Run the processes of the stack's supervised ``groups`` at ``niceness`` (None: as supervisord started
    them; no supervisord: nothing to do).

    Why: on two cores the demo's live loop (feed, two followers, scorer: 1.2-1.35 cores at 5
    records/s) took two thirds of the CPU beside the jobs, and the NER training (the critical
    path to "ready") ran at a third of a core. Niced only while jobs run, the loop gets its full
    share back afterwards: a declaration's time to scored then matters more than a notebook.
    """
    from workbench.platform.supervisor import Supervisor, SupervisorError

    supervisor = Supervisor(state_dir)
    for group in groups:
        try:
            supervisor.renice(group, niceness)
        except (OSError, SupervisorError, xmlrpc.client.Error):  # supervisord going down with the stack
            return


def _launch(state: JobState, log: Path, env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(Path(sys.executable).parent / "workbench"), *state.command], env=dict(env),
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                preexec_fn=lambda: os.nice(JOB_NICENESS))
    state.status, state.pid, state.started, state.progress, state.error = "running", proc.pid, time.time(), 0.0, None
    return proc


def _reap(proc: subprocess.Popen[bytes]) -> tuple[int, float] | None:
    """(exit code, CPU seconds) of a job that ended, reaped with ``wait4`` for its resource usage
    (which includes the children it waited for); None while it runs."""
    pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
    if pid == 0:
        return None
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, round(usage.ru_utime + usage.ru_stime, 1)


def stop(state_dir: str | os.PathLike[str], timeout: float = 60.0) -> bool:
    """Stop the runner and the jobs it runs (they are marked interrupted); True when one ran."""
    pid = runner_pid(state_dir)
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if _alive(pid):
        os.killpg(pid, signal.SIGKILL)  # the runner leads its own session: its jobs go with it
    return True


def wait(state_dir: str | os.PathLike[str], timeout: float | None = None, poll: float = 2.0,
         on_update: object = None, plan: JobPlan | None = None) -> list[JobState]:
    """Block until every job ended, the runner is gone, or ``timeout`` passed; the states.

    ``on_update(states)`` is called at each poll.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        runner_gone = runner_pid(state_dir) is None  # before reading: a runner that just ended has written all
        current = states(state_dir, plan)
        if callable(on_update):
            on_update(current)
        if runner_gone or all(s.status in ENDED for s in current):
            return current
        if deadline is not None and time.monotonic() > deadline:
            return current
        time.sleep(poll)


# --- what apps and commands say about a missing table ---------------------------------------

def minutes_text(seconds: float | None) -> str:
    if seconds is None:
        return "taking longer than last time"
    if seconds < 90:
        return "about 1 min" if seconds > 30 else "under a minute"
    return f"about {round(seconds / 60)} min"


def _default_state_dir() -> Path:
    from workbench.platform.profile import HubProfile

    return HubProfile.from_env().state_dir


def building(tables: Iterable[str], state_dir: str | os.PathLike[str] | None = None) -> str | None:
    """What a missing table's job is doing, for a person: "being built: 60%, about 2 min (Evidence graph)".

    For the first of ``tables`` that a job of the plan produces and that job has not
    finished: its progress and time left, or that it waits, failed or was interrupted
    (naming the command that makes it). None when no job makes any of them, or its job
    finished (the table is then missing for another reason, or the role may not read it).
    Apps call this in place of a bare "not available"; the state folder defaults to the
    stack's (the dashboards service runs with the stack's ``WORKBENCH_HUB_*`` settings).
    """
    plan = load_plan()
    wanted = [job for t in tables if (job := plan.producer(t)) is not None]
    if not wanted:
        return None
    try:
        by_name = {s.name: s for s in states(state_dir or _default_state_dir(), plan)}
    except (OSError, ValueError):  # no readable state: say nothing rather than break the caller's page
        return None
    for job in wanted:
        state = by_name[job.name]
        command = "workbench " + " ".join(job.command)
        if state.status == "running":
            return f"being built: {round((state.progress or 0) * 100)}%, {minutes_text(state.seconds_left)} ({job.title})"
        if state.status == "pending":
            return f"waiting to be built, {minutes_text(state.seconds_left)} ({job.title})"
        if state.status in ("failed", "blocked", "interrupted"):
            return f"not built: {job.title} {state.status} ({state.error}); run `{command}` or see `workbench jobs`"
    return None


def missing_step(table: str) -> str | None:
    """The command that makes ``table`` (for an error message), or None when no job of the plan makes it."""
    job = load_plan().producer(table)
    return None if job is None else "workbench " + " ".join(job.command)
