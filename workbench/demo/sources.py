"""The demo's source systems: the synthetic world published the way the agency's systems hold it,
so that the real connectors (``connectors/*.toml``), not a shortcut, build the lake.

``publish_sources`` writes one world (seed, scale) into:

- PostgreSQL, one schema per operational system - ``cirms`` (traders, people, ...),
  ``tdec`` (declarations, manifests), ``lbs`` (vehicles, drivers, crossings), ``cps``
  (cases, seizures, parties) - each table with its primary key and an ``updated_at``
  column that a trigger bumps on every update (what the incremental reads follow);
- file drops: cash declarations as the cash declaration system exports them (CSV per
  month, Big5-HKSCS from the land control points, UTF-8 from the airport and ferry
  terminal), reference data as Parquet, the platform's access log as JSON lines, and
  intelligence notes (DOCX, text) and case narratives (PDF, text) as documents;
- a static web site (press releases with an RSS 2.0 feed, news articles with an Atom
  feed) that ``serve_site`` serves on loopback.

Every raw table of the world is published exactly once, so ``workbench ingest run
--all`` over the result lands the same raw tables as ``workbench demo generate``. The
truth zone is no source system's: it is not published, but handed to ``truth`` (the
demo's ``make up`` writes it to the lake for scoring) when a caller asks for it.
"""

from __future__ import annotations

import csv
import functools
import html
import io
import json
import textwrap
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import adbc_driver_postgresql.dbapi as adbc_pg
import pyarrow as pa
import pyarrow.parquet as pq

from workbench.demo.batches import demo_specs
from workbench.demo.world import generate_world
from workbench.lake import TableSpec, TableStream

SYSTEMS = {"cirms": "cirms", "tdec": "tdec", "lbs": "lbs", "cps": "cps"}
"""Raw table prefix -> PostgreSQL schema of the operational system that holds it."""
PG_TYPES = {"string": "text", "int64": "bigint", "float64": "double precision", "bool": "boolean",
            "date": "date", "timestamp": "timestamp"}
LAND_POINTS = ("LMC", "LMCSL", "SBC", "HZMB", "HYW")
"""Cash declarations lodged at land control points come from a Big5 system; the rest in UTF-8."""
BIG5 = "big5hkscs"
PDF_LINES = 55
"""Lines of 90 characters one demo PDF page holds; longer documents are published as text."""

TOUCH = """
CREATE OR REPLACE FUNCTION public.touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN NEW.updated_at := clock_timestamp(); RETURN NEW; END $$
"""


@dataclass(frozen=True)
class Published:
    """Where one world was published; ``env`` gives the variables ``connectors/*.toml`` name."""

    db_url: str
    folder: Path
    tables: dict[str, int]

    @property
    def drops(self) -> Path:
        return self.folder / "drops"

    @property
    def site(self) -> Path:
        return self.folder / "site"

    @property
    def env_file(self) -> Path:
        return self.folder / "connectors.env"

    def write_env(self, site_url: str) -> Path:
        """``env`` as a 0600 file of ``export NAME=value`` lines, for later ``workbench ingest run``s."""
        lines = "".join(f"export {name}={value}\n" for name, value in self.env(site_url).items())
        self.env_file.touch(mode=0o600)
        self.env_file.write_text(lines, encoding="utf-8")
        return self.env_file

    def env(self, site_url: str) -> dict[str, str]:
        """Connection variables for the demo connectors (secrets would come the same way)."""
        return {
            **{f"{system.upper()}_DB_URL": self.db_url for system in SYSTEMS.values()},
            "CDCS_DROP": str(self.drops / "cdcs"), "REFERENCE_DROP": str(self.drops / "reference"),
            "PLATFORM_LOG_DROP": str(self.drops / "platform_log"), "DOCUMENTS_DROP": str(self.drops / "documents"),
            "WEB_SITE_URL": site_url,
        }


def publish_sources(seed: int, scale: float, db_url: str, folder: Path,
                    truth: Callable[[TableStream], object] | None = None) -> Published:
    """Publish the world for (seed, scale); earlier demo schemas and files are replaced.

    The truth zone streams last; without ``truth`` generation stops before it.
    """
    folder.mkdir(parents=True, exist_ok=True)
    specs = demo_specs()
    counts: dict[str, int] = {}
    with adbc_pg.connect(db_url) as conn:
        _schemas(conn)
        for stream in generate_world(seed, scale):
            if not stream.name.startswith("raw."):
                if truth is None:
                    break
                truth(stream)
                continue
            table = pa.Table.from_batches(list(stream.batches), schema=stream.schema)
            counts[stream.name] = table.num_rows
            _route(stream, table, specs[stream.name], conn, folder)
        conn.commit()
    return Published(db_url, folder, counts)


def _schemas(conn: adbc_pg.Connection) -> None:
    with conn.cursor() as cur:
        for schema in SYSTEMS.values():
            cur.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            cur.execute(f"CREATE SCHEMA {schema}")
        cur.execute(TOUCH)


