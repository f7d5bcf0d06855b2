"""Bad inputs on the newer surfaces (encoder families, text pairs, the HTML report, exports): each
is refused with a message naming the argument or the file, and nothing is left half-written.

A row is `(id, call, error type, fragments)`, as in tests/test_entry_points.py: `call(c)` makes
the call (`c["out"]` is an empty folder of its own, where a call that writes would write);
`fragments` (a list, or `fragments(c)` for messages naming paths) must each appear in the
message. After the refusal `c["out"]` is still empty and the inputs under `c["root"]` are as
they were. The command line's rows (`CLI_ROWS`) check the exact last line of stderr.
"""

import json
import os
import shutil

import pandas as pd
import pytest

import ktbert
from encoder_families import make_family_encoder
from hf_folders import write_hf_folder
from ktbert.cli import main
from ktbert.data.pipeline import UNEQUAL_PAIRS
from ktbert.model.families import supported

X = ["good film", "bad film"] * 4
Y = ["pos", "neg"] * 4
P = [("good film", "bad plot"), ("bad", "good")] * 4
SUPPORTED = f"Supported: {supported()}."
WHOLE = "bring the folder again, whole: config.json, the weights and the tokenizer files of one checkpoint."
SPM = "is not a SentencePiece model TensorFlow Text can read: it is truncated or damaged, or another kind of file."
SINGLE = ("This model classifies single texts, but the input holds (text_a, text_b) pairs. Pass a list of strings, "
          "or train a pair model (e.g. texts_from_df(df, ['a', 'b'], ...)).")
ZIP = ("Pass every entry as a pair of two strings, e.g. list(zip(texts_a, texts_b, strict=True)) (strict: two "
       "lists of different lengths are refused, not cut to the shorter).")
WINDOWS = ("`export` reads every text as `long_texts='truncate'` does; this predictor reads long texts with "
           "long_texts='windows' (sliding windows pooled in Python), which the exported model does not do. Set "
           "`predictor.long_texts = 'truncate'` to export (long texts are then cut as in training), or serve it "
           "with `ktbert serve`.")


def crafted(root, name, source=None, config=None, assets_from=None, tokenizer_json_from=None, spm=None):
    """A folder `name` under `root`: a copy of `source`, with config.json replaced by `config` (a
    dict, or another folder's), its keras-hub tokenizer assets and tokenizer.json by those of the
    folders named, and its SentencePiece model's bytes by `spm(bytes)`."""
    folder = os.path.join(root, name)
    shutil.copytree(source, folder) if source else os.makedirs(folder)
    if isinstance(config, dict):
        with open(os.path.join(folder, "config.json"), "w", encoding="utf-8") as f:
            json.dump(config, f)
    elif config is not None:
        shutil.copy(os.path.join(config, "config.json"), folder)
    if assets_from is not None:
        shutil.rmtree(os.path.join(folder, "assets"))
        shutil.copytree(os.path.join(assets_from, "assets"), os.path.join(folder, "assets"))
    if tokenizer_json_from is not None:
        shutil.copy(os.path.join(tokenizer_json_from, "tokenizer.json"), folder)
    for name in ("assets/tokenizer/vocabulary.spm", "sentencepiece.bpe.model", "sentencepiece.model"):
        if spm is not None and os.path.isfile(os.path.join(folder, name)):
            with open(os.path.join(folder, name), "rb") as f:
                data = f.read()
            with open(os.path.join(folder, name), "wb") as f:
                f.write(spm(data))
    return folder


def reseal(folder):
    """The manifest's checksums rewritten for the files as they are now."""
    from ktbert.saving.manifest import MANIFEST, sha256

    with open(os.path.join(folder, MANIFEST), encoding="utf-8") as f:
        content = json.load(f)
    content["files"] = {name: {"sha256": sha256(os.path.join(folder, name)),
                               "bytes": os.path.getsize(os.path.join(folder, name))} for name in content["files"]}
    with open(os.path.join(folder, MANIFEST), "w", encoding="utf-8") as f:
        json.dump(content, f)


