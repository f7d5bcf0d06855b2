"""The optimizer ktbert classifiers train with: Keras' AdamW, updated by TensorFlow's fused kernel.

Keras' AdamW updates each variable with a dozen element-wise ops (each a pass over the
variable's memory), and applies its weight decay as three more even when the decay is 0. For
the 22.7M weights of the default encoder that was a sixth to a fifth of a short-text training step
(docs/benchmarks/profile.md). This subclass computes the same update, in the same order, with
TensorFlow's `ResourceApplyAdam` kernel (one pass over the variable and its two moments), and
skips the decay in the graph while the decay variable is 0 (except under a tf.distribute
strategy, where the decay is a cross-replica update and Keras' own decay runs). Where the kernel
does not apply (AMSGrad, another backend), Keras' own update runs.

Two differences from Keras, both toward the textbook Adam (and PyTorch's): the kernel takes
its betas in the variable's float32, and a sparse gradient (an embedding table's rows) is
summed per row before it is squared, where Keras squares each slice and sums the squares.
"""

from __future__ import annotations

import weakref

import keras
from keras import ops

from ktbert.model import keras_internals


# optimizer -> (its traced step's graph, weakly; the rate; {dtype: the update's scalars})
_SCALARS = weakref.WeakKeyDictionary()


def _handle(variable):
    """The resource handle of a Keras or TensorFlow variable."""
    return (variable.value if isinstance(variable, keras.Variable) else variable).handle


@keras.saving.register_keras_serializable(package="ktbert")
class AdamW(keras.optimizers.AdamW):
    """`keras.optimizers.AdamW` with TensorFlow's fused Adam update (same arguments, same math).

    Examples:
    ```python
    optimizer = ktbert.model.optimizer.AdamW(learning_rate=2e-5, weight_decay=0.0)
    ```
    """

    def _fused(self) -> bool:
        return keras.backend.backend() == "tensorflow" and not self.amsgrad

    def update_step(self, gradient, variable, learning_rate):
        if not self._fused():
            return super().update_step(gradient, variable, learning_rate)
        import tensorflow as tf

        dtype = variable.dtype
        index = self._get_variable_index(variable)
        tf.raw_ops.ResourceApplyAdam(
            var=_handle(variable), m=_handle(self._momentums[index]), v=_handle(self._velocities[index]),
            **self._step_scalars(dtype, learning_rate),
            grad=tf.convert_to_tensor(ops.cast(gradient, dtype)), use_locking=False)

    def _step_scalars(self, dtype, learning_rate) -> dict:
        """The kernel's scalar arguments in `dtype`: the betas, their powers at this step, the
        rate and epsilon. In a traced step (outside tf.distribute) they are made once per dtype
        and shared by every variable's update: made per variable, they were eight ops for each
        of the default encoder's ~100 weights, traced and then merged again by Grappler in the
        first step of every new model."""
        import tensorflow as tf

        if tf.executing_eagerly() or tf.distribute.has_strategy():
            return self._new_step_scalars(dtype, learning_rate)
        graph = tf.compat.v1.get_default_graph()
        cached = _SCALARS.get(self)
        if cached is None or cached[0]() is not graph or cached[1] is not learning_rate:
            cached = _SCALARS[self] = (weakref.ref(graph), learning_rate, {})
        if dtype not in cached[2]:
            cached[2][dtype] = self._new_step_scalars(dtype, learning_rate)
        return cached[2][dtype]

    def _new_step_scalars(self, dtype, learning_rate) -> dict:
        step = ops.cast(self.iterations + 1, dtype)
        beta_1, beta_2 = ops.cast(self.beta_1, dtype), ops.cast(self.beta_2, dtype)
        return {"beta1_power": ops.power(beta_1, step), "beta2_power": ops.power(beta_2, step),
                "lr": ops.cast(learning_rate, dtype), "beta1": beta_1, "beta2": beta_2,
                "epsilon": ops.cast(self.epsilon, dtype)}

    def _apply_weight_decay(self, variables):
        """Keras' decay (its hook, through `keras_internals`), skipped in the graph while the
        decay variable is 0."""
        import tensorflow as tf

        decay = self.weight_decay
        # Under a tf.distribute strategy the decay is a cross-replica update, which a tf.cond
        # cannot hold: Keras' own decay runs there.
        if not self._fused() or not isinstance(decay, keras.Variable) or tf.distribute.has_strategy():
            return keras_internals.keras_weight_decay(self, variables)

        def decayed():
            keras_internals.keras_weight_decay(self, variables)
            return tf.constant(True)

        # A decay of 0 (ktbert's default) costs three passes over every decayed weight for nothing.
        tf.cond(ops.greater(decay, 0.0), decayed, lambda: tf.constant(False))
