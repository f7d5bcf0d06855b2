"""Text pairs: packed as each family's own keras-hub preprocessor packs them, truncated round
robin, with segment ids where the family has them; loaders, checks and errors."""

import re

import numpy as np
import pandas as pd
import pytest

import ktbert
from encoder_families import FAMILY_NAMES, make_family_encoder
from helpers import sentiment_frame

PAIRS = [("the film was good", "bad plot"),
         ("good " * 30, "awful acting and a poor plot"),  # the longer text gives up its end first
         ("a", "great " * 40),
         ("Café crème 😀", ""),
         ("love it " * 20, "hate it " * 20)]  # a tie: round robin takes from the first text first
PREPROCESSORS = {"bert": "BertTextClassifierPreprocessor", "distil_bert": "DistilBertTextClassifierPreprocessor",
                 "roberta": "RobertaTextClassifierPreprocessor", "xlm_roberta": "XLMRobertaTextClassifierPreprocessor",
                 "deberta_v3": "DebertaV3TextClassifierPreprocessor", "albert": "AlbertTextClassifierPreprocessor"}
MAXLEN = 24


@pytest.fixture(scope="module")
def pair_preprocs(tmp_path_factory):
    root = tmp_path_factory.mktemp("pair_families")
    df = sentiment_frame(8)
    frame = pd.DataFrame({"a": df.text, "b": df.text[::-1].values, "label": df.label})
    preprocs = {}
    for family in FAMILY_NAMES:
        encoder = make_family_encoder(family, root / family)
        _, _, preprocs[family] = ktbert.texts_from_df(frame, ["a", "b"], "label", val_df=frame, maxlen=MAXLEN,
                                                      encoder=encoder, verbose=0)
    return preprocs


def keras_hub_packing(preproc):
    """The family's own keras-hub text-classifier preprocessor (ELECTRA has none: keras-hub's
    `MultiSegmentPacker` with BERT's convention), over the same tokenizer."""
    import keras_hub

    tokenizer = preproc.pipeline.tokenizer
    if preproc.family == "electra":
        packer = keras_hub.layers.MultiSegmentPacker(
            sequence_length=MAXLEN, start_value=tokenizer.start_token_id, end_value=tokenizer.end_token_id,
            pad_value=tokenizer.pad_token_id, truncate="round_robin")

        def pack(a, b):
            token_ids, segment_ids = packer((tokenizer(a), tokenizer(b)))
            return {"token_ids": token_ids, "segment_ids": segment_ids,
                    "padding_mask": token_ids != tokenizer.pad_token_id}
        return pack
    layer = getattr(keras_hub.models, PREPROCESSORS[preproc.family])(tokenizer, sequence_length=MAXLEN)
    return lambda a, b: layer(x=(a, b))


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_pairs_are_packed_as_the_familys_keras_hub_preprocessor_packs_them(family, pair_preprocs):
    import tensorflow as tf

    preproc = pair_preprocs[family]
    assert preproc.pairs
    ours = preproc.preprocess(PAIRS).padded_inputs()
    theirs = keras_hub_packing(preproc)(tf.constant([a for a, _ in PAIRS]), tf.constant([b for _, b in PAIRS]))
    expected_ids = np.asarray(theirs["token_ids"])
    mask = np.asarray(theirs["padding_mask"]).astype(bool)
    np.testing.assert_array_equal(ours["token_ids"], expected_ids)
    np.testing.assert_array_equal(ours["padding_mask"].astype(bool), mask)
    if "segment_ids" in theirs and family in ("bert", "albert", "electra"):
        np.testing.assert_array_equal(ours["segment_ids"], np.asarray(theirs["segment_ids"]))
    else:  # families without a segment embedding tell the texts apart by their separators alone
        assert "segment_ids" not in ours


def test_bert_pairs_read_cls_a_sep_b_sep_with_segments(tiny_encoder):
    trn, _, preproc = ktbert.texts_from_array([("good film", "bad plot"), ("bad", "good")], ["pos", "neg"],
                                              x_test=[("good", "good")], y_test=["pos"], maxlen=16,
                                              encoder=tiny_encoder, verbose=0)
    inputs = trn.x.padded_inputs(8)
    vocabulary = preproc.vocabulary
    assert [vocabulary[i] for i in inputs["token_ids"][0]] == [
        "[CLS]", "good", "film", "[SEP]", "bad", "plot", "[SEP]", "[PAD]"]
    assert inputs["segment_ids"][0].tolist() == [0, 0, 0, 0, 1, 1, 1, 0]
    assert trn.x.texts == [("good film", "bad plot"), ("bad", "good")]


def test_round_robin_takes_from_the_longer_text_first(tiny_encoder):
    _, _, preproc = ktbert.texts_from_array([("good", "bad"), ("bad", "good")], ["pos", "neg"], maxlen=9,
                                            x_test=[("good", "bad")], y_test=["pos"], encoder=tiny_encoder, verbose=0)
    x = preproc.preprocess([("good " * 10, "bad bad"), ("good good good", "bad " * 10), ("good " * 10, "bad " * 10)])
    words = [[preproc.vocabulary[i] for i in x[k]] for k in range(3)]
    assert words[0] == ["[CLS]", "good", "good", "good", "good", "[SEP]", "bad", "bad", "[SEP]"]
    assert words[1] == ["[CLS]", "good", "good", "good", "[SEP]", "bad", "bad", "bad", "[SEP]"]
    assert words[2] == ["[CLS]", "good", "good", "good", "[SEP]", "bad", "bad", "bad", "[SEP]"]


def test_pairs_and_single_texts_are_not_mixed_up(tiny_encoder):
    df = sentiment_frame(8)
    frame = pd.DataFrame({"q": df.text, "a": df.text, "label": df.label})
    _, _, pairs = ktbert.texts_from_df(frame, ["q", "a"], "label", val_df=frame, maxlen=16, encoder=tiny_encoder,
                                       verbose=0)
    _, _, single = ktbert.texts_from_df(frame, "q", "label", val_df=frame, maxlen=16, encoder=tiny_encoder,
                                        verbose=0)
    with pytest.raises(ValueError, match=re.escape("This model classifies pairs of texts: pass a list of "
                                                   "(text_a, text_b) pairs")):
        pairs.preprocess(["a single text"])
    with pytest.raises(ValueError, match=re.escape("This model classifies single texts, but the input holds "
                                                   "(text_a, text_b) pairs.")):
        single.preprocess([("a", "b")])
    with pytest.raises(ValueError, match=re.escape("Sliding windows read single long texts")):
        pairs.windows([("a", "b")])
    with pytest.raises(TypeError, match=re.escape(
            "`pairs` must hold (text_a, text_b) pairs; position 1 holds ('a', 'b', 'c')")):
        pairs.preprocess([("a", "b"), ("a", "b", "c")])
    with pytest.raises(ValueError, match=re.escape("`pairs[i][1]` has 1 missing value(s) (None or NaN) at "
                                                   "position(s) [0]")):
        pairs.preprocess([("a", None)])
    with pytest.raises(ValueError, match=re.escape("`text_column` must name one column of texts, or two for "
                                                   "text pairs. Received: text_column=['q', 'a', 'label']")):
        ktbert.texts_from_df(frame, ["q", "a", "label"], "label", encoder=tiny_encoder, verbose=0)
    with pytest.raises(ValueError, match=re.escape("`text_column` 'nope' is not a column of train_df.")):
        ktbert.texts_from_df(frame, ["q", "nope"], "label", encoder=tiny_encoder, verbose=0)
