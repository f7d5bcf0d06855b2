"""The tokenizer files of an encoder folder, named when they cannot be used: missing, of another
family than the one its config.json names, or a SentencePiece model that does not parse.

keras-hub reads a preset folder's tokenizer from `assets/tokenizer/`, and a Hugging Face
checkpoint's from the files its converter names; these lists hold those names only to say
which file is wrong, and what the folder holds instead.
"""

from __future__ import annotations

import os
import re

from ktbert.model.families import BPE, SENTENCEPIECE, WORDPIECE, EncoderFamily

# keras-hub's preset assets first, then the Hugging Face files its converters read.
TOKENIZER_FILES = {
    WORDPIECE: ("assets/tokenizer/vocabulary.txt", "vocab.txt"),
    BPE: ("assets/tokenizer/vocabulary.json", "assets/tokenizer/merges.txt", "vocab.json", "merges.txt"),
    SENTENCEPIECE: ("assets/tokenizer/vocabulary.spm", "sentencepiece.bpe.model", "spiece.model"),
}
KINDS = {WORDPIECE: "a WordPiece vocabulary", BPE: "a byte-level BPE vocabulary and its merges",
         SENTENCEPIECE: "a SentencePiece model"}
_WHOLE = "bring the folder again, whole: config.json, the weights and the tokenizer files of one checkpoint."


def present(folder: str, kind: str) -> list:
    """The tokenizer files of `kind` ("wordpiece", "bpe", "sentencepiece") that `folder` holds."""
    return [name for name in TOKENIZER_FILES[kind] if os.path.isfile(os.path.join(folder, name))]


def missing_tokenizer(folder: str, family: EncoderFamily, err: Exception) -> FileNotFoundError:
    """The refusal of a folder whose tokenizer file keras-hub did not find (`err`), naming the
    file and, when there are some, the tokenizer files of another family that it holds."""
    quoted = re.search(r"`([^`]+)`", str(err))  # keras-hub: "`vocab.txt` doesn't exist in preset directory ..."
    missing = quoted.group(1) if quoted else "a tokenizer file"
    others = {kind: present(folder, kind) for kind in TOKENIZER_FILES if kind != family.assets}
    found = "; ".join(f"{', '.join(names)} ({KINDS[kind]})" for kind, names in others.items() if names)
    if found:
        return FileNotFoundError(
            f"{folder!r}: its config.json names an encoder of the {family.name} family, whose tokenizer is read from "
            f"{KINDS[family.assets]}, but {missing} is missing and the folder holds the tokenizer files of another "
            f"family: {found}. Its config.json and tokenizer come from different checkpoints: {_WHOLE}")
    return FileNotFoundError(f"{folder!r}: its config.json names an encoder of the {family.name} family, but its "
                             f"tokenizer file {missing} is missing: {_WHOLE}")


def is_unreadable_sentencepiece(family: EncoderFamily, err: Exception) -> bool:
    """Whether `err`, raised while `family`'s tokenizer was built, is TensorFlow Text's refusal of
    its SentencePiece model (TensorFlow's op errors are the only ones it raises there)."""
    if family.assets != SENTENCEPIECE:
        return False
    import tensorflow as tf

    return isinstance(err, tf.errors.OpError)


def unreadable_sentencepiece(what: str, size: int | None, fix: str) -> ValueError:
    """The refusal of a SentencePiece model that does not parse; `what` names the file or
    argument, `fix` says what to do."""
    held = "" if size is None else f" ({size:,} bytes)"
    return ValueError(f"{what}{held} is not a SentencePiece model TensorFlow Text can read: it is truncated or "
                      f"damaged, or another kind of file. {fix}")


def sentencepiece_error(folder: str) -> ValueError:
    """`unreadable_sentencepiece` for the SentencePiece file an encoder folder holds."""
    fix = "Bring the encoder's folder again, its SentencePiece model whole."
    names = present(folder, SENTENCEPIECE)
    if not names:
        return unreadable_sentencepiece(f"{folder!r}'s SentencePiece model", None, fix)
    path = os.path.join(folder, names[0])
    return unreadable_sentencepiece(repr(path), os.path.getsize(path), fix)
