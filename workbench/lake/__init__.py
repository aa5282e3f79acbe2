"""The data lake: Delta tables by zone, contracts, quarantine, catalog and documents.

Exports load on first use (``workbench.exports``): ``workbench.lake.specs`` alone (the access
policy's zones) does not pull in pandera and Delta.
"""

from typing import TYPE_CHECKING

from workbench.exports import lazy_exports

if TYPE_CHECKING:
    from workbench.lake.catalog import Catalog, Lineage
    from workbench.lake.contracts import Contract, Rejection
    from workbench.lake.lake import Lake, WriteMode, WriteResult
    from workbench.lake.retention import History
    from workbench.lake.specs import ZONES, Classification, ColumnSpec, TableSpec, load_spec_files, standard_specs
    from workbench.lake.storage import LakeLocation
    from workbench.lake.streams import TableStream

__all__, __getattr__ = lazy_exports(__name__, {
    "workbench.lake.catalog": ("Catalog", "Lineage"),
    "workbench.lake.contracts": ("Contract", "Rejection"),
    "workbench.lake.lake": ("Lake", "WriteMode", "WriteResult"),
    "workbench.lake.retention": ("History",),
    "workbench.lake.specs": ("ZONES", "Classification", "ColumnSpec", "TableSpec", "load_spec_files",
                             "standard_specs"),
    "workbench.lake.storage": ("LakeLocation",),
    "workbench.lake.streams": ("TableStream",),
})
