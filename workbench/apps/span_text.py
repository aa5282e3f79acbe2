"""A document's text with its entity spans highlighted, reporting the analyst's selection as character offsets.

Panel has no widget that reports where in a text the user selected, so this is a small
``JSComponent`` (plain ES module inline, nothing fetched at run time). Two details matter:

- Offsets are Unicode code points, like Python ``str`` indices and the lake contract;
  JavaScript counts UTF-16 units, so the script converts (``Array.from`` splits a string
  into code points; an astral character such as 𠮷 is one point but two units).
- Data never enters markup: pieces are DOM text nodes (``textContent``), so a document
  holding HTML shows it as text.

Bokeh renders components inside shadow roots, where ``document.getSelection()`` is
retargeted to the host; the script reads the selection from its own root when the browser
offers ``ShadowRoot.getSelection`` (chromium does).
"""

from __future__ import annotations

from typing import Any

import param
from panel.custom import JSComponent

LABEL_COLOURS = {"PERSON": "#ffd8a8", "ORG": "#a5d8ff", "LOCATION": "#b2f2bb", "VESSEL": "#d0bfff",
                 "PLATE": "#ffc9c9", "CONTAINER": "#ffec99", "PHONE": "#99e9f2", "COMMODITY": "#eebefa",
                 "MONEY": "#c3fae8"}


class SpanText(JSComponent):
    """``text`` with ``spans`` (dicts: start, end, label, origin) marked; ``selection`` is ``[start, end]`` or ``[]``."""

    text = param.String(default="")
    spans = param.List(default=[], doc="Spans to highlight: {start, end, label, origin}, code-point offsets")
    colours = param.Dict(default=LABEL_COLOURS)
    selection = param.List(default=[], doc="The selected [start, end) in code points, or [] when nothing is")

    _esm = """
export function render({ model }) {
  const box = document.createElement('div');
  box.className = 'doc-text';
  const piece = (chars, from, to, span) => {
    const node = document.createElement(span ? 'mark' : 'span');
    node.dataset.offset = String(from);
    node.textContent = chars.slice(from, to).join('');
    if (span) {
      node.className = 'ent ' + (span.origin || '');
      node.style.background = (model.colours || {})[span.label] || '#eee';
      node.title = span.label + ' (' + (span.origin || '') + ')';
      node.dataset.label = span.label;
    }
    box.appendChild(node);
  };
  const draw = () => {
    box.replaceChildren();
    const chars = Array.from(model.text || '');
    const spans = [...(model.spans || [])].sort((a, b) => a.start - b.start || b.end - a.end);
    let pos = 0;
    for (const s of spans) {
      if (s.start < pos || s.end > chars.length) continue;  // overlapping or stale: shown in the table only
      if (s.start > pos) piece(chars, pos, s.start, null);
      piece(chars, s.start, s.end, s);
      pos = s.end;
    }
    if (pos < chars.length) piece(chars, pos, chars.length, null);
  };
  const offset = (node, at) => {
    if (node.nodeType === 3) {
      const holder = node.parentElement;
      if (!holder || !box.contains(holder) || holder.dataset.offset === undefined) return null;
      return Number(holder.dataset.offset) + Array.from(node.data.slice(0, at)).length;
    }
    if (node === box) {
      const next = box.children[at];
      return next ? Number(next.dataset.offset) : Array.from(model.text || '').length;
    }
    if (box.contains(node) && node.dataset.offset !== undefined) {
      return at === 0 ? Number(node.dataset.offset) : Number(node.dataset.offset) + Array.from(node.textContent).length;
    }
    return null;
  };
  const report = () => {
    const root = box.getRootNode();
    const sel = root.getSelection ? root.getSelection() : document.getSelection();
    if (!sel || sel.rangeCount === 0 || sel.isCollapsed) { model.selection = []; return; }
    const range = sel.getRangeAt(0);
    const a = offset(range.startContainer, range.startOffset);
    const b = offset(range.endContainer, range.endOffset);
    model.selection = (a === null || b === null || a === b) ? [] : [Math.min(a, b), Math.max(a, b)];
  };
  box.addEventListener('mouseup', report);
  box.addEventListener('keyup', report);
  model.on('text', draw);
  model.on('spans', draw);
  draw();
  return box;
}
"""

    _stylesheets = ["""
.doc-text { white-space: pre-wrap; line-height: 1.9; font-size: 15px; padding: 10px; border: 1px solid #ddd;
             border-radius: 6px; max-height: 420px; overflow-y: auto; user-select: text; }
.doc-text mark.ent { padding: 1px 2px; border-radius: 3px; color: inherit; }
.doc-text mark.model { outline: 1px dashed #555; }
.doc-text mark.analyst { outline: 2px solid #1c7ed6; }
"""]


def span_dicts(frame: Any) -> list[dict[str, Any]]:
    """Rows of ``workbench.labelling.document_spans`` as the component's ``spans``."""
    return [{"start": int(r["start"]), "end": int(r["end"]), "label": r["label"], "origin": r["origin"]}
            for r in frame.iter_rows(named=True)]
