"""Optional clean-up of raw texts before tokenizing: hashtags, @mentions, HTML line breaks.

Off by default. The settings are saved with the preprocessor, and the rules are written once,
in RE2 syntax, for `tf.strings.regex_replace`: the text pipeline applies them in training, in
prediction and inside an exported graph alike.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ktbert.checks import check_texts, echo

# RE2 has no lookbehind, so the character before "@"/"#" is matched and put back (`\1`). The
# rules are written once, over two character classes: a word character is a letter, a number or
# "_" (as Python's str.isalnum), a space what str.isspace accepts. RE2's `\w` and `\s` are
# ASCII-only, so its classes are spelled out; Python's `re` reads them as `\w` and `\s`, and the
# ONNX export hands the Python rules to programs that clean without TensorFlow.
_CLASSES = {"re2": (r"\pL\pN_", r"\t\n\x{0B}\f\r\x{1C}-\x{1F}\x{85}\pZ"), "python": (r"\w", r"\s")}


def _patterns(dialect: str) -> tuple:
    """`(html break, mention, hashtag)` patterns in `dialect` ("re2" or "python")."""
    word, space = _CLASSES[dialect]
    return (rf"(?i)<[{space}]*br[{space}]*/?[{space}]*>", rf"(^|[^{word}@])@[{word}]+",
            rf"(^|[^{word}#])#([{word}]+)")


HTML_BREAK, MENTION, HASHTAG = _patterns("re2")
OPTIONS = ("hashtags", "mentions", "html_breaks")


@dataclass(frozen=True)
class TextCleaner:
    """What to clean.

    Args:
        hashtags: bool. "#great" becomes "great".
        mentions: str or None. replace "@someone" with this string (e.g. "@user"); "" removes.
        html_breaks: bool. replace HTML line breaks (IMDB's "<br />") with a space.

    Examples:
    ```python
    ktbert.TextCleaner(hashtags=True, mentions="@user")("#great show @bob")  # 'great show @user'
    ```
    """

    hashtags: bool = False
    mentions: str | None = None
    html_breaks: bool = False

    def __post_init__(self):
        if not isinstance(self.hashtags, bool) or not isinstance(self.html_breaks, bool):
            raise TypeError(f"`hashtags` and `html_breaks` must be booleans. Received: {self!r}")
        if self.mentions is not None and not isinstance(self.mentions, str):
            raise TypeError(f"`mentions` must be a string or None. Received: mentions={echo(self.mentions)}")

    @classmethod
    def from_value(cls, value) -> "TextCleaner":
        """Accepts None (nothing cleaned), a dict of the fields, or a TextCleaner."""
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        if isinstance(value, dict):
            unknown = sorted(set(value) - set(OPTIONS))
            if unknown:
                raise ValueError(f"`clean` has unknown option(s) {unknown}; known: {', '.join(OPTIONS)}.")
            return cls(**value)
        raise TypeError(f"`clean` must be None, a dict or a TextCleaner. Received: {echo(value)}")

    @property
    def active(self) -> bool:
        return self.hashtags or self.mentions is not None or self.html_breaks

    def rules(self, dialect: str = "re2") -> list:
        """The active rules as `(pattern, rewrite)` pairs, in the order they apply: RE2 patterns
        for `tf.strings.regex_replace`, or with `dialect="python"` the same rules for `re.sub`."""
        html_break, mention, hashtag = _patterns(dialect)
        rules = []
        if self.html_breaks:
            rules.append((html_break, " "))
        if self.mentions is not None:  # the replacement is literal, backslashes too
            rules.append((mention, r"\1" + self.mentions.replace("\\", "\\\\")))
        if self.hashtags:
            rules.append((hashtag, r"\1\2"))
        return rules

    def python_rules(self) -> list:
        """`rules` for Python's `re.sub` (the ONNX export writes them for TensorFlow-free readers)."""
        return self.rules("python")

    graph_rules = rules  # the name of `rules` in ktbert 0.1.0

    def apply(self, texts):
        """A string tensor with the rules applied in order (TensorFlow ops: the text pipeline,
        and so training, prediction and an exported graph, clean with this)."""
        import tensorflow as tf

        for pattern, rewrite in self.rules():
            texts = tf.strings.regex_replace(texts, pattern, rewrite)
        return texts

    def __call__(self, text: str) -> str:
        """`text` cleaned as the text pipeline cleans it (lone surrogates read as U+FFFD)."""
        text = check_texts([text], "text")[0]
        return self.apply(text).numpy().decode("utf-8") if self.active else text

    def get_config(self) -> dict:
        return asdict(self)
