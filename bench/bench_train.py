"""The article's training script against `neuroart train classifier`, side by side.

Runs the article's code verbatim (only the data loader swapped for the offline copy, since this
machine has no network), then neuroart's default recipe, in the same process on the same data,
and prints both test accuracies and the wall-time ratio. Targets (issue 2): neuroart at least
the article's accuracy in at most 1/3 of its time (aim: 98.0 % in 1/4).

    python bench/bench_train.py [--repeats 1]
"""

from __future__ import annotations

import argparse
import time


def article(x_train, y_train, x_test, y_test):
    """The article's code, as written (Keras defaults: batch 32, adam 1e-3)."""
    import tensorflow as tf

    x_train, x_test = x_train / 255.0, x_test / 255.0
    model = tf.keras.models.Sequential([
        tf.keras.layers.Flatten(input_shape=(28, 28)),
        tf.keras.layers.Dense(128, activation="relu"),
        tf.keras.layers.Dropout(0.2),
        tf.keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=5, verbose=0)
    return model.evaluate(x_test, y_test, verbose=0)[1]


def neuroart_default():
    from neuroart.classify import train_classifier

    _, card = train_classifier(arch="mlp", data="offline", show_progress=False)
    return card["test_accuracy"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=1)
    args = ap.parse_args()

    from neuroart._util import tf
    from neuroart.data import load_mnist

    tf()
    (x, y), (xt, yt) = load_mnist("offline")
    rows = []
    for _ in range(args.repeats):
        for name, fn in (("article", lambda: article(x, y, xt, yt)), ("neuroart", neuroart_default)):
            t = time.perf_counter()
            acc = fn()
            rows.append((name, acc, time.perf_counter() - t))
    for name, acc, sec in rows:
        print(f"{name:9s} test accuracy {acc:.4f}  wall {sec:6.1f} s")
    art = min(s for n, _, s in rows if n == "article")
    neo = min(s for n, _, s in rows if n == "neuroart")
    print(f"time ratio neuroart/article = {neo / art:.3f} (target <= 0.333, aim <= 0.25)")


if __name__ == "__main__":
    main()
