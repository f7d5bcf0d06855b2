"""ktbert: fine-tune BERT text classifiers on Keras 3 in a few lines, the ktrain way.

Examples:
```python
import ktbert
trn, val, preproc = ktbert.texts_from_df(df, "Reviews", label_columns="Sentiment", maxlen=128)
model = ktbert.text_classifier("bert", trn, preproc)
learner = ktbert.get_learner(model, train_data=trn, val_data=val, batch_size=16)
learner.fit_onecycle(5e-5, 1)
ktbert.get_predictor(learner.model, preproc).save("sentiment")
```
"""

__version__ = "0.1.0"

from ktbert.evaluate.baselines import compare
from ktbert.data.cleaning import TextCleaner
from ktbert.data.texts import TextData, TokenizedTexts
from ktbert.evaluate.explain import Explanation
from ktbert.evaluate.interpretation import Interpretation
from ktbert.train.learner import Learner, get_learner
from ktbert.data.loaders import texts_from_array, texts_from_csv, texts_from_df, texts_from_folder
from ktbert.model.classifier import TextClassifier, text_classifier
from ktbert.serve.predictor import Predictor, get_predictor, load_predictor
from ktbert.data.preprocessor import TextPreprocessor
from ktbert.serve.saving import SaveFormatError
from ktbert import text  # noqa: E402  (ktrain's `from ktrain import text`)

__all__ = [
    "Explanation",
    "Interpretation",
    "Learner",
    "Predictor",
    "SaveFormatError",
    "TextClassifier",
    "TextCleaner",
    "TextData",
    "TextPreprocessor",
    "TokenizedTexts",
    "compare",
    "get_learner",
    "get_predictor",
    "load_predictor",
    "text",
    "text_classifier",
    "texts_from_array",
    "texts_from_csv",
    "texts_from_df",
    "texts_from_folder",
]
