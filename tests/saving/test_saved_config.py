"""The saved-config allow-list: the sizes a saved BertBackbone config may name, and the weight
shapes a config implies (which `Predictor.load` compares with the weights file before building)."""

import copy
import json
import os
import re

import pytest

from helpers import PROJECT

SAVED = os.path.join(PROJECT, "tests", "saving", "saves", "v0.1-flat-layout", "ktbert.json")


@pytest.fixture
def config():
    """The model config of a real save: a 2-layer backbone, hidden size 16, 32 tokens, 2 classes."""
    with open(SAVED, encoding="utf-8") as f:
        return json.load(f)["model"]


def test_the_allow_list_lives_in_the_saving_room_not_the_class_file():
    from ktbert.model import classifier
    from ktbert.saving import saved_config

    assert saved_config.rebuild_classifier.__module__ == "ktbert.saving.saved_config"
    for helper in ("check_classifier_config", "rebuild_classifier", "_refuse_foreign_objects", "BACKBONE_NAMES"):
        assert not hasattr(classifier, helper), helper


def test_a_saved_config_passes(config):
    from ktbert.saving.saved_config import check_classifier_config

    check_classifier_config(config)


SIZE_CASES = {  # id: (backbone argument, value, what the message says)
    "no heads": ("num_heads", 0, "`model.backbone.config.num_heads` must be an integer from 1 to 256. "
                                 "Received: num_heads=0"),
    "negative heads": ("num_heads", -2, "Received: num_heads=-2"),
    "a vocabulary of 2**34": ("vocabulary_size", 2**34, "`model.backbone.config.vocabulary_size` must be an integer "
                                                        "from 1 to 1,000,000. Received: vocabulary_size=17179869184"),
    "129 layers": ("num_layers", 129, "`model.backbone.config.num_layers` must be an integer from 1 to 128"),
    "no layers": ("num_layers", 0, "Received: num_layers=0"),
    "a hidden size of 10,000": ("hidden_dim", 10_000, "`model.backbone.config.hidden_dim` must be an integer from "
                                                      "1 to 8,192"),
    "an intermediate size of 2**20": ("intermediate_dim", 2**20, "`model.backbone.config.intermediate_dim` must be "
                                                                 "an integer from 1 to 65,536"),
    "a million positions": ("max_sequence_length", 10**6, "`model.backbone.config.max_sequence_length` must be "
                                                          "an integer from 1 to 8,192"),
    "a thousand segments": ("num_segments", 1000, "`model.backbone.config.num_segments` must be an integer "
                                                  "from 1 to 16"),
    "a float size": ("hidden_dim", 16.0, "Received: hidden_dim=16.0"),
    "a bool size": ("num_layers", True, "Received: num_layers=True"),
    "a string size": ("vocabulary_size", "32", "Received: vocabulary_size='32'"),
    "a null size": ("num_heads", None, "Received: num_heads=None"),
    "a hidden size heads do not divide": ("num_heads", 3, "`model.backbone.config.hidden_dim` must be divisible "
                                                          "by `num_heads`. Received: hidden_dim=16, num_heads=3"),
    "a dropout of 1": ("dropout", 1.0, "`model.backbone.config.dropout` must be a number in [0, 1). "
                                       "Received: dropout=1.0"),
    "a negative dropout": ("dropout", -0.1, "Received: dropout=-0.1"),
}


@pytest.mark.parametrize("key, value, says", SIZE_CASES.values(), ids=SIZE_CASES.keys())
def test_a_backbone_size_out_of_bounds_is_refused(config, key, value, says):
    from ktbert.saving.saved_config import check_classifier_config

    config["backbone"]["config"][key] = value
    with pytest.raises(ValueError, match=re.escape(says)):
        check_classifier_config(config)


@pytest.mark.parametrize("key", ["vocabulary_size", "num_layers", "num_heads", "hidden_dim", "intermediate_dim"])
def test_a_missing_required_size_is_refused(config, key):
    from ktbert.saving.saved_config import check_classifier_config

    del config["backbone"]["config"][key]
    with pytest.raises(ValueError, match=re.escape(f"`model.backbone.config` must hold `{key}`")):
        check_classifier_config(config)


@pytest.mark.parametrize("key, value, says", [
    ("num_classes", 1, "`model.num_classes` must be an integer from 2 to 1,000,000. Received: num_classes=1"),
    ("num_classes", 10**7, "Received: num_classes=10000000"),
    ("dropout", 1.5, "`model.dropout` must be a number in [0, 1). Received: dropout=1.5"),
])
def test_a_head_size_out_of_bounds_is_refused(config, key, value, says):
    from ktbert.saving.saved_config import check_classifier_config

    config[key] = value
    with pytest.raises(ValueError, match=re.escape(says)):
        check_classifier_config(config)


def test_long_values_are_cut_in_messages(config):
    from ktbert.saving.saved_config import check_classifier_config

    config["backbone"]["compile_config"] = {"optimizer": "x" * 500}
    with pytest.raises(ValueError) as refusal:
        check_classifier_config(config)
    assert "x" * 100 in str(refusal.value) and "x" * 130 not in str(refusal.value)
    assert str(refusal.value).endswith("...")


@pytest.mark.parametrize("sizes", [
    {},
    {"num_layers": 3, "num_heads": 4, "hidden_dim": 24, "intermediate_dim": 40, "max_sequence_length": 20,
     "num_segments": 3, "vocabulary_size": 29},
], ids=["the saved sizes", "other sizes"])
@pytest.mark.parametrize("pooling, num_classes", [("mean", 2), ("cls", 5)])
def test_weight_layout_names_the_shapes_the_built_model_has(config, sizes, pooling, num_classes):
    from ktbert.saving.saved_config import rebuild_classifier
    from ktbert.saving.saved_config import weight_layout

    config = copy.deepcopy(config)
    config["backbone"]["config"].update(sizes)
    config.update(pooling=pooling, num_classes=num_classes, class_names=[f"c{i}" for i in range(num_classes)])
    model = rebuild_classifier(config)
    count, shapes = weight_layout(config)
    assert count == len(model.weights)
    assert sorted(shapes) == list(range(count))  # every weight, the head's last
    for index, (path, shape, _) in shapes.items():
        assert model.weights[index].path == path
        assert list(model.weights[index].shape) == shape, path
