"""``workbench demo``: the synthetic customs world."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import click
import psutil
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from workbench.cli.common import SessionFactory, console, lake_option
from workbench.ingest.postgres_server import LocalPostgres
from workbench.lake import Lineage, TableStream
from workbench.lake.storage import LakeLocation


@click.group("demo")
def demo() -> None:
    """The synthetic customs world: generate it, with its ground truth, into a lake."""


@demo.command("generate")
@click.option("--seed", type=int, default=1, show_default=True, help="Same seed and scale, same content.")
@click.option("--scale", type=float, default=1.0, show_default=True,
              help="1 is about 100,000 trade declarations; 100 about 10 million.")
@click.option("--no-curate", is_flag=True, help="Land raw and truth tables only.")
@click.option("--if-empty", is_flag=True, help="Do nothing when the lake already holds tables.")
@lake_option
def generate(session: SessionFactory, seed: int, scale: float, no_curate: bool, if_empty: bool) -> None:
    """Generate the world into the lake's raw, documents and truth zones, then curate it."""
    from workbench.demo.load import load_world  # imported here: the generator is heavy and only this needs it

    wb = session()
    if if_empty and wb.tables().height:
        console.print(f"lake {wb.settings.lake} already holds {wb.tables().height} tables; not generating")
        return
    started = time.perf_counter()
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed:,} rows"),
                  TimeElapsedColumn(), console=console, transient=False) as bar:
        tasks: dict[str, int] = {}

        def progress(table: str, rows: int) -> None:
            if table not in tasks:
                tasks[table] = bar.add_task(table, total=None)
            bar.advance(tasks[table], rows)

        report = load_world(wb.lake, seed, scale, actor=wb.user, progress=progress, curated=not no_curate)
    elapsed = time.perf_counter() - started
    rss = psutil.Process().memory_info().rss / 2**20
    console.print(
        f"generated seed={seed} scale={scale}: {report.rows:,} rows in {len(report.results)} tables, "
        f"{report.quarantined:,} quarantined, {elapsed:.1f} s, RSS {rss:.0f} MiB, lake {wb.settings.lake}"
    )


@demo.command("publish-sources")
@click.option("--seed", type=int, default=1, show_default=True, help="Same seed and scale, same content.")
@click.option("--scale", type=float, default=1.0, show_default=True, help="As for `demo generate`.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("var/sources"),
              show_default=True, help="Folder for the drops, the web site and (without --db-url) the database.")
@click.option("--db-url", default=None, help="PostgreSQL to publish into (default: start one in OUT/postgres).")
@click.option("--db-port", type=int, default=55432, show_default=True, help="Port of the started PostgreSQL.")
@click.option("--serve", "site_port", type=int, default=None, metavar="PORT",
              help="Then serve the web site on 127.0.0.1:PORT until Ctrl-C.")
@click.option("--ingest", "connectors", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Then run every connector of this folder (e.g. connectors) into the lake, site served "
                   "meanwhile, and curate what landed.")
