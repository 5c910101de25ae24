"""Issue 9: model contracts, non-finite options, empty data, stale temporary files, grid input.

Each case asserts the one clear error, the exit code, and that no file was written or replaced.
"""

from __future__ import annotations

import math
import os
import time

import numpy as np
import pytest

from neuroart._util import NeuroartError

# --------------------------------------------------------------------------- validate (no TF)


def test_validate_refuses_non_finite_and_out_of_range():
    from neuroart import validate as V

    for bad in (math.inf, -math.inf, math.nan, "inf", "nan", "x", None, True, [1]):
        with pytest.raises(NeuroartError, match="lr must be a finite number > 0"):
            V.finite("lr", bad, low=0, low_open=True)
    with pytest.raises(NeuroartError, match=r"lr must be a finite number > 0, got inf$"):
        V.finite("lr", float("inf"), low=0, low_open=True)
    with pytest.raises(NeuroartError, match=r"span must be a finite number > 0.5 and < 1, got 1.0"):
        V.finite("span", 1.0, low=0.5, low_open=True, high=1, high_open=True)
    assert V.finite("lr", "0.25", low=0) == 0.25 and V.finite("x", np.float32(2)) == 2.0
    for bad in (0, -1, 2.5, math.inf, math.nan, "3x", True, 10**9):
        with pytest.raises(NeuroartError, match="steps must be a positive integer"):
            V.positive_int("steps", bad, high=1000)
    assert V.positive_int("steps", 3.0) == 3 and V.positive_int("steps", np.int64(7)) == 7
    assert V.integer("seed", "12", low=0) == 12
    with pytest.raises(NeuroartError, match="frames must be an integer >= 2 and <= 1000, got 1"):
        V.integer("frames", 1, low=2, high=1000)


def test_validate_imports_neither_tensorflow_nor_click():
    import subprocess
    import sys

    code = "import sys, neuroart.validate; print('tensorflow' in sys.modules, 'click' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(lr=math.inf), "lr must be a finite number > 0, got inf"),
        (dict(lr=math.nan), "lr must be a finite number > 0, got nan"),
        (dict(lr=-1.0), "lr must be a finite number > 0"),
        (dict(temperature=math.inf), "temperature must be a finite number > 0"),
        (dict(l1=math.nan), "l1 must be a finite number"),
        (dict(tv=-math.inf), "tv must be a finite number"),
        (dict(jitter=math.inf), "jitter must be a finite number"),
        (dict(warp=50.0), "warp must be a finite number >= 0 and <= 6"),
        (dict(latent_lr=math.nan), "latent_lr must be a finite number > 0"),
        (dict(steps=math.inf), "steps must be a positive integer"),
        (dict(per_digit=0), "per_digit must be a positive integer"),
        (dict(seed=-1), "seed must be an integer >= 0"),
        (dict(objective="neuron", units=("x",)), "units must be an integer, got 'x'"),
        (dict(frames=math.inf), "frames must be an integer >= 0"),
    ],
)
def test_dream_refuses_non_finite_and_out_of_range_options(kwargs, message):
    from neuroart.dream import dream

    with pytest.raises(NeuroartError, match=message.replace("(", r"\(")):
        dream([3], **kwargs)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(lr=math.inf), "lr must be a finite number > 0, got inf"),
        (dict(octave_scale=math.nan), "octave_scale must be a finite number > 1"),
        (dict(contrast=math.inf), "contrast must be a finite number"),
        (dict(steps=0), "steps must be a positive integer"),
        (dict(digit=math.inf), "not a digit"),
    ],
)
def test_deepdream_refuses_non_finite_options(kwargs, message):
    from neuroart.dream import deepdream

    with pytest.raises(NeuroartError, match=message):
        deepdream(np.zeros((64, 64), np.float32), **kwargs)


def test_generators_refuse_non_finite_options():
    from neuroart.generate import generate, latent_map, morph
    from neuroart.generate.model import sharpen

    with pytest.raises(NeuroartError, match="temperature must be a finite number >= 0 and <= 10, got inf"):
        generate([3], temperature=math.inf)
    with pytest.raises(NeuroartError, match="temperature must be a finite number"):
        generate([3], temperature=math.nan)
    with pytest.raises(NeuroartError, match="per_digit must be a positive integer"):
        generate([3], per_digit=math.inf)
    with pytest.raises(NeuroartError, match="sharpness must be a finite number > 0"):
        generate([3], sharpness=math.nan)
    with pytest.raises(NeuroartError, match="sharpness must be a finite number > 0"):
        sharpen(np.zeros((1, 28, 28)), math.inf)
    with pytest.raises(NeuroartError, match="truncation must be a finite number"):
        generate([3], truncation=math.nan)
    with pytest.raises(NeuroartError, match="span must be a finite number"):
        latent_map(span=math.nan)
    with pytest.raises(NeuroartError, match="frames must be an integer"):
        morph(3, 8, frames=math.inf)
    for call in (lambda: generate([3], seed=-1), lambda: morph(3, 8, seed=-1), lambda: latent_map(seed=math.nan)):
        with pytest.raises(NeuroartError, match="seed must be an integer >= 0"):
            call()


