"""ktbert's own training loop for tf.distribute strategies under which Keras' `model.fit` fails.

Keras 3's `fit` raises under MultiWorkerMirroredStrategy (`ValueError: Attempt to convert a
value (PerReplica...)`, an open Keras issue). This loop keeps the rest of Keras: the model's own
`train_step` and `test_step` (its loss, metrics and optimizer) run on every replica through
`strategy.run`, and a `keras.callbacks.CallbackList` is driven with the hooks and logs `fit`
gives, so ktbert's schedules, the lr finder, checkpoints, early stopping and `History` behave
the same.

Every worker reads the same global batches in the same order (the caller seeds their
shuffling alike) and keeps only its own replicas' slices of each (`replica_slices`), so every
worker runs the same number of steps. Logs hold the metrics over all replicas: each step's
values are read from the metrics' variables summed across replicas, as `fit` reads them at
the end of an epoch.
"""

from __future__ import annotations

import itertools
import weakref

import keras
import numpy as np
import tensorflow as tf

from ktbert.model.compiling import validation_only_names


def replica_slices(dataset, num_replicas: int, first: int, count: int):
    """Cuts every global batch of `dataset` into `num_replicas` slices of rows and keeps
    slices `first` .. `first + count - 1`, in order.

    The slices differ by one row at most, the first ones the larger, as MirroredStrategy splits
    a batch for Keras' `fit`; a batch with fewer rows than replicas leaves the last slices
    empty. Every slice keeps its batch's width.

    Args:
        dataset: tf.data.Dataset. global batches: `(x, y)`, `(x, y, sample_weight)` or `x`.
        num_replicas: int. the replicas a batch is shared among.
        first: int. the first slice kept.
        count: int. how many consecutive slices are kept.

    Examples:
    ```python
    # worker 1 of 2, one replica each: the second half of every batch
    ds = replica_slices(global_batches, num_replicas=2, first=1, count=1)
    ```
    """

    def cut(*batch):
        batch = batch[0] if len(batch) == 1 else batch
        rows = tf.shape(tf.nest.flatten(batch)[0], out_type=tf.int64)[0]
        bounds = (tf.range(num_replicas + 1, dtype=tf.int64) * rows + num_replicas - 1) // num_replicas
        return tf.data.Dataset.range(first, first + count).map(
            lambda i: tf.nest.map_structure(lambda t: t[bounds[i]:bounds[i + 1]], batch)
        )

    return dataset.flat_map(cut)


def with_class_weight(dataset, class_weight: dict | None):
    """`(x, y)` batches as `(x, y, weight of each row's class)`; as is when `class_weight` is None.

    Keras' `fit` turns `class_weight` into sample weights the same way: a class below the
    largest one named that is not named weighs 1.
    """
    if not class_weight:
        return dataset
    table = np.ones(max(class_weight) + 1, dtype=np.float32)
    for label, weight in class_weight.items():
        table[label] = weight
    table = tf.constant(table)
    return dataset.map(lambda x, y: (x, y, tf.gather(table, tf.reshape(tf.cast(y, tf.int32), [-1]))))


_STEPS = weakref.WeakKeyDictionary()  # model -> {(kind, element spec): (optimizer ref, step)}


def _floats(logs) -> dict:
    return {name: float(value) for name, value in logs.items()}


