"""Shared fixtures. The whole suite runs in one process: TensorFlow is imported once."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
from click.testing import CliRunner


@pytest.fixture(scope="session")
def mnist():
    """The real MNIST split (the offline copy, or $NEUROART_MNIST when set; no network)."""
    from neuroart.data import load_mnist

    return load_mnist("auto")


@pytest.fixture(scope="session")
def test_digits(mnist):
    """The 10k MNIST test digits as float32 in [0, 1], with labels."""
    from neuroart.data import to_float

    _, (x, y) = mnist
    return to_float(x), y


@pytest.fixture(scope="session")
def pick_test_digits(test_digits):
    """`pick_test_digits(n, seed)`: n distinct MNIST test digits chosen by seed, with their labels."""

    def pick(n, seed):
        x, y = test_digits
        idx = np.random.default_rng(seed).choice(len(x), n, replace=False)
        return x[idx], y[idx]

    return pick


@pytest.fixture
def runner():
    try:
        return CliRunner(mix_stderr=False)
    except TypeError:  # click >= 8.2 always keeps stderr apart
        return CliRunner()


@pytest.fixture
def invoke(runner, tmp_path, monkeypatch):
    """Run `neuroart ARGS...` in a temporary folder; returns the click Result."""
    from neuroart.cli import main

    monkeypatch.chdir(tmp_path)

    def run(*args):
        return runner.invoke(main, [str(a) for a in args], catch_exceptions=False)

    return run


def _assert_clean_error(result, *fragments):
    """One line on stderr, non-zero exit, no traceback."""
    assert result.exit_code != 0, result.output
    err = result.stderr.strip()
    assert err.startswith("Error:"), err
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in result.output + err
    for f in fragments:
        assert f.lower() in err.lower(), (f, err)


def _files_in(folder):
    """Every file under `folder` (to check that a failed command left nothing behind)."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


@pytest.fixture
def digit_png(tmp_path):
    """Write a hand-made digit: black ink on white, large and off-centre."""

    def make(name="seven.png", size=(300, 240)):
        from PIL import Image, ImageDraw

        img = Image.new("RGB", size, "white")
        d = ImageDraw.Draw(img)
        # a "7": top bar and a slanted stroke, placed towards the top-right corner
        d.line([(130, 40), (260, 40)], fill="black", width=18)
        d.line([(260, 40), (170, 200)], fill="black", width=18)
        path = tmp_path / name
        img.save(path)
        return path

    return make


@pytest.fixture
def assert_clean_error():
    """`assert_clean_error(result, *fragments)`: one `Error:` line on stderr, exit != 0, no traceback."""
    return _assert_clean_error


@pytest.fixture
def files_in():
    """`files_in(folder)`: every file under folder, to check that a failed command left nothing."""
    return _files_in


@pytest.fixture(scope="session")
def bad_models(tmp_path_factory):
    """Models that break the classifier contract, saved as .keras files: 5 scores, 5 heads, 32x32x3 input."""
    from neuroart._util import keras

    k = keras()
    folder = tmp_path_factory.mktemp("models")
    inp = k.Input((28, 28))
    h = k.layers.Flatten()(inp)
    five_units = k.Model(inp, k.layers.Dense(5, activation="softmax")(h))
    heads = k.Model(inp, [k.layers.Dense(10, activation="softmax", name=f"head{i}")(h) for i in range(5)])
    inp2 = k.Input((32, 32, 3))
    wrong_input = k.Model(inp2, k.layers.Dense(10)(k.layers.Flatten()(inp2)))
    paths = {}
    for name, model in (("five_units", five_units), ("five_heads", heads), ("wrong_input", wrong_input)):
        paths[name] = folder / f"{name}.keras"
        model.save(paths[name])
    return paths


@contextlib.contextmanager
def serving(app, port: int):
    """`app` served by uvicorn in a thread on 127.0.0.1:`port`, as `neuroart studio` serves it (its
    protocol and limits; log_config=None: uvicorn leaves logging alone, its handlers would keep
    pytest's capture stream); stopped on exit."""
    import threading
    import time

    import uvicorn

    from neuroart.studio.server import config

    srv = uvicorn.Server(config(app, host="127.0.0.1", port=port, log_config=None))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        assert time.monotonic() < deadline, "the studio did not start"
        time.sleep(0.05)
    try:
        yield srv
    finally:
        srv.should_exit = True
        thread.join(10)
