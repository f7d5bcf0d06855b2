"""A WordPiece preprocessor's tokenizer in Hugging Face `tokenizer.json` form, for the ONNX export.

keras-hub's `WordPieceTokenizer` (the one ktbert's text pipeline runs) reads a text in this order:
accents stripped from the whole text (NFD, then every mark of category Mn removed); the text
split on ASCII whitespace and on control and format characters (dropped) and around punctuation
and CJK ideographs (kept, each its own word); each word case-folded (ICU's NFKC_Casefold);
each word cut into WordPiece tokens, a word of more than `MAX_BYTES_PER_WORD` UTF-8 bytes read
as the unknown token.

The `tokenizer.json` written here does the first two steps with Hugging Face `tokenizers`'
own normalizers and pre-tokenizers (the same regular expressions keras-hub splits with) and
holds the WordPiece vocabulary. `tokenizers` lowercases before splitting and knows no
NFKC_Casefold, so a program that must give ktbert's ids exactly case-folds each word itself and
asks the WordPiece model for its pieces; `word_ids` is that recipe, and docs/serving.md's
example, which needs neither TensorFlow nor ktbert, spells the same steps out.
"""

from __future__ import annotations

import unicodedata

# keras-hub's split patterns (keras_hub/src/tokenizers/word_piece_tokenizer.py), in the regular
# expression syntax both RE2 and `tokenizers`' Oniguruma read. RE2's `\s` is ASCII whitespace.
DROPPED = r"[ \t\n\r\f]|\p{Cc}|\p{Cf}"
KEPT = (r"[!-/]|[:-@]|[\[-`]|[{-~]|[\p{P}]|[\x{4E00}-\x{9FFF}]|[\x{3400}-\x{4DBF}]|[\x{20000}-\x{2A6DF}]"
        r"|[\x{2A700}-\x{2B73F}]|[\x{2B740}-\x{2B81F}]|[\x{2B820}-\x{2CEAF}]|[\x{F900}-\x{FAFF}]"
        r"|[\x{2F800}-\x{2FA1F}]")
MAX_BYTES_PER_WORD = 100  # tensorflow_text's FastWordpieceTokenizer: longer words are unknown
SUFFIX = "##"
UNKNOWN = "[UNK]"


def wordpiece_tokenizer(vocabulary, lowercase: bool, strip_accents: bool):
    """A `tokenizers.Tokenizer` over a WordPiece `vocabulary` (tokens in id order) that splits
    as keras-hub's tokenizer does and adds `[CLS]`/`[SEP]` as ktbert packs single texts and pairs.

    Args:
        vocabulary: list of str. the WordPiece tokens, in id order.
        lowercase: bool. the preprocessor's casing (approximated here by `Lowercase`; see the
            module's note).
        strip_accents: bool. the preprocessor's accent stripping.
    """
    from tokenizers import Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import WordPiece

    ids = {token: i for i, token in enumerate(vocabulary)}
    tokenizer = Tokenizer(WordPiece(ids, unk_token=UNKNOWN, continuing_subword_prefix=SUFFIX,
                                    max_input_chars_per_word=MAX_BYTES_PER_WORD))
    steps = [normalizers.NFD(), normalizers.Replace(Regex(r"\p{Mn}"), "")] if strip_accents else []
    steps += [normalizers.Lowercase()] if lowercase else []
    tokenizer.normalizer = normalizers.Sequence(steps)
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(DROPPED), behavior="removed"),
        pre_tokenizers.Split(Regex(KEPT), behavior="isolated"),
    ])
    cls, sep = ("[CLS]", ids["[CLS]"]), ("[SEP]", ids["[SEP]"])
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[cls, sep])
    tokenizer.decoder = decoders.WordPiece(prefix=SUFFIX)
    return tokenizer


def nfkc_casefold(word: str) -> str:
    """Python's closest match to ICU's NFKC_Casefold, which keras-hub lowercases words with."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", word).casefold())


def word_ids(tokenizer, text: str, lowercase: bool) -> list:
    """The token ids keras-hub's WordPiece tokenizer gives `text` (no special tokens), from a
    tokenizer `wordpiece_tokenizer` built."""
    unknown = tokenizer.token_to_id(UNKNOWN)
    words = [w for w, _ in tokenizer.pre_tokenizer.pre_tokenize_str(tokenizer.normalizer.normalize_str(text))]
    ids = []
    for word in words:
        word = nfkc_casefold(word) if lowercase else word
        fits = len(word.encode("utf-8")) <= MAX_BYTES_PER_WORD
        ids += [t.id for t in tokenizer.model.tokenize(word)] if fits else [unknown]
    return ids
