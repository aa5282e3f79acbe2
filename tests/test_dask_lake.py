"""``wb.dask`` and ``wb.write(dask_frame)`` on a real Dask LocalCluster with worker processes.

Reads are checked against ``wb.sql`` on the same snapshot; masks are checked in what the
workers actually hold; every call must leave an audit record; writes land in one commit
with their inputs as lineage, or not at all. The execution seam (``workbench.compute``)
is checked on the same cluster.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl
import pytest

from tests.conftest import world_copy
from workbench.compute import InProcess, OnDask, executor
from workbench.errors import AccessDenied, UnknownColumn, UnknownTable, WorkbenchError
from workbench.session import Session, connect
from workbench.session.dask_frames import frame
from workbench.security.audit import read_records

DECLARATIONS = "curated.declarations"


@pytest.fixture(scope="module")
def client() -> Iterator[object]:
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
            Client(cluster, set_as_default=True) as dask_client:
        yield dask_client


@pytest.fixture(scope="module")
def world(tiny_world: Session, tmp_path_factory: pytest.TempPathFactory) -> Session:
    """A private copy of the tiny world (these tests write work tables and alter one table's protocol)."""
    return world_copy(tiny_world, tmp_path_factory.mktemp("dask"))


def as_role(world: Session, monkeypatch: pytest.MonkeyPatch, role: str, audit: Path) -> Session:
    monkeypatch.setenv("WORKBENCH_ROLE", role)
    monkeypatch.setenv("WORKBENCH_AUDIT_DIR", str(audit))
    return connect(world.settings.lake, user=f"{role}-user")


def test_a_frame_reads_the_same_rows_as_sql_in_several_partitions(world: Session, client: object) -> None:
    columns = ["declaration_id", "lodged_on", "port_code", "value_hkd", "inspected"]
    rows = world.sql(f"SELECT * FROM {DECLARATIONS}")
    for part in range(3):  # three data files
        world.write(rows.gather_every(3, offset=part), "work.in_parts", mode="overwrite" if part == 0 else "append")
    filters = [("value_hkd", ">", 10_000.0)]
    assert world.dask("work.in_parts", columns=columns).npartitions == 1  # small files are packed together
    parts = frame(world, "work.in_parts", columns=columns, filters=filters, partition_bytes=1)
    assert parts.npartitions == 3  # one row group each
    got = pl.from_pandas(parts.compute()).sort("declaration_id")
    want = world.sql(f"SELECT {', '.join(columns)} FROM {DECLARATIONS} WHERE value_hkd > 10000 ORDER BY 1")
    assert got.height == want.height > 0
    assert got.equals(want)
    # Selecting columns afterwards narrows what each partition reads.
    narrowed = world.dask("work.in_parts")[["port_code"]]
    assert list(narrowed.compute().columns) == ["port_code"]
    assert "columns=['port_code']" in narrowed.optimize().expr.tree_repr()


def test_a_frame_reads_a_lake_on_an_object_store_too(lake_session: Session) -> None:
    rows = pl.DataFrame({"item": ["a", "b", "c"], "amount": [1.0, 2.5, None]})
    lake_session.write(rows, "work.small", mode="overwrite")
    got = lake_session.dask("work.small", filters=[("amount", ">", 1.0)]).compute()
    assert got.to_dict("list") == {"item": ["b"], "amount": [2.5]}


def test_a_column_added_by_a_later_write_reads_null_in_the_older_files(world: Session) -> None:
    world.write(pl.DataFrame({"item": ["a", "b"]}), "work.grown", mode="overwrite")
    world.write(pl.DataFrame({"item": ["c"], "amount": [2.5]}), "work.grown", mode="append")  # a second file
    want = world.sql("SELECT item, amount FROM work.grown ORDER BY item")
    assert want["amount"].null_count() == 2
    got = pl.from_pandas(world.dask("work.grown", partition_bytes=2**30).compute()).sort("item")
    assert got.equals(want)
    assert world.dask("work.grown", filters=[("amount", ">", 1.0)]).compute()["item"].tolist() == ["c"]


def test_a_frame_is_pinned_to_its_snapshot(world: Session, client: object) -> None:
    rows = world.sql(f"SELECT declaration_id, port_code FROM {DECLARATIONS} ORDER BY declaration_id LIMIT 50")
    world.write(rows.head(20), "work.pinned", mode="overwrite")
    pinned = world.dask("work.pinned")
    world.write(rows.tail(30), "work.pinned", mode="append")
    assert len(pinned) == 20  # listed at v0; the later commit is not in it
    assert len(world.dask("work.pinned")) == 50
    assert len(world.dask("work.pinned", version=0)) == 20


def test_unknown_names_and_refusals_are_the_errors_sql_gives(
        world: Session, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with pytest.raises(UnknownTable) as from_sql:
        world.sql("SELECT * FROM curated.declaration")
    with pytest.raises(UnknownTable) as from_dask:
        world.dask("curated.declaration")
    assert DECLARATIONS in from_dask.value.suggestions and from_dask.value.suggestions == from_sql.value.suggestions
    with pytest.raises(UnknownColumn) as column:
        world.dask(DECLARATIONS, columns=["port_cod"])
    assert column.value.name == "port_cod" and "port_code" in column.value.suggestions
    with pytest.raises(UnknownColumn):
        world.dask(DECLARATIONS, filters=[("no_such_column", "==", 1)])
    audit = tmp_path / "audit"
    officer = as_role(world, monkeypatch, "field_officer", audit)
    with pytest.raises(AccessDenied) as refused:
        officer.dask("curated.people")  # need-to-know, not clearance
    assert refused.value.table == "curated.people"
    manager = as_role(world, monkeypatch, "manager", audit)
    with pytest.raises(AccessDenied):
        manager.dask("curated.traders")  # above a manager's clearance
    denied = [r for r in read_records(audit) if r["event"] == "denied"]
    assert [r["tables"] for r in denied] == [["curated.people"], ["curated.traders"]]


def test_masks_are_applied_inside_the_graph_and_never_reach_worker_memory(
        world: Session, client: object, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from distributed import wait

    plates = set(world.sql("SELECT DISTINCT plate FROM curated.crossings")["plate"].to_list())
    manager = as_role(world, monkeypatch, "manager", tmp_path / "audit")
    crossings = manager.dask("curated.crossings", columns=["crossing_id", "plate", "driver_id"])
    kept = client.persist(crossings)  # type: ignore[attr-defined]
    wait(kept)
    held = client.run(_strings_held, [*plates, "***"])  # type: ignore[attr-defined]
    assert set().union(*held.values()) == {"***"}, held  # the workers hold partitions, masked ones only
    assert set(kept["plate"].unique().compute()) == {"***"}
    assert kept["driver_id"].nunique().compute() > 1  # unmasked columns are untouched
    # A filter on a masked column sees the masked value, as in wb.sql.
    a_plate = sorted(plates)[0]
    by_plate = manager.dask("curated.crossings", columns=["crossing_id"], filters=[("plate", "==", a_plate)])
    assert len(by_plate) == 0 == manager.sql("SELECT count(*) AS n FROM curated.crossings WHERE plate = $p",
                                             {"p": a_plate})["n"][0]
    everyone = world.sql("SELECT count(*) AS n FROM curated.crossings")["n"][0]
    starred = manager.dask("curated.crossings", columns=["crossing_id"], filters=[("plate", "==", "***")])
    assert len(starred) == everyone
    assert len(manager.dask("curated.crossings", columns=["plate"])) == everyone  # masked columns only: rows kept
    del kept


def _strings_held(values: list[str], dask_worker: object = None) -> set[str]:
    """Which of ``values`` appear in the task results this worker holds (memory or spilled)."""
    wanted, found = set(values), set()
    for key in list(dask_worker.data.keys()):  # type: ignore[union-attr]
        part = dask_worker.data[key]  # type: ignore[union-attr]
        if isinstance(part, pd.DataFrame):
            for col in part.columns:
                if part[col].dtype == object or pd.api.types.is_string_dtype(part[col].dtype):
                    found |= wanted & set(part[col].dropna().astype(str))
    return found


def test_every_call_is_audited_with_table_version_columns_and_filters(
        world: Session, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    audit = tmp_path / "audit"
    analyst = as_role(world, monkeypatch, "analyst", audit)
    analyst.dask(DECLARATIONS, columns=["port_code"], filters=[("port_code", "==", "HKG")])
    analyst.dask("curated.traders", version=0)
    with pytest.raises(UnknownColumn):
        analyst.dask(DECLARATIONS, columns=["port_cod"])
    *calls, failed = [r for r in read_records(audit) if r["event"] == "dask"]
    assert failed["status"] == "error" and "port_cod" in failed["detail"]["error"]
    assert [(r["tables"], r["detail"]["version"], r["detail"]["columns"][:1]) for r in calls] == [
        ([DECLARATIONS], world.lake.delta(DECLARATIONS).version(), ["port_code"]),
        (["curated.traders"], 0, [world.lake.delta("curated.traders").schema().fields[0].name]),
    ]
    assert calls[0]["detail"]["filters"] == [["port_code", "==", "HKG"]] and calls[1]["detail"]["filters"] is None


def test_a_table_with_deletion_vectors_or_column_mapping_is_refused(world: Session) -> None:
    from deltalake import DeltaTable
    from deltalake import TableFeatures

    world.write(world.sql(f"SELECT declaration_id FROM {DECLARATIONS} LIMIT 5"), "work.with_dv", mode="overwrite")
    DeltaTable(world.lake.location.table_uri("work.with_dv")).alter.add_feature(
        TableFeatures.DeletionVectors, allow_protocol_versions_increase=True)
    with pytest.raises(WorkbenchError, match="deletion vectors"):
        world.dask("work.with_dv")


def test_a_dask_result_lands_in_one_commit_with_its_inputs_as_lineage(world: Session, client: object) -> None:
    declarations = world.dask(DECLARATIONS, columns=["port_code", "value_hkd"])
    by_port = declarations.groupby("port_code").value_hkd.agg(["sum", "count"]).reset_index()
    result = world.write(by_port, "work.value_by_port_dask", mode="overwrite")
    assert result.version == 0 and result.rows_quarantined == 0
    want = world.sql(f"SELECT port_code, sum(value_hkd) AS sum, count(*) AS count FROM {DECLARATIONS} "
                     "GROUP BY 1 ORDER BY 1")
    got = world.sql("SELECT port_code, sum, count FROM work.value_by_port_dask ORDER BY 1")
    assert got["port_code"].to_list() == want["port_code"].to_list()
    assert got["count"].to_list() == want["count"].to_list()
    assert got["sum"].to_list() == pytest.approx(want["sum"].to_list())
    [commit] = [c for c in world.lake.delta("work.value_by_port_dask").history() if c.get("version") == 0]
    assert f'"table": "{DECLARATIONS}", "version": {world.lake.delta(DECLARATIONS).version()}' in commit["inputs"]


def test_a_failing_partition_writes_nothing_and_a_bad_row_is_quarantined(world: Session, client: object) -> None:
    import dask.dataframe as dd

    ids = world.dask(DECLARATIONS, columns=["declaration_id", "port_code"])
    before = world.lake.delta("work.landed").version() if "work.landed" in world.lake.catalog.names() else None
    assert before is None

    rows = ids.compute()
    last = rows["declaration_id"].iloc[-1]

    def explode(part: pd.DataFrame) -> pd.DataFrame:
        if (part["declaration_id"] == last).any():
            raise RuntimeError("worker lost its mind")
        return part

    boom = dd.from_pandas(rows, npartitions=4).map_partitions(explode, meta=ids._meta)
    with pytest.raises(Exception, match="worker lost its mind"):  # delta-rs wraps what the stream raised
        world.write(boom, "work.landed", mode="overwrite")
    assert "work.landed" not in world.lake.catalog.names()
    # A row breaking the target's contract (a key already there) is quarantined; the rest lands.
    keyed = "curated.declarations"
    existing = world.sql(f"SELECT * FROM {keyed} LIMIT 1")
    fresh = existing.with_columns(pl.lit("D9999999999").alias("declaration_id"))
    both = dd.from_pandas(pl.concat([existing, fresh]).to_pandas(), npartitions=2)
    landed = world.write(both, keyed, mode="append")
    assert (landed.rows_written, landed.rows_quarantined) == (1, 1)
    assert (landed.rejections[0].field, landed.rejections[0].rule) == ("declaration_id", "unique key")


# -- on Kubernetes: how a gateway worker reaches an object-store lake ---------------------


def _pod_env(entries: dict[str, Any] | list[dict[str, Any]], secrets: dict[str, dict[str, str]]) -> dict[str, str]:
    """A container's environment from rendered values (a mapping or an ``env`` list), ``secretKeyRef``s
    resolved as the kubelet would."""
    pairs = entries.items() if isinstance(entries, dict) else [(e["name"], e) for e in entries]
    env = {}
    for name, value in pairs:
        if isinstance(value, dict):
            ref = value["valueFrom"]["secretKeyRef"]
            value = secrets[ref["name"]][ref["key"]]
        env[name] = str(value)
    return env


def test_a_kubernetes_worker_reaches_the_lake_with_its_pods_keys_and_none_ride_in_the_graph(
        s3_server: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import pickle
    import subprocess
    import sys

    from dask_gateway_server.models import User
    from traitlets.config import Config

    from tests.conftest import _bucket
    from workbench.platform import kubernetes

    profile = kubernetes.KubeProfile(lake=f"s3://{_bucket(s3_server)}/lake", lake_endpoint=s3_server["AWS_ENDPOINT_URL"])
    values = kubernetes.values(profile)
    secrets = {profile.lake_secret(role): {"access-key-id": f"AKIA-{role}-key", "secret-access-key": f"{role}-secret"}
               for role in ("analyst", "modeller", "admin")}
    # The analyst's notebook server: the single-user env plus the analyst's override.
    hub = values["jupyterhub"]
    [analyst] = [o for o in hub["hub"]["config"]["KubeSpawner"]["group_overrides"].values() if o["groups"] == ["analyst"]]
    notebook = _pod_env({**hub["singleuser"]["extraEnv"], **analyst["spawner_override"]["environment"]}, secrets)
    # A worker of the analyst's gateway cluster: the backend's env plus what the options handler adds for the role.
    gateway = values["dask-gateway"]["gateway"]
    c = Config()
    for snippet in gateway["extraConfig"].values():
        exec(compile(snippet, "gateway.extraConfig", "exec"), {"c": c})  # as the chart's config file does
    user = User("ana", groups=["analyst"])
    options = c.KubeBackend.cluster_options(user)
    per_role = options.get_configuration(options.parse_options({}), user)
    worker = {**_pod_env(gateway["backend"]["environment"], secrets),
              **_pod_env(per_role["worker_extra_container_config"]["env"], secrets)}
    for name in ("WORKBENCH_LAKE", "WORKBENCH_ROLE", "WORKBENCH_STORAGE_OPTIONS",
                 "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    for name, value in notebook.items():
        if name.startswith(("WORKBENCH_LAKE", "WORKBENCH_ROLE", "WORKBENCH_STORAGE", "AWS_")):
            monkeypatch.setenv(name, value)
    monkeypatch.setenv("WORKBENCH_AUDIT_DIR", str(tmp_path / "audit"))
    wb = connect(user="ana")
    wb.write(pl.DataFrame({"item": ["a", "b", "c"], "amount": [1.0, 2.5, 4.0]}), "work.on_the_store", mode="overwrite")
    graph = pickle.dumps(wb.dask("work.on_the_store", filters=[("amount", ">", 2.0)]))
    assert b"AKIA-analyst-key" not in graph and b"analyst-secret" not in graph

    read = ("import pickle, sys; part = pickle.loads(sys.stdin.buffer.read()).compute(scheduler='sync'); "
            "print(sorted(part['item']))")
    run = subprocess.run([sys.executable, "-c", read], input=graph, capture_output=True, timeout=120,
                         env={**worker, "PATH": os.environ["PATH"], "HOME": str(tmp_path)})
    assert run.returncode == 0, run.stderr.decode()[-2000:]
    assert run.stdout.decode().strip() == "['b', 'c']"
    assert worker["AWS_ACCESS_KEY_ID"] == notebook["AWS_ACCESS_KEY_ID"] == "AKIA-analyst-key"  # its role's Secret
    assert worker["WORKBENCH_LAKE"] == notebook["WORKBENCH_LAKE"] == profile.lake
    assert json.loads(worker["WORKBENCH_STORAGE_OPTIONS"]) == {"AWS_ENDPOINT_URL": profile.lake_endpoint,
                                                               "AWS_ALLOW_HTTP": "true"}


# -- the execution seam -----------------------------------------------------------------


def _scale(item: int, factor: int) -> int:
    if item < 0:
        raise ValueError(f"negative item {item}")
    return item * factor


@pytest.mark.parametrize("where", ["in_process", "threads", "dask"])
def test_the_seam_maps_in_order_shares_arguments_and_raises_at_the_consumer(where: str, client: object) -> None:
    run = {"in_process": InProcess(), "threads": InProcess(threads=3), "dask": executor(client)}[where]
    assert list(run.map(_scale, range(6), 10)) == [0, 10, 20, 30, 40, 50]
    assert sorted(run.map(_scale, range(6), 2, ordered=False)) == [0, 2, 4, 6, 8, 10]
    results = run.map(_scale, [1, -1, 2], 1)
    assert next(results) == 1
    with pytest.raises(ValueError, match="negative item -1"):
        next(results)


def test_the_seam_runs_on_other_processes_on_dask(client: object) -> None:
    run = executor(client)
    assert isinstance(run, OnDask) and isinstance(executor(), InProcess)
    pids = set(run.map(_pid, range(4), None))
    assert pids and os.getpid() not in pids


def _pid(_: int, __: object) -> int:
    return os.getpid()