def test_reconstruct_more_digits_than_the_data_has(tmp_path):
    from neuroart.generate import reconstruct

    x = np.zeros((5, 28, 28), np.uint8)
    np.savez(tmp_path / "small.npz", x_train=x, y_train=np.zeros(5, np.uint8), x_test=x, y_test=np.zeros(5, np.uint8))
    with pytest.raises(NeuroartError, match="n must be at most the 5 test digits"):
        reconstruct(n=10, data=str(tmp_path / "small.npz"), model="vae")
    with pytest.raises(NeuroartError, match="seed must be an integer >= 0"):
        reconstruct(n=2, seed=-3, data=str(tmp_path / "small.npz"), model="vae")


def test_trainers_refuse_non_finite_options(tmp_path):
    from neuroart.classify import train_classifier
    from neuroart.generate.train import train_generator

    with pytest.raises(NeuroartError, match="learning_rate must be a finite number > 0"):
        train_classifier(learning_rate=math.inf, out=tmp_path / "m.keras", show_progress=False)
    with pytest.raises(NeuroartError, match="epochs must be a positive integer"):
        train_classifier(epochs=math.nan, out=tmp_path / "m.keras", show_progress=False)
    with pytest.raises(NeuroartError, match="epochs must be a positive integer"):
        train_generator("ae", epochs=math.inf, out=tmp_path / "g.keras", progress=False)
    assert os.listdir(tmp_path) == []


def test_cli_dream_lr_inf_is_one_line_and_writes_nothing(invoke, assert_clean_error, files_in, tmp_path):
    (tmp_path / "dream.png").write_bytes(b"old")
    for value in ("inf", "nan", "-inf"):
        r = invoke("dream", "3", "--lr", value, "--steps", "2", "--out", "dream.png")
        assert_clean_error(r, "lr must be a finite number > 0")
        assert r.exit_code == 1
    assert files_in(tmp_path) == ["dream.png"] and (tmp_path / "dream.png").read_bytes() == b"old"


# --------------------------------------------------------------------------- model contracts


def _save(model, path):
    model.save(path)
    return path


@pytest.fixture(scope="module")
def bad_models(tmp_path_factory):
    """Models that break the classifier contract, saved as .keras files."""
    from neuroart._util import keras

    k = keras()
    folder = tmp_path_factory.mktemp("models")
    inp = k.Input((28, 28))
    h = k.layers.Flatten()(inp)
    five_units = k.Model(inp, k.layers.Dense(5, activation="softmax")(h))
    heads = k.Model(inp, [k.layers.Dense(10, activation="softmax", name=f"head{i}")(h) for i in range(5)])
    inp2 = k.Input((32, 32, 3))
    wrong_input = k.Model(inp2, k.layers.Dense(10)(k.layers.Flatten()(inp2)))
    return {
        "five_units": _save(five_units, folder / "five_units.keras"),
        "five_heads": _save(heads, folder / "five_heads.keras"),
        "wrong_input": _save(wrong_input, folder / "wrong_input.keras"),
    }


@pytest.mark.parametrize("which, fragment", [
    ("five_units", "its output is 5, not 10 digit scores"),
    ("five_heads", "it has 5 outputs"),
    ("wrong_input", "its input is 32x32x3, not 28x28 images"),
])
def test_classifier_contract_checked_on_load(bad_models, which, fragment):
    from neuroart.models import load_classifier, load_model

    path = bad_models[which]
    with pytest.raises(NeuroartError, match=fragment) as e:
        load_classifier(path)
    assert str(e.value).startswith(f"{path}: not a digit classifier") and "\n" not in str(e.value)
    load_model(path)  # without a role the file still loads (info, scripts)
    with pytest.raises(NeuroartError, match=fragment):  # a loaded object is checked too
        load_classifier(load_model(path))


