import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from neuroart import models
from neuroart._util import NeuroartError
from neuroart.classify import model as classifier_model
from neuroart.classify import train as classifier


@pytest.mark.parametrize("name,floor", [("mlp", 0.977), ("cnn", 0.992)])
def test_bundled_classifier_accuracy_on_real_test_set(name, floor, test_digits):
    x, y = test_digits
    scores = classifier.evaluate(models.load_model(name), x, y)
    assert scores["accuracy"] >= floor, scores
    card = models.load_card(name)
    assert card["test_accuracy"] == pytest.approx(scores["accuracy"], abs=1e-4)
    assert card["sha256"] == models.file_sha256(models.resolve(name))
    for key in ("architecture", "data_source", "seed", "epochs", "train_seconds", "neuroart_version"):
        assert key in card, key
    assert card["train_images"] == 60000


def test_mlp_is_the_articles_model():
    m = classifier_model.build_mlp()
    kinds = [(type(layer).__name__, layer.get_config().get("units"), layer.get_config().get("activation"))
             for layer in m.layers]
    assert kinds == [("Flatten", None, None), ("Dense", 128, "relu"), ("Dropout", None, None),
                     ("Dense", 10, "softmax")]
    assert m.layers[2].rate == 0.2


def test_plain_keras_loads_the_bundled_files():
    """The files work in a user's own Keras script, without neuroart."""
    code = (
        "import os, sys; os.environ['TF_CPP_MIN_LOG_LEVEL']='3'\n"
        "import keras, numpy as np\n"
        "for p in sys.argv[1:]:\n"
        "    m = keras.saving.load_model(p)\n"
        "    print(m(np.zeros((1, 28, 28), 'float32')).shape)\n"
    )
    paths = [str(models.resolve(n)) for n in classifier_model.ARCHS]
    out = subprocess.run([sys.executable, "-c", code, *paths], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["(1,", "10)"] * len(classifier_model.ARCHS)


@pytest.mark.slow
def test_tiny_training_learns_and_is_reproducible(tmp_path):
    a, card = classifier.train_classifier(limit=3000, epochs=2, seed=3, data="auto", show_progress=False,
                                          out=tmp_path / "a.keras")
    assert card["test_accuracy"] > 0.85, card
    b, _ = classifier.train_classifier(limit=3000, epochs=2, seed=3, data="auto", show_progress=False)
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)
    saved = json.loads((tmp_path / "a.json").read_text())
    assert saved["sha256"] == models.file_sha256(tmp_path / "a.keras")
    reloaded = models.load_model(tmp_path / "a.keras")
    x = np.random.default_rng(0).random((4, 28, 28), dtype=np.float32)
    np.testing.assert_allclose(reloaded(x), a(x), atol=1e-6)


def test_bad_model_files(tmp_path):
    with pytest.raises(NeuroartError, match="unknown model"):
        models.load_model("resnet")
    (tmp_path / "broken.keras").write_bytes(b"PK\x03\x04 definitely not a zip")
    with pytest.raises(NeuroartError, match="not a .keras model|cannot load"):
        models.load_model(tmp_path / "broken.keras")
    good = models.resolve("mlp").read_bytes()
    (tmp_path / "cut.keras").write_bytes(good[: len(good) // 3])
    with pytest.raises(NeuroartError, match="not a .keras model|cannot load"):
        models.load_model(tmp_path / "cut.keras")


def test_failed_save_keeps_the_previous_model(tmp_path, monkeypatch):
    target = tmp_path / "m.keras"
    target.write_bytes(b"previous model")
    model = classifier_model.build_mlp()

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(model, "save", boom)
    with pytest.raises(OSError):
        models.save_model(model, target, {"name": "x"})
    assert target.read_bytes() == b"previous model"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.keras"]


def _h5_groups(path):
    import io
    import zipfile

    import h5py

    with zipfile.ZipFile(path) as zf, h5py.File(io.BytesIO(zf.read("model.weights.h5"))) as f:
        return set(f)


@pytest.mark.parametrize("name", models.bundled())
def test_bundled_files_hold_weights_only(name):
    """No optimizer state in the bundled files (issue 19: 28 MB of which Adam's moments were most)."""
    assert "optimizer" not in _h5_groups(models.resolve(name))


def test_save_model_writes_weights_only_and_keeps_the_optimizer(tmp_path):
    import warnings

    import keras

    model = classifier_model.build_mlp()
    model.compile("adam", "sparse_categorical_crossentropy")
    x = np.random.default_rng(0).random((32, 28, 28), dtype=np.float32)
    model.fit(x, np.arange(32) % 10, epochs=1, verbose=0)
    opt = model.optimizer
    models.save_model(model, tmp_path / "m.keras", {"name": "m"})
    assert model.optimizer is opt and model.compiled  # the caller's model is as it was
    assert _h5_groups(tmp_path / "m.keras") == {"layers", "vars"}
    assert (tmp_path / "m.keras").stat().st_size < 1.1 * 4 * 101_770 + 20_000  # float32 weights and the config
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # plain Keras loads it without "skipping optimizer variables"
        again = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(again(x), model(x))


# --------------------------------------------------------------------------- the classifier contract


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


def test_evaluate_refuses_empty_and_mismatched_data():
    from neuroart.classify import evaluate

    with pytest.raises(NeuroartError, match="no test images to evaluate"):
        evaluate("mlp", np.zeros((0, 28, 28), np.float32), np.zeros(0, np.int64))
    with pytest.raises(NeuroartError, match="3 test images but 2 labels"):
        evaluate("mlp", np.zeros((3, 28, 28), np.float32), np.zeros(2, np.int64))


def test_classify_top_is_checked():
    import math

    from neuroart.classify.read import classify_images

    for top in (0, 11, math.inf, "x"):
        with pytest.raises(NeuroartError, match="top must be an integer >= 1 and <= 10"):
            classify_images(np.zeros((1, 28, 28), np.float32), top=top)


def test_train_classifier_refuses_non_finite_options(tmp_path):
    import math

    with pytest.raises(NeuroartError, match="learning_rate must be a finite number > 0"):
        classifier.train_classifier(learning_rate=math.inf, out=tmp_path / "m.keras", show_progress=False)
    with pytest.raises(NeuroartError, match="epochs must be a positive integer"):
        classifier.train_classifier(epochs=math.nan, out=tmp_path / "m.keras", show_progress=False)
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- saving (neuroart.models)


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
