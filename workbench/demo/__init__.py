"""The deterministic synthetic Hong Kong customs world (raw source tables plus ground truth).

    from workbench.demo import generate_world
    for table_stream in generate_world(seed=7, scale=1.0):
        for batch in table_stream.batches: ...
"""

from workbench.demo.world import TABLES, Document, WorldConfig, generate_world

__all__ = ["TABLES", "Document", "WorldConfig", "generate_world"]
