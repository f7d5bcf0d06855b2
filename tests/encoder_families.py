"""Tiny random encoders of every keras-hub family ktbert supports, saved as keras-hub preset
folders, with tokenizer assets written here: a WordPiece list, a byte-level BPE vocabulary with
merges, or a SentencePiece model trained on a few sentences in a fraction of a second.

No pretrained weights of these families can be installed here, so these models stand in for
them: each goes through the same `from_preset` path as a real checkpoint.
"""

import io
import os

from helpers import TINY_VOCAB, WORDS

FAMILY_NAMES = ("bert", "distil_bert", "roberta", "xlm_roberta", "deberta_v3", "albert", "electra")
SIZES = dict(num_layers=2, num_heads=2, hidden_dim=16, intermediate_dim=32, max_sequence_length=64)
CORPUS = [f"the {a} was {b} and {c}" for a in ("film", "movie", "plot", "acting")
          for b in WORDS[:10] for c in WORDS[:10]]
# How each family's real SentencePiece model numbers its special pieces.
SENTENCEPIECE_SPECIALS = {
    "xlm_roberta": dict(unk_id=0, bos_id=1, eos_id=2, pad_id=-1),
    "albert": dict(pad_id=0, unk_id=1, bos_id=-1, eos_id=-1, user_defined_symbols=["[CLS]", "[SEP]", "[MASK]"]),
    "deberta_v3": dict(pad_id=0, pad_piece="[PAD]", bos_id=1, bos_piece="[CLS]", eos_id=2, eos_piece="[SEP]",
                       unk_id=3, unk_piece="[UNK]"),
}


def bytes_to_unicode() -> dict:
    """GPT-2's byte-level alphabet: every byte as one printable character."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    chars, extra = list(printable), 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return dict(zip(printable, map(chr, chars)))


def bpe_assets() -> tuple:
    """A byte-level BPE vocabulary (every byte, and each toy word with a leading space merged
    whole) and its merge rules."""
    vocabulary = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    for char in bytes_to_unicode().values():
        vocabulary.setdefault(char, len(vocabulary))
    merges = []
    for word in WORDS:
        piece = "Ġ"
        for char in word:
            merges.append(f"{piece} {char}")
            piece += char
            vocabulary.setdefault(piece, len(vocabulary))
    vocabulary["<mask>"] = len(vocabulary)
    return vocabulary, list(dict.fromkeys(merges))


def sentencepiece_proto(family: str) -> bytes:
    """A SentencePiece model of a few dozen pieces, numbered as `family`'s real model numbers them."""
    import sentencepiece

    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(CORPUS), model_writer=model, vocab_size=60, model_type="word",
        character_coverage=1.0, hard_vocab_limit=False, minloglevel=2, **SENTENCEPIECE_SPECIALS[family])
    return model.getvalue()


def family_tokenizer(family: str):
    import keras_hub

    if family in ("bert", "distil_bert", "electra"):
        name = {"bert": "BertTokenizer", "distil_bert": "DistilBertTokenizer", "electra": "ElectraTokenizer"}[family]
        return getattr(keras_hub.models, name)(vocabulary=TINY_VOCAB, lowercase=True)
    if family == "roberta":
        vocabulary, merges = bpe_assets()
        return keras_hub.models.RobertaTokenizer(vocabulary=vocabulary, merges=merges)
    name = {"xlm_roberta": "XLMRobertaTokenizer", "deberta_v3": "DebertaV3Tokenizer", "albert": "AlbertTokenizer"}
    return getattr(keras_hub.models, name[family])(proto=sentencepiece_proto(family))


def family_backbone(family: str, vocabulary_size: int):
    import keras
    import keras_hub

    keras.utils.set_random_seed(0)
    if family == "electra":
        return keras_hub.models.ElectraBackbone(vocab_size=vocabulary_size, embedding_dim=8, **SIZES)
    if family == "albert":
        return keras_hub.models.AlbertBackbone(vocabulary_size=vocabulary_size, embedding_dim=8, **SIZES)
    classes = {"bert": "BertBackbone", "distil_bert": "DistilBertBackbone", "roberta": "RobertaBackbone",
               "xlm_roberta": "XLMRobertaBackbone", "deberta_v3": "DebertaV3Backbone"}
    extra = {"bucket_size": 8} if family == "deberta_v3" else {}
    return getattr(keras_hub.models, classes[family])(vocabulary_size=vocabulary_size, **SIZES, **extra)


def make_family_encoder(family: str, folder) -> str:
    """Writes a tiny random encoder of `family` and its tokenizer as a keras-hub preset folder."""
    tokenizer = family_tokenizer(family)
    backbone = family_backbone(family, tokenizer.vocabulary_size())
    os.makedirs(folder, exist_ok=True)
    backbone.save_to_preset(str(folder))
    tokenizer.save_to_preset(str(folder))
    return str(folder)
