"""The tokenizer of each encoder family, from what a preprocessor keeps: its assets and settings.

A WordPiece family keeps its vocabulary (`vocab.txt`, one token a line) and casing; a byte-level
BPE family its vocabulary (`vocab.json`, token -> id) and merge rules (`merges.txt`); a
SentencePiece family its model (`sentencepiece.model`). These are the files a saved preprocessor
holds beside `preprocessor.json`, and the keras-hub tokenizer layer is built from them.
"""

from __future__ import annotations

import json
import os

from ktbert.checks import echo
from ktbert.model.encoder_files import is_unreadable_sentencepiece, unreadable_sentencepiece
from ktbert.model.families import BPE, SENTENCEPIECE, WORDPIECE, family_named

VOCAB_FILE = "vocab.txt"
BPE_VOCAB_FILE = "vocab.json"
MERGES_FILE = "merges.txt"
SENTENCEPIECE_FILE = "sentencepiece.model"
WORDPIECE_SPECIAL = ("[CLS]", "[SEP]", "[PAD]", "[UNK]")
MAX_ASSET_BYTES = 64 << 20  # far above any encoder's vocabulary or SentencePiece model


def asset_files(family: str) -> tuple:
    """The files a saved preprocessor of `family` holds beside its JSON config."""
    return {WORDPIECE: (VOCAB_FILE,), BPE: (BPE_VOCAB_FILE, MERGES_FILE),
            SENTENCEPIECE: (SENTENCEPIECE_FILE,)}[family_named(family).assets]


def check_assets(family: str, vocabulary, merges, proto) -> tuple:
    """`(vocabulary, merges, proto)` as `family`'s tokenizer takes them, or a ValueError or
    TypeError saying which is missing or wrong."""
    kind = family_named(family).assets
    if kind == WORDPIECE:
        if isinstance(vocabulary, (str, dict)) or not hasattr(vocabulary, "__iter__"):
            raise TypeError(f"`vocabulary` of a {family} encoder must be its WordPiece tokens in id order (a list). "
                            f"Received: {echo(vocabulary)}")
        vocabulary = [str(t) for t in vocabulary]
        for token in WORDPIECE_SPECIAL:
            if token not in vocabulary:
                raise ValueError(
                    f"`vocabulary` lacks the BERT special token {token}. Received a vocabulary "
                    f"of {len(vocabulary)} tokens starting {vocabulary[:5]}"
                )
        return vocabulary, None, None
    if kind == BPE:
        if not isinstance(vocabulary, dict) or not isinstance(merges, (list, tuple)):
            raise TypeError(f"a {family} encoder needs `vocabulary` (a dict of token -> id) and `merges` (a list of "
                            f"merge rules). Received: vocabulary={echo(vocabulary)}, merges={echo(merges)}")
        return {str(k): int(v) for k, v in vocabulary.items()}, [str(m) for m in merges], None
    if not isinstance(proto, (bytes, bytearray)) or not proto:
        raise TypeError(f"a {family} encoder needs `proto`, its SentencePiece model (bytes). Received: {echo(proto)}")
    return None, None, bytes(proto)


def make_tokenizer(family: str, vocabulary, merges, proto, lowercase: bool, strip_accents: bool):
    """A new keras-hub tokenizer layer of `family` over these assets."""
    tokenizer_class = family_named(family).tokenizer_class
    kind = family_named(family).assets
    if kind == WORDPIECE:
        return tokenizer_class(vocabulary=vocabulary, lowercase=lowercase, strip_accents=strip_accents)
    if kind == BPE:
        return tokenizer_class(vocabulary=vocabulary, merges=merges)
    try:
        return tokenizer_class(proto=proto)
    except Exception as err:  # TensorFlow Text's op error on a model it cannot parse
        if not is_unreadable_sentencepiece(family_named(family), err):
            raise
        raise unreadable_sentencepiece("`proto`", len(proto), "Pass the bytes of the encoder's SentencePiece "
                                       "model file.") from err


