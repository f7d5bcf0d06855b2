"""ktrain's `text` namespace: `from ktbert import text` then `text.texts_from_df(...)`."""

from ktbert.data.loaders import texts_from_array, texts_from_csv, texts_from_df, texts_from_folder
from ktbert.model.classifier import text_classifier

__all__ = ["texts_from_array", "texts_from_csv", "texts_from_df", "texts_from_folder", "text_classifier"]
