"""predictor.export(format="onnx"): an ONNX model and a tokenizer.json that examples/onnx_predict.py
runs with onnxruntime and tokenizers alone, in a process where TensorFlow, Keras and ktbert
cannot be imported, giving `predict`'s probabilities within 1e-4 (float32)."""

import json
import os
import runpy
import subprocess
import sys

import numpy as np
import pytest

import ktbert
from helpers import PROJECT, SHARED_DATA, default_encoder_or_skip, sentiment_frame
from ktbert.cli import main
from ktbert.saving import manifest as saving

pytest.importorskip("tf2onnx", reason="the ONNX export needs tf2onnx: pip install 'ktbert[onnx]'")
pytest.importorskip("onnxruntime", reason="the ONNX example needs onnxruntime: pip install 'ktbert[onnx]'")
pytest.importorskip("tokenizers", reason="the ONNX example needs tokenizers: pip install 'ktbert[onnx]'")

EXAMPLE = os.path.join(PROJECT, "examples", "onnx_predict.py")
CLEAN = {"hashtags": True, "mentions": "@user", "html_breaks": True}

# Awkward texts the example must read as ktbert's pipeline does.
AWKWARD = {
    "emoji": "😀 great 👍🏽 film",
    "emoji joined (ZWJ)": "👨‍👩‍👧 a family film, good",
    "flag and keycap": "🏳️‍🌈 #1️⃣ good",
    "CJK": "日本語の映画はgoodだった",
    "CJK and Hangul": "中文电影很好 한국 영화 bad",
    "accents": "Café crème: the acting was AWFUL",
    "combining marks": "cafe\u0301 nai\u0308ve re\u0301sume\u0301 bad",
    "compatibility forms": "ＧＯＯＤ ﬁlm … ① Straße ΣΑΣ",
    "no-break and zero-width spaces": "good\u00a0film\u200bbad\u2009plot",
    "HTML breaks": "good<br />bad<BR/>film<br>the end< br / >",
    "tweet": "@bob said #boring then #great film!! http://t.co/xYz",
    "tweet edge": "é@ann #x#y @@a good mail@example.com",
    "right to left": "שלום עולם مرحبا بالعالم bad",
    "blank": "   \t ",
    "empty": "",
    "5,000 characters": "good film " * 250 + "x" * 2000 + " bad " + "the plot was awful " * 26,
}


def example_module():
    return runpy.run_path(EXAMPLE)


# Runs the example where importing TensorFlow, Keras or ktbert fails.
RUNNER = """
import json, runpy, sys
class Blocked:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tensorflow", "keras", "keras_hub", "tensorflow_text", "ktbert"):
            raise ImportError(f"{name} must not be needed to run an ONNX export")
sys.meta_path.insert(0, Blocked())
example, folder, texts, out = sys.argv[1:]
proba, config = runpy.run_path(example)["predict_proba"](folder, json.load(open(texts, encoding="utf-8")))
json.dump({"proba": proba.tolist(), "tensorflow": "tensorflow" in sys.modules}, open(out, "w"))
"""