def _route(stream: TableStream, table: pa.Table, spec: TableSpec, conn: adbc_pg.Connection, folder: Path) -> None:
    short = stream.name.removeprefix("raw.")
    system = short.split("_", 1)[0]
    drops = folder / "drops"
    if system in SYSTEMS:
        _to_postgres(conn, SYSTEMS[system], short.split("_", 1)[1], table, spec)
    elif system == "ref":
        _parquet(drops / "reference", short, table)
    elif system == "cdcs":
        _cash_csv(drops / "cdcs", table)
    elif system == "platform":
        _jsonl_by_month(drops / "platform_log", table, "ts")
    elif short == "documents":
        _documents(table, drops / "documents", folder / "site")
    else:
        raise ValueError(f"{stream.name}: no demo source system publishes this table")


# -- PostgreSQL --------------------------------------------------------------------------


def _to_postgres(conn: adbc_pg.Connection, schema: str, name: str, table: pa.Table, spec: TableSpec) -> None:
    """Create ``schema.name`` as the system would (key, updated_at, touch trigger) and bulk-load it."""
    qualified = f"{schema}.{name}"
    columns = ", ".join(f'"{c}" {PG_TYPES[col.type]}' + ("" if col.nullable else " NOT NULL")
                        for c, col in spec.columns.items())
    key = f", PRIMARY KEY ({', '.join(spec.key)})" if spec.key else ""
    names = ", ".join(f'"{c}"' for c in spec.columns)
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {qualified} ({columns}, "
                    f"updated_at timestamptz NOT NULL DEFAULT clock_timestamp(){key})")
        cur.execute(f"CREATE TRIGGER touch_updated_at BEFORE UPDATE ON {qualified} "
                    f"FOR EACH ROW EXECUTE FUNCTION public.touch_updated_at()")
        staging = f"staging_{schema}_{name}"
        cur.adbc_ingest(staging, table, mode="replace", temporary=True)
        cur.execute(f"INSERT INTO {qualified} ({names}) SELECT {names} FROM {staging}")
        cur.execute(f"DROP TABLE {staging}")


# -- file drops ---------------------------------------------------------------------------


def _fresh(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.rglob("*"):
        if old.is_file():
            old.unlink()
    return folder


def _parquet(folder: Path, name: str, table: pa.Table) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, folder / f"{name}.parquet")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    return str(value)


def _cash_csv(folder: Path, table: pa.Table) -> None:
    """One CSV per month and channel: land control points in Big5-HKSCS, the others in UTF-8."""
    files: dict[tuple[str, str], list[list[str]]] = {}
    for row in table.to_pylist():
        channel = "land" if row["control_point"] in LAND_POINTS else "air_sea"
        files.setdefault((row["declared_at"].strftime("%Y-%m"), channel), []).append([_text(v) for v in row.values()])
    _fresh(folder)
    for (month, channel), rows in sorted(files.items()):
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(table.column_names)
        writer.writerows(rows)
        encoding = BIG5 if channel == "land" else "utf-8"
        (folder / f"cash_{month}_{channel}.csv").write_bytes(out.getvalue().encode(encoding))


