"""What a masked column reads, as SQL (``masked_view``) and as Arrow (``mask_array``): one rule, two engines.

Text reads the policy's mask on every row (a reader that never opens the column cannot
know which values were null); every other type reads NULL. Kept apart from the gate
(``workbench.security.gate``, which imports DuckDB, Polars and the lake) because Dask
workers apply ``mask_array`` inside every partition of ``wb.dask``: a worker that
unpickles its first loader imports this module, and should pay for Arrow only.
"""

from __future__ import annotations

import pyarrow as pa

_NULL_TYPES = {"int64": "BIGINT", "int32": "INTEGER", "double": "DOUBLE", "float": "FLOAT", "bool": "BOOLEAN",
               "date32[day]": "DATE", "timestamp[us]": "TIMESTAMP", "timestamp[ns]": "TIMESTAMP_NS"}


def is_text(kind: pa.DataType) -> bool:
    """Arrow's three string layouts (the lake's snapshot datasets read text as ``string_view``)."""
    return pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind)


def masked_view(alias: str, schema: pa.Schema, masked: list[str], mask: str) -> str:
    """The SELECT behind a masked table's view: its other columns from ``alias``, each masked one a constant.

    ``alias`` names an Arrow dataset of the snapshot without the masked columns, so the
    engine never reads them: a masked text column reads ``mask`` on every row (it cannot
    know which values were null), any other masked column NULL of its type.
    """
    literal = "'" + mask.replace("'", "''") + "'"
    columns = []
    for field in schema:
        quoted = '"' + field.name.replace('"', '""') + '"'
        if field.name not in masked:
            columns.append(quoted)
        elif is_text(field.type):
            columns.append(f"{literal} AS {quoted}")
        else:
            columns.append(f"CAST(NULL AS {_NULL_TYPES.get(str(field.type), 'VARCHAR')}) AS {quoted}")
    return f"SELECT {', '.join(columns)} FROM {alias}"


def mask_array(field: pa.Field, rows: int, mask: str) -> pa.Array:
    """What a masked column reads, as Arrow (``masked_view``'s rule): ``mask`` on every row for text, else NULL.

    For readers that never read a masked column from the files and add it afterwards
    (Dask partitions, ``session.dask_frames``).
    """
    if is_text(field.type):
        return pa.repeat(pa.scalar(mask, field.type), rows)
    return pa.nulls(rows, field.type)
