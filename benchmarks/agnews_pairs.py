"""AG News sentence pairs, "same topic" or "different topic", and their TF-IDF cosine baseline.

The pair task of the `agnews_pairs` accuracy row: training pairs from `agnews/train_10k.tsv`,
held-out pairs from `agnews/test.csv` (title + ". " + description), half of each "same topic"
(the four topics equally often) and half "different topic" (the six pairs of topics about
equally often). Every text is in at most one pair, and no held-out article repeats a training
text. The baseline is the cosine similarity of the two texts' TF-IDF vectors, cut at the
threshold that is most accurate on the training pairs.

    python benchmarks/agnews_pairs.py [--data ../shared/data] [--train-pairs 2000] [--test-pairs 1000] [--seed 0]
"""

from __future__ import annotations

import argparse
import csv
import itertools
import os
import sys

from bench_common import ROOT

DEFAULT_DATA = os.path.normpath(os.path.join(ROOT, "..", "shared", "data"))
AGNEWS_CLASSES = {1: "World", 2: "Sports", 3: "Business", 4: "Sci/Tech"}  # test.csv's labels 1-4
TOPICS = tuple(AGNEWS_CLASSES.values())
SAME, DIFFERENT = "same topic", "different topic"
LABELS = (DIFFERENT, SAME)


# === Reading ===

def read_agnews_articles(data: str):
    """`(train, test)` frames with columns `text`, `label` (topic name) and `description`.

    Read as `accuracy.py`'s `read_agnews` reads them, which this module cannot import:
    `accuracy.py` imports this module, and run as a script it is `__main__`, so importing it
    back would run it a second time. `description` is the part of a test text that the
    training file's texts correspond to (the training file has no titles).
    """
    import pandas as pd

    train = pd.read_csv(os.path.join(data, "agnews", "train_10k.tsv"), sep="\t", header=None,
                        names=["text", "label"], quoting=csv.QUOTE_NONE)
    train["text"] = train["text"].str.strip()
    train["description"] = train["text"]
    test = pd.read_csv(os.path.join(data, "agnews", "test.csv"))
    description = test["description"].str.strip()
    test = pd.DataFrame({"text": test["title"].str.strip() + ". " + description,
                         "label": test["label"].map(AGNEWS_CLASSES), "description": description})
    return train, test


def held_out_articles(train, test):
    """The test articles fit to pair: each text once, and none whose text or description is
    a training text (AG News repeats a few descriptions across its splits)."""
    seen = set(train["text"])
    fresh = ~test["text"].isin(seen) & ~test["description"].isin(seen)
    return test[fresh].drop_duplicates("text")


# === Pairs ===

def build_pairs(data: str, train_pairs: int = 2000, test_pairs: int = 1000, seed: int = 0,
                with_topics: bool = False):
    """Training and held-out sentence pairs of AG News, half "same topic", half "different topic".

    Same-topic pairs take each of the four topics equally often, different-topic pairs each of
    the six pairs of topics about equally often (the remainder goes to randomly chosen ones);
    which text comes first is random, and the rows are shuffled. Every text is used at most
    once; held-out texts that repeat a training text are dropped before pairing.

    Args:
        data: str. the shared data folder (it holds `agnews/`).
        train_pairs: int. pairs from `train_10k.tsv`; even, so that the halves are equal.
        test_pairs: int. pairs from `test.csv`; even.
        seed: int. seed of the sampling; training and held-out pairs draw from separate streams,
            so changing one's size leaves the other as it was.
        with_topics: bool. add the columns `topic_a` and `topic_b`.

    Returns:
        `(train_df, test_df)`: pandas frames with columns `text_a`, `text_b` and `label`.

    Examples:
    ```python
    train_df, test_df = build_pairs("../shared/data", train_pairs=2000, test_pairs=1000)
    ```
    """
    import numpy as np

    for name, value in (("train_pairs", train_pairs), ("test_pairs", test_pairs)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 2 or value % 2:
            raise ValueError(f"`{name}` must be a positive even number (half of the pairs same topic, "
                             f"half different). Received: {name}={value!r}")
    train, test = read_agnews_articles(data)
    train = train.drop_duplicates("text")
    test = held_out_articles(train, test)
    train_rng, test_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    frames = (_pairs(train, train_pairs, train_rng, "train_pairs", "agnews/train_10k.tsv"),
              _pairs(test, test_pairs, test_rng, "test_pairs", "agnews/test.csv"))
    columns = ["text_a", "text_b", "label"] + (["topic_a", "topic_b"] if with_topics else [])
    return tuple(frame[columns] for frame in frames)


def build_val_pairs(data: str, train_df, val_pairs: int = 200, seed: int = 0):
    """Validation pairs from the `train_10k.tsv` texts that `train_df` (from `build_pairs`) left
    unused, drawn from a third stream of `seed`: the training and held-out pairs stay as they are.

    Returns a frame like `build_pairs`'s, with columns `text_a`, `text_b` and `label`.
    """
    import numpy as np

    train, _ = read_agnews_articles(data)
    used = set(train_df["text_a"]) | set(train_df["text_b"])
    left = train.drop_duplicates("text")
    left = left[~left["text"].isin(used)]
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(3)[2])
    return _pairs(left, val_pairs, rng, "val_pairs", "agnews/train_10k.tsv")[["text_a", "text_b", "label"]]


