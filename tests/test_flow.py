"""The flow-matching generator and dreams steered through it (issue 17).

A tiny flow (256 digits, two short epochs) exercises training, checkpoints, sampling and
steering in seconds; the bundled `flow.keras` is scored by the independent judge (slow).
"""

from __future__ import annotations

import dataclasses
import shutil

import numpy as np
import pytest

from neuroart._util import NeuroartError


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, test_digits):
    """A flow trained for two epochs of four batches: (path, card)."""
    from neuroart.generate.flow_train import train_flow

    out = tmp_path_factory.mktemp("flow") / "tiny.keras"
    return train_flow(out=out, epochs=2, batch_size=64, limit=256, progress=False, data="auto", scores=False)


def test_training_writes_a_weights_only_model_and_its_card(tiny):
    path, card = tiny
    assert path.exists() and path.with_suffix(".json").exists()
    assert not path.with_name(path.name + ".ckpt.npz").exists()  # the checkpoint goes once saved
    assert card["kind"] == "flow" and card["epochs"] == 2 and card["train_images"] == 256
    assert len(card["train_loss_per_epoch"]) == 2 and card["train_loss_per_epoch"][1] < card["train_loss_per_epoch"][0]
    import zipfile

    names = zipfile.ZipFile(path).namelist()
    assert not any("optimizer" in n for n in names), names  # weights only


def test_a_resumed_run_makes_the_same_model(tmp_path, test_digits):
    """Two epochs straight == one epoch, a checkpoint, a fresh process state, the second epoch."""
    from neuroart.generate import flow_train as FT
    from neuroart.generate.flow import FlowConfig, build_flow

    x, y = test_digits[0][:128], test_digits[1][:128]
    cfg = FlowConfig(channels=(8, 8, 8), embed=16, epochs=2, batch_size=64)

    def fresh():
        import keras

        keras.utils.set_random_seed(0)
        m, e = build_flow(cfg), build_flow(cfg)
        e.set_weights(m.get_weights())
        return m, e

    saved = FT._save_checkpoint
    after_one = tmp_path / "after-one.npz"

    def keep_first(path, *args):
        saved(path, *args)
        if args[3] == 1:
            shutil.copy(path, after_one)

    m1, e1 = fresh()
    FT._save_checkpoint = keep_first
    try:
        h1, _ = FT.fit_flow(m1, e1, x, y, cfg=cfg, checkpoint=tmp_path / "a.npz", progress=False)
    finally:
        FT._save_checkpoint = saved
    m2, e2 = fresh()
    h2, _ = FT.fit_flow(m2, e2, x, y, cfg=cfg, checkpoint=after_one, progress=False)
    assert h1 == h2
    for a, b in zip(e1.get_weights(), e2.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)
    other = dataclasses.replace(cfg, epochs=3)
    with pytest.raises(NeuroartError, match="another recipe"):
        FT.fit_flow(*fresh(), x, y, cfg=other, checkpoint=after_one, progress=False)


@pytest.mark.parametrize("batch", [100, 5])  # the job in one batch; batches across rows, a shard's last padded
def test_same_seed_same_bytes_and_shards_make_the_whole(tiny, monkeypatch, batch):
    from neuroart.generate import flow
    from neuroart.generate.flow import generate_rows
    from neuroart.models import load_model

    monkeypatch.setattr(flow, "BATCH", batch)
    model = load_model(str(tiny[0]))
    labels = np.repeat(np.arange(3), 4)
    whole = generate_rows(model, labels, per_digit=4, rows=range(3), steps=4, seed=7)
    again = generate_rows(model, labels, per_digit=4, rows=range(3), steps=4, seed=7)
    parts = [generate_rows(model, labels, per_digit=4, rows=r, steps=4, seed=7) for r in (range(0, 1), range(1, 3))]
    other = generate_rows(model, labels, per_digit=4, rows=range(3), steps=4, seed=8)
    assert whole.shape == (12, 28, 28) and whole.dtype == np.float32
    assert 0 <= whole.min() and whole.max() <= 1
    assert whole.tobytes() == again.tobytes() == np.concatenate(parts).tobytes()
    assert whole.tobytes() != other.tobytes()


