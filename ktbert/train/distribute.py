"""Training on several devices or machines with tf.distribute: which strategy a learner trains
under, its model's variables placed under it, and which loop trains.

A learner takes the strategy given to `get_learner(strategy=...)`, else the one whose
`strategy.scope()` encloses the call. Keras needs a model's (and its optimizer's) variables made
under the strategy's scope; a model built outside it is rebuilt inside from its config, with the
same weights and compile settings (`place_model`). The batch size a learner is given is the
global one: every batch is shared among the replicas.

Two loops train: Keras' `model.fit` under MirroredStrategy, OneDeviceStrategy and the others,
and ktbert's `ReplicaLoop` (`ktbert.train.replica_loop`) under MultiWorkerMirroredStrategy,
where Keras 3's `fit` fails. Both run the model's own `train_step` and drive Keras callbacks,
so schedules, `lr_find` and checkpoints behave the same on either; `loop="ktbert"` picks
ktbert's loop under any strategy.
"""

from __future__ import annotations

import contextlib
import warnings

import numpy as np
import tensorflow as tf

from ktbert.checks import check_choice
from ktbert.model import keras_internals
from ktbert.train import hyperparameters
from ktbert.train.replica_loop import ReplicaLoop

LOOPS = ("auto", "keras", "ktbert")
SEED_RANGE = 2**24  # seeds agreed across workers travel as float32, exact below 2**24


def resolve_strategy(strategy=None):
    """The strategy a learner trains under: `strategy`, else the enclosing `strategy.scope()`'s,
    else None (TensorFlow's default placement, no tf.distribute).

    Args:
        strategy: tf.distribute.Strategy or None.

    Examples:
    ```python
    strategy = tf.distribute.MirroredStrategy()
    learner = ktbert.get_learner(model, trn, val, batch_size=32, strategy=strategy)
    ```
    """
    enclosing = tf.distribute.get_strategy() if tf.distribute.has_strategy() else None
    if strategy is None:
        return enclosing
    if not isinstance(strategy, tf.distribute.Strategy):
        raise TypeError(
            "`strategy` must be a tf.distribute.Strategy, e.g. tf.distribute.MirroredStrategy(), or None. "
            f"Received: strategy={strategy!r}"
        )
    if enclosing is None and strategy is tf.distribute.get_strategy():
        return None  # the default strategy: no distribution
    if enclosing is not None and enclosing is not strategy:
        raise ValueError(
            "`strategy` is not the strategy whose scope encloses this call: pass the enclosing one, "
            f"or call outside its `scope()`. Received: strategy={strategy!r}, enclosing={enclosing!r}"
        )
    return strategy


def check_loop(loop: str) -> str:
    return check_choice(loop, LOOPS, "training_loop")


def is_multi_worker(strategy) -> bool:
    """Whether `strategy` is a MultiWorkerMirroredStrategy (several machines, `TF_CONFIG`)."""
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def is_chief(strategy=None) -> bool:
    """Whether this process saves checkpoints and models: always without a strategy or on one
    machine; under MultiWorkerMirroredStrategy only the chief (worker 0 unless `TF_CONFIG`
    names a chief).

    Examples:
    ```python
    learner.fit_onecycle(5e-5, 2)
    if is_chief(learner.strategy):
        ktbert.get_predictor(learner, preproc).save("model")
    ```
    """
    return strategy is None or bool(strategy.extended.should_checkpoint)


def scope(strategy):
    """`strategy.scope()`, or a scope that does nothing when `strategy` is None."""
    return contextlib.nullcontext() if strategy is None else strategy.scope()


def _uses_replica_loop(strategy, loop: str) -> bool:
    loop = check_loop(loop)
    return strategy is not None and (loop == "ktbert" or (loop == "auto" and is_multi_worker(strategy)))


def shuffle_seed(strategy, seed):
    """The shuffling seed: `seed`, or under MultiWorkerMirroredStrategy with `seed=None` one
    drawn by the chief and shared with every worker, so all read the same batches."""
    if seed is not None or not is_multi_worker(strategy):
        return seed
    drawn = tf.constant(float(np.random.randint(SEED_RANGE)), tf.float32)

    def chief_only():
        first = tf.distribute.get_replica_context().replica_id_in_sync_group == 0
        return tf.where(first, drawn, 0.0)

    agree = tf.function(lambda: strategy.reduce("SUM", strategy.run(chief_only), axis=None))
    return int(agree())


