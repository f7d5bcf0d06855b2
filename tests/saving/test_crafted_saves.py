"""Crafted and foreign saves: loading never runs code, never builds anything but a ktbert
classifier, reads only the files the manifest lists inside the folder, and checks a weight
file's header before reading it. Each refusal names the file; the folder is left as it was.

Every case starts from a real save of a tiny model and changes one thing; where the change is
to a checksummed file, the manifest's checksums are rewritten ("resealed") so that the check
under test, not the checksum, has to catch it.
"""

import hashlib
import json
import os
import re
import shutil

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import save_file

import ktbert
from ktbert.saving import manifest as saving, weights_file
from ktbert.saving.manifest import SaveFormatError

TEXTS = ["the film was wonderful and great", "awful plot", "the acting was poor"]


@pytest.fixture(scope="module")
def predictor(make_toy_split):
    trn, _, preproc = make_toy_split(seed=3)
    return ktbert.get_predictor(ktbert.text_classifier("bert", trn, preproc, seed=0, verbose=0), preproc)


@pytest.fixture(scope="module")
def original(predictor, tmp_path_factory):
    folder = tmp_path_factory.mktemp("original") / "save"
    predictor.save(str(folder))
    return folder


@pytest.fixture
def save(original, tmp_path):
    """A fresh copy of the save, in `tmp_path/save`."""
    folder = tmp_path / "save"
    shutil.copytree(original, folder)
    return folder


def read_manifest_json(folder):
    return json.loads((folder / "ktbert.json").read_text())


def write_manifest_json(folder, manifest):
    (folder / "ktbert.json").write_text(json.dumps(manifest))


def checksum(path):
    return {"sha256": hashlib.sha256(open(path, "rb").read()).hexdigest(), "bytes": os.path.getsize(path)}


def reseal(folder):
    """Rewrites the manifest's checksums to match the files as they are now."""
    manifest = read_manifest_json(folder)
    manifest["files"] = {name: checksum(folder / name) for name in manifest["files"]}
    write_manifest_json(folder, manifest)