def run_example(folder, texts, tmp_path) -> np.ndarray:
    texts_file, out_file = tmp_path / "texts.json", tmp_path / "out.json"
    texts_file.write_text(json.dumps(texts), encoding="utf-8")
    done = subprocess.run([sys.executable, "-c", RUNNER, EXAMPLE, str(folder), str(texts_file), str(out_file)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(out_file.read_text(encoding="utf-8"))
    assert out["tensorflow"] is False
    return np.array(out["proba"])


@pytest.fixture(scope="module")
def single_label(make_toy_split, make_learner):
    """A trained toy predictor reading head+tail, cleaning all three ways, with a temperature."""
    split = make_toy_split(seed=7, truncation="head+tail", clean=CLEAN)
    learner = make_learner(split, batch_size=8)
    learner.fit_onecycle(5e-3, 3, verbose=0)
    return ktbert.get_predictor(learner, split[2], temperature=1.7)


def test_the_example_gives_predicts_probabilities_without_tensorflow(single_label, tmp_path):
    folder = single_label.export(str(tmp_path / "onnx"), format="onnx")
    texts = list(AWKWARD.values())
    proba = run_example(folder, texts, tmp_path)
    expected = single_label.predict(texts, return_proba=True)
    np.testing.assert_allclose(proba, expected, atol=1e-4, rtol=0)
    assert proba.argmax(axis=1).tolist() == expected.argmax(axis=1).tolist()


def test_a_multilabel_export_returns_sigmoid_probabilities(tiny_encoder, tmp_path):
    df = sentiment_frame(32)
    df["labels"] = np.where(df.label == "pos", "positive|film", "negative|film")
    trn, _, preproc = ktbert.texts_from_df(df, "text", "labels", label_sep="|", val_df=df, maxlen=16,
                                           encoder=tiny_encoder, verbose=0)
    model = ktbert.text_classifier("bert", trn, preproc, seed=0, verbose=0)
    predictor = ktbert.get_predictor(model, preproc, temperature=0.8, thresholds=[0.45, 0.5, 0.55])
    folder = predictor.export(str(tmp_path / "onnx"), format="onnx")
    texts = ["the film was good", "awful plot", ""]
    np.testing.assert_allclose(run_example(folder, texts, tmp_path), predictor.predict(texts, return_proba=True),
                               atol=1e-4, rtol=0)
    config = saving.read_manifest(folder, fmt="ktbert-onnx")
    assert config["multilabel"] is True
    assert config["decisions"] == {"temperature": 0.8, "thresholds": [0.45, 0.5, 0.55], "threshold": None}


def test_the_manifest_says_how_texts_become_inputs(single_label, tmp_path):
    folder = single_label.export(str(tmp_path / "onnx"), format="onnx")
    config = saving.read_manifest(folder, fmt="ktbert-onnx")  # checksums of every file checked
    assert sorted(config["files"]) == ["model.onnx", "tokenizer.json"]
    assert config["inputs"] == ["token_ids", "padding_mask"]  # segment ids: models of pairs
    assert config["class_names"] == single_label.get_classes()
    assert (config["maxlen"], config["truncation"], config["head_tokens"], config["max_chars"]) == (
        16, "head+tail", 3, 14 * 40)
    assert config["clean"] == [[r"(?i)<[\s]*br[\s]*/?[\s]*>", " "], [r"(^|[^\w@])@[\w]+", r"\1@user"],
                               [r"(^|[^\w#])#([\w]+)", r"\1\2"]]
    assert config["decisions"]["temperature"] == 1.7
    single_label.export(str(folder), format="onnx")  # a second export replaces the first


def test_the_command_line_exports_onnx(single_label, tmp_path, capsys):
    single_label.save(str(tmp_path / "model"))
    assert main(["export", str(tmp_path / "model"), str(tmp_path / "onnx"), "--format", "onnx"]) == 0
    assert f"exported an ONNX model to {tmp_path / 'onnx'}" in capsys.readouterr().out
    texts = ["the film was good", "bad"]
    np.testing.assert_allclose(run_example(tmp_path / "onnx", texts, tmp_path),
                               single_label.predict(texts, return_proba=True), atol=1e-4, rtol=0)


def test_an_unknown_format_and_sliding_windows_are_refused(single_label, tmp_path):
    with pytest.raises(ValueError, match=r"^`format` must be one of \['savedmodel', 'onnx'\]\. Received: "
                                         r"format='tflite'$"):
        single_label.export(str(tmp_path / "x"), format="tflite")
    windows = ktbert.get_predictor(single_label.model, single_label.preproc, long_texts="windows")
    with pytest.raises(ValueError, match="does not do. Set `predictor.long_texts = 'truncate'` to export"):
        windows.export(str(tmp_path / "x"), format="onnx")
    assert not os.path.exists(tmp_path / "x")


def real_texts(n: int) -> list:
    """SST-2 dev sentences and IMDB reviews, when ../shared/data has them."""
    import pandas as pd

    texts = []
    sst2, imdb = os.path.join(SHARED_DATA, "sst2", "dev.tsv"), os.path.join(SHARED_DATA, "imdb", "imdb_test.csv.gz")
    if os.path.exists(sst2):
        texts += pd.read_csv(sst2, sep="\t", quoting=3).sentence.head(n).tolist()
    if os.path.exists(imdb):
        texts += pd.read_csv(imdb).Reviews.head(n // 4).tolist()
    return texts


@pytest.mark.parametrize("clean", [None, CLEAN])
def test_the_examples_token_ids_equal_the_pipelines_on_the_real_vocabulary(clean):
    """The default encoder's 30,522-token vocabulary: every awkward text and real texts, cap,
    clean-up and head+tail truncation included."""
    import tensorflow as tf

    from ktbert.serve.hf_tokenizer import wordpiece_tokenizer
    from ktbert.serve.onnx_export import text_config

    default_encoder_or_skip()
    _, _, preproc = ktbert.texts_from_array(["good", "bad"], ["pos", "neg"], x_test=["good", "bad"],
                                            y_test=["pos", "neg"], maxlen=64, clean=clean,
                                            truncation="head+tail", verbose=0)
    tokenizer = wordpiece_tokenizer(preproc.vocabulary, preproc.lowercase, preproc.strip_accents)
    config, token_ids = text_config(preproc), example_module()["token_ids"]
    texts = list(AWKWARD.values()) + real_texts(800)
    expected = preproc.pipeline(tf.constant(texts)).to_list()
    for text, ids in zip(texts, expected):
        assert token_ids(text, config, tokenizer) == ids, text[:200]


def test_the_docs_show_the_example_as_it_is():
    with open(os.path.join(PROJECT, "docs", "serving.md"), encoding="utf-8") as f:
        docs = f.read()
    with open(EXAMPLE, encoding="utf-8") as f:
        example = f.read()
    blocks = [b.split("\n", 1)[1] for b in docs.split("```")[1::2] if "def token_ids" in b]
    assert len(blocks) == 1 and blocks[0].strip() in example