@click.option("--with-truth", is_flag=True, help="Also write the truth zone to the lake (for scoring only).")
@click.option("--if-empty", is_flag=True, help="Do nothing when the lake already holds tables.")
@lake_option
def publish_sources_command(session: SessionFactory, seed: int, scale: float, out: Path, db_url: str | None,
                            db_port: int, site_port: int | None, connectors: Path | None, with_truth: bool,
                            if_empty: bool) -> None:
    """Publish the world as the source systems hold it (PostgreSQL, file drops, a web site) for the connectors."""
    wb = session()
    started = time.perf_counter()
    db_url = db_url or _demo_postgres(out, db_port).url  # also restarts an earlier demo's sources
    if if_empty and wb.tables().height:
        console.print(f"lake {wb.settings.lake} already holds {wb.tables().height} tables; not publishing")
        return
    # imported once there is work: the world's generator pulls in MLflow (a second `make up` has none)
    from workbench.demo.sources import publish_sources, serve_site
    from workbench.ingest import load_connector_dir, run_connectors
    from workbench.lake.curation import curate

    _close_local_lake(wb.lake.location)

    def land_truth(stream: TableStream) -> None:
        wb.lake.write(stream, mode="overwrite", actor=wb.user,
                      lineage=Lineage(f"workbench demo publish-sources --seed {seed} --scale {scale} --with-truth"))

    published = publish_sources(seed, scale, db_url, out.resolve(), truth=land_truth if with_truth else None)
    console.print(f"published seed={seed} scale={scale}: {sum(published.tables.values()):,} rows of "
                  f"{len(published.tables)} tables")
    site_url = f"http://127.0.0.1:{site_port or 8765}/"
    if connectors is not None:
        specs = load_connector_dir(connectors)
        with serve_site(published.site) as url:
            records = run_connectors(wb.lake, specs, env={**os.environ, **published.env(url)}, workers=2)
        for record in records:
            console.print(("[green]ok[/] " if record.status == "ok" else "[red]failed[/] ") + record.summary(),
                          highlight=False)
        for result in curate(wb.lake, actor=wb.user):
            console.print(f"  {result.summary()}", highlight=False)
    env_file = published.write_env(site_url)
    console.print(f"connector settings in {env_file} (0600): `set -a; . {env_file}` before `workbench ingest run`"
                  f"; the web connector needs the site served (`--serve {site_port or 8765}`). "
                  f"{time.perf_counter() - started:.0f} s")
    if site_port is not None:
        with serve_site(published.site, site_port) as url:
            console.print(f"serving {published.site} at {url} (Ctrl-C stops)")
            try:
                threading.Event().wait()
            except KeyboardInterrupt:
                pass


def _close_local_lake(location: LakeLocation) -> None:
    """A new local lake starts closed to other Unix users (``lake permissions --apply``, run by
    ``platform up``, then opens it to the roles the policy names): the web connector's isolated
    fetcher refuses to run while its own user could read the lake, and so would every reader."""
    if location.is_remote:
        return
    folder = Path(location.uri(""))
    folder.mkdir(mode=0o750, parents=True, exist_ok=True)
    folder.chmod(folder.stat().st_mode & ~0o007)


@demo.command("feed")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("var/sources"),
              show_default=True, help="The folder `publish-sources` used (its PostgreSQL, the pause file).")
@click.option("--db-url", default=None, help="PostgreSQL the world was published into (default: OUT's).")
@click.option("--rate", type=click.FloatRange(0.01), default=5.0, show_default=True, help="Records a second.")
@click.option("--burst", type=click.IntRange(1), default=1, show_default=True, help="Records per source commit.")
@click.option("--seconds", type=click.FloatRange(0), default=None, help="Stop after this long (default: never).")
@click.option("--seed", type=int, default=None, help="Seed of the feed's choices (default: a fresh one).")
@click.option("--pause/--resume", "pause", default=None,
              help="Pause (or resume) a running feed by creating (or removing) OUT/feed.paused, then exit.")
@lake_option
def feed_command(session: SessionFactory, out: Path, db_url: str | None, rate: float, burst: int,
                 seconds: float | None, seed: int | None, pause: bool | None) -> None:
    """Keep publishing new declarations, manifests and crossings into the source systems (Ctrl-C or SIGTERM stops).

    Copies of the world's own records under new ids, lodged now; an illicit template's copy is
    illicit and its truth goes to the lake's truth zone (for scoring only).
    """
    import random
    import signal

    from workbench.demo.feed import Feed, FeedBatch, record_truth, world_illicit

    folder = out.resolve()
    if pause is not None:
        pause_file = folder / "feed.paused"
        pause_file.touch() if pause else pause_file.unlink(missing_ok=True)
        console.print(f"feed {'paused' if pause else 'resumed'} ({pause_file})")
        return
    wb = session()
    db_url = db_url or _published_db_url(folder)
    feed = Feed(db_url, world_illicit(wb.lake), seed=random.randrange(1 << 30) if seed is None else seed,
                folder=folder)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    pending: list[FeedBatch] = []
    flushed = time.monotonic()

    def published(batch: FeedBatch) -> None:
        nonlocal flushed
        pending.append(batch)
        if time.monotonic() - flushed >= 10:  # truth in a few commits a minute, not one per record
            record_truth(wb.lake, pending)
            pending.clear()
            flushed = time.monotonic()

    console.print(f"feeding {db_url.rsplit('@', 1)[-1]} at {rate:g} records/s in commits of {burst} "
                  f"(pause: workbench demo feed --pause --out {out})")
    try:
        total = feed.run(rate, burst, stop=stop, seconds=seconds, on_publish=published)
    except KeyboardInterrupt:
        total = None
    record_truth(wb.lake, pending)
    console.print(f"published {total if total is not None else 'some'} records")


