"""How a `TextPreprocessor` is saved and read: `preprocessor.json` (its settings, checked against
the keys its constructor takes) and its tokenizer's asset files. JSON and plain files only."""

from __future__ import annotations

import inspect
import json
import os

from ktbert.data.tokenizers import asset_files, read_assets, write_assets
from ktbert.model.families import DEFAULT_FAMILY, family_named

CONFIG_FILE = "preprocessor.json"


class PreprocessorFiles:
    """`save`, `load` and the file lists of `TextPreprocessor` (mixed into it)."""

    def files(self) -> tuple:
        """The files `save` writes."""
        return (CONFIG_FILE,) + asset_files(self.family)

    def save(self, folder: str) -> None:
        """Writes `preprocessor.json` and the tokenizer's assets (`vocab.txt` for WordPiece
        families) into `folder`."""
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, CONFIG_FILE), "w", encoding="utf-8") as f:
            json.dump(self.get_config(), f, indent=2)
        write_assets(folder, self.family, self.vocabulary, self.merges, self.proto)

    @classmethod
    def saved_files(cls, folder: str) -> tuple:
        """The files a preprocessor saved in `folder` is read from, by the family its config names."""
        return (CONFIG_FILE,) + asset_files(cls._read_config(folder).get("family", DEFAULT_FAMILY))

    @classmethod
    def load(cls, folder: str) -> "TextPreprocessor":
        """Reads a preprocessor written by `save`; refuses links and keys `__init__` does not take."""
        config = cls._read_config(folder)
        family = family_named(config.get("family", DEFAULT_FAMILY)).name  # saves before 0.2 are all BERT
        return cls.from_config(config, **read_assets(folder, family))

    @classmethod
    def _read_config(cls, folder: str) -> dict:
        config_path = os.path.join(folder, CONFIG_FILE)
        if os.path.islink(config_path):
            raise ValueError(f"{config_path!r} is a symbolic link: a saved preprocessor's files are its "
                             "folder's own. Save the preprocessor again.")
        try:
            with open(config_path, encoding="utf-8") as f:
                config = json.load(f)
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
            raise ValueError(f"{config_path!r} is not valid JSON ({type(err).__name__}). "
                             "Save the preprocessor again.") from err
        assets = {"self", "vocabulary", "merges", "proto", "max_sequence_length"}
        allowed = set(inspect.signature(cls.__init__).parameters) - assets
        if not isinstance(config, dict) or not set(config) <= allowed:
            received = sorted(config) if isinstance(config, dict) else type(config).__name__
            raise ValueError(f"{config_path!r} is not a preprocessor config: it must hold some of "
                             f"{sorted(allowed)}. Received: {received}. Save the preprocessor again.")
        return config
