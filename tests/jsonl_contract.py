"""What every ``--input F --output F`` JSON-lines command owes its caller when a line is malformed.

Shared by the NLP commands' tests (``nlp extract``, ``nlp classify``): one rule, one check.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any


def assert_refuses_malformed_input(run: Callable[..., Any], folder: Path, content: bytes, problem: str) -> None:
    """``run("--input", F, "--output", G)`` on ``content`` exits 1 naming ``problem``, and leaves G as it was.

    The previous output must survive untouched and no partial file may be left behind: a
    scorer reading G sees either the last complete run or the next one, never half of one.
    """
    source, target = folder / "in.jsonl", folder / "out.jsonl"
    source.write_bytes(content)
    target.write_text("previous run\n", encoding="utf-8")
    result = run("--input", str(source), "--output", str(target))
    assert result.exit_code == 1 and problem in result.output, result.output
    assert target.read_text(encoding="utf-8") == "previous run\n", "the previous output is untouched"
    assert [p.name for p in folder.iterdir() if p.name.endswith(".part")] == []