@pytest.mark.parametrize(("option", "value", "message"), [
    ("steps", 0, "steps must be"), ("guidance", -1, "guidance must be"), ("solver", "rk4", "solver must be"),
    ("spacing", 0, "spacing must be"), ("spacing", float("nan"), "spacing must be"),
])
def test_bad_sampling_options_are_one_clear_error(tiny, option, value, message):
    from neuroart.generate.flow import generate_rows
    from neuroart.models import load_model

    with pytest.raises(NeuroartError, match=message):
        generate_rows(load_model(str(tiny[0])), [0], per_digit=1, rows=range(1), **{option: value})


def test_group_norm_gives_what_keras_group_normalization_gives():
    import keras

    from neuroart.generate.flow import GroupNorm

    rng = np.random.default_rng(0)
    x = (rng.standard_normal((3, 7, 7, 16)) * 3 + 2).astype(np.float32)
    ours, theirs = GroupNorm(4), keras.layers.GroupNormalization(4)
    ours.build(x.shape), theirs.build(x.shape)
    weights = [rng.standard_normal(16).astype(np.float32) for _ in range(2)]
    ours.set_weights(weights), theirs.set_weights(weights)
    np.testing.assert_allclose(np.asarray(ours(x)), np.asarray(theirs(x)), atol=2e-5)


def test_the_time_grid_runs_from_start_to_one_and_spacing_bunches_it_toward_the_noise():
    from neuroart.generate.flow import time_grid

    even, bunched, part = time_grid(20), time_grid(20, spacing=2.0), time_grid(10, start=0.3, spacing=2.0)
    for ts, start in ((even, 0.0), (bunched, 0.0), (part, 0.3)):
        assert ts[0] == np.float32(start) and ts[-1] == 1.0 and np.all(np.diff(ts) > 0)
    np.testing.assert_allclose(np.diff(even), 0.05, atol=1e-6)
    assert np.sum(bunched < 0.5) == 15  # 3/4 of the steps in the first half of the path (even: half)
    assert np.diff(bunched)[0] < np.diff(even)[0] < np.diff(bunched)[-1]


def test_a_file_that_is_not_a_flow_is_refused():
    from neuroart.dream.flowdream import load_flow

    with pytest.raises(NeuroartError, match="not a neuroart flow"):
        load_flow("mlp")


@pytest.mark.parametrize("gradient", ["ink", "clean", "flow"])
def test_steering_raises_the_classifiers_objective(tiny, gradient):
    """The same noise, steered or not: steering raises the MLP's log-probability of the target,
    at the predicted clean digit (MPGD), its ink, or through the flow (DPS)."""
    from neuroart.dream import objectives as O
    from neuroart.dream.flowdream import FlowDreamConfig, dream_flow
    from neuroart.generate.flow import NULL
    from neuroart.models import load_model

    mlp = load_model("mlp")
    targets = np.arange(10)
    cfg = FlowDreamConfig(flow=str(tiny[0]), steps=8, views=2, scale=1.0, gradient=gradient)

    def logprob(images):
        p = np.asarray(mlp(images, training=False))
        return np.log(p[np.arange(len(targets)), targets] + 1e-12).mean()

    plain = dream_flow(np.full(10, NULL), classifier=mlp, targets=targets, cfg=dataclasses.replace(cfg, scale=0))
    steered = dream_flow(np.full(10, NULL), classifier=mlp, targets=targets, cfg=cfg)
    assert logprob(steered) > logprob(plain) + 1.0
    # any objective steers: a hidden unit of the MLP
    unit = O.neuron("dense", 5)
    act = load_model("mlp").get_layer("dense")
    before = np.asarray(act(np.asarray(plain).reshape(10, -1)))[:, 5].mean()
    after_img = dream_flow(np.full(10, NULL), classifier=mlp, objective=unit, cfg=cfg)
    after = np.asarray(act(np.asarray(after_img).reshape(10, -1)))[:, 5].mean()
    assert after > before


