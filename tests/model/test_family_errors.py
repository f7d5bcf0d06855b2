"""A folder whose family or files cannot be used: the error names the folder, the missing file or
the unsupported family, and lists what is supported."""

import json
import re

import pytest

from ktbert.model.families import FAMILIES, family_of_folder, family_named, supported

SUPPORTED = ("keras-hub preset folders of bert, distil_bert, roberta, xlm_roberta, deberta_v3, albert, electra; "
             "Hugging Face checkpoint folders of bert, distil_bert, roberta, xlm_roberta, albert")


def test_supported_lists_every_family_and_the_converted_ones():
    assert supported() == SUPPORTED
    assert list(FAMILIES) == ["bert", "distil_bert", "roberta", "xlm_roberta", "deberta_v3", "albert", "electra"]


def test_a_folder_without_config_json(tmp_path):
    with pytest.raises(FileNotFoundError, match=re.escape(
            f"{str(tmp_path)!r} has no config.json: it is neither a keras-hub preset folder nor a Hugging Face "
            f"checkpoint folder. Supported: {SUPPORTED}.")):
        family_of_folder(str(tmp_path))


def test_a_hugging_face_family_keras_hub_does_not_convert(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "deberta-v2"}), encoding="utf-8")
    with pytest.raises(ValueError, match=re.escape(
            f"{str(tmp_path)!r} is a Hugging Face checkpoint of model_type='deberta-v2', which ktbert cannot "
            f"convert. Supported: {SUPPORTED}.")):
        family_of_folder(str(tmp_path))


def test_a_keras_hub_backbone_that_is_not_a_text_encoder(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"class_name": "GemmaBackbone"}), encoding="utf-8")
    with pytest.raises(ValueError, match=re.escape(
            f"{str(tmp_path)!r} holds a GemmaBackbone, which ktbert does not fine-tune. Supported: {SUPPORTED}.")):
        family_of_folder(str(tmp_path))


@pytest.mark.parametrize("content", ["{not json", "\xff\xfe"])
def test_a_config_that_is_not_json(tmp_path, content):
    (tmp_path / "config.json").write_bytes(content.encode("latin-1"))
    with pytest.raises(ValueError, match=r"config.json' is not valid JSON \((JSONDecodeError|UnicodeDecodeError)\): "
                                         r"bring the folder again\."):
        family_of_folder(str(tmp_path))


def test_families_by_folder_and_name(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "xlm-roberta"}), encoding="utf-8")
    assert family_of_folder(str(tmp_path)).name == "xlm_roberta"
    (tmp_path / "config.json").write_text(json.dumps({"class_name": "ElectraBackbone"}), encoding="utf-8")
    assert family_of_folder(str(tmp_path)).name == "electra"
    with pytest.raises(ValueError, match=re.escape("`family` must be one of ['bert', 'distil_bert', 'roberta', "
                                                   "'xlm_roberta', 'deberta_v3', 'albert', 'electra']. "
                                                   "Received: family='gpt2'")):
        family_named("gpt2")
