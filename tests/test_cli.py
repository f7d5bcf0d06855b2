"""The `ktbert` command line: train, evaluate and predict through it on the tiny encoder, its
output against the Python predictor, and bad input answered with exit code 2 and one line."""

import contextlib
import csv
import dataclasses
import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import ktbert
from helpers import PROJECT, sentiment_frame
from ktbert.cli import main
from ktbert.cli.parser import RECIPE_DEFAULTS, build_parser
from ktbert.cli.schedule_options import RECIPE_CHOICES
from ktbert.cli.predicting import Progress, writer
from ktbert.cli.training import settings_from

pytestmark = pytest.mark.slow  # a minute or more: run before the short files (conftest.py)

COMMANDS = ["train", "evaluate", "predict", "lr-find", "export", "serve"]
# Accented, blank and punctuated texts among ordinary ones; the blank line is a text too.
TEXTS = ["the film was good", "", "the plot was awful and boring", "café, great acting!",
         "it was poor", "a wonderful movie", "hate", "the acting was fine and good"]


def run(argv, capsys):
    """`main(argv)` in this process: `(exit code, stdout, stderr)`."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    sentiment_frame(64, seed=0).to_csv(folder / "train.csv", index=False)
    sentiment_frame(20, seed=3).to_csv(folder / "test.csv", index=False)
    return folder


@pytest.fixture(scope="module")
def cli_model(workdir, tiny_encoder):
    """A predictor trained through `ktbert train` (1 epoch, maxlen 16); `(folder, its stdout)`."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["train", str(workdir / "train.csv"), "--text-column", "text", "--label-column", "label",
                     "--encoder", tiny_encoder, "--maxlen", "16", "--epochs", "1", "--lr", "5e-3",
                     "--batch-size", "16", "--quiet", "--output", str(workdir / "model")])
    assert code == 0
    return str(workdir / "model"), out.getvalue()


@pytest.fixture(scope="module")
def reference(cli_model):
    """The Python API's answers for TEXTS from the CLI-trained folder: `(labels, probabilities)`."""
    predictor = ktbert.load_predictor(cli_model[0])
    return predictor.predict(TEXTS), predictor.predict(TEXTS, return_proba=True)


# -- the parser --------------------------------------------------------------------------------
@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_shows_an_example_in_its_help(command, capsys):
    code, out, _ = run([command, "--help"], capsys)
    assert code == 0
    assert "example" in out and f"\n  ktbert {command} " in out