def _spread(total: int, parts: int, rng) -> list:
    """`total` split into `parts` counts differing by at most one, the larger ones chosen at random."""
    counts = [total // parts] * parts
    for k in rng.choice(parts, total % parts, replace=False):
        counts[k] += 1
    return counts


def _pairs(articles, n_pairs: int, rng, name: str, source: str):
    import pandas as pd

    combos = list(itertools.combinations(TOPICS, 2))
    same = dict(zip(TOPICS, _spread(n_pairs // 2, len(TOPICS), rng)))
    different = dict(zip(combos, _spread(n_pairs // 2, len(combos), rng)))
    needed = {t: 2 * same[t] + sum(n for combo, n in different.items() if t in combo) for t in TOPICS}
    pools = {t: list(rng.permutation(articles.loc[articles["label"] == t, "text"].to_numpy())) for t in TOPICS}
    short = {t: (needed[t], len(pools[t])) for t in TOPICS if needed[t] > len(pools[t])}
    if short:
        lacking = ", ".join(f"{t} needs {n:,} texts, has {have:,}" for t, (n, have) in short.items())
        raise ValueError(f"`{name}` asks for more pairs than {source} has texts for ({lacking}). "
                         f"Received: {name}={n_pairs}")

    rows = []
    for topic, n in same.items():
        rows += [(pools[topic].pop(), pools[topic].pop(), SAME, topic, topic) for _ in range(n)]
    for (first, second), n in different.items():
        rows += [(pools[first].pop(), pools[second].pop(), DIFFERENT, first, second) for _ in range(n)]
    pairs = pd.DataFrame(rows, columns=["text_a", "text_b", "label", "topic_a", "topic_b"])
    swap = rng.random(len(pairs)) < 0.5
    pairs.loc[swap, ["text_a", "text_b", "topic_a", "topic_b"]] = \
        pairs.loc[swap, ["text_b", "text_a", "topic_b", "topic_a"]].to_numpy()
    return pairs.iloc[rng.permutation(len(pairs))].reset_index(drop=True)


# === Baseline ===

def tfidf_cosine(train_df, test_df) -> dict:
    """The TF-IDF cosine baseline: "same topic" where the two texts' cosine similarity reaches
    a threshold tuned on the training pairs.

    The vectorizer (1-2 grams, sublinear term frequency) is fitted on the training pairs'
    texts. The threshold is the one of highest training accuracy among all cuts between
    consecutive training similarities (the lowest such cut on ties), placed half-way between
    the two similarities it separates.

    Args:
        train_df: DataFrame. training pairs, columns `text_a`, `text_b`, `label`.
        test_df: DataFrame. held-out pairs, the same columns.

    Returns:
        dict: `accuracy` (held-out), `threshold`, `train_accuracy`, and the pairs counted.
    """
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    vectorizer.fit(list(train_df["text_a"]) + list(train_df["text_b"]))
    train_sim, test_sim = (_cosine(vectorizer, df) for df in (train_df, test_df))
    train_y, test_y = (df["label"].to_numpy() == SAME for df in (train_df, test_df))
    threshold, train_accuracy = best_threshold(train_sim, train_y)
    return {
        "accuracy": float(np.mean((test_sim >= threshold) == test_y)),
        "threshold": threshold,
        "train_accuracy": train_accuracy,
        "train_pairs": len(train_df),
        "test_pairs": len(test_df),
    }


def _cosine(vectorizer, df):
    import numpy as np

    a, b = vectorizer.transform(df["text_a"]), vectorizer.transform(df["text_b"])
    return np.asarray(a.multiply(b).sum(axis=1)).ravel()  # rows are L2-normalized: the dot is the cosine


def best_threshold(similarity, same) -> tuple:
    """`(threshold, accuracy)`: the cut of `similarity` (same where `>= threshold`) most
    accurate against the booleans `same`, and that accuracy."""
    import numpy as np

    similarity, same = np.asarray(similarity, dtype=float), np.asarray(same, dtype=bool)
    order = np.argsort(similarity, kind="stable")
    ranked, same_ranked = similarity[order], same[order]
    values = np.unique(ranked)
    below = np.searchsorted(ranked, values, side="left")  # pairs under each candidate cut
    different_below = np.concatenate([[0], np.cumsum(~same_ranked)])[below]
    same_from = same.sum() - np.concatenate([[0], np.cumsum(same_ranked)])[below]
    correct = np.append(different_below + same_from, (~same).sum())  # the last: above every pair
    k = int(np.argmax(correct))
    if k == len(values):
        threshold = float(values[-1]) + 1e-6
    else:
        threshold = float(values[k]) if k == 0 else float((values[k - 1] + values[k]) / 2)
    return threshold, float(correct[k] / len(similarity))


# === Report ===

def describe(train_df, test_df) -> str:
    """Sizes, label balance and topic coverage of a pair set (topics when it has them)."""
    lines = []
    for name, df in (("training", train_df), ("held-out", test_df)):
        counts = df["label"].value_counts()
        shown = ", ".join(f"{label} {counts.get(label, 0):,}" for label in LABELS)
        lines.append(f"{name} pairs: {len(df):,} ({shown})")
        if "topic_a" in df:
            topics = df.apply(lambda r: " / ".join(sorted({r["topic_a"], r["topic_b"]})), axis=1)
            for label in LABELS:
                shares = topics[df["label"] == label].value_counts().sort_index()
                lines.append(f"  {label}: " + ", ".join(f"{k} {v}" for k, v in shares.items()))
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--train-pairs", type=int, default=2000)
    parser.add_argument("--test-pairs", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--show", type=int, default=4, help="pairs of each set to print")
    args = parser.parse_args(argv)
    if not os.path.isdir(os.path.join(args.data, "agnews")):
        print(f"No agnews/ in {os.path.abspath(args.data)}: point --data at the shared data folder (see its README).")
        return 2
    train_df, test_df = build_pairs(args.data, args.train_pairs, args.test_pairs, args.seed, with_topics=True)
    print(describe(train_df, test_df))
    for name, df in (("training", train_df), ("held-out", test_df)):
        print(f"\nfirst {args.show} {name} pairs:")
        for row in df.head(args.show).itertuples():
            print(f"  [{row.label}: {row.topic_a} / {row.topic_b}]")
            print(f"    a: {row.text_a[:110]}\n    b: {row.text_b[:110]}")
    result = tfidf_cosine(train_df, test_df)
    print(f"\nTF-IDF cosine (1-2 grams, sublinear tf, fitted on the training pairs' texts): held-out accuracy "
          f"{result['accuracy']:.4f} at threshold {result['threshold']:.4f} "
          f"(training accuracy {result['train_accuracy']:.4f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
