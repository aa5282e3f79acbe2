"""Batches on their way into the lake.

Producers (the demo world, connectors) hand the lake a ``TableStream``: the target table
and an iterator of Arrow record batches. The lake consumes it in one pass, so a producer
can generate ten million rows without ever holding them.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TypeVar

import pyarrow as pa

T = TypeVar("T")
_DONE = object()


@dataclass
class TableStream:
    """Rows for one lake table, produced lazily.

    ``batches`` is consumed exactly once. Its batches must have ``schema`` (same names,
    order and types); the contract then decides which rows land.
    """

    name: str
    schema: pa.Schema
    batches: Iterator[pa.RecordBatch]


def read_ahead(items: Iterator[T], depth: int = 4) -> Iterator[T]:
    """``items``, produced by a background thread up to ``depth`` ahead of the consumer.

    A source read (ADBC's COPY stream, a file parse) and the lake's contract check and
    Delta write all run in native code that releases the GIL, so overlapping them gains
    the time of the shorter one. The producer's exception is re-raised to the consumer at
    the point it happened; a consumer that stops early (an error in the write) stops the
    producer at its next item. Hand-rolled because no library offers a bounded prefetch
    for a plain iterator (``concurrent.futures`` has no streaming map).
    """
    buffer: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(item: object) -> bool:
        """Queue ``item`` unless the consumer has stopped; False once it has."""
        while not stop.is_set():
            try:
                buffer.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not offer(item):
                    break
            else:
                offer(_DONE)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which re-raises it
            offer(exc)
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()  # a generator's own cleanup (a cursor, a file) runs now, in this thread

    thread = threading.Thread(target=produce, name="read-ahead", daemon=True)
    thread.start()
    try:
        while (item := buffer.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        thread.join()