def check_sentencepiece(path: str, family: str, proto: bytes) -> None:
    """Refuses, naming `path`, a SentencePiece model TensorFlow Text cannot parse."""
    import tensorflow_text

    try:
        tensorflow_text.SentencepieceTokenizer(model=proto)
    except Exception as err:
        if not is_unreadable_sentencepiece(family_named(family), err):
            raise
        raise unreadable_sentencepiece(repr(path), len(proto), "Save the preprocessor again.") from err


def write_assets(folder: str, family: str, vocabulary, merges, proto) -> None:
    """Writes `family`'s asset files into `folder`."""
    kind = family_named(family).assets
    if kind == WORDPIECE:
        with open(os.path.join(folder, VOCAB_FILE), "w", encoding="utf-8") as f:
            f.write("\n".join(vocabulary) + "\n")
    elif kind == BPE:
        with open(os.path.join(folder, BPE_VOCAB_FILE), "w", encoding="utf-8") as f:
            json.dump(vocabulary, f, ensure_ascii=False)
        with open(os.path.join(folder, MERGES_FILE), "w", encoding="utf-8") as f:
            f.write("\n".join(merges) + "\n")
    else:
        with open(os.path.join(folder, SENTENCEPIECE_FILE), "wb") as f:
            f.write(proto)


def read_assets(folder: str, family: str) -> dict:
    """`family`'s assets read back from `folder`: `vocabulary`, `merges`, `proto`; refuses links,
    files over `MAX_ASSET_BYTES`, a vocabulary that is not a JSON object and a SentencePiece
    model that does not parse."""
    for name in asset_files(family):
        path = os.path.join(folder, name)
        if os.path.islink(path):
            raise ValueError(f"{path!r} is a symbolic link: a saved preprocessor's files are its folder's own. "
                             "Save the preprocessor again.")
        if os.path.getsize(path) > MAX_ASSET_BYTES:
            raise ValueError(f"{path!r} holds {os.path.getsize(path):,} bytes, more than any tokenizer's "
                             f"{MAX_ASSET_BYTES:,}. Save the preprocessor again.")
    kind = family_named(family).assets
    if kind == WORDPIECE:
        with open(os.path.join(folder, VOCAB_FILE), encoding="utf-8") as f:
            vocabulary = f.read().split("\n")
        if vocabulary and vocabulary[-1] == "":
            vocabulary.pop()
        return {"vocabulary": vocabulary, "merges": None, "proto": None}
    if kind == BPE:
        with open(os.path.join(folder, BPE_VOCAB_FILE), encoding="utf-8") as f:
            vocabulary = json.load(f)
        if not isinstance(vocabulary, dict):
            raise ValueError(f"{os.path.join(folder, BPE_VOCAB_FILE)!r} must hold a JSON object of token -> id. "
                             "Save the preprocessor again.")
        with open(os.path.join(folder, MERGES_FILE), encoding="utf-8") as f:
            merges = [line for line in f.read().split("\n") if line]
        return {"vocabulary": vocabulary, "merges": merges, "proto": None}
    path = os.path.join(folder, SENTENCEPIECE_FILE)
    with open(path, "rb") as f:
        proto = f.read()
    check_sentencepiece(path, family, proto)
    return {"vocabulary": None, "merges": None, "proto": proto}


def vocabulary_size(tokenizer) -> int:
    """The number of token ids `tokenizer` gives (the size of the encoder's embedding table)."""
    return int(tokenizer.vocabulary_size())


def decode(tokenizer, family: str, vocabulary, ids) -> str:
    """The ids joined back into readable text, special tokens left out."""
    special = {tokenizer.start_token_id, tokenizer.end_token_id, tokenizer.pad_token_id}
    ids = [int(i) for i in ids if int(i) not in special]
    if family_named(family).assets == WORDPIECE:  # pieces merged as Hugging Face's decode merges them
        words = []
        for i in ids:
            token = vocabulary[i]
            if token.startswith("##") and words:
                words[-1] += token[2:]
            else:
                words.append(token)
        return " ".join(words)
    text = tokenizer.detokenize([ids])
    text = text[0] if isinstance(text, (list, tuple)) else text.numpy()[0]
    return (text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)).strip()
