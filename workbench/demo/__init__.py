"""The deterministic synthetic Hong Kong customs world (raw source tables plus ground truth).

    from workbench.demo import generate_world
    for table_stream in generate_world(seed=7, scale=1.0):
        for batch in table_stream.batches: ...

Exports load on first use (``workbench.exports``): the world's module pulls in the document
generator and, through it, MLflow, which ``demo loop`` and a ``publish-sources --if-empty``
with nothing to do (a second ``make up``) do not need.
"""

from typing import TYPE_CHECKING

from workbench.exports import lazy_exports

if TYPE_CHECKING:
    from workbench.demo.world import TABLES, Document, WorldConfig, generate_world

__all__, __getattr__ = lazy_exports(__name__, {"workbench.demo.world": ["TABLES", "Document", "WorldConfig",
                                                                         "generate_world"]})
