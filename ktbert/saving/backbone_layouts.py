"""The weights a saved classifier config implies, for every encoder family, computed before
anything of that size is built.

keras-hub builds each family's weights in a fixed order: some before the transformer layers,
one block of weights per layer (per group for ALBERT, whose layers share weights), some after.
`layout` learns that order once per family and process from two tiny "probe" backbones (one
and two layers, every size a distinct number), reads which size each dimension is, and
from that gives the shapes of any config: the index, path and shape of every weight, and the
sizes that make it. Tests check the result against models keras-hub builds.
"""

from __future__ import annotations

import functools
import inspect
import re

from ktbert.model.families import FAMILIES, family_of_backbone

# Every probe size distinct from every other and from their quotients and doubles.
PROBE = {"vocabulary_size": 101, "vocab_size": 101, "num_heads": 3, "hidden_dim": 24, "intermediate_dim": 40,
         "max_sequence_length": 53, "num_segments": 5, "embedding_dim": 14, "bucket_size": 9}
# A probe dimension -> how the same dimension follows from a real config's sizes.
DIMENSIONS = {
    101: ("vocabulary_size", lambda s: s["vocabulary_size"]),
    24: ("hidden_dim", lambda s: s["hidden_dim"]),
    3: ("num_heads", lambda s: s["num_heads"]),
    8: ("hidden_dim / num_heads", lambda s: s["hidden_dim"] // s["num_heads"]),
    40: ("intermediate_dim", lambda s: s["intermediate_dim"]),
    53: ("max_sequence_length", lambda s: s["max_sequence_length"]),
    5: ("num_segments", lambda s: s["num_segments"]),
    14: ("embedding_dim", lambda s: s["embedding_dim"]),
    18: ("2 x bucket_size", lambda s: 2 * s["bucket_size"]),
}


def repeated_size(family: str) -> str:
    """The size that counts the blocks of weights: transformer layers, or ALBERT's groups."""
    return "num_groups" if family == "albert" else "num_layers"


def backbone_parameters(backbone_class) -> list:
    parameters = inspect.signature(backbone_class.__init__).parameters.values()
    return [p for p in parameters if p.name != "self" and p.kind is not inspect.Parameter.VAR_KEYWORD]


@functools.lru_cache(maxsize=None)
def _probe(family: str, repeat: int) -> tuple:
    """`(path, shape)` of every weight of `family`'s backbone at the probe sizes, `repeat` blocks."""
    backbone_class = FAMILIES[family].backbone_class
    names = {p.name for p in backbone_parameters(backbone_class)}
    config = {k: v for k, v in PROBE.items() if k in names}
    config["num_layers"] = 2 if family == "albert" else repeat
    if family == "albert":
        config["num_groups"] = repeat
    backbone = backbone_class(**config, dtype="float32")
    return tuple((w.path, tuple(w.shape)) for w in backbone.weights)


@functools.lru_cache(maxsize=None)
def _parts(family: str) -> tuple:
    """`(before, block, after)`: the weights before the repeated blocks, one block, the weights after."""
    one, two = _probe(family, 1), _probe(family, 2)
    size = len(two) - len(one)
    for start in range(len(one) - size + 1):  # the weights before and after are the same, paths too
        if one[:start] == two[:start] and one[start + size:] == two[start + 2 * size:]:
            return one[:start], one[start:start + size], one[start + size:]
    raise RuntimeError(f"the weights of keras-hub's {FAMILIES[family].backbone} do not come in repeated blocks; "
                       "ktbert's saved-config check needs updating for this keras-hub version.")


def _dimension(value: int):
    """`(name, rule)` of a probe dimension; a dimension no size makes is a constant."""
    return DIMENSIONS.get(value, (str(value), lambda s, v=value: v))


def _shape(probe_shape, sizes: dict) -> tuple:
    dims = [_dimension(v) for v in probe_shape]
    return [rule(sizes) for _, rule in dims], " x ".join(name for name, _ in dims) or "a scalar"


def layout(backbone_class_name: str, sizes: dict, num_classes: int) -> tuple:
    """The weights of a classifier over a keras-hub backbone of `sizes`, in `model.weights` order:
    `(count, shapes)`, `shapes` mapping every index to `(path, shape as a list, the sizes that
    make it)`. The classifier's head (kernel and bias) comes last.
    """
    family = family_of_backbone(backbone_class_name, "the saved config").name
    sizes = dict(sizes)
    sizes["vocabulary_size"] = sizes.get("vocabulary_size", sizes.get("vocab_size"))
    before, block, after = _parts(family)
    blocks = sizes[repeated_size(family)] * (sizes.get("num_inner_repetitions", 1) if family == "albert" else 1)
    weights = list(before)
    for i in range(blocks):
        weights += [(re.sub(r"_0(?=[/_]|$)", f"_{i}", path, count=1), shape) for path, shape in block]
    weights += list(after)
    shapes = {}
    for index, (path, probe_shape) in enumerate(weights):
        shape, made_of = _shape(probe_shape, sizes)
        shapes[index] = (path, shape, made_of)
    count = len(weights)
    shapes[count] = ("classifier/kernel", [sizes["hidden_dim"], num_classes], "hidden_dim x num_classes")
    shapes[count + 1] = ("classifier/bias", [num_classes], "num_classes")
    return count + 2, shapes
