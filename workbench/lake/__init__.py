"""The data lake: Delta tables by zone, contracts, quarantine, catalog and documents."""

from workbench.lake.catalog import Catalog, Lineage
from workbench.lake.contracts import Contract, Rejection
from workbench.lake.lake import Lake, WriteMode, WriteResult
from workbench.lake.specs import ZONES, Classification, ColumnSpec, TableSpec, load_spec_files, standard_specs
from workbench.lake.storage import LakeLocation
from workbench.lake.streams import TableStream

__all__ = [
    "ZONES", "Catalog", "Classification", "ColumnSpec", "Contract", "Lake", "LakeLocation", "Lineage",
    "Rejection", "TableSpec", "TableStream", "WriteMode", "WriteResult", "load_spec_files", "standard_specs",
]
