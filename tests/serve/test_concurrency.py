"""Concurrency: one loaded predictor answers many threads as it answers one."""

import threading

import numpy as np

import ktbert

WORDS = ["the film was", "wonderful", "great", "awful", "plot", "acting", "poor", "boring", "love", "hate"]


def texts(i):
    """Thread `i`'s input: 1 to 9 texts of different lengths (so the bucketed batches differ)."""
    rng = np.random.default_rng(i)
    return [" ".join(rng.choice(WORDS, size=rng.integers(1, 30))) for _ in range(1 + i % 9)]


def test_one_predictor_answers_8_threads_at_once_as_it_answers_one(sources):
    inputs = [texts(i) for i in range(8)]
    alone = ktbert.Predictor.load(str(sources["A"]), batch_size=2)
    expected = [(alone.predict(x), alone.predict(x, return_proba=True)) for x in inputs]
    shared = ktbert.Predictor.load(str(sources["A"]), batch_size=2)  # cold: first calls race to trace
    barrier = threading.Barrier(8)
    results, errors = {}, []

    def work(thread):
        try:
            barrier.wait()
            for step in range(4):
                i = (thread + step) % 8
                results[thread, step] = (i, shared.predict(inputs[i]), shared.predict(inputs[i], return_proba=True))
        except Exception as err:  # reported below, with the thread
            errors.append((thread, repr(err)))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == [] and len(results) == 8 * 4
    for i, labels, proba in results.values():
        assert labels == expected[i][0]
        np.testing.assert_array_equal(proba, expected[i][1])
