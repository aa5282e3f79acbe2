"""The ``workbench`` command: one sub-command module per area, all over the library."""

from workbench.cli.main import main

__all__ = ["main"]
