"""Data acquisition: connector kinds over one lifecycle base, declarative connector files,
watermarks, run log and the runner. See ``base.py`` for the lifecycle every kind shares."""

from workbench.ingest.base import Connector, Extract, SourceUnavailable
from workbench.ingest.kinds import connector_class, kinds
from workbench.ingest.runlog import RunLog, RunRecord
from workbench.ingest.runner import build, follow, run_connectors, status
from workbench.ingest.spec import ConnectorSpec, TableSource, load_connector_dir, load_connectors, parse_connector
from workbench.ingest.watermarks import Watermarks

__all__ = [
    "Connector", "ConnectorSpec", "Extract", "RunLog", "RunRecord", "SourceUnavailable", "TableSource",
    "Watermarks", "build", "connector_class", "follow", "kinds", "load_connector_dir", "load_connectors",
    "parse_connector", "run_connectors", "status",
]
