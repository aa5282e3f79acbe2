"""Natural language processing of the documents zone: entity extraction in English and Traditional Chinese.

Three extractors feed one merge policy: validated recognisers (``recognisers``), a
gazetteer of names known to the lake (``gazetteer``) and a transformer token classifier
fine-tuned from multilingual-e5-small (``encoder``, ``tagger``, ``training``). Heavy
imports (torch, transformers) happen only when a tagger is loaded or trained.
"""

from workbench.nlp.extract import MENTIONS, Extractor, update_mentions
from workbench.nlp.models import model_cache
from workbench.nlp.gazetteer import Gazetteer
from workbench.nlp.merge import merge
from workbench.nlp.recognisers import parse_chinese_number, recognise
from workbench.nlp.spans import LABELS, Span

__all__ = ["LABELS", "MENTIONS", "Extractor", "Gazetteer", "Span", "merge", "model_cache", "parse_chinese_number",
           "recognise", "update_mentions"]
