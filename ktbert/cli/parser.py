"""The `ktbert` command line's arguments: one argparse sub-command per task, each with an example.

Parsing imports nothing heavy: each sub-command names its handler as "module:function", and
`ktbert.cli.main` imports that module only when the sub-command runs.
"""

from __future__ import annotations

import argparse

from ktbert.cli.schedule_options import SCHEDULE_DEFAULTS, schedule_arguments
from ktbert.data.pipeline import TRUNCATIONS
from ktbert.defaults import BATCH_SIZE, ENCODER, LR, MAXLEN, TRAIN_BATCH_SIZE, TRUNCATION, VAL_PCT
from ktbert.model.int8 import QUANTIZE_MODES
from ktbert.model.precision import PRECISIONS

# The training recipe's defaults (`ktbert.TrainingSettings`), shown in --help; a test keeps them
# equal, so the parser need not import the recipe (and TensorFlow) to know them.
RECIPE_DEFAULTS = {
    "maxlen": MAXLEN, "encoder": ENCODER, "truncation": TRUNCATION, "val_pct": VAL_PCT,
    "batch_size": TRAIN_BATCH_SIZE, "epochs": 1, "lr": LR, "seed": 0, "weight_decay": 0.01,
    **SCHEDULE_DEFAULTS,
}
DEFAULT_LABEL_SEP = "|"
PREDICT_BATCH_SIZE = BATCH_SIZE  # `load_predictor`'s
QUANTIZE_HELP = ("int8: the encoder's attention and feed-forward GELU products in 8-bit integers: faster than "
                 "float32, labels equal to float's on about 99%% of texts (docs/benchmarks/int8_prediction.md); "
                 "default: float")
QUANTIZE_CHOICES = [mode for mode in QUANTIZE_MODES if mode is not None]
CHUNK_SIZE = 4096

TRAIN_EXAMPLE = """\
examples:
  ktbert train reviews.csv --text-column review --label-column sentiment --output sentiment
  ktbert train train.tsv.gz --val dev.tsv.gz --text-column sentence --label-column label \\
      --maxlen 64 --epochs 3 --lr auto --output sst2
  ktbert train tickets.xlsx --text-column body --label-column tags --multilabel --output tags
  ktbert train reviews/ --output sentiment      # reviews/pos/*.txt, reviews/neg/*.txt
  ktbert train imdb.csv.gz --text-column Reviews --label-column Sentiment --maxlen 256 \\
      --schedule autofit --epochs 10 --early-stopping 2 --long-texts windows --output imdb

DATA is a .csv, .tsv or .xlsx file (each may be gzip'd: .csv.gz), a text table of another
extension (its separator is sniffed), or a folder with one sub-folder of text files per class.
"""

EVALUATE_EXAMPLE = """\
examples:
  ktbert evaluate sentiment test.csv --text-column review --label-column sentiment
  ktbert evaluate sentiment test.csv --text-column review --label-column sentiment --report report.html
"""

PREDICT_EXAMPLE = """\
examples:
  ktbert predict sentiment reviews.txt > labels.csv          # one text a line
  ktbert predict sentiment reviews.csv --text-column review --proba --output scores.csv
  cat reviews.txt | ktbert predict sentiment --format jsonl --proba

Texts are read and predicted in chunks of --chunk-size lines, so memory stays bounded
whatever the input's size. Output rows follow the input's order, one per text; a blank
line is a text too (predicted as the empty text), so row N answers line N.
"""

EMBED_EXAMPLE = """\
examples:
  ktbert embed sentiment reviews.txt --output vectors.npy    # one row per line, in order
  ktbert embed sentiment reviews.csv --text-column review --format jsonl > vectors.jsonl
"""

LR_FIND_EXAMPLE = """\
example:
  ktbert lr-find reviews.csv --text-column review --label-column sentiment --plot lr.png
"""

EXPORT_EXAMPLE = """\
example:
  ktbert export sentiment sentiment_savedmodel
  # then, with TensorFlow and tensorflow-text only (the import registers the tokenizer's ops):
  #   import tensorflow as tf, tensorflow_text; tf.saved_model.load("sentiment_savedmodel")
"""

