"""What a saved classifier config may hold, checked before anything is built from it: only a
`TextClassifier` over the keras-hub backbone of a family ktbert supports, with sizes within
bounds; and the rebuilding.

`check_classifier_config` is the allow-list a predictor's load and `rebuild_classifier` apply
to a save's `model` config; `weight_layout` gives the weight shapes a config implies, which the
load compares with the weights file's header, so a config that asks for a larger model than its
weights is refused before a variable is allocated.
"""

from __future__ import annotations

import copy
import inspect

import keras

from ktbert.checks import check_dropout, cut
from ktbert.defaults import DROPOUT
from ktbert.model.classifier import TextClassifier
from ktbert.model.families import FAMILIES
from ktbert.model.precision import loading_policy
from ktbert.saving.backbone_layouts import backbone_parameters, layout

CONFIG_KEYS = ("backbone", "num_classes", "multilabel", "pooling", "dropout", "class_names", "segments", "name")
# The only Keras objects a saved classifier config may name: the keras-hub backbone of a
# supported family (the classes `load_backbone` builds) and, inside it, its dtype policy.
# `rebuild_classifier` builds these itself; nothing a config names is looked up or deserialized.
BACKBONE_CLASSES = {f.backbone: f.backbone_class for f in FAMILIES.values()}
BACKBONE_NAMES = {(cls.__module__, cls.__name__, keras.saving.get_registered_name(cls)): cls
                  for cls in BACKBONE_CLASSES.values()}
DTYPE_POLICY_NAMES = {(module, name, None) for module in ("keras", "keras.dtype_policies")
                      for name in ("DTypePolicy", "FloatDTypePolicy")}
# The largest size a saved backbone config may name, per argument: far above any checkpoint
# (BERT-large: 30,522 tokens, 24 layers, 16 heads, hidden 1024, intermediate 4096, 512
# positions, 2 segments; XLM-RoBERTa-large: 250,002 tokens), and low enough that no crafted
# number asks for terabytes.
BACKBONE_SIZES = {
    "vocabulary_size": 1_000_000,
    "vocab_size": 1_000_000,
    "embedding_dim": 8192,
    "num_groups": 128,
    "num_inner_repetitions": 16,
    "bucket_size": 8192,
    "num_layers": 128,
    "num_heads": 256,
    "hidden_dim": 8192,
    "intermediate_dim": 65536,
    "max_sequence_length": 8192,
    "num_segments": 16,
}
MAX_CLASSES = 1_000_000
_BACKBONE_ENTRY_KEYS = ("module", "class_name", "config", "registered_name", "build_config", "compile_config")
_SERIALIZATION_KEYS = ("module", "class_name", "registered_name")
_MAX_DEPTH = 16  # a classifier config nests five levels deep
_CUT = 120  # characters of a received value a message echoes