def _created_under(model, strategy) -> bool:
    variables = list(model.variables)
    if getattr(model, "optimizer", None) is not None:
        variables += list(model.optimizer.variables)
    return all(strategy.extended.variable_created_in_scope(v.value) for v in variables)


def place_model(model, strategy):
    """`model` when its variables and its optimizer's were made under `strategy.scope()`; else
    a copy rebuilt there from its config, with its weights and compiled as it was (a new
    optimizer of the same settings: its moments restart).

    Raises:
        ValueError: the model cannot be rebuilt from its config; build and compile it inside
            `with strategy.scope():` instead.
    """
    if strategy is None or _created_under(model, strategy):
        return model
    try:
        with strategy.scope():
            copy = type(model).from_config(model.get_config())
    except (NotImplementedError, TypeError, ValueError, KeyError) as err:
        raise ValueError(
            f"`model` was built outside `strategy.scope()` and cannot be rebuilt inside it from its "
            f"config ({type(err).__name__}, above). Build and compile it inside `with strategy.scope():`."
        ) from err
    weights = model.get_weights()
    if len(copy.weights) != len(weights):
        raise ValueError(
            f"`model` was built outside `strategy.scope()` and its rebuilt copy holds {len(copy.weights)} "
            f"weights, not {len(weights)}. Build and compile it inside `with strategy.scope():`."
        )
    copy.set_weights(weights)
    hyperparameters.recompile_with_fresh_optimizer(copy, source=model)
    warnings.warn(
        "`model` was built outside `strategy.scope()`: the learner trains a copy rebuilt inside it "
        "(`learner.model`). Build the model inside `with strategy.scope():` to train it directly.",
        stacklevel=4,  # the caller of get_learner
    )
    return copy


def fit(model, dataset, strategy=None, loop: str = "auto", epochs: int = 1, steps_per_epoch: int | None = None,
        callbacks=None, verbose: int = 1, validation_data=None, class_weight=None):
    """Trains `model` on `dataset` under `strategy` with the loop that works there.

    Without a strategy this is `model.fit`; under MultiWorkerMirroredStrategy (or with
    `loop="ktbert"`) ktbert's `ReplicaLoop`; under other strategies `model.fit` inside the
    strategy's scope. The model is built first (`build_for_training`).

    Returns:
        keras.callbacks.History.
    """
    replica_loop = _uses_replica_loop(strategy, loop)
    hyperparameters.build_for_training(model, dataset)  # one trace of the step, not two
    args = dict(epochs=epochs, steps_per_epoch=steps_per_epoch, callbacks=callbacks, verbose=verbose,
                validation_data=validation_data, class_weight=class_weight)
    if strategy is None:
        return model.fit(dataset, shuffle=False, **args)  # the dataset reshuffles itself every epoch
    if replica_loop:
        return ReplicaLoop(model, strategy).fit(dataset, **args)
    # Keras' `fit` under a strategy draws a batch to build the model before training, from an
    # iterator it then drops: with ktbert's generator datasets that starts an extra pass and moves
    # the shuffling plan one epoch on. ktbert builds the model itself (`build_for_training`).
    with strategy.scope(), keras_internals.without_own_strategy(model):
        return model.fit(dataset, shuffle=False, **args)


def evaluate(model, dataset, strategy=None, loop: str = "auto") -> dict:
    """Loss and metrics of `model` on `dataset`, with the loop that works under `strategy`."""
    if _uses_replica_loop(strategy, loop):
        hyperparameters.build_for_training(model, dataset)
        return ReplicaLoop(model, strategy).evaluate(dataset)
    return model.evaluate(dataset, verbose=0, return_dict=True)


__all__ = ["LOOPS", "evaluate", "fit", "is_chief", "is_multi_worker", "place_model", "resolve_strategy",
           "scope", "shuffle_seed"]