@pytest.mark.parametrize("which", ["five_units", "five_heads"])
def test_cli_classify_evaluate_dream_refuse_a_broken_classifier(
        bad_models, which, invoke, assert_clean_error, files_in, tmp_path, digit_png):
    path = bad_models[which]
    digit = digit_png()
    r = invoke("classify", digit.name, "--model", path)
    assert_clean_error(r, str(path), "not a digit classifier")
    assert r.exit_code == 1
    r = invoke("evaluate", "--model", path)
    assert_clean_error(r, str(path), "not a digit classifier")
    assert r.exit_code == 1
    (tmp_path / "old.png").write_bytes(b"the user's old picture")
    before = files_in(tmp_path)
    r = invoke("dream", "3", "--model", path, "--steps", "2", "--out", "old.png")
    assert_clean_error(r, str(path), "not a digit classifier")
    assert r.exit_code == 1
    assert files_in(tmp_path) == before
    assert (tmp_path / "old.png").read_bytes() == b"the user's old picture"


def test_other_callers_check_the_classifier_contract(bad_models):
    from neuroart.classify import evaluate
    from neuroart.classify.read import classify_images
    from neuroart.dream import deepdream
    from neuroart.explain import explain
    from neuroart.metrics import judge_predict

    path = bad_models["five_units"]
    x = np.zeros((2, 28, 28), np.float32)
    for call in (
        lambda: classify_images(x, model=path),
        lambda: evaluate(path, x, np.zeros(2, np.int64)),
        lambda: judge_predict(x, path),
        lambda: explain(x, model=path),
        lambda: explain(x, model=str(path)),
        lambda: deepdream(np.zeros((64, 64), np.float32), model=path, steps=1),
        lambda: deepdream(np.zeros((64, 64), np.float32), model=str(path), steps=1),
    ):
        with pytest.raises(NeuroartError, match="not a digit classifier"):
            call()


def test_generator_and_prior_contracts(bad_models):
    from neuroart.dream import dream
    from neuroart.generate import generate
    from neuroart.models import load_model

    with pytest.raises(NeuroartError, match="not a neuroart generator"):
        generate(model=bad_models["five_units"])
    with pytest.raises(NeuroartError, match="not an autoencoder"):
        dream([3], steps=2, prior=str(bad_models["five_units"]))
    with pytest.raises(NeuroartError, match="a conditional generator cannot denoise"):
        load_model("cvae", role="prior")
    with pytest.raises(NeuroartError, match="a vae generator, not a digit classifier"):
        load_model("vae", role="classifier")
    assert load_model("vae", role="prior") is load_model("vae", role="generator")


# --------------------------------------------------------------------------- evaluate, empty data


def test_evaluate_with_zero_images_is_one_clear_error(invoke, assert_clean_error, tmp_path):
    from neuroart.classify import evaluate

    x = np.zeros((5, 28, 28), np.uint8)
    np.savez(tmp_path / "empty.npz", x_train=x, y_train=np.zeros(5, np.uint8),
             x_test=np.zeros((0, 28, 28), np.uint8), y_test=np.zeros(0, np.uint8))
    r = invoke("evaluate", "--data", "empty.npz")
    assert_clean_error(r, "no test images to evaluate")
    assert r.exit_code == 1 and "nan" not in r.output
    with pytest.raises(NeuroartError, match="no test images to evaluate"):
        evaluate("mlp", np.zeros((0, 28, 28), np.float32), np.zeros(0, np.int64))
    with pytest.raises(NeuroartError, match="3 test images but 2 labels"):
        evaluate("mlp", np.zeros((3, 28, 28), np.float32), np.zeros(2, np.int64))


# --------------------------------------------------------------------------- stale temporary files


def _age(path, seconds):
    t = time.time() - seconds
    os.utime(path, (t, t))


def _dead_pid():
    pid = 2**22 - 7  # above the usual pid_max: no such process
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return pid
        except PermissionError:
            pass
        pid -= 1


