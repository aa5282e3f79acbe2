"""Connector kinds by name: the entry-point group ``workbench.connectors``, then built-ins.

A deployment adds a kind by shipping a package that declares, in its pyproject::

    [project.entry-points."workbench.connectors"]
    sftp = "mypackage.sftp:SFTPConnector"

The built-ins are also listed here so the library works from a source checkout that was
never installed (no entry-point metadata).
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import entry_points

from workbench.errors import ConfigError
from workbench.ingest.base import Connector

GROUP = "workbench.connectors"
BUILTIN = {
    "sql": "workbench.ingest.sql:SQLConnector",
    "files": "workbench.ingest.files:FileDropConnector",
    "rest": "workbench.ingest.rest:RESTConnector",
    "web": "workbench.ingest.web:WebConnector",
    "documents": "workbench.ingest.documents:DocumentDropConnector",
}


def kinds() -> dict[str, str]:
    """Every known kind and where its class lives; installed entry points win over built-ins."""
    return {**BUILTIN, **{ep.name: ep.value for ep in entry_points(group=GROUP)}}


def connector_class(kind: str, source_file: str = "<inline>") -> type[Connector]:
    """The class of a kind; an unknown kind is a config error naming the file."""
    target = kinds().get(kind)
    if target is None:
        raise ConfigError(f"{source_file}: kind: unknown connector kind {kind!r}; known: {', '.join(sorted(kinds()))}")
    module, _, name = target.partition(":")
    cls = getattr(import_module(module), name)
    if not (isinstance(cls, type) and issubclass(cls, Connector)):
        raise ConfigError(f"{source_file}: kind: {target} is not a Connector subclass")
    return cls
