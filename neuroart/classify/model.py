"""Classifier architectures: the article's MLP, the small CNN judge, and the reader.

All take float32 images (N, 28, 28) in [0, 1] and output ten softmax probabilities.
"""

from __future__ import annotations

from .._util import keras

ARCHS = ("mlp", "cnn", "reader")


def build_mlp():
    """The article's model, layer for layer."""
    k = keras()
    return k.Sequential(
        [
            k.Input((28, 28), name="image"),
            k.layers.Flatten(name="flatten"),
            k.layers.Dense(128, activation="relu", name="dense"),
            k.layers.Dropout(0.2, name="dropout"),
            k.layers.Dense(10, activation="softmax", name="predictions"),
        ],
        name="mlp",
    )


def build_cnn():
    """A small convnet: two conv blocks with batch norm, then a dense head."""
    k = keras()
    L = k.layers
    return k.Sequential(
        [
            k.Input((28, 28), name="image"),
            L.Reshape((28, 28, 1), name="channel"),
            L.Conv2D(32, 3, padding="same", use_bias=False, name="conv1"),
            L.BatchNormalization(name="bn1"),
            L.Activation("relu", name="relu1"),
            L.Conv2D(32, 3, padding="same", activation="relu", name="conv2"),
            L.MaxPooling2D(name="pool1"),
            L.Conv2D(64, 3, padding="same", use_bias=False, name="conv3"),
            L.BatchNormalization(name="bn2"),
            L.Activation("relu", name="relu2"),
            L.Conv2D(64, 3, padding="same", activation="relu", name="conv4"),
            L.MaxPooling2D(name="pool2"),
            L.Flatten(name="flatten"),
            L.Dropout(0.3, name="dropout1"),
            L.Dense(128, activation="relu", name="dense"),
            L.Dropout(0.3, name="dropout2"),
            L.Dense(10, activation="softmax", name="predictions"),
        ],
        name="cnn",
    )


def build_reader():
    """The default reader: a convnet sized for interactive speed, trained with augmentation.

    A 5x5 conv at full resolution, two 3x3 convs at 14x14, one at 7x7 (batch norm throughout),
    then a dropout-regularised dense head. About half the cnn judge's compute per digit.
    """
    k = keras()
    L = k.layers

    def conv(filters, size, name):
        return [
            L.Conv2D(filters, size, padding="same", use_bias=False, name=name),
            L.BatchNormalization(name=f"{name}_bn"),
            L.Activation("relu", name=f"{name}_relu"),
        ]

    return k.Sequential(
        [
            k.Input((28, 28), name="image"),
            L.Reshape((28, 28, 1), name="channel"),
            *conv(32, 5, "conv1"),
            L.MaxPooling2D(name="pool1"),
            *conv(64, 3, "conv2"),
            *conv(64, 3, "conv3"),
            L.MaxPooling2D(name="pool2"),
            *conv(128, 3, "conv4"),
            L.Flatten(name="flatten"),
            L.Dropout(0.4, name="dropout1"),
            L.Dense(128, activation="relu", name="dense"),
            L.Dropout(0.4, name="dropout2"),
            L.Dense(10, activation="softmax", name="predictions"),
        ],
        name="reader",
    )


BUILDERS = {"mlp": build_mlp, "cnn": build_cnn, "reader": build_reader}


def describe(model) -> list[str]:
    """One line per layer, for model cards: ``name: Class(units/filters, activation)``."""
    lines = []
    for layer in model.layers:
        cfg = layer.get_config()
        bits = [str(cfg[k]) for k in ("units", "filters", "kernel_size", "rate", "target_shape") if k in cfg]
        act = cfg.get("activation")
        if act and act != "linear":
            bits.append(str(act))
        lines.append(f"{layer.name}: {type(layer).__name__}({', '.join(bits)})")
    return lines

