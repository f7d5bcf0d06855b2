"""Optional clean-up of raw texts before tokenizing: hashtags, @mentions, HTML line breaks.

Off by default. The settings are saved with the preprocessor, so prediction cleans exactly as
training did.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

_HTML_BREAK = re.compile(r"<\s*br\s*/?\s*>", re.IGNORECASE)
_MENTION = re.compile(r"(?<![\w@])@\w+")
_HASHTAG = re.compile(r"(?<![\w#])#(\w+)")

# The same three rules in RE2 syntax, for `tf.strings.regex_replace` in an exported graph. RE2
# has no lookbehind, so the character before "@"/"#" is matched and put back (`\1`), and its
# `\w`/`\s` are ASCII-only, so Python's Unicode classes are spelled out: `\w` is a letter, a
# number or "_" (str.isalnum), `\s` what str.isspace accepts. tests/data/test_cleaning.py
# checks that both spellings clean alike.
_RE2_WORD = r"[\pL\pN_]"
_RE2_SPACE = r"[\t\n\x{0B}\f\r\x{1C}-\x{1F}\x{85}\pZ]"
RE2_HTML_BREAK = rf"(?i)<{_RE2_SPACE}*br{_RE2_SPACE}*/?{_RE2_SPACE}*>"
RE2_MENTION = rf"(^|[^\pL\pN_@])@{_RE2_WORD}+"
RE2_HASHTAG = rf"(^|[^\pL\pN_#])#({_RE2_WORD}+)"


@dataclass(frozen=True)
class TextCleaner:
    """What to clean.

    Args:
        hashtags: bool. "#great" becomes "great".
        mentions: str or None. replace "@someone" with this string (e.g. "@user"); "" removes.
        html_breaks: bool. replace HTML line breaks (IMDB's "<br />") with a space.
    """

    hashtags: bool = False
    mentions: str | None = None
    html_breaks: bool = False

    def __post_init__(self):
        if not isinstance(self.hashtags, bool) or not isinstance(self.html_breaks, bool):
            raise TypeError(f"`hashtags` and `html_breaks` must be booleans. Received: {self!r}")
        if self.mentions is not None and not isinstance(self.mentions, str):
            raise TypeError(f"`mentions` must be a string or None. Received: mentions={self.mentions!r}")

    @classmethod
    def from_value(cls, value) -> "TextCleaner":
        """Accepts None (nothing cleaned), a dict of the fields, or a TextCleaner."""
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        if isinstance(value, dict):
            unknown = sorted(set(value) - {"hashtags", "mentions", "html_breaks"})
            if unknown:
                raise ValueError(
                    f"`clean` has unknown option(s) {unknown}; known: hashtags, mentions, html_breaks."
                )
            return cls(**value)
        raise TypeError(f"`clean` must be None, a dict or a TextCleaner. Received: {value!r}")

    @property
    def active(self) -> bool:
        return self.hashtags or self.mentions is not None or self.html_breaks

    def __call__(self, text: str) -> str:
        if self.html_breaks:
            text = _HTML_BREAK.sub(" ", text)
        if self.mentions is not None:
            text = _MENTION.sub(lambda _: self.mentions, text)  # literally, backslashes too
        if self.hashtags:
            text = _HASHTAG.sub(r"\1", text)
        return text

    def graph_rules(self) -> list:
        """The active rules as `(RE2 pattern, rewrite)` pairs, in the order `__call__` applies
        them, for `tf.strings.regex_replace` (an exported model cleans inside its graph)."""
        rules = []
        if self.html_breaks:
            rules.append((RE2_HTML_BREAK, " "))
        if self.mentions is not None:
            rules.append((RE2_MENTION, r"\1" + self.mentions.replace("\\", "\\\\")))
        if self.hashtags:
            rules.append((RE2_HASHTAG, r"\1\2"))
        return rules

    def get_config(self) -> dict:
        return asdict(self)
