"""The one text pipeline: each stage in TensorFlow ops, and `pad_batch`, which every path pads with."""

import numpy as np
import pytest
import tensorflow as tf

from helpers import TINY_VOCAB
from ktbert.data.pipeline import CHARS_PER_TOKEN, TextPipeline, pad_batch
from ktbert.data.preprocessor import TextPreprocessor


def ids(*words):
    return [TINY_VOCAB.index(w) for w in words]


def pipeline(maxlen=10, **kw) -> TextPipeline:
    return TextPreprocessor(TINY_VOCAB, maxlen=maxlen, **kw).pipeline


def strings(tensor) -> list:
    return [t.decode("utf-8") for t in tensor.numpy()]


def test_pad_batch_pads_to_the_longest_text_rounded_up_and_never_past_maxlen():
    values, lengths = tf.constant([2, 5, 3, 2, 6, 7, 8, 9, 10, 11, 3], tf.int32), tf.constant([3, 8], tf.int32)
    inputs = pad_batch(values, lengths, maxlen=64, pad_id=1)
    assert inputs["token_ids"].numpy().tolist() == [[2, 5, 3, 1, 1, 1, 1, 1], [2, 6, 7, 8, 9, 10, 11, 3]]
    assert inputs["padding_mask"].numpy().tolist() == [[1, 1, 1, 0, 0, 0, 0, 0], [1] * 8]
    assert inputs["token_ids"].dtype == inputs["padding_mask"].dtype == tf.int32
    assert pad_batch(values, lengths, maxlen=64, pad_id=0, multiple=16)["token_ids"].shape == (2, 16)
    assert pad_batch(values[:3], lengths[:1], maxlen=6, pad_id=0)["token_ids"].shape == (1, 6)  # 8 > maxlen
    assert pad_batch(values, lengths, maxlen=12, pad_id=0, multiple=12)["token_ids"].shape == (2, 12)


def test_the_stages_cap_clean_tokenize_truncate_and_pack():
    p = pipeline(maxlen=10, truncation="head+tail", clean={"hashtags": True})
    assert (p.start_id, p.end_id, p.pad_id) == tuple(ids("[CLS]", "[SEP]", "[PAD]"))
    assert strings(p.cleaned(tf.constant(["#good film"]))) == ["good film"]
    long = "a" * (2 * 3 * CHARS_PER_TOKEN) + "b"  # over twice the cap of 3 tokens
    assert strings(p.capped(tf.constant([long, "short"]), 3)) == ["a" * 120 + " " + "a" * 119 + "b", "short"]
    assert strings(pipeline(truncation="head").capped(tf.constant([long]), 3)) == ["a" * 120]
    words = "the film was good and the plot was great acting"
    bodies = p.bodies(tf.constant([words]), p.budget)
    assert bodies.to_list() == [ids(*words.split())]
    truncated = p.truncated(bodies)  # 8 ids: 2 from the head, 6 from the tail
    assert truncated.to_list() == [ids("the", "film", "and", "the", "plot", "was", "great", "acting")]
    assert p.packed(truncated).to_list() == [ids("[CLS]", "the", "film", "and", "the", "plot", "was", "great",
                                                 "acting", "[SEP]")]


def test_the_graph_path_gives_the_batches_preprocess_and_batching_give():
    preproc = TextPreprocessor(TINY_VOCAB, maxlen=16, truncation="head+tail", clean={"html_breaks": True})
    texts = ["the film was good<br />great", "bad", "good " * 40 + "awful", "Café ünïcödé ✓ 日本"]
    x = preproc.preprocess(texts)
    graph = tf.function(preproc.pipeline.inputs)(tf.constant(texts))
    batch = pad_batch(x.values, x.lengths, x.maxlen, x.pad_id)
    for key in ("token_ids", "padding_mask"):
        np.testing.assert_array_equal(graph[key].numpy(), batch[key].numpy())


@pytest.mark.parametrize("maxlen", [8, 9, 64])
def test_every_packed_text_fits_maxlen_with_its_special_tokens(maxlen):
    x = TextPreprocessor(TINY_VOCAB, maxlen=maxlen).preprocess(["good " * 100, "", "!"])
    assert x.lengths.tolist() == [maxlen, 2, 3]
    assert all(x[i][0] == ids("[CLS]")[0] and x[i][-1] == ids("[SEP]")[0] for i in range(3))


def test_batches_are_padded_with_the_tokenizers_padding_id_whatever_its_index():
    vocab = [w for w in TINY_VOCAB if w != "[PAD]"]
    vocab.insert(5, "[PAD]")  # as RoBERTa's <pad> is 1, not 0
    preproc = TextPreprocessor(vocab, maxlen=16)
    assert preproc.pipeline.pad_id == 5
    texts = ["the film was good and great", "bad"]
    x = preproc.preprocess(texts)
    assert x.pad_id == 5 and x.subset([1]).pad_id == 5
    from ktbert.data.batching import make_dataset

    [(inputs, _)] = list(make_dataset(x, np.array([0, 1]), batch_size=2, bucketing=False))
    ids, mask = inputs["token_ids"].numpy(), inputs["padding_mask"].numpy()
    assert ids.shape == (2, 16) and (ids[mask == 0] == 5).all() and (ids[mask == 1] != 5).all()
    graph = tf.function(preproc.pipeline.inputs)(tf.constant(texts))["token_ids"].numpy()
    assert graph.shape == (2, 8) and graph[1].tolist() == [vocab.index("[CLS]"), vocab.index("bad"),
                                                           vocab.index("[SEP]")] + [5] * 5
    assert x.padded(10)[0][1].tolist() == graph[1].tolist() + [5, 5]


def test_windows_read_a_head_and_tail_text_from_its_head_as_head_truncation_does():
    words = " ".join(["good"] * 30 + ["awful"] * 30)  # far longer than a window, not past the cap
    head_tail = TextPreprocessor(TINY_VOCAB, maxlen=10, truncation="head+tail").windows([words], stride=4)
    head = TextPreprocessor(TINY_VOCAB, maxlen=10).windows([words], stride=4)
    assert head_tail[0].values.tolist() == head[0].values.tolist()
    long = "good " * 20_000 + "awful"  # past the head's cap: windows stop at 64 from the start
    with pytest.warns(UserWarning, match="needs more than max_windows=64 windows"):
        windows, _ = TextPreprocessor(TINY_VOCAB, maxlen=10, truncation="head+tail").windows([long], stride=4)
    assert ids("awful")[0] not in windows.values.tolist() and len(windows) == 64


def test_a_batch_of_megabyte_texts_is_tokenized_in_calls_of_bounded_size(monkeypatch):
    from ktbert.data import chunks

    monkeypatch.setattr(chunks, "TOKENIZE_CHARS", 3_000)
    preproc = TextPreprocessor(TINY_VOCAB, maxlen=8)
    sizes = []
    traced = preproc._traced("packed", lambda pipeline: pipeline)
    monkeypatch.setitem(preproc._traced_functions, "packed", lambda t: sizes.append(len(t)) or traced(t))
    x = preproc.preprocess(["good " * 500, "bad", "fine", "good " * 700, "awful"])
    assert sizes == [3, 1, 1] and x.lengths.tolist() == [8, 3, 3, 8, 3]  # 2,500 + 3 + 4; 3,500; 5