def test_save_model_removes_stale_temp_files_of_killed_runs(tmp_path):
    from neuroart._util import keras
    from neuroart.models import save_model

    k = keras()
    inp = k.Input((28, 28))
    model = k.Model(inp, k.layers.Dense(10)(k.layers.Flatten()(inp)))
    dead = _dead_pid()
    stale = [  # what kill -9 during a save leaves: the model and card temp files
        tmp_path / ".g.keras.abcd1234.keras",  # the older name, without a pid
        tmp_path / ".g.json.x_y9z0ab.json.tmp",
        tmp_path / f".g.keras.{dead}-k2k2k2k2.keras",
        tmp_path / f".g.json.{dead}-qqqqqqqq.json.tmp",
    ]
    fresh = tmp_path / f".g.keras.{dead}-fresh123.keras"  # a few seconds old: could be in use
    live = tmp_path / f".g.keras.{os.getpid()}-live1234.keras"  # a live writer's, however old
    other = [tmp_path / ".h.keras.abcd1234.keras", tmp_path / ".g.keras.notours.bak", tmp_path / "g.keras.abcd1234.keras"]
    for p in [*stale, fresh, live, *other]:
        p.write_bytes(b"partial")
        _age(p, 3600)
    _age(fresh, 5)
    save_model(model, tmp_path / "g.keras", {"name": "g"})
    left = sorted(os.listdir(tmp_path))
    assert left == sorted(["g.keras", "g.json", fresh.name, live.name, *(p.name for p in other)])


def test_atomic_write_leaves_no_temp_file(tmp_path):
    from neuroart.outputs import save_grid

    save_grid(np.zeros((2, 28, 28)), tmp_path / "a.png")
    assert os.listdir(tmp_path) == ["a.png"]


# --------------------------------------------------------------------------- grids


def test_save_grid_refuses_a_ragged_list(tmp_path):
    from neuroart.imaging import make_grid
    from neuroart.outputs import save_grid

    ragged = [np.zeros((28, 28)), np.zeros((14, 14))]
    with pytest.raises(NeuroartError, match=r"images must all have the same shape \(got \(14, 14\), \(28, 28\)\)"):
        save_grid(ragged, tmp_path / "g.png")
    with pytest.raises(NeuroartError, match="same shape"):
        make_grid([np.zeros((28, 28)), np.zeros((28,))])
    with pytest.raises(NeuroartError, match="numbers"):
        make_grid(np.array([["a", "b"]]))
    assert os.listdir(tmp_path) == []


def test_save_grid_reads_integer_pixels_as_bytes(tmp_path):
    from PIL import Image

    from neuroart.imaging import make_grid
    from neuroart.outputs import save_grid, save_image

    ints = np.full((1, 4, 4), 128, np.int64)
    floats = np.full((1, 4, 4), 128 / 255, np.float32)
    bytes_ = np.full((1, 4, 4), 128, np.uint8)
    a, b, c = (make_grid(x, scale=1, pad=0) for x in (ints, floats, bytes_))
    assert (a == 128).all() and (a == b).all() and (a == c).all()  # ink 128 stays mid-grey
    save_grid([[[0, 255], [128, 64]]], tmp_path / "list.png", scale=1, pad=0)
    assert np.asarray(Image.open(tmp_path / "list.png"))[..., 0].tolist() == [[0, 255], [128, 64]]
    save_image(np.full((3, 3), 200, np.int32), tmp_path / "one.png")
    assert (np.asarray(Image.open(tmp_path / "one.png")) == 200).all()
    assert (make_grid(np.ones((1, 2, 2), bool), scale=1, pad=0) == 255).all()  # booleans are 0/1
    for bad in (np.full((1, 4, 4), 300), np.full((1, 4, 4), -1)):
        with pytest.raises(NeuroartError, match="integer pixels must be bytes 0-255"):
            save_grid(bad, tmp_path / "bad.png")
    assert not (tmp_path / "bad.png").exists()


def test_grid_and_gif_options_are_checked(tmp_path):
    from neuroart.imaging import make_grid
    from neuroart.outputs import save_gif

    x = np.zeros((4, 28, 28), np.float32)
    for kwargs, message in ((dict(pad=math.inf), "pad must be an integer"), (dict(pad=-1), "pad must be an integer"),
                            (dict(ncols=math.nan), "ncols must be an integer >= 1"),
                            (dict(ncols=-2), "ncols must be an integer >= 1")):
        with pytest.raises(NeuroartError, match=message):
            make_grid(x, **kwargs)
    assert make_grid(x, ncols=0, scale=1, pad=0).shape == (56, 56, 3)  # 0 or None: a square grid
    with pytest.raises(NeuroartError, match="duration_ms must be an integer >= 1"):
        save_gif(list(x), tmp_path / "a.gif", duration_ms=math.nan)
    assert os.listdir(tmp_path) == []


def test_classify_top_is_checked():
    from neuroart.classify.read import classify_images

    for top in (0, 11, math.inf, "x"):
        with pytest.raises(NeuroartError, match="top must be an integer >= 1 and <= 10"):
            classify_images(np.zeros((1, 28, 28), np.float32), top=top)