def test_steering_on_demand_leaves_the_rows_the_classifier_reads_to_the_flow():
    """With a gate, a row is steered only while the MLP's probability of its class is below it:
    rows it reads at every pass keep the flow's own bytes; every row it reads below the gate in
    the end was steered, and up."""
    from neuroart.dream.flowdream import FlowDreamConfig, dream_flow
    from neuroart.models import load_model

    mlp = load_model("mlp")
    labels = np.tile(np.arange(10), 3)
    cfg = FlowDreamConfig(gate=0.9)
    plain = dream_flow(labels, classifier=mlp, cfg=dataclasses.replace(cfg, scale=0.0), seed=4)
    steered = dream_flow(labels, classifier=mlp, cfg=cfg, seed=4)

    def prob(images):
        return np.asarray(mlp(images, training=False))[np.arange(len(labels)), labels]

    same = np.array([np.array_equal(a, b) for a, b in zip(plain, steered, strict=True)])
    assert 0 < same.sum() < len(labels)
    weak = prob(plain) < cfg.gate
    assert weak.any() and not same[weak].any()
    assert np.log(prob(steered)[weak]).mean() > np.log(prob(plain)[weak]).mean() + 0.3


def test_each_rows_unit_steers_through_one_compiled_steering(tiny):
    """The neuron atlas through the flow: each row's unit is an input of one compiled steering
    (made once, whichever units), and each row's own unit fires more than unsteered."""
    from neuroart.dream.flowdream import NULL, FlowDreamConfig, dream_flow, load_flow, steering_for, unit_objective
    from neuroart.models import load_model

    mlp = load_model("mlp")
    cfg = FlowDreamConfig(flow=str(tiny[0]), steps=8, views=2, scale=5.0, gradient="clean")
    units = np.array([3, 17, 40, 99])
    by_unit = unit_objective("neuron", "dense")

    def own(images):
        return np.asarray(mlp.get_layer("dense")(np.asarray(images).reshape(len(units), -1)))[np.arange(4), units]

    plain = dream_flow(np.full(4, NULL), classifier=mlp, objective=by_unit, targets=units,
                       cfg=dataclasses.replace(cfg, scale=0.0))
    steered = dream_flow(np.full(4, NULL), classifier=mlp, objective=by_unit, targets=units, cfg=cfg)
    assert own(steered).mean() > own(plain).mean() + 0.5
    flow = load_flow(cfg.flow)
    assert steering_for(flow, mlp, unit_objective("neuron", "dense"), cfg=cfg) is steering_for(
        flow, mlp, by_unit, cfg=cfg)


@pytest.mark.slow
def test_the_bundled_flow_draws_digits_the_judge_reads(test_digits):
    """200 digits of the bundled flow (20 per class, its 4 steps): the independent cnn reads
    >= 95% of them as asked (96.4% over 1,000 in bench_flow.py), and its features are far closer
    to real digits' than the pixel dream's; steered by the article's MLP, >= 98%."""
    from neuroart.dream import dream
    from neuroart.generate.flow import generate_rows
    from neuroart.metrics import frechet_distance, judge_agreement
    from neuroart.models import load_model

    labels = np.repeat(np.arange(10), 20)
    images = generate_rows(load_model("flow"), labels, per_digit=20, rows=range(10), seed=0)
    assert judge_agreement(images, labels, judge="cnn") >= 0.95
    x, y = test_digits
    real = x[np.concatenate([np.flatnonzero(y == d)[:20] for d in range(10)])]
    pixel = dream(per_digit=20, seed=0, prior="none").images
    assert frechet_distance(images, real) < 0.5 * frechet_distance(pixel, real)
    steered = dream(prior="flow", per_digit=10, seed=0)
    assert judge_agreement(steered.images, steered.labels, judge="cnn") >= 0.98