def check_classifier_config(config) -> None:
    """Refuses a saved config that would build anything but a `TextClassifier` over the keras-hub
    backbone of a supported family, before anything is built: every `class_name`, `module` and
    `registered_name` anywhere in it must name such a backbone (at `backbone`) or its dtype
    policy (at `backbone.config.dtype`), every key must be one the two classes take, and every
    size must be a positive integer within `BACKBONE_SIZES` (`num_classes` within `MAX_CLASSES`).

    Raises:
        ValueError: naming the place in the config, what it holds and what is allowed.
    """
    if not isinstance(config, dict):
        raise ValueError(f"the model config must be a TextClassifier config (a JSON object). "
                         f"Received: {type(config).__name__}")
    _refuse_foreign_objects(config, "model", 0)
    unknown = sorted(set(config) - set(CONFIG_KEYS))
    if unknown or "backbone" not in config or "num_classes" not in config:
        raise ValueError(f"`model` must hold `backbone`, `num_classes` and some of {list(CONFIG_KEYS)}, the "
                         f"TextClassifier's arguments. Received keys: {sorted(config)}")
    entry = config["backbone"]
    if not isinstance(entry, dict) or sorted(set(entry) - set(_BACKBONE_ENTRY_KEYS)):
        raise ValueError(f"`model.backbone` must be a serialized keras-hub backbone with keys among "
                         f"{list(_BACKBONE_ENTRY_KEYS)}. Received: {cut(entry, _CUT)}")
    backbone_class = BACKBONE_NAMES.get(_names(entry))
    if backbone_class is None:
        raise ValueError(f"`model.backbone` must be one of keras-hub's {sorted(BACKBONE_CLASSES)}. Received: "
                         f"class_name={entry.get('class_name')!r}, module={entry.get('module')!r}")
    if entry.get("compile_config"):  # compiling would deserialize an optimizer, losses, metrics
        raise ValueError(f"`model.backbone.compile_config` must be empty. Received: "
                         f"{cut(entry['compile_config'], _CUT)}")
    build = entry.get("build_config")
    if build is not None and not (isinstance(build, dict) and set(build) <= {"input_shape"}):
        raise ValueError(f"`model.backbone.build_config` may hold only `input_shape`. Received: {cut(build, _CUT)}")
    backbone = entry.get("config")
    allowed = _backbone_arguments(backbone_class)
    if not isinstance(backbone, dict) or sorted(set(backbone) - allowed):
        keys = sorted(backbone) if isinstance(backbone, dict) else type(backbone).__name__
        raise ValueError(f"`model.backbone.config` must hold {backbone_class.__name__}'s arguments, some of "
                         f"{sorted(allowed)}. Received: {keys}")
    for key, value in backbone.items():
        if key != "dtype" and not isinstance(value, (int, float, str, type(None))):
            raise ValueError(f"`model.backbone.config.{key}` must be a number, string or null. "
                             f"Received: {cut(value, _CUT)}")
    dtype = backbone.get("dtype")
    if isinstance(dtype, dict) and not isinstance(dtype.get("config"), dict):
        raise ValueError(f"`model.backbone.config.dtype` must name a dtype policy. Received: {cut(dtype, _CUT)}")
    _check_backbone_sizes(backbone, backbone_class)
    names = config.get("class_names")
    checks = {
        "num_classes": type(config["num_classes"]) is int,
        "multilabel": isinstance(config.get("multilabel", False), bool),
        "segments": isinstance(config.get("segments", False), bool),
        "pooling": isinstance(config.get("pooling", "mean"), str),
        "class_names": names is None or (isinstance(names, list) and all(isinstance(n, str) for n in names)),
        "name": isinstance(config.get("name", ""), str),
    }
    for key, ok in checks.items():
        if not ok:
            raise ValueError(f"`model.{key}` has the wrong type for a TextClassifier. Received: "
                             f"{cut(config.get(key), _CUT)}")
    if not 2 <= config["num_classes"] <= MAX_CLASSES:
        raise ValueError(f"`model.num_classes` must be an integer from 2 to {MAX_CLASSES:,}. "
                         f"Received: num_classes={config['num_classes']}")
    _check_dropout(config.get("dropout", DROPOUT), "model.dropout")


def _check_backbone_sizes(backbone: dict, backbone_class) -> None:
    """Every size a positive integer within `BACKBONE_SIZES`, the required ones present,
    `hidden_dim` split evenly across the heads, and the dropout a rate."""
    for key in _backbone_required(backbone_class):
        if key not in backbone:
            raise ValueError(f"`model.backbone.config` must hold `{key}`, which {backbone_class.__name__} "
                             f"requires. Received keys: {sorted(backbone)}")
    for key, largest in BACKBONE_SIZES.items():
        if key not in backbone:  # the backbone's default
            continue
        value = backbone[key]
        if type(value) is not int or not 1 <= value <= largest:
            raise ValueError(f"`model.backbone.config.{key}` must be an integer from 1 to {largest:,}. "
                             f"Received: {key}={cut(value, _CUT)}")
    sizes = {**_backbone_defaults(backbone_class), **backbone}
    if "num_groups" in sizes and sizes["num_layers"] % sizes["num_groups"]:
        raise ValueError(f"`model.backbone.config.num_layers` must be divisible by `num_groups`. Received: "
                         f"num_layers={sizes['num_layers']}, num_groups={sizes['num_groups']}")
    if sizes["hidden_dim"] % sizes["num_heads"]:
        raise ValueError(f"`model.backbone.config.hidden_dim` must be divisible by `num_heads`. Received: "
                         f"hidden_dim={sizes['hidden_dim']}, num_heads={sizes['num_heads']}")
    if "dropout" in backbone:
        _check_dropout(backbone["dropout"], "model.backbone.config.dropout")


