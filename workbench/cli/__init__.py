"""The ``workbench`` command (``workbench.cli.main``): one sub-command module per area, all over the library.

The package itself imports nothing: a long-running component that supervisord restarts
(``python -m workbench.cli.audit serve``) loads its own sub-command only, not every
area's libraries (seconds on a busy machine, at every restart).
"""
