"""Encoder specs: how a spec resolves, and the tokenizer settings read from an encoder folder."""

import json
import pathlib
import re
import shutil

import pytest

from ktbert.model.encoders import EncoderSettings, load_encoder_settings, resolve_encoder
from helpers import TINY_VOCAB


@pytest.mark.parametrize("spec", [123, ["folder"]])
def test_a_spec_that_is_not_a_string_is_refused(spec):
    with pytest.raises(TypeError, match=re.escape(
        "`encoder` must be 'default', a keras-hub preset folder, a Hugging Face checkpoint folder or a "
        "keras-hub preset name. "
        f"Received: encoder={spec!r}"
    )):
        resolve_encoder(spec)


def test_a_folder_that_does_not_exist_is_refused(tmp_path):
    missing = str(tmp_path / "no_such_encoder")
    with pytest.raises(FileNotFoundError, match=re.escape(
        f"`encoder` names a folder that does not exist. Received: encoder={missing!r}. "
        "Pass a folder holding config.json and the weights (a keras-hub preset or a Hugging Face "
        "checkpoint), or 'default'."
    )):
        resolve_encoder(missing)


def test_folders_and_preset_names_pass_through(tiny_encoder):
    assert resolve_encoder(tiny_encoder) == tiny_encoder
    assert resolve_encoder(pathlib.Path(tiny_encoder)) == tiny_encoder
    assert resolve_encoder("bert_tiny_en_uncased") == "bert_tiny_en_uncased"  # a keras-hub preset name


def test_settings_of_the_tiny_encoder(tiny_encoder):
    assert load_encoder_settings(tiny_encoder) == EncoderSettings(
        spec=tiny_encoder, vocabulary=TINY_VOCAB, lowercase=True, strip_accents=True, max_sequence_length=64,
    )


@pytest.mark.parametrize("hf_config, lowercase, strip_accents", [
    ({}, True, True),  # strip_accents unset follows lowercase (Hugging Face's rule)
    ({"strip_accents": None}, True, True),
    ({"strip_accents": False}, True, False),
    ({"do_lower_case": False}, False, False),
    ({"do_lower_case": False, "strip_accents": True}, False, True),
])
def test_tokenizer_config_decides_case_and_accents(tiny_encoder, tmp_path, hf_config, lowercase, strip_accents):
    folder = shutil.copytree(tiny_encoder, tmp_path / "encoder")
    (folder / "tokenizer_config.json").write_text(json.dumps(hf_config))
    settings = load_encoder_settings(str(folder))
    assert (settings.lowercase, settings.strip_accents) == (lowercase, strip_accents)
    assert settings.vocabulary == TINY_VOCAB and settings.max_sequence_length == 64
