"""The keras-hub text encoder families ktbert fine-tunes, and how to tell a folder's family.

Each family is a keras-hub backbone class and its tokenizer class, the kind of tokenizer assets
it needs (a WordPiece vocabulary, a byte-level BPE vocabulary with merges, or a SentencePiece
model), whether its backbone takes segment ids, how many end tokens separate the two texts of a
pair, and the `model_type` of the Hugging Face checkpoints keras-hub converts into it.
"""

from __future__ import annotations

import dataclasses
import json
import os

WORDPIECE, BPE, SENTENCEPIECE = "wordpiece", "bpe", "sentencepiece"


@dataclasses.dataclass(frozen=True)
class EncoderFamily:
    """One keras-hub text encoder family.

    Args:
        name: str. ktbert's name of the family, keras-hub's module name ("bert", "roberta", ...).
        backbone: str. the keras-hub backbone class, as `keras_hub.models` names it.
        tokenizer: str. the keras-hub tokenizer class.
        assets: str. "wordpiece", "bpe" or "sentencepiece": what the tokenizer is made from.
        segments: bool. whether the backbone takes `segment_ids`.
        pair_separators: int. end tokens between the two texts of a pair (2 in RoBERTa's family).
        hf_model_type: str or None. the `model_type` of the Hugging Face checkpoints keras-hub
            converts into this family; None where it converts none.
    """

    name: str
    backbone: str
    tokenizer: str
    assets: str
    segments: bool
    pair_separators: int = 1
    hf_model_type: str | None = None

    @property
    def backbone_class(self):
        import keras_hub

        return getattr(keras_hub.models, self.backbone)

    @property
    def tokenizer_class(self):
        import keras_hub

        return getattr(keras_hub.models, self.tokenizer)


FAMILIES = {f.name: f for f in (
    EncoderFamily("bert", "BertBackbone", "BertTokenizer", WORDPIECE, True, 1, "bert"),
    EncoderFamily("distil_bert", "DistilBertBackbone", "DistilBertTokenizer", WORDPIECE, False, 1, "distilbert"),
    EncoderFamily("roberta", "RobertaBackbone", "RobertaTokenizer", BPE, False, 2, "roberta"),
    EncoderFamily("xlm_roberta", "XLMRobertaBackbone", "XLMRobertaTokenizer", SENTENCEPIECE, False, 2, "xlm-roberta"),
    EncoderFamily("deberta_v3", "DebertaV3Backbone", "DebertaV3Tokenizer", SENTENCEPIECE, False, 1, None),
    EncoderFamily("albert", "AlbertBackbone", "AlbertTokenizer", SENTENCEPIECE, True, 1, "albert"),
    EncoderFamily("electra", "ElectraBackbone", "ElectraTokenizer", WORDPIECE, True, 1, None),
)}
DEFAULT_FAMILY = "bert"


def supported() -> str:
    """The families, as an error message lists them."""
    converted = ", ".join(f.name for f in FAMILIES.values() if f.hf_model_type)
    return (f"keras-hub preset folders of {', '.join(FAMILIES)}; Hugging Face checkpoint folders of "
            f"{converted}")


def family_named(name: str) -> EncoderFamily:
    """The family called `name`, or a ValueError listing them."""
    if name not in FAMILIES:
        raise ValueError(f"`family` must be one of {list(FAMILIES)}. Received: family={name!r}")
    return FAMILIES[name]


def family_of_backbone(backbone_class_name: str, where: str) -> EncoderFamily:
    """The family of a keras-hub backbone class, or a ValueError naming `where` and listing them."""
    for family in FAMILIES.values():
        if family.backbone == backbone_class_name:
            return family
    raise ValueError(f"{where} holds a {backbone_class_name}, which ktbert does not fine-tune. Supported: "
                     f"{supported()}.")


def family_of_folder(folder: str) -> EncoderFamily:
    """The family of a keras-hub preset folder or a Hugging Face checkpoint folder, read from its
    `config.json`; a ValueError names the folder, the missing file or the unsupported family."""
    path = os.path.join(folder, "config.json")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{folder!r} has no config.json: it is neither a keras-hub preset folder nor a "
                                f"Hugging Face checkpoint folder. Supported: {supported()}.")
    try:
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path!r} is not valid JSON ({type(err).__name__}): bring the folder again.") from err
    if not isinstance(config, dict):
        raise ValueError(f"{path!r} must hold a JSON object. Received: {type(config).__name__}")
    if "class_name" in config:  # a keras-hub preset folder
        return family_of_backbone(str(config["class_name"]), repr(folder))
    model_type = config.get("model_type")
    if model_type is None:
        raise ValueError(f"{path!r} names neither a keras-hub backbone (`class_name`) nor a Hugging Face "
                         f"`model_type`: it is not the config of an encoder ktbert can read. Supported: {supported()}.")
    for family in FAMILIES.values():
        if family.hf_model_type is not None and family.hf_model_type == model_type:
            return family
    raise ValueError(f"{folder!r} is a Hugging Face checkpoint of model_type={model_type!r}, which ktbert cannot "
                     f"convert. Supported: {supported()}.")