def tree(root) -> dict:
    """Every file under `root`, by relative path: its size and modification time."""
    found = {}
    for folder, _, names in os.walk(root):
        for name in names:
            stat = os.stat(os.path.join(folder, name))
            found[os.path.relpath(os.path.join(folder, name), root)] = (stat.st_size, stat.st_mtime_ns)
    return found


@pytest.fixture(scope="module")
def ctx(tiny_encoder, tmp_path_factory):
    root = str(tmp_path_factory.mktemp("bad_inputs"))
    load = dict(maxlen=16, verbose=0, encoder=tiny_encoder)
    trn, val, preproc = ktbert.texts_from_array(X, Y, x_test=X[:4], y_test=Y[:4], **load)
    model = ktbert.text_classifier("bert", trn, preproc, seed=0, verbose=0)
    ptrn, _, ppre = ktbert.texts_from_array(P, Y, x_test=P[:2], y_test=Y[:2], **load)
    albert = make_family_encoder("albert", os.path.join(root, "albert"))
    atrn, _, apre = ktbert.texts_from_array(X, Y, x_test=X[:2], y_test=Y[:2], **{**load, "encoder": albert})
    c = {"root": root, "val": val, "preproc": preproc, "load": load,
         "predictor": ktbert.get_predictor(model, preproc),
         "windows": ktbert.get_predictor(model, preproc, long_texts="windows"),
         "pairs": ktbert.get_predictor(ktbert.text_classifier("bert", ptrn, ppre, seed=0, verbose=0), ppre),
         "learner": ktbert.get_learner(model, trn, val, batch_size=8),
         "unvalidated": ktbert.get_learner(model, trn, batch_size=8)}
    c["save"], c["windows_save"] = os.path.join(root, "save"), os.path.join(root, "windows_save")
    c["predictor"].save(c["save"])
    c["windows"].save(c["windows_save"])
    c["albert_save"] = os.path.join(root, "albert_save")
    ktbert.get_predictor(ktbert.text_classifier("bert", atrn, apre, seed=0, verbose=0), apre).save(c["albert_save"])
    crafted(root, "albert_save_damaged", c["albert_save"], spm=lambda data: data[: len(data) // 2])
    reseal(os.path.join(root, "albert_save_damaged"))
    hf_bert = write_hf_folder("bert", os.path.join(root, "hf_bert"))
    hf_xlm = write_hf_folder("xlm_roberta", os.path.join(root, "hf_xlm"))
    crafted(root, "gemma", config={"class_name": "GemmaBackbone", "config": {}})
    crafted(root, "gpt2", config={"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"]})
    crafted(root, "no_family", config={"architectures": ["BertModel"], "hidden_size": 16})
    crafted(root, "bert_with_albert_tokenizer", tiny_encoder, assets_from=albert, tokenizer_json_from=albert)
    crafted(root, "bert_with_albert_assets", tiny_encoder, assets_from=albert)
    crafted(root, "hf_bert_with_xlm_files", hf_xlm, config=hf_bert)
    crafted(root, "hf_xlm_with_bert_files", hf_bert, config=hf_xlm)
    crafted(root, "albert_garbage_spm", albert, spm=lambda data: b"not a sentencepiece model")
    crafted(root, "hf_xlm_truncated_spm", hf_xlm, spm=lambda data: data[: len(data) // 2])
    pd.DataFrame({"text": X}).to_csv(os.path.join(root, "unlabelled.csv"), index=False)
    pd.DataFrame({"text": X, "label": [""] * 8}).to_csv(os.path.join(root, "blank_labels.csv"), index=False)
    return c


def encoder(c, name):
    return array(c, X, Y, x_test=X[:2], y_test=Y[:2], encoder=os.path.join(c["root"], name))


def array(c, x, y, **kw):
    return ktbert.texts_from_array(x, y, **{**c["load"], **kw})


def path(c, *parts):
    return os.path.join(c["root"], *parts)


def interp(c, y):
    return ktbert.Interpretation(y, c["predictor"].predict(X[:2], return_proba=True), ["neg", "pos"])


ROWS = [
    # -- encoder folders of an unknown, unsupported or mixed family; a damaged SentencePiece model ----------------
    ("encoder: a keras-hub backbone ktbert does not fine-tune", lambda c: encoder(c, "gemma"), ValueError,
     lambda c: [f"{path(c, 'gemma')!r} holds a GemmaBackbone, which ktbert does not fine-tune. {SUPPORTED}"]),
    ("encoder: a Hugging Face model_type keras-hub cannot convert", lambda c: encoder(c, "gpt2"), ValueError,
     lambda c: [f"{path(c, 'gpt2')!r} is a Hugging Face checkpoint of model_type='gpt2', which ktbert cannot "
                f"convert. {SUPPORTED}"]),
    ("encoder: a config naming no family", lambda c: encoder(c, "no_family"), ValueError,
     lambda c: [f"{path(c, 'no_family', 'config.json')!r} names neither a keras-hub backbone (`class_name`) nor a "
                f"Hugging Face `model_type`: it is not the config of an encoder ktbert can read. {SUPPORTED}"]),
    ("encoder: a BERT config with an ALBERT tokenizer.json", lambda c: encoder(c, "bert_with_albert_tokenizer"),
     ValueError, lambda c: [f"{path(c, 'bert_with_albert_tokenizer')!r} holds a bert encoder whose tokenizer is a "
                            "AlbertTokenizer, not the family's BertTokenizer: ktbert does not pair tokenizers across "
                            f"families. {SUPPORTED}"]),
    ("encoder: a BERT preset holding an ALBERT SentencePiece model", lambda c: encoder(c, "bert_with_albert_assets"),
     FileNotFoundError, lambda c: [
         f"{path(c, 'bert_with_albert_assets')!r}: its config.json names an encoder of the bert family, whose "
         "tokenizer is read from a WordPiece vocabulary, but assets/tokenizer/vocabulary.txt is missing and the "
         "folder holds the tokenizer files of another family: assets/tokenizer/vocabulary.spm (a SentencePiece "
         f"model). Its config.json and tokenizer come from different checkpoints: {WHOLE}"]),
    ("encoder: a Hugging Face BERT config with XLM-RoBERTa files", lambda c: encoder(c, "hf_bert_with_xlm_files"),
     FileNotFoundError, lambda c: [
         f"{path(c, 'hf_bert_with_xlm_files')!r}: its config.json names an encoder of the bert family, whose "
         "tokenizer is read from a WordPiece vocabulary, but tokenizer_config.json is missing and the folder holds "
         "the tokenizer files of another family: sentencepiece.bpe.model (a SentencePiece model)."]),
    ("encoder: a Hugging Face XLM-RoBERTa config with BERT files", lambda c: encoder(c, "hf_xlm_with_bert_files"),
     FileNotFoundError, lambda c: [
         f"{path(c, 'hf_xlm_with_bert_files')!r}: its config.json names an encoder of the xlm_roberta family, whose "
         "tokenizer is read from a SentencePiece model, but sentencepiece.bpe.model is missing and the folder holds "
         "the tokenizer files of another family: vocab.txt (a WordPiece vocabulary)."]),
    ("encoder: a keras-hub SentencePiece model that is not one", lambda c: encoder(c, "albert_garbage_spm"),
     ValueError, lambda c: [f"{path(c, 'albert_garbage_spm', 'assets', 'tokenizer', 'vocabulary.spm')!r} (25 bytes) "
                            f"{SPM} Bring the encoder's folder again, its SentencePiece model whole."]),
    ("encoder: a truncated Hugging Face SentencePiece model", lambda c: encoder(c, "hf_xlm_truncated_spm"),
     ValueError, lambda c: [f"{path(c, 'hf_xlm_truncated_spm', 'sentencepiece.bpe.model')!r} (", SPM]),
    ("saved predictor: a damaged sentencepiece.model, resealed",
     lambda c: ktbert.load_predictor(path(c, "albert_save_damaged")), ktbert.SaveFormatError,
     lambda c: [f"{path(c, 'albert_save_damaged')!r} could not be restored: its preprocessor is damaged "
                f"({path(c, 'albert_save_damaged', 'sentencepiece.model')!r} (",
                f"{SPM} Save the preprocessor again.)"]),
    ("TextPreprocessor proto that is not a SentencePiece model",
     lambda c: ktbert.TextPreprocessor(None, family="albert", proto=b"junk").preprocess(["good"]), ValueError,
     [f"`proto` (4 bytes) {SPM} Pass the bytes of the encoder's SentencePiece model file."]),
    # -- pairs with a missing second text ------------------------------------------------------------------------
    ("pairs: a second text that is None", lambda c: array(c, [("good", None)] + P, ["pos"] + Y),
     ValueError, ["`x_train[i][1]` has 1 missing value(s) (None or NaN) at position(s) [0]."]),
    ("pairs: a pair of one text", lambda c: array(c, P + [("good",)], Y + ["pos"]), TypeError,
     [f"`x_train` must hold (text_a, text_b) pairs; position 8 holds ('good',) (1 text). {ZIP}"]),
    ("pairs: the first pair of one text", lambda c: array(c, [("good",)] + P, ["pos"] + Y), TypeError,
     ["`x_train` must hold strings; position 0 holds tuple ('good',). Pass one flat list of strings, not a list of "
      "tuples. For text pairs, pass one (text_a, text_b) pair of two strings per entry, e.g. "
      "list(zip(texts_a, texts_b, strict=True))."]),
    ("pairs: an empty second column", lambda c: ktbert.texts_from_df(
        pd.DataFrame({"a": X, "b": ["bad plot", None] * 4, "label": Y}), ["a", "b"], "label", **c["load"]), ValueError,
     ["`train_df['b']` has 4 missing value(s) (None or NaN) at position(s) [1, 3, 5, 7]."]),
    ("Predictor.predict: one pair missing its second text", lambda c: c["pairs"].predict(("good", None)), ValueError,
     ["`pairs[i][1]` has 1 missing value(s) (None or NaN) at position(s) [0]."]),
    ("Predictor.predict: a pair of one text", lambda c: c["pairs"].predict([("good", "bad"), ("good",)]), TypeError,
     [f"`pairs` must hold (text_a, text_b) pairs; position 1 holds ('good',) (1 text). {ZIP}"]),
    # -- pairs of unequal length -----------------------------------------------------------------------------------
    ("pairs: a pair of three texts", lambda c: array(c, P + [("a", "b", "c")], Y + ["pos"]), TypeError,
     [f"`x_train` must hold (text_a, text_b) pairs; position 8 holds ('a', 'b', 'c') (3 texts). {ZIP}"]),
    ("pairs: two lists of texts of different lengths, to a pair model",
     lambda c: c["pairs"].predict([["good", "bad", "fine"], ["awful", "poor"]]), TypeError,
     [f"`pairs` must hold (text_a, text_b) pairs; position 0 holds ['good', 'bad', 'fine'] (3 texts). {ZIP}"]),
    ("pairs: two lists of texts of different lengths, to a loader",
     lambda c: array(c, [["good", "bad", "fine"], ["awful", "poor"]], ["pos", "neg"]), TypeError,
     ["`x_train` must hold strings; position 0 holds list ['good', 'bad', 'fine']. Pass one flat list of strings, "
      "not a list of lists. For text pairs", "strict=True"]),
    ("pairs: more pairs than labels", lambda c: array(c, P, Y[:3]), ValueError,
     ["`x_train` and `y_train` differ in length: 8 texts, 3 labels."]),
    # -- a pair where a single text is expected ----------------------------------------------------------------
    ("Predictor.predict: pairs to a single-text model", lambda c: c["predictor"].predict([("good", "bad")]),
     ValueError, [SINGLE]),
    ("Predictor.embed: pairs to a single-text model", lambda c: c["predictor"].embed([("good", "bad")]), ValueError,
     [SINGLE]),
    ("Predictor.predict: pairs to sliding windows", lambda c: c["windows"].predict([("good", "bad")]), ValueError,
     [SINGLE]),
    ("Predictor.explain: a pair", lambda c: c["predictor"].explain(("good", "bad")), TypeError,
     ["`text` must be one string: explain one text at a time. Received: text=('good', 'bad') (tuple)"]),
    ("preprocess_test: pairs to a single-text preprocessor",
     lambda c: c["preproc"].preprocess_test([("good", "bad")], ["pos"]), ValueError, [SINGLE]),
    ("texts_from_array: single texts to train, pairs to test",
     lambda c: array(c, X, Y, x_test=P[:2], y_test=Y[:2]), ValueError,
     ["`x_train` holds single texts but `x_test` holds (text_a, text_b) pairs: a model reads one kind. Pass both "
      "as pairs, or both as single texts."]),
    ("Predictor.predict: sliding windows of a pair model",
     lambda c: ktbert.get_predictor(c["pairs"].model, c["pairs"].preproc, long_texts="windows").predict(P), ValueError,
     ["Sliding windows read single long texts; a pair model reads each pair once"]),
    # -- reports on unlabelled data, and into a folder that does not exist ----------------------------------------
    ("Interpretation: no labels", lambda c: interp(c, None), ValueError,
     ["`y_true` is None: an Interpretation, and a report, score predictions against the true labels, and "
      "unlabelled data has none. Label the texts first; to label new texts with the model, use `predictor.predict`."]),
    ("Interpretation: class names instead of indices", lambda c: interp(c, ["pos", "neg"]), ValueError,
     ["`y_true` must hold class indices (0 to 1), or 0/1 rows for multi-label data, not names or missing values. "
      "Received: ['pos', 'neg'] (list). Map class names to their positions"]),
    ("Interpretation: fewer labels than predictions", lambda c: interp(c, [1]), ValueError,
     ["`y_true` must hold one label per row of `proba` (2). Received: an array of shape (1,)"]),
    ("Learner.report: data without labels",
     lambda c: c["learner"].report(os.path.join(c["out"], "r.html"), data=(c["val"].x, None)), ValueError,
     ["`data` has no labels (its y is None): pass labelled `(x, y)` data"]),
    ("Learner.report: texts without labels", lambda c: c["learner"].report(os.path.join(c["out"], "r.html"),
                                                                          data=c["val"].x), TypeError,
     ["`data` must be an `(x, y)` pair, as the ktbert loaders return. Received: TokenizedTexts(n=4, maxlen=16)"]),
    ("Learner.report: no validation data", lambda c: c["unvalidated"].report(os.path.join(c["out"], "r.html")),
     ValueError, ["No data to evaluate: pass `data` or give `val_data` to get_learner."]),
    ("Learner.report: a folder that does not exist",
     lambda c: c["learner"].report(os.path.join(c["out"], "none", "r.html")), FileNotFoundError,
     lambda c: [f"`path` {os.path.join(c['out'], 'none', 'r.html')!r}: the folder "
                f"{os.path.join(c['out'], 'none')!r} does not exist."]),
    ("write_report: a folder that does not exist",
     lambda c: ktbert.write_report(os.path.join(c["out"], "none", "r.html"), interp(c, [1, 0])), FileNotFoundError,
     lambda c: [f"`path` {os.path.join(c['out'], 'none', 'r.html')!r}: the folder "
                f"{os.path.join(c['out'], 'none')!r} does not exist."]),
    # -- exports of a predictor reading long texts in windows ------------------------------------------------------
    ("Predictor.export onnx: windows", lambda c: c["windows"].export(os.path.join(c["out"], "onnx"), format="onnx"),
     ValueError, [WINDOWS]),
    ("Predictor.export savedmodel: windows", lambda c: c["windows"].export(os.path.join(c["out"], "sm")), ValueError,
     ["`export` reads every text as `long_texts='truncate'` does; this predictor reads long texts with "
      "long_texts='windows'"]),
]


def row_id(row):
    return row.values[0] if hasattr(row, "values") else row[0]


@pytest.mark.parametrize("name, call, error, fragments", ROWS, ids=[row_id(r) for r in ROWS])
def test_a_bad_input_is_refused_by_name_and_leaves_nothing_half_written(ctx, tmp_path, name, call, error, fragments):
    before = tree(ctx["root"])
    c = {**ctx, "out": str(tmp_path)}
    with pytest.raises(error) as info:
        call(c)
    for fragment in fragments(c) if callable(fragments) else fragments:
        assert fragment in str(info.value)
    assert os.listdir(tmp_path) == []
    assert tree(ctx["root"]) == before


CLI_ROWS = {
    "evaluate: unlabelled data": (
        lambda c: ["evaluate", c["save"], path(c, "unlabelled.csv"), "--report", os.path.join(c["out"], "r.html")],
        lambda c: f"ktbert evaluate: error: `--label-column` 'label' is not a column of {path(c, 'unlabelled.csv')!r} "
                  "(columns present: ['text']). `ktbert evaluate` scores labelled data against its labels: name the "
                  "label column with --label-column, or label unlabelled texts with `ktbert predict`."),
    "evaluate: blank labels": (
        lambda c: ["evaluate", c["save"], path(c, "blank_labels.csv"), "--report", os.path.join(c["out"], "r.html")],
        lambda c: f"ktbert evaluate: error: {path(c, 'blank_labels.csv')}['label'] has 8 missing label(s) (None or "
                  "NaN) at row position(s) [0, 1, 2, 3, 4, 5, 6, 7]. Drop those rows (df.dropna(subset=[...])) or "
                  "give them a class."),
    "evaluate: a report folder that does not exist": (
        lambda c: ["evaluate", c["save"], path(c, "blank_labels.csv"), "--report",
                   os.path.join(c["out"], "none", "r.html")],
        lambda c: f"ktbert evaluate: error: `--report` {os.path.join(c['out'], 'none', 'r.html')!r}: the folder "
                  f"{os.path.join(c['out'], 'none')!r} does not exist."),
    "export onnx: windows": (
        lambda c: ["export", c["windows_save"], os.path.join(c["out"], "onnx"), "--format", "onnx"],
        lambda c: f"ktbert export: error: {WINDOWS}"),
}


@pytest.mark.parametrize("case", list(CLI_ROWS))
def test_the_command_line_refuses_them_with_exit_2_and_writes_nothing(ctx, tmp_path, capsys, case):
    before = tree(ctx["root"])
    c = {**ctx, "out": str(tmp_path)}
    argv, message = CLI_ROWS[case]
    code = main([str(a) for a in argv(c)])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert err.rstrip().splitlines()[-1] == message(c)
    assert os.listdir(tmp_path) == []
    assert tree(ctx["root"]) == before


def test_an_exported_pair_model_refuses_text_a_and_text_b_of_different_lengths(ctx, tmp_path):
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (registers the tokenizer's ops)

    folder = ctx["pairs"].export(str(tmp_path / "export"))
    serve = tf.saved_model.load(folder).signatures["serving_pairs"]
    for a, b in ((["good", "bad", "fine"], ["awful", "poor"]), (["good"], ["awful", "poor"])):
        with pytest.raises(tf.errors.InvalidArgumentError, match="assertion failed") as info:
            serve(text_a=tf.constant(a), text_b=tf.constant(b))
        assert UNEQUAL_PAIRS in str(info.value)
    answer = serve(text_a=tf.constant(["good", "bad"]), text_b=tf.constant(["awful", "poor"]))["probabilities"]
    expected = ctx["pairs"].predict([("good", "awful"), ("bad", "poor")], return_proba=True)
    assert abs(answer.numpy() - expected).max() < 1e-5