def test_the_hand_term_measures_what_the_metrics_measure_and_keeps_it(test_digits):
    """The steering's differentiable `_hand` measures what `metrics.slant` and `metrics.thickness`
    (`hand_of`) measure; dreaming drawn digits into the next
    digit through the bundled flow, the hand term keeps their slant and stroke width (Pearson r
    over the sources) far better than the same dream without it, and the MLP still gets its class."""
    from neuroart._util import tf
    from neuroart.classify.corrupt import draw_digit
    from neuroart.data.preprocess import mnist_style, to_gray
    from neuroart.dream.flowdream import FlowDreamConfig, _hand, dream_flow, hand_of
    from neuroart.metrics import slant, style_consistency, thickness
    from neuroart.models import load_model

    x = test_digits[0][:50]
    np.testing.assert_allclose(np.asarray(_hand(tf().constant(x))), np.stack([slant(x), thickness(x)], 1),
                               rtol=1e-3, atol=1e-3)
    np.testing.assert_array_equal(hand_of(x), np.stack([slant(x), thickness(x)], 1).astype(np.float32))
    mlp = load_model("mlp")
    sources = np.stack([mnist_style(to_gray(draw_digit(i % 10, seed=100 + i))) for i in range(12)])
    targets = (np.arange(12) + 1) % 10
    cfg = FlowDreamConfig(views=4, scale=20, strength=1.0, hand=3.0, gradient="flow")  # the studio's (studio/settings.py)
    kept = dream_flow(targets, classifier=mlp, cfg=cfg, seed=0, start_images=sources)
    loose = dream_flow(targets, classifier=mlp, cfg=dataclasses.replace(cfg, hand=0), seed=0, start_images=sources)
    with_hand, without = style_consistency(sources, kept[:, None]), style_consistency(sources, loose[:, None])
    assert with_hand["slant"] > max(0.8, without["slant"] + 0.1), (with_hand, without)
    assert with_hand["thickness"] > max(0.6, without["thickness"] + 0.1), (with_hand, without)
    assert (np.asarray(mlp(kept)).argmax(1) == targets).mean() >= 0.9, np.asarray(mlp(kept)).argmax(1)


# --------------------------------------------------------------------------- the library's dream and CLI


def test_dream_with_the_flow_prior_shards_and_keeps_a_start(tiny):
    from neuroart.dream import dream

    opts = dict(prior="flow", flow=str(tiny[0]), per_digit=3, steps=4, views=2, seed=3)
    whole = dream([1, 4], shard=(0, 1), **opts)
    parts = [dream([1, 4], shard=(i, 2), **opts) for i in range(2)]
    assert whole.prior == "flow" and whole.images.shape == (6, 28, 28) and list(whole.labels) == [1, 1, 1, 4, 4, 4]
    assert whole.images.tobytes() == np.concatenate([p.images for p in parts]).tobytes()
    start = np.zeros((28, 28), np.float32)
    start[4:24, 12:16] = 1.0  # a bar: a "1"
    near = dream([7], start=start, strength=0.2, **{**opts, "per_digit": 2}).images
    far = dream([7], start=start, strength=1.0, **{**opts, "per_digit": 2}).images
    assert np.abs(near - start).mean() < np.abs(far - start).mean()


def test_cli_generate_and_dream_with_a_flow(invoke, tiny, tmp_path):
    from neuroart.outputs import read_recipe

    r = invoke("generate", "2", "5", "--model", tiny[0], "-n", "2", "--steps", "2", "--out", "g.png")
    assert r.exit_code == 0, r.output
    recipe = read_recipe(tmp_path / "g.png")
    assert recipe["steps"] == 2 and recipe.get("guidance") is None and "temperature" not in recipe  # None: its own
    r = invoke("dream", "3", "--prior", "flow", "--flow", tiny[0], "-n", "2", "--steps", "3", "--out", "d.png",
               "--gif", "d.gif")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "d.png").exists() and (tmp_path / "d.gif").exists()


@pytest.mark.parametrize("args", [
    ["generate", "--model", "flow", "--steps", "0"],
    ["generate", "--model", "flow", "--guidance", "-1"],
    ["dream", "--prior", "bogus"],
    ["dream", "--prior", "flow", "--flow", "no-such-flow.keras"],
    ["dream", "--prior", "flow", "--strength", "0"],
    ["dream", "--prior", "flow", "--hand", "-1"],
    ["train", "generator", "--kind", "flow", "--latent-dim", "3"],
])
def test_cli_bad_flow_options_are_one_line_and_no_file(invoke, tmp_path, args, assert_clean_error, files_in):
    before = files_in(tmp_path)
    assert_clean_error(invoke(*args))
    assert files_in(tmp_path) == before


def test_a_classifier_given_as_the_flow_is_refused(invoke, tmp_path, assert_clean_error):
    assert_clean_error(invoke("dream", "3", "--prior", "flow", "--flow", "mlp", "-n", "1", "--steps", "1"),
                        "not a neuroart flow")
    assert not (tmp_path / "dream.png").exists()