def _jsonl_by_month(folder: Path, table: pa.Table, time_column: str) -> None:
    files: dict[str, list[str]] = {}
    for row in table.to_pylist():
        line = json.dumps(row, default=_text, ensure_ascii=False)
        files.setdefault(row[time_column].strftime("%Y-%m"), []).append(line)
    _fresh(folder)
    for month, lines in sorted(files.items()):
        (folder / f"access_{month}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


# -- documents: a drop of notes and narratives, a web site with feeds ---------------------


def _documents(table: pa.Table, drop: Path, site: Path) -> None:
    intel, cases = _fresh(drop / "intel"), _fresh(drop / "cases")
    press, news = _fresh(site / "press"), _fresh(site / "news")
    feeds: dict[str, list[dict[str, Any]]] = {"press_release": [], "web_article": []}
    for number, doc in enumerate(table.to_pylist()):
        kind = doc["kind"]
        if kind in feeds:
            (press if kind == "press_release" else news).joinpath(f"{doc['doc_id']}.html").write_text(
                _page(doc), encoding="utf-8")
            feeds[kind].append(doc)
        elif kind == "intel_note" and number % 2 == 0:
            (intel / f"{doc['doc_id']}.docx").write_bytes(_docx(doc))
        elif kind == "case_narrative" and _fits_pdf(doc):
            (cases / f"{doc['doc_id']}.pdf").write_bytes(_pdf(doc))
        else:
            (intel if kind == "intel_note" else cases).joinpath(f"{doc['doc_id']}.txt").write_text(
                _front_matter(doc), encoding="utf-8")
    (press / "rss.xml").write_text(_rss(feeds["press_release"]), encoding="utf-8")
    (news / "atom.xml").write_text(_atom(feeds["web_article"]), encoding="utf-8")
    (site / "index.html").write_text(
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Customs news (demo)</title></head>'
        '<body><main><p><a href="press/rss.xml">Press releases (RSS)</a></p>'
        '<p><a href="news/atom.xml">Trade news (Atom)</a></p></main></body></html>', encoding="utf-8")


def _utc(moment: datetime) -> datetime:
    """World times are naive UTC (the lake's convention)."""
    return moment.replace(tzinfo=UTC)


def _page(doc: dict[str, Any]) -> str:
    when = _utc(doc["published_at"]).isoformat()
    title = html.escape(doc["title"])
    return (f'<!doctype html>\n<html lang="{doc["language"]}"><head><meta charset="utf-8"><title>{title}</title>'
            f'<meta property="article:published_time" content="{when}"></head>\n<body>'
            f'<nav><a href="/">Home</a> | <a href="rss.xml">Feed</a></nav>\n'
            f'<article><header><h1>{title}</h1><time datetime="{when}">{doc["published_at"]:%d %b %Y}</time>'
            f'</header>\n<p>{html.escape(doc["text"])}</p></article>\n'
            f'<footer>Synthetic demo content</footer></body></html>\n')


def _newest_first(docs: list[dict[str, Any]], entry: Callable[[dict[str, Any], str, str], str]) -> str:
    """Feed entries, newest first; ``entry`` gets the document, its escaped title and its ISO time."""
    ordered = sorted(docs, key=lambda d: d["published_at"], reverse=True)
    return "".join(entry(d, html.escape(d["title"]), _utc(d["published_at"]).isoformat()) + "\n" for d in ordered)


def _rss(docs: list[dict[str, Any]]) -> str:
    items = _newest_first(docs, lambda d, title, _: (
        f'<item><title>{title}</title><link>/press/{d["doc_id"]}.html</link>'
        f'<guid isPermaLink="false">{d["doc_id"]}</guid>'
        f'<pubDate>{format_datetime(_utc(d["published_at"]), usegmt=True)}</pubDate></item>'))
    return ('<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel><title>Press releases</title>'
            f'<link>/press/</link><description>Demo press releases</description><language>en</language>\n'
            f'{items}</channel></rss>\n')


def _atom(docs: list[dict[str, Any]]) -> str:
    entries = _newest_first(docs, lambda d, title, when: (
        f'<entry><id>{d["doc_id"]}</id><title>{title}</title><link rel="alternate" href="/news/{d["doc_id"]}.html"/>'
        f'<published>{when}</published><updated>{when}</updated></entry>'))
    updated = max((_utc(d["published_at"]).isoformat() for d in docs), default="2024-01-01T00:00:00+00:00")
    return ('<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en">'
            f'<title>Trade news</title><id>urn:demo:trade-news</id><updated>{updated}</updated>\n{entries}</feed>\n')


def _front_matter(doc: dict[str, Any]) -> str:
    return (f"Title: {doc['title']}\nLanguage: {doc['language']}\nDate: {_utc(doc['published_at']).isoformat()}\n\n"
            f"{doc['text']}\n")


def _docx(doc: dict[str, Any]) -> bytes:
    import docx

    document = docx.Document()
    props = document.core_properties
    props.title, props.language, props.created = doc["title"], doc["language"], _utc(doc["published_at"])
    document.add_paragraph(doc["text"])
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _fits_pdf(doc: dict[str, Any]) -> bool:
    """Whether a document fits the demo's one-page Helvetica PDF (Latin-1 text, one page)."""
    try:
        (doc["title"] + doc["text"]).encode("latin-1")
    except UnicodeEncodeError:
        return False
    return len(textwrap.wrap(doc["text"], 90)) <= PDF_LINES


def _pdf(doc: dict[str, Any]) -> bytes:
    """A one-page PDF in Helvetica (Latin-1 text), with title, language and creation date set."""
    from pypdf import PdfWriter
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject, TextStringObject

    writer = PdfWriter()
    page = writer.add_blank_page(595, 842)
    font = DictionaryObject({NameObject("/Type"): NameObject("/Font"), NameObject("/Subtype"): NameObject("/Type1"),
                             NameObject("/BaseFont"): NameObject("/Helvetica"),
                             NameObject("/Encoding"): NameObject("/WinAnsiEncoding")})
    page[NameObject("/Resources")] = DictionaryObject({NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})})
    lines = textwrap.wrap(doc["text"], 90)
    escaped = (line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") for line in lines)
    content = DecodedStreamObject()
    content.set_data(("BT /F1 10 Tf 14 TL 50 800 Td " + " ".join(f"({line}) Tj T*" for line in escaped) + " ET")
                     .encode("latin-1"))
    page.replace_contents(content)
    writer.add_metadata({"/Title": doc["title"], "/CreationDate": f"D:{doc['published_at']:%Y%m%d%H%M%S}Z"})
    writer.root_object[NameObject("/Lang")] = TextStringObject(doc["language"])
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


# -- the web site on loopback ---------------------------------------------------------------


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        """The demo site does not log each request to stderr."""


@contextmanager
def serve_site(folder: Path, port: int = 0) -> Iterator[str]:
    """Serve ``folder`` on 127.0.0.1 (``port`` 0: any free port) in a thread; yields the base URL.

    This stands in for the public web the connectors collect from, not for a service of
    ours, so it is the plainest static file server there is (the standard library's).
    """
    server = ThreadingHTTPServer(("127.0.0.1", port), functools.partial(_QuietHandler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, name="demo-site", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