def _check_dropout(value, where: str) -> None:
    if type(value) not in (int, float):  # JSON's numbers; `true` is no rate
        raise ValueError(f"`{where}` must be a number in [0, 1). "
                         f"Received: {where.rsplit('.', 1)[-1]}={cut(value, _CUT)}")
    check_dropout(value, where)


def rebuild_classifier(config: dict, precision: str | None = None) -> TextClassifier:
    """A `TextClassifier` from its saved config, computing in the saved precision (or in
    `precision`; a bfloat16 model falls back to float32 where bfloat16 would be emulated).

    The config is checked by `check_classifier_config` first, and the backbone is built from the
    allowed class the config names: no other class is looked up.
    """
    check_classifier_config(config)
    config = copy.deepcopy(config)
    entry = config.pop("backbone")
    backbone_class, backbone = BACKBONE_NAMES[_names(entry)], entry["config"]
    saved = backbone.get("dtype")
    saved = saved["config"].get("name", "float32") if isinstance(saved, dict) else (saved or "float32")
    if not isinstance(saved, str):
        raise ValueError(f"`model.backbone.config.dtype` must name a dtype policy. Received: {saved!r}")
    backbone["dtype"] = loading_policy(saved, precision)
    return TextClassifier(backbone_class.from_config(backbone), **config)


def weight_layout(config: dict) -> tuple:
    """The weights a config that passed `check_classifier_config` implies, in `model.weights`
    order: `(count, shapes)`, where `shapes` maps the index of every weight to `(its path, its
    shape as a list, which sizes make it)` (`ktbert.saving.backbone_layouts`, which learns each
    family's order from keras-hub itself). tests/saving/test_saved_config.py checks the layout
    against the models keras-hub builds.
    """
    entry = config["backbone"]
    backbone_class = BACKBONE_NAMES[_names(entry)]
    sizes = {**_backbone_defaults(backbone_class), **entry["config"]}
    return layout(backbone_class.__name__, sizes, config["num_classes"])


def _names(entry: dict) -> tuple:
    return tuple(entry.get(key) for key in _SERIALIZATION_KEYS)


def _refuse_foreign_objects(value, where: str, depth: int) -> None:
    """Walks the whole config: a dict naming a Keras object anywhere but at the two allowed
    places is refused (a `Sequential`, a `Lambda` and its function, a registered custom object)."""
    if depth > _MAX_DEPTH:
        raise ValueError(f"`{where}` is nested deeper than any TextClassifier config ({_MAX_DEPTH} levels).")
    if isinstance(value, dict):
        if any(key in value for key in _SERIALIZATION_KEYS):
            names = _names(value)
            allowed = (BACKBONE_NAMES if where == "model.backbone"
                       else DTYPE_POLICY_NAMES if where == "model.backbone.config.dtype" else set())
            if names not in allowed:
                raise ValueError(
                    f"`{where}` names the Keras object class_name={names[1]!r} (module={names[0]!r}, "
                    f"registered_name={names[2]!r}); a ktbert save may name only a keras-hub backbone of "
                    f"{sorted(BACKBONE_CLASSES)} (at `model.backbone`) and its dtype policy, so nothing else is ever "
                    "built from it."
                )
        for key, item in value.items():
            _refuse_foreign_objects(item, f"{where}.{key}", depth + 1)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _refuse_foreign_objects(item, f"{where}[{i}]", depth + 1)


def _backbone_arguments(backbone_class) -> set:
    """The config keys `from_config` of the backbone takes: its arguments and a layer's own."""
    return {p.name for p in backbone_parameters(backbone_class)} | {"name", "trainable", "dtype"}


def _backbone_required(backbone_class) -> list:
    """The backbone's arguments without a default: the sizes a config must name."""
    return [p.name for p in backbone_parameters(backbone_class) if p.default is inspect.Parameter.empty]


def _backbone_defaults(backbone_class) -> dict:
    return {p.name: p.default for p in backbone_parameters(backbone_class)
            if p.default is not inspect.Parameter.empty}