SERVE_EXAMPLE = """\
examples:
  ktbert serve sentiment --port 8000
  curl -s localhost:8000/predict -H 'content-type: application/json' -d '{"texts": ["great film"]}'
  ktbert serve sentiment --host 0.0.0.0 --api-key-file /run/secrets/ktbert_key --drain-delay 5
  curl -s host:8000/predict -H "Authorization: Bearer $(cat key.txt)" -d '{"texts": ["great film"]}'

Without --api-key-file the key is read from KTBERT_API_KEY; with neither, no key is needed.
/health (liveness) and /ready (503 once SIGTERM came) stay open. Needs the serve extra:
pip install 'ktbert[serve]'.
"""


def learning_rate(value: str):
    """--lr: a number, or "auto" for the learning-rate finder's suggestion."""
    if value == "auto":
        return value
    try:
        return float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number or 'auto'. Received: {value!r}") from None


def _command(subparsers, name, handler, summary, example):
    parser = subparsers.add_parser(name, help=summary, description=summary, epilog=example,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.set_defaults(handler=handler)
    return parser


class TextColumns(argparse.Action):
    """`--text-column C` gives the name; `--text-column A B` the two columns of text pairs."""

    def __call__(self, parser, namespace, values, option_string=None):
        if len(values) > 2:
            parser.error(f"{option_string}: one column, or two for text pairs. Received: {' '.join(values)}")
        setattr(namespace, self.dest, values[0] if len(values) == 1 else list(values))


def _data_arguments(parser, what="DATA"):
    parser.add_argument("data", metavar=what, help="labelled data: CSV/TSV/xlsx file (gzip'd too) or class folders")
    parser.add_argument("--text-column", nargs="+", default="text", metavar="C", type=str, action=TextColumns,
                        help="the texts' column (default: text), or two columns A B for text pairs")
    parser.add_argument("--label-column", nargs="+", default=["label"], metavar="L",
                        help="the class column, or one 0/1 column per class (default: label)")
    parser.add_argument("--label-sep", default=None, metavar="S",
                        help="separator of several labels in one cell (multi-label)")
    parser.add_argument("--sep", default=None, help="field separator (default: by extension, else sniffed)")
    parser.add_argument("--encoding", default="utf-8", help="text encoding of the files (default: utf-8)")


def _recipe_arguments(parser):
    d = RECIPE_DEFAULTS
    parser.add_argument("--multilabel", action="store_true",
                        help=f"a text may have several labels, joined by --label-sep (default {DEFAULT_LABEL_SEP!r})")
    parser.add_argument("--val", default=None, metavar="DATA",
                        help=f"validation data (default: {d['val_pct']} of DATA held out)")
    parser.add_argument("--val-pct", type=float, default=d["val_pct"], metavar="F",
                        help="share of DATA held out when --val is not given (default: %(default)s)")
    parser.add_argument("--maxlen", type=int, default=d["maxlen"], metavar="N",
                        help="tokens per text, [CLS] and [SEP] included (default: %(default)s)")
    parser.add_argument("--encoder", default=d["encoder"], metavar="E",
                        help="'default' (all-MiniLM-L6-v2), an encoder folder or keras-hub preset name")
    parser.add_argument("--truncation", default=d["truncation"], choices=list(TRUNCATIONS),
                        help="how long texts are cut (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=d["batch_size"], metavar="B",
                        help="texts per training step (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=d["seed"],
                        help="seed of the split and the weights (default: %(default)s)")
    parser.add_argument("--weight-decay", type=float, default=d["weight_decay"], metavar="X",
                        help="decoupled weight decay, never on biases, LayerNorm or embeddings; 0 turns it off "
                             "(default: %(default)s)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def _text_input_arguments(parser) -> None:
    """MODEL_DIR, INPUT and how texts are read, streamed and written (`predict`, `embed`)."""
    parser.add_argument("model_dir", metavar="MODEL_DIR", help="a folder saved by 'ktbert train' or predictor.save")
    parser.add_argument("input", metavar="INPUT", nargs="?", default="-",
                        help="a text file, one text a line (gzip'd too), a CSV/TSV with --text-column, "
                             "or '-' for stdin (the default)")
    parser.add_argument("--text-column", nargs="+", default=None, metavar="C", action=TextColumns,
                        help="read INPUT as a CSV/TSV and take this column (two columns A B for a model of "
                             "text pairs)")
    parser.add_argument("--sep", default=None, help="field separator of a table INPUT (default: by extension, else sniffed)")
    parser.add_argument("--encoding", default="utf-8", help="text encoding of INPUT (default: utf-8)")
    parser.add_argument("--output", default=None, metavar="FILE", help="write here instead of stdout")
    parser.add_argument("--batch-size", type=int, default=PREDICT_BATCH_SIZE, metavar="N",
                        help="texts per prediction step at maxlen tokens; shorter texts share larger steps "
                             "(default: %(default)s)")
    parser.add_argument("--chunk-size", type=int, default=CHUNK_SIZE, metavar="N",
                        help="texts read, predicted and written at a time (default: %(default)s)")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="a count of texts on stderr (default: when stderr is a terminal)")


def build_parser() -> argparse.ArgumentParser:
    """The `ktbert` parser, with its six sub-commands."""
    parser = argparse.ArgumentParser(
        prog="ktbert", description="Train, evaluate and ship BERT text classifiers.",
        epilog="Run 'ktbert COMMAND --help' for a command's options and an example.",
    )
    parser.add_argument("--traceback", action="store_true",
                        help="on an error, show the full traceback instead of the one-line message")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    d = RECIPE_DEFAULTS

    train = _command(subparsers, "train", "ktbert.cli.training:train",
                     "Train a classifier on DATA, print the validation report and save the predictor.",
                     TRAIN_EXAMPLE)
    _data_arguments(train)
    _recipe_arguments(train)
    train.add_argument("--output", required=True, metavar="DIR", help="folder to save the predictor in")
    train.add_argument("--test", default=None, metavar="DATA", help="test data, scored once at the end")
    train.add_argument("--epochs", type=int, default=d["epochs"], metavar="E",
                       help="epochs, at most with --early-stopping (default: %(default)s)")
    train.add_argument("--lr", type=learning_rate, default=d["lr"], metavar="X|auto",
                       help="peak learning rate, or 'auto' to run lr_find and take its suggestion "
                            "(default: %(default)s)")
    schedule_arguments(train)
    train.add_argument("--class-weight", choices=["balanced"], default=None, help="weigh classes by inverse frequency")
    train.add_argument("--calibrate", action="store_true", help="fit temperature scaling on the validation data")
    train.add_argument("--tune-thresholds", action="store_true", help="fit per-label thresholds (multi-label)")
    train.add_argument("--precision", default=None, choices=list(PRECISIONS),
                       help="what the encoder computes in (default: KTBERT_PRECISION, else auto)")
    train.add_argument("--report", default=None, metavar="FILE",
                       help="also write an HTML report of the run on the validation (or --test) data")

    evaluate = _command(subparsers, "evaluate", "ktbert.cli.evaluating:evaluate",
                        "Score a saved predictor on labelled DATA and print the report.", EVALUATE_EXAMPLE)
    evaluate.add_argument("model_dir", metavar="MODEL_DIR", help="a folder saved by 'ktbert train' or predictor.save")
    _data_arguments(evaluate)
    evaluate.add_argument("--batch-size", type=int, default=PREDICT_BATCH_SIZE, metavar="N",
                          help="texts per prediction step at maxlen tokens; shorter texts share larger steps (default: %(default)s)")
    evaluate.add_argument("--report", default=None, metavar="FILE",
                          help="also write an HTML report: figures, calibration, the worst texts explained")

    predict = _command(subparsers, "predict", "ktbert.cli.predicting:predict",
                       "Predict the classes of texts from a file, a CSV/TSV column or stdin.", PREDICT_EXAMPLE)
    _text_input_arguments(predict)
    predict.add_argument("--format", choices=["csv", "jsonl"], default="csv", help="output format (default: csv)")
    predict.add_argument("--quantize", choices=QUANTIZE_CHOICES, default=None, help=QUANTIZE_HELP)
    predict.add_argument("--proba", action="store_true", help="also write each class's probability")
    predict.add_argument("--label-sep", default=DEFAULT_LABEL_SEP, metavar="S",
                         help="joins a multi-label model's labels in csv output (default: %(default)r)")

    embed = _command(subparsers, "embed", "ktbert.cli.embedding:embed",
                     "Write the fine-tuned encoder's text vectors of texts from a file, a CSV/TSV column or stdin.",
                     EMBED_EXAMPLE)
    _text_input_arguments(embed)
    embed.add_argument("--format", choices=["npy", "jsonl"], default=None,
                       help="output format (default: npy when --output ends in .npy, else jsonl)")

    lr_find = _command(subparsers, "lr-find", "ktbert.cli.training:lr_find",
                       "Run the learning-rate finder on DATA, save its plot and print its suggestions.",
                       LR_FIND_EXAMPLE)
    _data_arguments(lr_find)
    _recipe_arguments(lr_find)
    lr_find.add_argument("--plot", required=True, metavar="FILE", help="where to save the plot (.png, .pdf, .svg)")
    lr_find.add_argument("--num-it", type=int, default=100, metavar="N", help="steps at most (default: %(default)s)")

    export = _command(subparsers, "export", "ktbert.cli.shipping:export",
                      "Export a saved predictor as a TensorFlow SavedModel that takes raw strings.",
                      EXPORT_EXAMPLE)
    export.add_argument("model_dir", metavar="MODEL_DIR", help="a folder saved by 'ktbert train' or predictor.save")
    export.add_argument("out_dir", metavar="OUT_DIR", help="the folder to write")
    export.add_argument("--format", default="savedmodel", choices=["savedmodel", "onnx"],
                        help="a TensorFlow SavedModel taking raw strings, or ONNX with a Hugging Face tokenizer.json "
                             "(needs the onnx extra) (default: %(default)s)")

    serve = _command(subparsers, "serve", "ktbert.cli.shipping:serve",
                     "Serve a saved predictor over HTTP: POST /predict, GET /health, docs at /docs.",
                     SERVE_EXAMPLE)
    serve.add_argument("model_dir", metavar="MODEL_DIR", help="a folder saved by 'ktbert train' or predictor.save")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    serve.add_argument("--port", type=int, default=8000, help="port (default: %(default)s)")
    serve.add_argument("--max-batch", type=int, default=None, metavar="N", help="texts per model call at most")
    serve.add_argument("--max-wait-ms", type=float, default=None, metavar="F",
                       help="how long a request waits for others to share its model call")
    serve.add_argument("--max-texts", type=int, default=None, metavar="N", help="texts per request at most")
    serve.add_argument("--max-bytes", type=int, default=None, metavar="N", help="bytes per request at most")
    serve.add_argument("--max-queue", type=int, default=None, metavar="N",
                       help="texts a new request may wait behind at most, counted fairly between clients; "
                            "beyond them the service answers 503 at once (default: 256)")
    serve.add_argument("--no-micro-batching", dest="micro_batching", action="store_false",
                       help="one model call per request, in arrival order, instead of merging concurrent ones fairly")
    serve.add_argument("--header-timeout", type=float, default=None, metavar="S",
                       help="seconds for a request's headers to arrive whole, else 408 and the connection "
                            "closed (default: 10)")
    serve.add_argument("--body-timeout", type=float, default=None, metavar="S",
                       help="seconds from the headers for the body to arrive whole, else 408 (default: 30)")
    serve.add_argument("--drain-timeout", type=float, default=None, metavar="S",
                       help="on SIGTERM, seconds the requests taken have to be answered (default: 20)")
    serve.add_argument("--drain-delay", type=float, default=None, metavar="S",
                       help="on SIGTERM, seconds to go on serving with /ready answering 503, so that a load "
                            "balancer stops sending first (default: 0)")
    serve.add_argument("--api-key-file", default=None, metavar="FILE",
                       help="a file holding the API key every request must send (Authorization: Bearer KEY or "
                            "X-API-Key: KEY); default: the KTBERT_API_KEY variable, else no key")
    serve.add_argument("--quantize", choices=QUANTIZE_CHOICES, default=None, help=QUANTIZE_HELP)
    serve.add_argument("--cors-origin", dest="cors_origins", action="append", default=None, metavar="ORIGIN",
                       help="an origin whose pages may call the service, like https://example.com (repeat for "
                            "more; default: none, no CORS headers)")
    return parser
