"""Default values that several rooms share, named once: the same default everywhere it applies."""

MAXLEN = 128  # tokens per text, [CLS] and [SEP] included
BATCH_SIZE = 32  # texts per step wherever nothing else is said: evaluation, prediction, get_learner
TRAIN_BATCH_SIZE = 16  # texts per training step in the recipe and the command line (BERT's recipe)
VAL_PCT = 0.1  # share of the training rows held out when no validation data is given
