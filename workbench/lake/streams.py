"""Batches on their way into the lake.

Producers (the demo world, connectors) hand the lake a ``TableStream``: the target table
and an iterator of Arrow record batches. The lake consumes it in one pass, so a producer
can generate ten million rows without ever holding them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa


@dataclass
class TableStream:
    """Rows for one lake table, produced lazily.

    ``batches`` is consumed exactly once. Its batches must have ``schema`` (same names,
    order and types); the contract then decides which rows land.
    """

    name: str
    schema: pa.Schema
    batches: Iterator[pa.RecordBatch]
