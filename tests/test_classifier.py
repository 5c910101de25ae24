import json
import subprocess
import sys

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