@demo.command("loop")
@click.argument("action", type=click.Choice(["start", "stop", "status"]))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("var/sources"),
              show_default=True, help="The folder `publish-sources` used.")
@click.option("--connectors", type=click.Path(file_okay=False, path_type=Path), default=Path("connectors"),
              show_default=True, help="Folder of connector files the followers run.")
@click.option("--lake", default=None, metavar="DIR", help="Lake root (default: the configured lake).")
@click.option("--no-feed", is_flag=True, help="With start: followers and scorer only (real sources feed themselves).")
def loop_command(action: str, out: Path, connectors: Path, lake: str | None, no_feed: bool) -> None:
    """The live loop under the stack's supervisord: start, stop or report the feed, a follower per live source
    and the scorer (``make up`` starts them, ``make down`` stops them, ``make status`` reports them)."""
    from workbench.demo.loop import Loop
    from workbench.platform.profile import HubProfile
    from workbench.settings import load_settings

    state = HubProfile.from_env().state_dir
    loop = Loop(out, connectors, load_settings(lake=lake).lake, state)
    if action == "start":
        started = loop.start(feed=not no_feed)
        console.print(f"live loop: started {', '.join(started) or 'nothing (all running)'} under supervisord; "
                      f"logs in {state / 'logs'}; pause the feed with `workbench demo feed --pause --out {out}`")
    elif action == "stop":
        stopped = loop.stop()
        console.print(f"live loop: stopped {', '.join(stopped) or 'nothing (none running)'}")
    else:
        for name, pid in loop.status().items():
            console.print(f"{name:12} {'running (pid ' + str(pid) + ')' if pid else 'not running'}", highlight=False)
        if (out.resolve() / "feed.paused").exists():
            console.print("feed is paused (workbench demo feed --resume)")


@demo.command("stop-sources")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("var/sources"),
              show_default=True, help="The folder `publish-sources` used.")
def stop_sources(out: Path) -> None:
    """Stop the demo's PostgreSQL that `publish-sources` started (its data stays for the next start)."""
    server = _demo_postgres(out, port=None)
    if server.running:
        server.stop()
        console.print(f"stopped the demo PostgreSQL in {server.folder}")
    else:
        console.print(f"no demo PostgreSQL running in {server.folder}")


def _published_db_url(folder: Path) -> str:
    """The database ``publish-sources`` published into, from the connector settings it wrote in ``folder``."""
    env_file = folder / "connectors.env"
    for line in env_file.read_text(encoding="utf-8").splitlines() if env_file.is_file() else []:
        name, _, value = line.removeprefix("export ").partition("=")
        if name == "TDEC_DB_URL":
            return value
    raise click.UsageError(f"no published sources in {folder} (workbench demo publish-sources), or pass --db-url")


def _demo_postgres(out: Path, port: int | None) -> LocalPostgres:
    """The demo's durable PostgreSQL in OUT/postgres, started unless ``port`` is None or it already runs."""
    server = LocalPostgres(port or 0, folder=out.resolve() / "postgres", durable=True)
    server.folder.mkdir(parents=True, exist_ok=True)
    if port is not None and not server.running:
        server.start()
    return server
