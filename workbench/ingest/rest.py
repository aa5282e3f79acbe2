"""The REST/JSON API kind: pages of JSON records, followed by their next links, since a watermark.

Connection: ``base_url`` (or ``base_url_env``), and optionally ``token_env`` - sent as
``<auth_header>: <auth_scheme> <token>`` (default ``Authorization: Bearer <token>``).
Table: ``url`` (the endpoint, relative to ``base_url``), ``records`` (the key of a page's
JSON object holding the records; omit when a page is a JSON list), and for an
incremental table ``incremental`` (the record field that grows, e.g. ``updated_at``)
with ``since_param`` (the query parameter the API filters on, given the largest value
already landed). The next page is the ``Link: <...>; rel="next"`` header, or a top-level
``"next"`` URL in the page; no next link ends the read.

Values land as text, like a file drop: the contract decides what each means. The
incremental field must sort as text (ISO 8601 times, zero-padded numbers).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, ClassVar
from urllib.parse import urljoin

import pyarrow as pa

from workbench.ingest import http
from workbench.ingest.base import Connector, Extract
from workbench.ingest.files import cell
from workbench.ingest.spec import TableSource
from workbench.ingest.watermarks import Marks
from workbench.lake import Rejection

MAX_PAGES = 100_000
"""A guard against an API whose next links loop."""


class RESTConnector(Connector):
    """``kind = "rest"``: a paginated JSON API behind an auth header."""

    kind = "rest"
    transient_errors: ClassVar[tuple[type[BaseException], ...]] = (ConnectionError, TimeoutError)

    def validate_table(self, source: TableSource) -> None:
        if not source.url:
            raise self.config_error(source, "url", "a rest table needs url, the endpoint relative to base_url")
        if source.incremental and not source.since_param:
            raise self.config_error(source, "since_param", "an incremental rest table needs since_param, the "
                                    "query parameter the API filters on")
        super().validate_table(source)

    def is_incremental(self, source: TableSource) -> bool:
        return source.incremental is not None

    def headers(self) -> dict[str, str]:
        connection = self.connection()
        if "token" not in connection:
            return {}
        scheme = connection.get("auth_scheme", "Bearer")
        return {connection.get("auth_header", "Authorization"): f"{scheme} {connection['token']}".strip()}

    def extract(self, source: TableSource, marks: Marks) -> Extract:
        url = urljoin(self.connection()["base_url"], source.url)
        if source.incremental and source.since_param and "value" in marks:
            url = http.with_params(url, {source.since_param: marks["value"]})
        headers = self.headers()
        first = http.get(url, headers)
        extract = Extract(pa.schema([]), iter(()))
        records = self._records(first, source, extract)
        contract = self.spec.table_spec(source, self.lake.specs)
        names = list(contract.columns) if contract else list(dict.fromkeys(k for r in records for k in r))
        if source.incremental and source.incremental not in names:
            names.append(source.incremental)
        extract.schema = pa.schema([pa.field(n, pa.string()) for n in names])
        extract.batches = self._pages(first, records, source, headers, extract)
        return extract

    def _pages(self, page: http.Response, records: list[dict[str, Any]], source: TableSource,
               headers: dict[str, str], extract: Extract) -> Iterator[pa.RecordBatch]:
        high: str | None = None
        for _ in range(MAX_PAGES):
            if records:
                yield pa.RecordBatch.from_arrays(
                    [pa.array([cell(r.get(n)) for r in records], pa.string()) for n in extract.schema.names],
                    schema=extract.schema)
                if source.incremental:
                    values = [v for r in records if (v := cell(r.get(source.incremental))) is not None]
                    high = max([*values, *([high] if high else [])], default=None)
            following = page.link("next")
            body = page.data
            if following is None and isinstance(body, dict) and isinstance(body.get("next"), str):
                following = body["next"]
            if not following:
                break
            page = http.get(urljoin(page.url, following), headers)
            records = self._records(page, source, extract)
        if high is not None:
            extract.marks["value"] = high

    @staticmethod
    def _records(page: http.Response, source: TableSource, extract: Extract) -> list[dict[str, Any]]:
        """The page's records; items that are not JSON objects are rejected with the page named."""
        body = page.data
        items = body.get(source.records) if source.records and isinstance(body, dict) else body
        if not isinstance(items, list):
            where = f"key {source.records!r}" if source.records else "the page"
            raise http.RequestRejected(f"{page.url}: {where} is not a JSON list of records")
        records = []
        for number, item in enumerate(items):
            if isinstance(item, dict):
                records.append(item)
            else:
                extract.rejections.append(Rejection(
                    table=source.target, record=f"{page.url} item {number}", field="(record)", rule="JSON object",
                    value=f"a JSON {type(item).__name__}, not an object", payload=json.dumps(item, ensure_ascii=False)))
        return records
