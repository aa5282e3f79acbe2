"""The workbench's error hierarchy.

Every error a person can act on is a ``WorkbenchError``. The CLI prints ``str(error)`` as
one line and exits non-zero; notebooks and apps read the structured attributes instead of
parsing the message.
"""

from __future__ import annotations

from collections.abc import Sequence


class WorkbenchError(Exception):
    """Base class: a problem the user can fix (bad name, bad input, missing right)."""


class ConfigError(WorkbenchError):
    """A settings or spec file is invalid; the message names the file, key and reason."""


class UnknownName(WorkbenchError):
    """A name the lake does not know; ``suggestions`` lists close names that it does."""

    kind = "name"

    def __init__(self, name: str, suggestions: Sequence[str] = ()) -> None:
        self.name = name
        self.suggestions = list(suggestions)
        hint = f"; did you mean {', '.join(self.suggestions)}?" if self.suggestions else ""
        super().__init__(f"unknown {self.kind} {name!r}{hint}")


class UnknownTable(UnknownName):
    """A table name that the catalog does not hold."""

    kind = "table"


class UnknownColumn(UnknownName):
    """A column that none of the query's tables has."""

    kind = "column"


class QueryError(WorkbenchError):
    """SQL that the engine rejected for a reason other than an unknown name."""


class ContractViolation(WorkbenchError):
    """One record broke one rule of a table contract.

    Raised only when a caller asks for strict writes; normal writes quarantine the record
    and carry on with the rest of the batch.
    """

    def __init__(self, table: str, record: str, field: str, rule: str, value: object = None) -> None:
        self.table, self.record, self.field, self.rule, self.value = table, record, field, rule, value
        super().__init__(f"{table}: record {record}: field {field!r} breaks rule {rule} (value {value!r})")


class WriteConflict(WorkbenchError):
    """A concurrent writer committed first and retries ran out."""


class AccessDenied(WorkbenchError):
    """The role may not read (or write) ``table``; ``clearance`` is what the table requires."""

    def __init__(self, table: str, clearance: str, role: str, reason: str = "") -> None:
        self.table, self.clearance, self.role = table, clearance, role
        why = reason or f"it needs clearance {clearance} and role {role!r} does not have it"
        super().__init__(f"access to {table} denied: {why}")
