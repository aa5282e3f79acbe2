"""The JSON-lines contracts of ``workbench nlp extract`` and ``workbench nlp classify`` (``--input F --output F``).

Input (both): one object per line, ``{"id": ..., "text": "..."}`` (blank lines are skipped).
Output: one line per input line, in order, with the input's ``id``:

- extract: ``{"id", "entities": [{"start", "end", "label", "text", "score"}]}`` with
  code-point offsets into ``text`` and only the nine entity labels of ``spans.LABELS``;
- classify: ``{"id", "topic", "topic_score", "priority", "priority_score"}``, the
  classifier's most probable topic and triage priority with their calibrated probabilities
  (the columns of ``curated.document_topics``).

The whole input is checked before any model runs, and the output is written to a
temporary file that replaces the target only when complete: a bad line stops the run with
its number and the rule it broke, and nothing is left half-written.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.errors import WorkbenchError
from workbench.nlp.spans import LABELS, Span

if TYPE_CHECKING:  # the classifier's module loads scikit-learn's stack; extraction does not need it
    from workbench.nlp.classify import Triage


class BadInputLine(WorkbenchError):
    """A line of a JSON-lines input that breaks the contract; ``line`` is 1-based."""

    def __init__(self, path: Path, line: int, problem: str) -> None:
        self.path, self.line, self.problem = path, line, problem
        super().__init__(f"{path}, line {line}: {problem}")


def read_texts(path: Path) -> list[tuple[Any, str]]:
    """``(id, text)`` of every non-blank line of ``path``; ``BadInputLine`` on the first bad one."""
    out: list[tuple[Any, str]] = []
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise BadInputLine(path, number, f"not UTF-8 (byte {exc.start})") from None
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise BadInputLine(path, number, f"not valid JSON ({exc.msg} at column {exc.colno})") from None
            if not isinstance(record, dict):
                raise BadInputLine(path, number, 'expected a JSON object {"id", "text"}')
            if record.get("id") is None:
                raise BadInputLine(path, number, 'field "id" is missing')
            if not isinstance(record.get("text"), str):
                raise BadInputLine(path, number, 'field "text" is missing or not a string')
            out.append((record["id"], record["text"]))
    return out


def entity_lines(ids: Sequence[Any], results: Sequence[Sequence[Span]]) -> list[str]:
    """The output lines for ``ids`` and their spans (labels outside ``LABELS``, such as HS_CODE, are left out)."""
    return [json.dumps({"id": doc_id, "entities": [
        {"start": s.start, "end": s.end, "label": s.label, "text": s.text, "score": round(s.score, 4)}
        for s in spans if s.label in LABELS]}, ensure_ascii=False) for doc_id, spans in zip(ids, results)]


def triage_lines(ids: Sequence[Any], results: Sequence[Triage]) -> list[str]:
    """The output lines of ``nlp classify --input`` for ``ids`` and their topic and priority."""
    return [json.dumps({"id": doc_id, "topic": r.topic, "topic_score": r.topic_score, "priority": r.priority,
                        "priority_score": r.priority_score}, ensure_ascii=False) for doc_id, r in zip(ids, results)]


def write_lines(path: Path | None, lines: Sequence[str]) -> None:
    """Write ``lines`` to ``path`` atomically (standard output when ``path`` is None)."""
    text = "".join(line + "\n" for line in lines)
    if path is None:
        sys.stdout.write(text)
        return
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
