"""Library cases of modules whose test files other helpers own this round (issue 16 item 8).

Everything else that lived here and in tests/test_scale.py now sits in its module's file:
test_validate.py, test_classifier.py (the classifier contract, evaluate, saving), test_outputs.py
(atomic writes, grids, GIFs), test_distribute.py (shards, TF_CONFIG, strategies),
test_cli_dataset.py, and the CLI tables of test_cli_core.py, test_cli_dream.py and
test_cli_generate.py. What is left belongs in:

- tests/test_dream.py: `test_dream_refuses_options_the_cli_cannot_give` (its one table of
  option errors), `test_deepdream_refuses_non_finite_options`, `test_dream_shards_concatenate_to_the_whole_job`;
- tests/test_generators.py: `test_generators_refuse_non_finite_options`,
  `test_generate_shards_concatenate_to_the_whole_job`, `test_dataset_tfrecord_reads_back`,
  `test_generator_and_prior_roles`;
- tests/test_explain.py: `test_explain_shards_concatenate_to_the_whole_job`.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from neuroart._util import NeuroartError


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(jitter=math.inf), "jitter must be a finite number"),
        (dict(warp=50.0), "warp must be a finite number >= 0 and <= 6"),
        (dict(latent_lr=math.nan), "latent_lr must be a finite number > 0"),
        (dict(steps=math.inf), "steps must be a positive integer"),
        (dict(seed=-1), "seed must be an integer >= 0"),
        (dict(objective="neuron", units=("x",)), "units must be an integer, got 'x'"),
        (dict(frames=math.inf), "frames must be an integer >= 0"),
    ],
)
def test_dream_refuses_options_the_cli_cannot_give(kwargs, message):
    from neuroart.dream import dream

    with pytest.raises(NeuroartError, match=message.replace("(", r"\(")):
        dream([3], **kwargs)


@pytest.mark.parametrize("kwargs, message", [(dict(contrast=math.inf), "contrast must be a finite number"),
                                             (dict(digit=math.inf), "not a digit")])
def test_deepdream_refuses_non_finite_options(kwargs, message):
    from neuroart.dream import deepdream

    with pytest.raises(NeuroartError, match=message):
        deepdream(np.zeros((64, 64), np.float32), **kwargs)


def test_generators_refuse_non_finite_options():
    from neuroart.generate import generate, latent_map, morph
    from neuroart.generate.model import sharpen

    with pytest.raises(NeuroartError, match="per_digit must be a positive integer"):
        generate([3], per_digit=math.inf)
    with pytest.raises(NeuroartError, match="sharpness must be a finite number > 0"):
        sharpen(np.zeros((1, 28, 28)), math.inf)
    with pytest.raises(NeuroartError, match="frames must be an integer"):
        morph(3, 8, frames=math.inf)
    for call in (lambda: generate([3], seed=-1), lambda: morph(3, 8, seed=-1), lambda: latent_map(seed=math.nan)):
        with pytest.raises(NeuroartError, match="seed must be an integer >= 0"):
            call()


def test_train_generator_refuses_non_finite_epochs(tmp_path):
    from neuroart.generate.train import train_generator

    with pytest.raises(NeuroartError, match="epochs must be a positive integer"):
        train_generator("ae", epochs=math.inf, out=tmp_path / "g.keras", progress=False)
    assert list(tmp_path.iterdir()) == []


def test_generator_and_prior_roles():
    from neuroart.models import load_model

    with pytest.raises(NeuroartError, match="a conditional generator cannot denoise"):
        load_model("cvae", role="prior")
    with pytest.raises(NeuroartError, match="a vae generator, not a digit classifier"):
        load_model("vae", role="classifier")
    assert load_model("vae", role="prior") is load_model("vae", role="generator")


def test_generate_shards_concatenate_to_the_whole_job():
    from neuroart.generate import generate

    for model, digits in (("cvae", [1, 4, 4, 9]), ("vae", None)):
        whole, labels = generate(digits, per_digit=7, seed=5, model=model)  # the unsharded run
        for n in (2, 3):
            parts = [generate(digits, per_digit=7, seed=5, model=model, shard=(i, n)) for i in range(n)]
            assert np.concatenate([p[0] for p in parts]).tobytes() == whole.tobytes()
            assert np.concatenate([p[1] for p in parts]).tobytes() == labels.tobytes()
        one, one_labels = generate(digits, per_digit=7, seed=5, model=model, shard="0/1")
        assert one.tobytes() == whole.tobytes() and one_labels.tobytes() == labels.tobytes()


def test_dream_shards_concatenate_to_the_whole_job():
    from neuroart.dream import dream

    opts = dict(per_digit=2, steps=6, seed=2, prior="none")  # (the prior: a compile per row, slow here)
    whole = dream([3, 8], shard="0/1", frames=2, **opts)
    parts = [dream([3, 8], shard=(i, 2), frames=2, **opts) for i in range(2)]
    assert [p.rows for p in parts] == [["3"], ["8"]]
    assert np.concatenate([p.images for p in parts]).tobytes() == whole.images.tobytes()
    assert np.concatenate([p.labels for p in parts]).tobytes() == whole.labels.tobytes()
    assert np.concatenate([p.frames[-1] for p in parts]).tobytes() == whole.frames[-1].tobytes()
    plain = dream([3, 8], **opts)  # both rows in one batch: the same dreams to float rounding
    assert np.abs(plain.images - whole.images).max() < 1e-3


def test_explain_shards_concatenate_to_the_whole_job():
    from neuroart.explain import explain, load_images

    x = load_images([f"digit:{i % 10}" for i in range(60)], seed=1)
    for method, opts in (("gradient", {}), ("smoothgrad", {"samples": 400})):  # chunks of 64; of 20
        whole = explain(x, model="mlp", method=method, shard="0/1", **opts)
        parts = [explain(x, model="mlp", method=method, shard=(i, 2), **opts) for i in range(2)]
        assert all(len(p.images) for p in parts) or method == "gradient"
        for key in ("images", "maps", "targets", "probs"):
            assert np.concatenate([getattr(p, key) for p in parts]).tobytes() == getattr(whole, key).tobytes()
        plain = explain(x, model="mlp", method=method, **opts)
        assert plain.maps.tobytes() == whole.maps.tobytes()  # the maps are the unsharded run's, too


def test_dataset_tfrecord_reads_back(tmp_path):
    from neuroart.generate.dataset import load_dataset, make_dataset, read_tfrecord

    summary = make_dataset(tmp_path / "t", n=30, shard_size=20, digits=[0, 7], dtype="float32", tfrecord=True)
    assert summary["complete"] and summary["made"] == 2
    x, y = load_dataset(tmp_path / "t")
    assert x.dtype == np.float32 and x.shape == (30, 28, 28) and y.tolist() == [0, 7] * 15
    back = list(read_tfrecord(tmp_path / "t" / "digits-00001.tfrecord").as_numpy_iterator())
    assert len(back) == 10 and [int(b[1]) for b in back] == [0, 7] * 5
    assert np.abs(back[0][0] - x[20]).max() <= 0.5 / 255 + 1e-6