def test_python_m_ktbert_runs_the_same_main():
    result = subprocess.run([sys.executable, "-m", "ktbert", "--help"], cwd=PROJECT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.startswith("usage: ktbert [-h]")
    assert all(f"    {command} " in result.stdout for command in COMMANDS)


def test_help_shows_the_recipe_defaults():
    fields = {f.name: f.default for f in dataclasses.fields(ktbert.TrainingSettings)}
    assert RECIPE_DEFAULTS == {name: fields[name] for name in RECIPE_DEFAULTS}


def test_help_lists_the_recipe_choices():
    from ktbert.recipe.fitting import SCHEDULES
    from ktbert.serve.long_texts import LONG_TEXTS, WINDOW_POOLINGS
    from ktbert.train.loop import MONITORS

    assert RECIPE_CHOICES == {"schedule": SCHEDULES, "monitor": MONITORS, "long_texts": LONG_TEXTS,
                              "window_pooling": WINDOW_POOLINGS}


def test_schedule_and_long_text_options_become_the_recipe_settings(monkeypatch):
    from ktbert.cli import training

    class Stop(Exception):
        pass

    captured = []  # what `ktbert train` hands the recipe; stopped there, so nothing trains

    def recipe(settings, *frames):
        captured.append(settings)
        raise Stop

    monkeypatch.setattr(training, "train_classifier", recipe)
    monkeypatch.setattr(training, "read_frames", lambda args, settings: (None, None, None))
    args = build_parser().parse_args(
        ["train", "d.csv", "--output", "out", "--weight-decay", "0.05", "--schedule", "autofit", "--epochs", "8",
         "--early-stopping", "2", "--monitor", "val_macro_f1", "--reduce-on-plateau", "1", "--long-texts", "windows",
         "--window-stride", "32", "--window-pooling", "max"])
    with pytest.raises(Stop):
        training.train(args)
    assert captured == [ktbert.TrainingSettings(
        "text", "label", output="out", epochs=8, weight_decay=0.05, schedule="autofit", early_stopping=2,
        monitor="val_macro_f1", reduce_on_plateau=1, long_texts="windows", window_stride=32, window_pooling="max")]
    lr_find = build_parser().parse_args(["lr-find", "d.csv", "--plot", "lr.png", "--weight-decay", "0"])
    assert settings_from(lr_find).weight_decay == 0.0  # lr-find builds the learner as train does


def test_arguments_become_the_recipe_settings():
    args = build_parser().parse_args(
        ["train", "d.csv", "--text-column", "t", "--label-column", "l", "--maxlen", "64", "--encoder", "enc",
         "--truncation", "head+tail", "--val-pct", "0.2", "--batch-size", "8", "--seed", "3", "--quiet",
         "--output", "out", "--epochs", "2", "--lr", "auto"])
    settings = settings_from(args, epochs=args.epochs, lr=args.lr, output=args.output)
    assert settings == ktbert.TrainingSettings("t", "l", maxlen=64, encoder="enc", truncation="head+tail",
                                               val_pct=0.2, batch_size=8, seed=3, verbose=0, output="out",
                                               epochs=2, lr="auto")
    multi = build_parser().parse_args(["train", "d.csv", "--label-column", "tags", "--multilabel", "--output", "o"])
    assert settings_from(multi).label_sep == "|"
    columns = build_parser().parse_args(["train", "d.csv", "--label-column", "a", "b", "--multilabel", "--output", "o"])
    assert (settings_from(columns).label_columns, settings_from(columns).label_sep) == (["a", "b"], None)


# -- train, evaluate, predict ------------------------------------------------------------------
def test_train_prints_the_validation_report_and_saves(cli_model):
    folder, out = cli_model
    assert "validation report (7 texts):" in out  # val_pct 0.1 of 64 rows
    assert "precision    recall  f1-score   support" in out
    assert out.rstrip().endswith(f"saved the predictor to {folder}")
    predictor = ktbert.load_predictor(folder)
    assert predictor.get_classes() == ["neg", "pos"] and predictor.preproc.maxlen == 16


def test_train_at_a_diverging_rate_stops_with_the_advice_and_saves_nothing(workdir, tiny_encoder, capsys):
    code, out, err = run(["train", workdir / "train.csv", "--text-column", "text", "--label-column", "label",
                          "--encoder", tiny_encoder, "--maxlen", "16", "--epochs", "2", "--lr", "1e12",
                          "--batch-size", "16", "--quiet", "--output", workdir / "diverged"], capsys)
    assert code == 2
    assert err.startswith("ktbert train: error: The training loss became ")
    assert "Lower the learning rate" in err
    assert not (workdir / "diverged").exists()


def test_train_options_reach_the_learner_and_the_saved_predictor(workdir, tiny_encoder, monkeypatch, capsys):
    import keras

    from ktbert.cli import training
    from ktbert.train import distribute

    runs, callbacks = [], []
    real_train, real_fit = training.train_classifier, distribute.fit
    monkeypatch.setattr(training, "train_classifier", lambda *a: runs.append(real_train(*a)) or runs[-1])
    monkeypatch.setattr(distribute, "fit", lambda *a, **kw: callbacks.append(kw["callbacks"]) or real_fit(*a, **kw))
    code, out, err = run(["train", workdir / "train.csv", "--encoder", tiny_encoder, "--maxlen", 16, "--epochs", 2,
                          "--lr", "2e-3", "--batch-size", 16, "--quiet", "--weight-decay", "0.05",
                          "--schedule", "constant", "--early-stopping", 1, "--monitor", "val_accuracy",
                          "--long-texts", "windows", "--window-stride", 4, "--window-pooling", "max",
                          "--output", workdir / "options"], capsys)
    assert code == 0, err
    [trained] = runs
    assert float(keras.ops.convert_to_numpy(trained.learner.model.optimizer.weight_decay)) == pytest.approx(0.05)
    [stopping] = [c for c in callbacks[0] if isinstance(c, keras.callbacks.EarlyStopping)]
    assert (stopping.patience, stopping.monitor) == (1, "val_accuracy")
    lrs = trained.learner.history.history["lr"]
    assert lrs == [2e-3] * len(lrs) and len(lrs) == 4 * len(trained.learner.history.epoch)  # constant: 4 steps an epoch
    saved = ktbert.load_predictor(str(workdir / "options"))
    assert (saved.long_texts, saved.window_stride, saved.window_pooling) == ("windows", 4, "max")


def test_evaluate_prints_the_report_of_the_saved_predictor(cli_model, workdir, capsys):
    code, out, err = run(["evaluate", cli_model[0], workdir / "test.csv", "--text-column", "text",
                          "--label-column", "label"], capsys)
    assert code == 0, err
    test_df = sentiment_frame(20, seed=3)
    predicted = ktbert.load_predictor(cli_model[0]).predict(test_df.text.tolist())
    accuracy = np.mean(np.array(predicted) == test_df.label.to_numpy())
    assert f"{workdir / 'test.csv'} report (20 texts):" in out
    assert f"accuracy {accuracy:.4f}, micro-F1 {accuracy:.4f}" in out


def test_predict_a_text_file_matches_the_predictor(cli_model, reference, tmp_path, capsys):
    path = tmp_path / "texts.txt"
    path.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    # chunks of 3 lines: the rows of several chunks must come back in order
    code, out, err = run(["predict", cli_model[0], path, "--proba", "--chunk-size", 3], capsys)
    assert code == 0, err
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["label", "neg", "pos"] and len(rows) == 1 + len(TEXTS)
    labels, proba = reference
    assert [r[0] for r in rows[1:]] == labels
    np.testing.assert_allclose(np.array([r[1:] for r in rows[1:]], dtype=float), proba, rtol=0, atol=1e-6)


def test_predict_a_csv_column_as_jsonl_into_a_file(cli_model, reference, tmp_path, capsys):
    source = tmp_path / "in.csv"
    source.write_text("id,text\n" + "".join(f'{i},"{t}"\n' for i, t in enumerate(TEXTS)), encoding="utf-8")
    target = tmp_path / "out.jsonl"
    code, out, err = run(["predict", cli_model[0], source, "--text-column", "text", "--format", "jsonl",
                          "--proba", "--chunk-size", 5, "--output", target], capsys)
    assert code == 0 and out == "", err
    records = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    labels, proba = reference
    assert [r["label"] for r in records] == labels
    np.testing.assert_allclose([[r["probabilities"]["neg"], r["probabilities"]["pos"]] for r in records],
                               proba, rtol=0, atol=1e-6)
    assert sorted(os.listdir(tmp_path)) == ["in.csv", "out.jsonl"]  # no temporary file left


def test_predict_labels_only_by_default(cli_model, reference, tmp_path, capsys):
    path = tmp_path / "texts.txt"
    path.write_text("\n".join(TEXTS[:3]) + "\n", encoding="utf-8")
    code, out, _ = run(["predict", cli_model[0], path, "--format", "jsonl"], capsys)
    assert code == 0
    assert [json.loads(line) for line in out.splitlines()] == [{"label": label} for label in reference[0][:3]]


def test_predict_from_stdin_loads_no_training_code(cli_model, workdir, reference, tmp_path):
    modules = tmp_path / "modules.json"
    code = (
        "import contextlib, io, json, sys\n"
        "from ktbert.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    assert main(['evaluate', {cli_model[0]!r}, {str(workdir / 'test.csv')!r}]) == 0\n"
        f"code = main(['predict', {cli_model[0]!r}, '-', '--format', 'jsonl', '--proba'])\n"
        f"json.dump(sorted(m for m in sys.modules if m.startswith('ktbert')), open({str(modules)!r}, 'w'))\n"
        "sys.exit(code)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], input="\n".join(TEXTS) + "\n", cwd=str(tmp_path),
                            capture_output=True, text=True, timeout=300,
                            env=dict(os.environ, PYTHONPATH=PROJECT, KTBERT_PRECISION="float32"))
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    labels, proba = reference
    assert [r["label"] for r in records] == labels
    np.testing.assert_allclose([list(r["probabilities"].values()) for r in records], proba, rtol=0, atol=1e-6)
    loaded = json.loads(modules.read_text())
    assert "ktbert.cli.predicting" in loaded and "ktbert.cli.evaluating" in loaded
    assert [m for m in loaded if m.startswith(("ktbert.train", "ktbert.cli.training"))] == []


def test_lr_find_saves_the_plot_and_prints_the_suggestions(workdir, tiny_encoder, tmp_path, capsys):
    plot = tmp_path / "lr.png"
    code, out, err = run(["lr-find", workdir / "train.csv", "--encoder", tiny_encoder, "--maxlen", 16,
                          "--batch-size", 8, "--num-it", 30, "--quiet", "--plot", plot], capsys)
    assert code == 0, err
    assert plot.read_bytes().startswith(b"\x89PNG")
    lines = out.strip().splitlines()
    assert lines[0] == f"saved the plot to {plot}"
    suggestions = dict(line.split(": ") for line in lines[1:])
    assert set(suggestions) <= {"valley", "steep", "minimum"} and "valley" in suggestions
    assert all(0 < float(rate) < 10 for rate in suggestions.values())


# -- output pieces -----------------------------------------------------------------------------
def test_csv_output_joins_multilabel_labels():
    out = io.StringIO()
    write = writer("csv", out, ["a", "b|c"], proba=False, label_sep=";")
    write([["a", "b|c"], []], np.zeros((2, 2), dtype=np.float32))
    assert out.getvalue() == "label\na;b|c\n\"\"\n"


def test_progress_counts_on_its_stream_only_when_enabled():
    shown, hidden = io.StringIO(), io.StringIO()
    for stream, enabled in ((shown, True), (hidden, False)):
        progress = Progress(enabled, stream)
        progress.update(4096)
        progress.update(10)
        progress.close()
    assert shown.getvalue().startswith("\rktbert predict: 4,096 texts (")
    assert "\rktbert predict: 4,106 texts (" in shown.getvalue()
    assert shown.getvalue().endswith("\n") and hidden.getvalue() == ""


# -- bad input ---------------------------------------------------------------------------------
def write(path, text, mode="w"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
        f.write(text)
    return str(path)


BAD_INPUT = {
    "missing DATA": (
        lambda d, m: ["train", d / "nope.csv", "--output", d / "out"],
        lambda d: f"ktbert train: error: No such file or folder: {str(d / 'nope.csv')!r}"),
    "unknown column": (
        lambda d, m: ["train", write(d / "t.csv", "text,label\ngood,pos\n"), "--text-column", "txt",
                      "--output", d / "out"],
        lambda d: "ktbert train: error: `text_column` 'txt' is not a column of train_df. Columns present: "
                  "['text', 'label']"),
    "maxlen out of range": (
        lambda d, m: ["train", d / "t.csv", "--maxlen", 4, "--output", d / "out"],
        lambda d: "ktbert train: error: `maxlen` must be between 8 and 512. Received: maxlen=4"),
    "maxlen not a number": (
        lambda d, m: ["train", d / "t.csv", "--maxlen", "long", "--output", d / "out"],
        lambda d: "ktbert train: error: argument --maxlen: invalid int value: 'long'"),
    "lr not a number": (
        lambda d, m: ["train", d / "t.csv", "--lr", "fast", "--output", d / "out"],
        lambda d: "ktbert train: error: argument --lr: must be a number or 'auto'. Received: 'fast'"),
    "schedule unknown": (
        lambda d, m: ["train", d / "t.csv", "--schedule", "cosine", "--output", d / "out"],
        lambda d: "ktbert train: error: `schedule` must be one of ['onecycle', 'autofit', 'constant', 'sgdr']. "
                  "Received: schedule='cosine'"),
    "early stopping with one-cycle": (
        lambda d, m: ["train", d / "t.csv", "--early-stopping", 2, "--output", d / "out"],
        lambda d: "ktbert train: error: `early_stopping` needs a schedule that can stop early, one of ['autofit', "
                  "'constant', 'sgdr']: one-cycle plans its rate over all `epochs`. Received: early_stopping=2, "
                  "schedule='onecycle'"),
    "early stopping not a number": (
        lambda d, m: ["train", d / "t.csv", "--early-stopping", "soon", "--output", d / "out"],
        lambda d: "ktbert train: error: argument --early-stopping: invalid int value: 'soon'"),
    "weight decay negative": (
        lambda d, m: ["train", d / "t.csv", "--weight-decay", "-0.1", "--output", d / "out"],
        lambda d: "ktbert train: error: `weight_decay` must be a number >= 0. Received: weight_decay=-0.1"),
    "monitor unknown": (
        lambda d, m: ["train", d / "t.csv", "--schedule", "autofit", "--monitor", "val_f1", "--output", d / "out"],
        lambda d: "ktbert train: error: `monitor` must be one of ['val_loss', 'val_accuracy', 'val_macro_f1']. "
                  "Received: monitor='val_f1'"),
    "long texts unknown": (
        lambda d, m: ["train", d / "t.csv", "--long-texts", "all", "--output", d / "out"],
        lambda d: "ktbert train: error: `long_texts` must be one of ['truncate', 'windows']. "
                  "Received: long_texts='all'"),
    "window stride too long": (
        lambda d, m: ["train", d / "t.csv", "--maxlen", 16, "--long-texts", "windows", "--window-stride", 15,
                      "--output", d / "out"],
        lambda d: "ktbert train: error: `window_stride` must be at most maxlen - 2 = 14, or windows would skip "
                  "tokens. Received: window_stride=15"),
    "NaN labels": (
        lambda d, m: ["train", write(d / "t.csv", "text,label\ngood,pos\nbad,neg\nfine,\n"), "--output", d / "out"],
        lambda d: "ktbert train: error: train_df['label'] has 1 missing label(s) (None or NaN) at row "
                  "position(s) [2]. Drop those rows (df.dropna(subset=[...])) or give them a class."),
    "output holds other files": (
        lambda d, m: ["train", d / "t.csv", "--output", os.path.dirname(write(d / "keep" / "notes.txt", "x"))],
        lambda d: f"ktbert train: error: `--output` {str(d / 'keep')!r} holds files that are not a ktbert save "
                  "(['notes.txt']); choose another folder so nothing is lost."),
    "input checked before the model": (
        lambda d, m: ["predict", os.path.dirname(write(d / "other" / "model.h5", "x")), d / "in.txt"],
        lambda d: f"ktbert predict: error: No such file: {str(d / 'in.txt')!r}"),
    "model folder not a save": (
        lambda d, m: ["predict", os.path.dirname(write(d / "other" / "model.h5", "x")), write(d / "in.txt", "good\n")],
        lambda d: f"ktbert predict: error: {str(d / 'other')!r} is not a ktbert save: ktbert.json is missing "
                  "(found: ['model.h5']). Save a predictor with `predictor.save(folder)`."),
    "missing INPUT": (
        lambda d, m: ["predict", m, d / "nope.txt"],
        lambda d: f"ktbert predict: error: No such file: {str(d / 'nope.txt')!r}"),
    "unknown text column": (
        lambda d, m: ["predict", m, write(d / "in.csv", "id,body\n1,good\n"), "--text-column", "text"],
        lambda d: f"ktbert predict: error: `text_column` 'text' is not a column of {str(d / 'in.csv')!r}. "
                  "Columns present: ['id', 'body']"),
    "table without --text-column": (
        lambda d, m: ["predict", m, write(d / "in.tsv", "id\tbody\n1\tgood\n")],
        lambda d: f"ktbert predict: error: {str(d / 'in.tsv')!r} is a table: name the column holding the "
                  "texts with --text-column."),
    "undecodable line": (
        lambda d, m: ["predict", m, write(d / "bad.txt", b"good\nbad \xff\n", "wb")],
        lambda d: f"ktbert predict: error: line 2 of {str(d / 'bad.txt')!r} is not valid utf-8 text: byte "
                  "b'\\xff' cannot be decoded. Pass the input's encoding, e.g. --encoding latin-1."),
    "chunk size": (
        lambda d, m: ["predict", m, "--chunk-size", 0],
        lambda d: "ktbert predict: error: `chunk_size` must be a positive integer. Received: chunk_size=0"),
    "unknown class in DATA": (
        lambda d, m: ["evaluate", m, write(d / "e.csv", "text,label\ngood,pos\nmeh,so-so\n")],
        lambda d: f"ktbert evaluate: error: {str(d / 'e.csv')}['label'] has label(s) ['so-so'] that the "
                  "training data does not have (training classes: ['neg', 'pos']). Remove those rows or add "
                  "examples of them to the training data."),
    "plot format": (
        lambda d, m: ["lr-find", d / "t.csv", "--plot", d / "lr.txt"],
        lambda d: f"ktbert lr-find: error: `--plot` must name a .png/.pdf/.svg/.jpg/.jpeg file. "
                  f"Received: {str(d / 'lr.txt')!r}"),
    "export: missing folder": (
        lambda d, m: ["export", d / "nope", d / "out"],
        lambda d: f"ktbert export: error: No such folder: {str(d / 'nope')!r}. "
                  "Save one with `predictor.save(folder)`."),
    "serve: missing folder": (
        lambda d, m: ["serve", d / "nope"],
        lambda d: f"ktbert serve: error: No such folder: {str(d / 'nope')!r}. "
                  "Save one with `predictor.save(folder)`."),
}


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_exits_2_with_the_api_message(case, cli_model, tmp_path, capsys):
    write(tmp_path / "t.csv", "text,label\ngood,pos\nbad,neg\n")
    argv, message = BAD_INPUT[case]
    code, out, err = run(argv(tmp_path, cli_model[0]), capsys)
    assert code == 2
    assert err.rstrip().splitlines()[-1] == message(tmp_path)
    assert "Traceback" not in err and "Traceback" not in out


def test_a_failed_predict_leaves_no_output_file(cli_model, tmp_path, capsys):
    source = write(tmp_path / "in.txt", b"good\nbad\nfine\n\xff\n", "wb")
    code, _, err = run(["predict", cli_model[0], source, "--chunk-size", 2, "--output", tmp_path / "out.csv"], capsys)
    assert code == 2 and "line 4 of" in err
    assert sorted(os.listdir(tmp_path)) == ["in.txt"]


def test_traceback_flag_and_unexpected_errors_keep_the_traceback(monkeypatch, tmp_path):
    with pytest.raises(FileNotFoundError, match="No such file or folder"):
        main(["--traceback", "train", str(tmp_path / "nope.csv"), "--output", str(tmp_path / "out")])

    def broken(args):
        raise RuntimeError("a bug")

    monkeypatch.setattr("ktbert.cli.evaluating.evaluate", broken)
    with pytest.raises(RuntimeError, match="a bug"):
        main(["evaluate", "model", "data.csv"])


def test_an_interrupt_exits_130(monkeypatch, capsys):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr("ktbert.cli.evaluating.evaluate", interrupted)
    assert run(["evaluate", "model", "data.csv"], capsys)[::2] == (130, "ktbert evaluate: interrupted\n")


def test_serve_without_the_extra_says_how_to_install_it(cli_model, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "fastapi", None)  # `import fastapi` now fails as if not installed
    monkeypatch.delitem(sys.modules, "ktbert.serve.service", raising=False)
    code, _, err = run(["serve", cli_model[0]], capsys)
    assert code == 2
    assert err.rstrip().splitlines()[-1] == ("ktbert serve: error: ktbert serve needs the serve extra: "
                                             "pip install 'ktbert[serve]' (fastapi is not installed).")


def test_serve_passes_only_the_limits_given(cli_model, monkeypatch, capsys):
    import ktbert.serve.service

    calls = []
    monkeypatch.setattr(ktbert.serve.service, "serve", lambda model_dir, **kw: calls.append((model_dir, kw)))
    code, _, err = run(["serve", cli_model[0], "--port", 8123, "--max-batch", 16, "--max-wait-ms", 2.5], capsys)
    assert code == 0, err
    assert calls == [(cli_model[0], {"host": "127.0.0.1", "port": 8123, "micro_batching": True,
                                     "max_batch": 16, "max_wait_ms": 2.5})]
    code, _, err = run(["serve", cli_model[0], "--max-queue", 8, "--no-micro-batching"], capsys)
    assert code == 0, err
    assert calls[1] == (cli_model[0], {"host": "127.0.0.1", "port": 8000, "micro_batching": False, "max_queue": 8})


def test_serve_passes_the_deadlines_the_drain_the_key_file_and_the_origins_given(cli_model, monkeypatch, capsys):
    import ktbert.serve.service

    calls = []
    monkeypatch.setattr(ktbert.serve.service, "serve", lambda model_dir, **kw: calls.append((model_dir, kw)))
    code, _, err = run(["serve", cli_model[0], "--header-timeout", 5, "--body-timeout", 12.5, "--drain-timeout", 25,
                        "--drain-delay", 3, "--api-key-file", "key.txt", "--cors-origin", "https://a.example",
                        "--cors-origin", "http://localhost:3000"], capsys)
    assert code == 0, err
    assert calls == [(cli_model[0], {"host": "127.0.0.1", "port": 8000, "micro_batching": True,
                                     "header_timeout": 5.0, "body_timeout": 12.5, "drain_timeout": 25.0,
                                     "drain_delay": 3.0, "api_key_file": "key.txt",
                                     "cors_origins": ["https://a.example", "http://localhost:3000"]})]


def test_serve_refuses_a_missing_key_file_before_loading_the_model(cli_model, tmp_path, capsys):
    code, _, err = run(["serve", cli_model[0], "--api-key-file", tmp_path / "nope.txt"], capsys)
    assert code == 2
    assert err.rstrip().splitlines()[-1] == (
        f"ktbert serve: error: `api_key_file` names no file. Received: api_key_file='{tmp_path / 'nope.txt'}'. "
        "Write the key in a file, e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))' > key.txt")


def test_export_refuses_to_write_over_the_model_it_reads(cli_model, capsys):
    code, _, err = run(["export", cli_model[0], cli_model[0]], capsys)
    assert code == 2
    assert err.rstrip().splitlines()[-1] == (
        f"ktbert export: error: OUT_DIR is MODEL_DIR ({cli_model[0]!r}): the export would replace the "
        "saved predictor. Give another folder.")
    ktbert.load_predictor(cli_model[0])  # untouched
