"""Analysts' annotations for training the NLP and risk models (labelling app, dashboards issue).

Public API the training code calls: ``effective_span_annotations(wb)`` (entity spans
analysts assert, adds minus later removes) and ``document_labels(wb, task)`` (latest
topic / priority / risk label per target). Writers: ``annotate_span``, ``label_target``.
"""

from workbench.labelling.annotations import (
    NER_LABELS,
    TASK_VALUES,
    annotate_span,
    document_labels,
    document_spans,
    effective_span_annotations,
    label_target,
    rejected_spans,
)

__all__ = ["NER_LABELS", "TASK_VALUES", "annotate_span", "document_labels", "document_spans",
           "effective_span_annotations", "label_target", "rejected_spans"]