def snapshot(root):
    """Every entry under `root`: file bytes, link targets, folders."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            if os.path.islink(path):
                found[rel] = ("link", os.readlink(path))
            elif os.path.isfile(path):
                found[rel] = open(path, "rb").read()
            else:
                found[rel] = "folder" if os.path.isdir(path) else "other"
    return found


def assert_refused(folder, named, *fragments):
    """`Predictor.load(folder)` raises SaveFormatError naming `named` (a path) and each fragment,
    and leaves everything beside and inside the folder as it was."""
    before = snapshot(folder.parent)
    with pytest.raises(SaveFormatError) as refusal:
        ktbert.Predictor.load(str(folder))
    message = str(refusal.value)
    assert repr(str(named)) in message, message
    for fragment in fragments:
        assert fragment in message, message
    assert snapshot(folder.parent) == before
    return message


def test_the_untouched_save_loads(save, predictor):
    np.testing.assert_array_equal(ktbert.Predictor.load(str(save)).predict(TEXTS, return_proba=True),
                                  predictor.predict(TEXTS, return_proba=True))


# -- the model config ----------------------------------------------------------------------------
def lambda_layer(marker):
    """A serialized Lambda layer whose function creates `marker` when it runs."""
    import keras

    function = eval(f"lambda x: (open({str(marker)!r}, 'w').close(), x)[1]")
    return json.loads(json.dumps(keras.saving.serialize_keras_object(keras.layers.Lambda(function, name="evil"))))


def test_the_lambda_layer_would_run_its_code_if_keras_deserialized_it_unsafely(tmp_path):
    import keras

    marker = tmp_path / "ran"
    layer = keras.saving.deserialize_keras_object(lambda_layer(marker), safe_mode=False)
    layer(np.zeros((1, 2), "float32"))
    assert marker.exists()  # so the marker's absence below means no code ran


def sequential():
    import keras

    net = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    return json.loads(json.dumps(keras.saving.serialize_keras_object(net)))


def nested(depth):
    value = "neg"
    for _ in range(depth):
        value = [value]
    return value


CUSTOM = {"module": "evil", "class_name": "Evil", "registered_name": "evil>Evil", "config": {}}

MODEL_CASES = {  # id: (change to the manifest's `model`, given the marker path; what the message says)
    "a Sequential as backbone": (
        lambda model, marker: model.update(backbone=sequential()),
        "`model.backbone` names the Keras object class_name='Sequential'"),
    "a Lambda layer as backbone": (
        lambda model, marker: model.update(backbone=lambda_layer(marker)),
        "`model.backbone` names the Keras object class_name='Lambda'"),
    "a Lambda layer as the backbone's dtype": (
        lambda model, marker: model["backbone"]["config"].update(dtype=lambda_layer(marker)),
        "`model.backbone.config.dtype` names the Keras object class_name='Lambda'"),
    "a Lambda layer among the class names": (
        lambda model, marker: model.update(class_names=["neg", lambda_layer(marker)]),
        "`model.class_names[1]` names the Keras object class_name='Lambda'"),
    "a registered custom object in compile_config": (
        lambda model, marker: model["backbone"].update(compile_config={"optimizer": CUSTOM}),
        "`model.backbone.compile_config.optimizer` names the Keras object class_name='Evil'"),
    "an optimizer by name in compile_config": (
        lambda model, marker: model["backbone"].update(compile_config={"optimizer": "adam"}),
        "`model.backbone.compile_config` must be empty"),
    "BertBackbone from another module": (
        lambda model, marker: model["backbone"].update(module="os"),
        "`model.backbone` names the Keras object class_name='BertBackbone' (module='os'"),
    "a key TextClassifier does not take": (
        lambda model, marker: model.update(outputs=[]),
        "Received keys: ['backbone', 'class_names', 'dropout', 'multilabel', 'name', 'num_classes', 'outputs'"),
    "a key BertBackbone does not take": (
        lambda model, marker: model["backbone"]["config"].update(activation="relu"),
        "`model.backbone.config` must hold BertBackbone's arguments"),
    "a nested object as a backbone argument": (
        lambda model, marker: model["backbone"]["config"].update(num_layers={"config": {}}),
        "`model.backbone.config.num_layers` must be a number, string or null"),
    "num_classes of the wrong type": (
        lambda model, marker: model.update(num_classes="2"),
        "`model.num_classes` has the wrong type"),
    "a config nested far too deep": (
        lambda model, marker: model.update(class_names=nested(40)),
        "is nested deeper than any TextClassifier config"),
    "no attention heads (a ZeroDivisionError once)": (
        lambda model, marker: model["backbone"]["config"].update(num_heads=0),
        "`model.backbone.config.num_heads` must be an integer from 1 to 256. Received: num_heads=0"),
    "a vocabulary of 2**34 tokens (memory exhausted once)": (
        lambda model, marker: model["backbone"]["config"].update(vocabulary_size=2**34),
        "`model.backbone.config.vocabulary_size` must be an integer from 1 to 1,000,000"),
    "a hidden size the heads do not divide": (
        lambda model, marker: model["backbone"]["config"].update(num_heads=3),
        "`model.backbone.config.hidden_dim` must be divisible by `num_heads`"),
    "a required size missing": (
        lambda model, marker: model["backbone"]["config"].pop("hidden_dim"),
        "`model.backbone.config` must hold `hidden_dim`"),
}


@pytest.mark.parametrize("change, says", MODEL_CASES.values(), ids=MODEL_CASES.keys())
def test_a_model_config_naming_anything_but_the_classifier_is_refused_before_anything_is_built(
        save, tmp_path, change, says):
    marker = tmp_path / "ran"
    manifest = read_manifest_json(save)
    change(manifest["model"], marker)
    write_manifest_json(save, manifest)
    assert_refused(save, save / "ktbert.json", says, "load only saves you trust")
    assert not marker.exists()


def test_a_model_config_that_is_not_an_object_is_refused(save):
    manifest = read_manifest_json(save)
    manifest["model"] = ["TextClassifier"]
    write_manifest_json(save, manifest)
    assert_refused(save, save / "ktbert.json", "the model config must be a TextClassifier config")


SIZE_MISMATCHES = {  # id: (changes to `model.backbone.config`, or to `model`; what the message says)
    "a larger vocabulary": (
        {"vocabulary_size": 999_999}, {},
        "tensor 0000 (token_embedding/embeddings) has shape (32, 16) in the file, but the model config in"),
    "more positions": (
        {"max_sequence_length": 8192}, {}, "tensor 0001 (position_embedding/embeddings) has shape (64, 16)"),
    "more segments": ({"num_segments": 16}, {}, "tensor 0002 (segment_embedding/embeddings) has shape (2, 16)"),
    "more heads": ({"num_heads": 4}, {}, "tensor 0005 (transformer_layer_0/self_attention_layer/query/kernel)"),
    "a larger intermediate size": (
        {"intermediate_dim": 65536}, {},
        "tensor 0017 (transformer_layer_0/feedforward_intermediate_dense/kernel) has shape (16, 32) in the file"),
    "a larger hidden size": ({"hidden_dim": 8192}, {}, "tensor 0000 (token_embedding/embeddings)"),
    "more layers": ({"num_layers": 128}, {}, "holds 41 weight tensors but the model has 2057"),
    "more classes": (
        {}, {"num_classes": 1000, "class_names": None},
        "tensor 0039 (classifier/kernel) has shape (16, 2) in the file, but the model config"),
}


@pytest.mark.parametrize("backbone, head, says", SIZE_MISMATCHES.values(), ids=SIZE_MISMATCHES.keys())
def test_a_config_that_does_not_match_its_weights_is_refused_before_anything_is_built(
        save, monkeypatch, backbone, head, says):
    from ktbert.saving import predictor_folder as predictor_module

    built = []
    monkeypatch.setattr(predictor_module, "rebuild_classifier", lambda *args: built.append(args))
    manifest = read_manifest_json(save)
    manifest["model"]["backbone"]["config"].update(backbone)
    manifest["model"].update(head)
    write_manifest_json(save, manifest)
    message = assert_refused(save, save / "ktbert.json", says)
    assert repr(str(save / "weights.safetensors")) in message and "save the predictor again" in message
    assert built == []


def test_anything_building_the_model_raises_is_refused_naming_the_manifest(save, monkeypatch):
    from ktbert.saving import predictor_folder as predictor_module

    def exhausted(*args):  # as TensorFlow's ResourceExhaustedError, which is no ValueError
        raise RuntimeError("OOM when allocating tensor")

    monkeypatch.setattr(predictor_module, "rebuild_classifier", exhausted)
    assert_refused(save, save / "ktbert.json", "holds a model config that could not be built "
                   "(RuntimeError: OOM when allocating tensor)", "save the predictor again")


def test_rebuild_classifier_refuses_a_lambda_itself(save, tmp_path):
    from ktbert.saving.saved_config import rebuild_classifier

    config = read_manifest_json(save)["model"]
    config["backbone"] = lambda_layer(tmp_path / "ran")
    with pytest.raises(ValueError, match=re.escape("`model.backbone` names the Keras object class_name='Lambda'")):
        rebuild_classifier(config)
    assert not (tmp_path / "ran").exists()


# -- the files the manifest lists ----------------------------------------------------------------
def list_file(folder, name, source):
    """Adds `name` to the manifest with the checksum of `source`, so only the path check can refuse it."""
    manifest = read_manifest_json(folder)
    manifest["files"][name] = checksum(source)
    write_manifest_json(folder, manifest)


@pytest.mark.parametrize("name", ["../outside.txt", "ABSOLUTE", "vocab.txt\0.png", "sub//vocab.txt",
                                  "./vocab.txt", "sub\\..\\vocab.txt"])
def test_a_listed_name_that_is_not_a_plain_path_inside_the_folder_is_refused(save, tmp_path, name):
    outside = tmp_path / "outside.txt"
    outside.write_text("secret")
    name = str(outside) if name == "ABSOLUTE" else name
    list_file(save, name, outside)
    assert_refused(save, save / "ktbert.json", f"lists the file {name!r}, which is not a plain relative path")


def test_a_payload_file_that_is_a_link_out_of_the_folder_is_refused(save, tmp_path):
    copy = tmp_path / "weights-elsewhere.safetensors"
    shutil.move(save / "weights.safetensors", copy)
    os.symlink(copy, save / "weights.safetensors")  # same bytes: the checksum alone would pass
    assert_refused(save, save / "weights.safetensors", "is a symbolic link")


def test_a_link_to_a_file_inside_the_folder_is_refused_too(save):
    shutil.move(save / "vocab.txt", save / "vocab-copy.txt")
    os.symlink("vocab-copy.txt", save / "vocab.txt")
    assert_refused(save, save / "vocab.txt", "is a symbolic link")


def test_a_linked_folder_on_the_way_to_a_listed_file_is_refused(save, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "notes.txt").write_text("outside")
    os.symlink(elsewhere, save / "sub")
    list_file(save, "sub/notes.txt", elsewhere / "notes.txt")
    assert_refused(save, save / "sub", "is a symbolic link")


def test_a_manifest_that_is_a_link_is_refused(save, tmp_path):
    shutil.move(save / "ktbert.json", tmp_path / "manifest.json")
    os.symlink(tmp_path / "manifest.json", save / "ktbert.json")
    assert_refused(save, save / "ktbert.json", "is a symbolic link")


def test_a_listed_pipe_is_refused_without_reading_it(save):
    os.mkfifo(save / "pipe")  # reading it for a checksum would wait forever
    manifest = read_manifest_json(save)
    manifest["files"]["pipe"] = {"sha256": "0" * 64, "bytes": 0}
    write_manifest_json(save, manifest)
    assert_refused(save, save / "pipe", "is not a regular file")


@pytest.mark.parametrize("name", ["preprocessor.json", "vocab.txt", "weights.safetensors"])
def test_a_file_ktbert_reads_must_be_listed(save, name):
    manifest = read_manifest_json(save)
    del manifest["files"][name]
    write_manifest_json(save, manifest)
    assert_refused(save, save / "ktbert.json", f"does not list {name}, which ktbert reads")


def test_files_that_are_not_an_object_are_refused(save):
    manifest = read_manifest_json(save)
    manifest["files"] = ["weights.safetensors"]
    write_manifest_json(save, manifest)
    assert_refused(save, save / "ktbert.json", "`files` must map file names to their checksums")


def test_files_the_manifest_does_not_list_are_ignored(save, predictor):
    (save / "README.md").write_text("notes a user added")
    os.symlink("/etc/passwd", save / "link")  # never read, so harmless
    np.testing.assert_array_equal(ktbert.Predictor.load(str(save)).predict(TEXTS, return_proba=True),
                                  predictor.predict(TEXTS, return_proba=True))


def test_a_huge_manifest_is_refused_before_it_is_parsed(save, monkeypatch):
    monkeypatch.setattr(saving, "MAX_MANIFEST_BYTES", 100)
    assert_refused(save, save / "ktbert.json", "a ktbert manifest holds at most 100")


def test_a_future_format_version_asks_for_a_newer_ktbert(save):
    manifest = read_manifest_json(save)
    manifest["format_version"] = saving.FORMAT_VERSION + 1
    write_manifest_json(save, manifest)
    assert_refused(save, save / "ktbert.json", f"was saved in format version {saving.FORMAT_VERSION + 1}; this "
                   f"ktbert reads versions up to {saving.FORMAT_VERSION}. Upgrade ktbert")


@pytest.mark.parametrize("version", ["2", None, True, 0, -5, 2.0, "missing"])
def test_a_format_version_that_is_not_a_positive_integer_is_damage_not_a_newer_format(save, version):
    manifest = read_manifest_json(save)
    if version == "missing":
        del manifest["format_version"]
    else:
        manifest["format_version"] = version
    write_manifest_json(save, manifest)
    shown = "no format_version" if version == "missing" else f"format_version={version!r}"
    message = assert_refused(save, save / "ktbert.json",
                             f"is damaged: format_version must be a positive integer. Received: {shown}.")
    assert "Upgrade" not in message


def test_load_predictor_checks_bucketing_before_reading_the_save(tmp_path):
    with pytest.raises(TypeError, match=re.escape("`bucketing` must be True or False. Received: bucketing='no'")):
        ktbert.load_predictor(str(tmp_path / "nowhere"), bucketing="no")


# -- the preprocessor's files --------------------------------------------------------------------
@pytest.mark.parametrize("text, says", [
    ('{"maxlen": 16, "__class__": "os.system"}', "is not a preprocessor config: it must hold some of"),
    ('["maxlen", 16]', "is not a preprocessor config"),
    ("{not json", "is not valid JSON"),
], ids=["an unknown key", "not an object", "not JSON"])
def test_a_crafted_preprocessor_config_is_refused(save, text, says):
    (save / "preprocessor.json").write_text(text)
    reseal(save)
    assert_refused(save, save / "preprocessor.json", says)


# -- the weight file -----------------------------------------------------------------------------
def change_tensors(change):
    def apply(path):
        with safe_open(str(path), framework="numpy") as f:
            tensors = {k: f.get_tensor(k) for k in f.keys()}
            metadata = f.metadata()
        change(tensors, metadata)
        save_file(tensors, str(path), metadata=metadata)
    return apply


def change_header(change):
    """Rewrites the header as `change(header) -> header`, the data after it as it was."""
    def apply(path):
        data = path.read_bytes()
        length = int.from_bytes(data[:8], "little")
        header = json.loads(data[8:8 + length])
        raw = json.dumps(change(header)).encode()
        path.write_bytes(len(raw).to_bytes(8, "little") + raw + data[8 + length:])
    return apply


def change_bytes(change):
    def apply(path):
        path.write_bytes(change(path.read_bytes()))
    return apply


def swap_paths(tensors, metadata):
    paths = json.loads(metadata["paths"])
    paths[5], paths[7] = paths[7], paths[5]  # query and key kernels: same shape, same dtype
    metadata["paths"] = json.dumps(paths)


def past_the_data(header):
    header["0000"]["data_offsets"][1] += 10 ** 6
    return header


def replace_header_keeping_length(data, text):
    length = int.from_bytes(data[:8], "little")
    return data[:8] + text.ljust(length).encode() + data[8 + length:]


WEIGHT_CASES = {  # id: (change to weights.safetensors, what the message says)
    "an extra tensor": (
        change_tensors(lambda t, m: t.update({"9999": np.zeros(2, "float32")})),
        "holds 42 weight tensors but the model has 41: the file belongs to another model. Missing: []; "
        "unexpected: ['9999']"),
    "a missing tensor": (
        change_tensors(lambda t, m: t.pop("0040")),
        "holds 40 weight tensors but the model has 41: the file belongs to another model. Missing: ['0040']"),
    "a renamed tensor": (
        change_tensors(lambda t, m: t.update({"x003": t.pop("0003")})),
        "holds tensors the model does not have: the file belongs to another model. Missing: ['0003']; "
        "unexpected: ['x003']"),
    "reordered tensors": (
        change_tensors(swap_paths),
        "tensor 0005 is weight transformer_layer_0/self_attention_layer/key/kernel in the file but "
        "transformer_layer_0/self_attention_layer/query/kernel in the model"),
    "metadata paths that are not a list": (
        change_tensors(lambda t, m: m.update(paths="{")),
        "its metadata `paths` is not a list of 41 variable paths"),
    "a wrong shape": (
        change_tensors(lambda t, m: t.update({"0040": np.zeros(3, "float32")})),
        "tensor 0040 (classifier/bias) has shape (3,) in the file, but the model config"),
    "a wrong dtype": (
        change_tensors(lambda t, m: t.update({"0040": t["0040"].astype("float16")})),
        "weight classifier/bias is float16 in the file but float32 in the model"),
    "a header length of 10^15 bytes": (
        change_bytes(lambda data: (10 ** 15).to_bytes(8, "little") + data[8:]),
        "its header claims 1,000,000,000,000,000 bytes"),
    "a header length past the end of the file": (
        change_bytes(lambda data: len(data).to_bytes(8, "little") + data[8:]),
        "is not a valid safetensors file: its header claims"),
    "a file shorter than a header length": (
        change_bytes(lambda data: data[:5]),
        "its header claims"),
    "a header that is not JSON": (
        change_bytes(lambda data: replace_header_keeping_length(data, "{not json")),
        "its header is not JSON"),
    "a header that is a list": (
        change_bytes(lambda data: replace_header_keeping_length(data, "[]")),
        "its header is a list, not a JSON object"),
    "a tensor reaching past the data": (
        change_header(past_the_data),
        "tensor '0000' is described as"),
    "an unknown dtype": (
        change_header(lambda h: {**h, "0000": {**h["0000"], "dtype": "PYOBJ"}}),
        "tensor '0000' is described as"),
}


@pytest.mark.parametrize("change, says", WEIGHT_CASES.values(), ids=WEIGHT_CASES.keys())
def test_a_crafted_weight_file_is_refused_before_a_tensor_is_read(save, change, says):
    change(save / "weights.safetensors")
    reseal(save)
    assert_refused(save, save / "weights.safetensors", says)


def test_the_checksum_catches_a_weight_file_changed_without_resealing(save):
    change_tensors(lambda t, m: t.update({"0040": np.zeros(3, "float32")}))(save / "weights.safetensors")
    assert_refused(save, save, "is corrupted: weights.safetensors does not match the checksum in ktbert.json")


def test_a_refused_weight_file_leaves_the_model_as_it_was(save, predictor):
    from ktbert.saving.saved_config import rebuild_classifier

    change_tensors(lambda t, m: t.update({"0040": np.zeros(3, "float32")}))(save / "weights.safetensors")
    model = rebuild_classifier(read_manifest_json(save)["model"])
    before = [v.numpy().copy() for v in model.weights]
    with pytest.raises(SaveFormatError, match=re.escape(repr(str(save / "weights.safetensors")))):
        weights_file.load_weights(model, str(save / "weights.safetensors"))
    for variable, value in zip(model.weights, before):
        np.testing.assert_array_equal(variable.numpy(), value)
