"""Fine-tune the default encoder (all-MiniLM-L6-v2) on IMDB reviews, then save, reload and predict.

    python examples/imdb_demo.py                   # reads ../shared/data/imdb
    python examples/imdb_demo.py path/to/imdb      # or another copy (see LAYOUTS below)
    python examples/imdb_demo.py --train 4000 --val 1000 --maxlen 128 --lr 5e-5
    python examples/imdb_demo.py --report          # and write imdb-report.html

It prints the validation accuracy on held-out reviews, saves the predictor, reloads it and
predicts three new reviews with probabilities.
"""

import argparse
import os
import sys
import time

# oneDNN kernels make CPU training faster; the variable must be set before TensorFlow loads.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DATA = os.path.normpath(os.path.join(HERE, "..", "..", "shared", "data", "imdb"))
LAYOUTS = """IMDB (Large Movie Review Dataset, Maas et al., ACL 2011) is published at
https://ai.stanford.edu/~amaas/data/sentiment/ (aclImdb_v1.tar.gz). This demo reads any of:
  - a folder with train.xlsx and test.xlsx (columns Reviews, Sentiment: pos/neg), the layout
    a popular ktrain tutorial reads with pd.read_excel;
  - a folder with imdb_train.csv.gz and imdb_test.csv.gz (same columns);
  - the unpacked aclImdb folder (train/pos/*.txt, train/neg/*.txt, test/pos, test/neg)."""
NEW_REVIEWS = [
    "What a wonderful film: the acting is superb and the story moved me to tears.",
    "A dull, lifeless mess. I checked my watch every five minutes and regret paying for it.",
    "The plot was thin, but the soundtrack and photography made it worth seeing once.",
]


def read_imdb(path, n_train, n_val, seed):
    """Returns (train_df, val_df) with columns Reviews, Sentiment, or None if nothing is found."""
    import pandas as pd

    pairs = [("train.xlsx", "test.xlsx", pd.read_excel), ("imdb_train.csv.gz", "imdb_test.csv.gz", pd.read_csv)]
    for train_name, test_name, read in pairs:
        train_file, test_file = os.path.join(path, train_name), os.path.join(path, test_name)
        if os.path.isfile(train_file) and os.path.isfile(test_file):
            print(f"reading {train_file} and {test_file}")
            frames = [read(train_file), read(test_file)]
            break
    else:
        if not os.path.isdir(os.path.join(path, "train", "pos")):
            return None
        print(f"reading the aclImdb folders under {path}")
        frames = [_read_acl(os.path.join(path, split)) for split in ("train", "test")]
    train, test = (f[["Reviews", "Sentiment"]] for f in frames)
    train = train.sample(min(n_train, len(train)), random_state=seed)
    val = test.sample(min(n_val, len(test)), random_state=seed)
    # IMDB's HTML line breaks would otherwise cost four tokens each.
    return tuple(f.assign(Reviews=f.Reviews.str.replace("<br />", " ", regex=False)) for f in (train, val))


def _read_acl(folder):
    import pandas as pd

    rows = []
    for label in ("neg", "pos"):
        sub = os.path.join(folder, label)
        for name in sorted(os.listdir(sub)):
            with open(os.path.join(sub, name), encoding="utf-8") as f:
                rows.append({"Reviews": f.read(), "Sentiment": label})
    return pd.DataFrame(rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", nargs="?", default=DEFAULT_DATA, help="IMDB folder (default: %(default)s)")
    parser.add_argument("--train", type=int, default=4000, help="training reviews (default: %(default)s)")
    parser.add_argument("--val", type=int, default=1000, help="held-out reviews (default: %(default)s)")
    parser.add_argument("--maxlen", type=int, default=128, help="tokens per review (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--lr", type=float, default=5e-5, help="peak one-cycle rate (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--out", default=os.path.join("runs", "imdb-sentiment"), help="where to save the predictor")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--report", nargs="?", const="imdb-report.html", default=None, metavar="FILE",
                        help="also write an HTML report of the run (default file: %(const)s)")
    args = parser.parse_args(argv)

    if not os.path.isdir(args.data):
        print(f"No IMDB data at {args.data}.\n\n{LAYOUTS}\n\nDownload it, then: python {sys.argv[0]} PATH")
        return 2
    data = read_imdb(args.data, args.train, args.val, args.seed)
    if data is None:
        print(f"{args.data} holds none of the IMDB layouts this demo reads.\n\n{LAYOUTS}")
        return 2
    train_df, val_df = data

    import ktbert

    start = time.time()
    settings = ktbert.TrainingSettings("Reviews", "Sentiment", maxlen=args.maxlen, batch_size=args.batch_size,
                                       epochs=args.epochs, lr=args.lr, seed=args.seed, output=args.out)
    run = ktbert.train_classifier(settings, train_df, val_df)
    print(f"\nvalidation accuracy: {run.scores['accuracy']:.4f} on {len(run.val_data.x)} held-out IMDB reviews "
          f"({len(run.train_data.x)} training reviews, maxlen {args.maxlen}, {time.time() - start:.0f} s)")

    if args.report:
        print(f"wrote the report to {run.report(args.report)}")

    predictor = run.predictor
    reloaded = ktbert.Predictor.load(args.out)
    proba = reloaded.predict(NEW_REVIEWS, return_proba=True)
    labels = reloaded.predict(NEW_REVIEWS)
    print(f"saved to {args.out} and reloaded; predictions on new reviews:")
    for text, label, p in zip(NEW_REVIEWS, labels, proba):
        shown = ", ".join(f"{c} {v:.3f}" for c, v in zip(reloaded.get_classes(), p))
        print(f"  {label:>3} ({shown})  {text}")
    same = abs(proba - predictor.predict(NEW_REVIEWS, return_proba=True)).max()
    print(f"largest probability difference between the trained and the reloaded predictor: {same:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