class ReplicaLoop:
    """Runs `model.train_step` and `model.test_step` on every replica of `strategy`.

    The model and its optimizer must have been built under `strategy.scope()` (ktbert's
    learner does this).

    Args:
        model: keras.Model. compiled, built under the strategy.
        strategy: tf.distribute.Strategy. any; MultiWorkerMirroredStrategy is why it exists.

    Examples:
    ```python
    loop = ReplicaLoop(model, strategy)
    history = loop.fit(dataset, epochs=2, callbacks=[StepSchedule(schedule)])
    ```
    """

    def __init__(self, model, strategy):
        self.model = model
        self.strategy = strategy

    def distribute(self, dataset):
        """`dataset`'s global batches, each split among all replicas of all workers."""

        def per_worker(context):
            count = context.num_replicas_in_sync // context.num_input_pipelines
            return replica_slices(dataset, context.num_replicas_in_sync, context.input_pipeline_id * count, count)

        return self.strategy.distribute_datasets_from_function(per_worker)

    def _step(self, kind: str, spec):
        """The traced step: `train_step` or `test_step` on every replica, then the metrics over
        all replicas. Traced once per model, optimizer and batch structure (widths left open)."""
        steps = _STEPS.setdefault(self.model, {})
        key = (kind, repr(spec))
        optimizer = self.model.optimizer
        cached = steps.get(key)
        if cached is not None and cached[0]() is optimizer:
            return cached[1]
        model, strategy = weakref.ref(self.model), self.strategy

        def step(batch):
            strategy.run(getattr(model(), f"{kind}_step"), args=(batch,))
            # A training step leaves the validation-only metrics out (`TextClassifier.train_step`);
            # read while tracing, once the step has built the compiled metrics.
            left_out = validation_only_names(model()) if kind == "train" else set()
            return {k: v for k, v in model().get_metrics_result().items() if k not in left_out}

        traced = tf.function(step, input_signature=[spec])
        steps[key] = (weakref.ref(optimizer), traced)
        return traced

    def fit(self, dataset, epochs: int = 1, steps_per_epoch: int | None = None, callbacks=None,
            verbose: int = 1, validation_data=None, class_weight: dict | None = None):
        """Trains as `model.fit(dataset, ...)` would; returns the `keras.callbacks.History`.

        Args:
            dataset: tf.data.Dataset. global batches `(x, y)`.
            epochs: int. passes over `dataset`.
            steps_per_epoch: int or None. steps per epoch, going on where the last epoch
                stopped (for a repeated dataset); None: one whole pass per epoch.
            callbacks: list or None. Keras callbacks.
            verbose: int. 0 quiet, 1 progress bar, 2 one line per epoch.
            validation_data: tf.data.Dataset or None. evaluated after each epoch (`val_` logs).
            class_weight: dict or None. weight per class index.
        """
        model = self.model
        train = self.distribute(with_class_weight(dataset, class_weight))
        steps = steps_per_epoch or (int(dataset.cardinality()) if int(dataset.cardinality()) > 0 else None)
        callbacks = keras.callbacks.CallbackList(
            callbacks, add_history=True, add_progbar=verbose != 0, verbose=verbose, epochs=epochs,
            steps=steps, model=model,
        )
        step = self._step("train", train.element_spec)
        model.stop_training = False
        callbacks.on_train_begin()
        iterator, epoch_logs = None, {}
        for epoch in range(epochs):
            model.reset_metrics()
            callbacks.on_epoch_begin(epoch)
            if iterator is None or steps_per_epoch is None:
                iterator = iter(train)
            metrics = {}
            for index, batch in enumerate(itertools.islice(iterator, steps_per_epoch)):
                callbacks.on_train_batch_begin(index)
                metrics = _floats(step(batch))
                callbacks.on_train_batch_end(index, dict(metrics))
                if model.stop_training:
                    break
            epoch_logs = dict(metrics)
            if validation_data is not None:
                epoch_logs.update({f"val_{k}": v for k, v in self.evaluate(validation_data).items()})
            callbacks.on_epoch_end(epoch, epoch_logs)
            if model.stop_training:
                break
        model.optimizer.finalize_variable_values(model.trainable_weights)
        callbacks.on_train_end(logs=epoch_logs)
        return model.history

    def evaluate(self, dataset) -> dict:
        """Loss and metrics over `dataset`'s batches, as `model.evaluate(..., return_dict=True)`."""
        data = self.distribute(dataset)
        step = self._step("test", data.element_spec)
        self.model.reset_metrics()
        logs = {}
        for batch in data:
            logs = step(batch)
        return _floats(logs)


__all__ = ["ReplicaLoop", "replica_slices", "with_class_weight"]
