"""ktrain's `text` namespace: `from ktbert import text` then `text.texts_from_df(...)`."""

from ktbert._lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    "Transformer": "ktbert.recipe.transformer:Transformer",
    "text_classifier": "ktbert.model.classifier:text_classifier",
    "texts_from_array": "ktbert.data.loaders:texts_from_array",
    "texts_from_csv": "ktbert.data.loaders:texts_from_csv",
    "texts_from_df": "ktbert.data.loaders:texts_from_df",
    "texts_from_folder": "ktbert.data.loaders:texts_from_folder",
})
