"""Functions every lake connection knows, so table specs say ``name_key(x)`` instead of
spelling the rules out again.

The name key is how the curated tables and the entity-resolution baselines agree that two
spellings of a name are the same: upper case, apostrophes and full stops dropped, any run
of other punctuation or spaces as one space, and the two legal-form words companies
abbreviate most often written short. The rules are kept once, as data, and compiled both
to a DuckDB macro (for table specs and analysts' SQL) and to a Polars expression (for
frames that never touch DuckDB), so the two cannot drift apart.
"""

from __future__ import annotations

import duckdb
import polars as pl

NAME_KEY_RULES: tuple[tuple[str, str], ...] = (
    (r"[.'’]", ""),
    (r"[^A-Z0-9\p{Han}]+", " "),
    (r"\bLIMITED\b", "LTD"),
    (r"\bCOMPANY\b", "CO"),
    (r"\s+", " "),
)
"""``(pattern, replacement)`` applied in order to the upper-cased name, then trimmed."""


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def name_key_sql(argument: str) -> str:
    """The name key of SQL expression ``argument``, as SQL."""
    sql = f"upper({argument})"
    for pattern, replacement in NAME_KEY_RULES:
        sql = f"regexp_replace({sql}, {_sql_string(pattern)}, {_sql_string(replacement)}, 'g')"
    return f"trim({sql})"


def name_key_expr(column: pl.Expr) -> pl.Expr:
    """The name key of a Polars string expression (nulls become the empty key)."""
    expr = column.fill_null("").str.to_uppercase()
    for pattern, replacement in NAME_KEY_RULES:
        expr = expr.str.replace_all(pattern, replacement)
    return expr.str.strip_chars()


MACROS: dict[str, tuple[str, str]] = {
    "name_key": ("s", name_key_sql("s")),
}
"""Scalar macros every lake connection defines: name -> (parameter, body)."""


def install_macros(con: duckdb.DuckDBPyConnection) -> None:
    """Define ``MACROS`` on ``con`` (before any sandboxing locks its configuration)."""
    for name, (parameter, body) in MACROS.items():
        con.execute(f"CREATE OR REPLACE MACRO {name}({parameter}) AS {body}")
