"""The generator commands through click's CliRunner: outputs, reproducibility, and bad input."""

from __future__ import annotations

import io

import numpy as np
import pytest


@pytest.fixture
def run(invoke):
    return invoke


@pytest.fixture
def _one_line_error(assert_clean_error):
    def check(result, *fragments):
        assert_clean_error(result, *fragments)
        return result.stderr.strip()

    return check


def test_generate_grid_and_npz(run, tmp_path):
    from neuroart.outputs import read_recipe

    result = run("generate", "3", "7", "--per-digit", "4", "--seed", "2", "--out", "g.png", "--npz", "g.npz")
    assert result.exit_code == 0, result.output
    assert "wrote g.png" in result.output and "wrote g.npz" in result.output
    with np.load(tmp_path / "g.npz", allow_pickle=False) as f:
        images, labels = f["images"], f["labels"]
    assert images.shape == (8, 28, 28) and images.dtype == np.float32
    assert 0 <= images.min() and images.max() <= 1
    np.testing.assert_array_equal(labels, [3, 3, 3, 3, 7, 7, 7, 7])
    recipe = read_recipe(tmp_path / "g.png")
    assert recipe["argv"][:3] == ["generate", "3", "7"] and recipe["seed"] == 2
    assert recipe["model"] == "cvae" and len(recipe["model_sha256"]) == 16


@pytest.mark.slow
def test_large_batch_without_grid(run, tmp_path):
    result = run("generate", "--per-digit", "600", "--no-grid", "--npz", "big.npz")
    assert result.exit_code == 0, result.output
    assert [p.name for p in tmp_path.iterdir()] == ["big.npz"]
    with np.load(tmp_path / "big.npz") as f:
        assert f["images"].shape == (6000, 28, 28)
        np.testing.assert_array_equal(np.bincount(f["labels"]), [600] * 10)


def test_same_seed_same_bytes(run, tmp_path):
    args = ["generate", "0", "5", "--per-digit", "3", "--seed", "11", "--out", "s.png", "--npz", "s.npz"]
    assert run(*args).exit_code == 0
    png, npz = (tmp_path / "s.png").read_bytes(), (tmp_path / "s.npz").read_bytes()
    assert run(*args).exit_code == 0
    assert (tmp_path / "s.png").read_bytes() == png
    assert (tmp_path / "s.npz").read_bytes() == npz
    other = ["generate", "0", "5", "--per-digit", "3", "--seed", "12", "--out", "s.png", "--npz", "s.npz"]
    assert run(*other).exit_code == 0
    with np.load(tmp_path / "s.npz") as f, np.load(io.BytesIO(npz)) as g:
        assert np.abs(f["images"] - g["images"]).max() > 0.1


@pytest.mark.parametrize(
    "args, message",
    [
        (["generate", "10"], "digit 10"),
        (["generate", "x"], "not a digit"),
        (["generate", "--per-digit", "0"], "--per-digit must be"),
        (["generate", "--per-digit", "600"], "too large to draw"),
        (["generate", "--no-grid"], "needs --npz"),
        (["generate", "--model", "gan"], "unknown model"),
        (["generate", "--out", "grid.jpg"], ".png"),
        (["generate", "--npz", "nowhere/x.npz"], "folder does not exist"),
        (["generate", "--cmap", "rainbow"], "--cmap"),
        (["morph", "3", "8", "--frames", "1"], "frames"),
        (["morph", "3", "missing.png"], "neither a digit"),
        (["latent-map", "--model", "cvae"], "choose a digit"),
        (["latent-map", "--plane", "0,99"], "plane"),
        (["reconstruct", "--n", "0"], "n must be"),
        (["generate", "--temperature", "inf"], "--temperature must be a finite number >= 0 and <= 10, got inf"),
        (["generate", "--temperature", "nan"], "--temperature must be a finite number"),
        (["generate", "--truncation", "nan"], "--truncation must be a finite number"),
        (["generate", "--sharpness", "nan"], "--sharpness must be a finite number > 0"),
        (["latent-map", "--span", "nan"], "--span must be a finite number"),
        (["latent-map", "--span", "1"], "--span must be a finite number > 0.5 and < 1"),
    ],
)
def test_bad_input_one_line_no_files(run, tmp_path, args, message, _one_line_error, files_in):
    _one_line_error(run(*args), message)
    assert files_in(tmp_path) == []


def test_corrupted_model_file(run, tmp_path, _one_line_error):
    (tmp_path / "broken.keras").write_bytes(b"PK\x03\x04 definitely not a keras file")
    line = _one_line_error(run("generate", "--model", "broken.keras", "--out", "x.png"))
    assert "broken.keras" in line
    assert not (tmp_path / "x.png").exists()
    from neuroart.models import WEIGHTS_DIR

    (tmp_path / "cut.keras").write_bytes((WEIGHTS_DIR / "vae.keras").read_bytes()[:20000])
    _one_line_error(run("morph", "1", "2", "--model", "cut.keras"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.keras", "cut.keras"]


def test_unknown_generator_kind():
    from neuroart._util import NeuroartError
    from neuroart.generate.train import train_generator

    with pytest.raises(NeuroartError, match="unknown generator kind 'gan'"):
        train_generator("gan", progress=False)


def test_reconstruct_morph_and_map(run, tmp_path):
    from PIL import Image

    r = run("reconstruct", "--n", "5", "--out", "r.png")
    assert r.exit_code == 0, r.output
    assert "mean squared pixel error" in r.output
    m = run("morph", "3", "8", "--frames", "6", "--out", "m.png", "--gif", "m.gif")
    assert m.exit_code == 0, m.output
    assert "3 -> 8" in m.output
    with Image.open(tmp_path / "m.gif") as gif:
        assert gif.n_frames == 6 + 4  # forward then back (bounce), ends not repeated
    lm = run("latent-map", "--size", "6", "--out", "map.png")
    assert lm.exit_code == 0, lm.output
    assert "decoder's two most visible directions" in lm.output
    one = run("latent-map", "--model", "cvae", "--digit", "4", "--size", "4", "--plane", "0,1", "--out", "m4.png")
    assert one.exit_code == 0, one.output
    for name in ("r.png", "m.png", "map.png", "m4.png"):
        assert (tmp_path / name).stat().st_size > 500
    # the map is a 6x6 grid of 28*3-pixel cells with no padding
    with Image.open(tmp_path / "map.png") as im:
        assert im.size == (6 * 84, 6 * 84)


def test_reconstruct_and_morph_user_images(run, tmp_path, mnist):
    from PIL import Image

    _, (xt, yt) = mnist
    three = xt[np.flatnonzero(yt == 3)[0]]
    big = Image.fromarray(255 - three).resize((140, 140))  # dark ink on white, any size
    big.save(tmp_path / "three.png")
    r = run("reconstruct", "three.png", "--out", "r.png")
    assert r.exit_code == 0, r.output
    m = run("morph", "three.png", "8", "--frames", "4", "--out", "m.png")
    assert m.exit_code == 0, m.output
    assert "3 -> 8" in m.output


@pytest.mark.parametrize(
    "args",
    [
        ["morph", "2", "5", "--frames", "5", "--seed", "3", "--out", "o.png", "--gif", "o.gif"],
        ["latent-map", "--size", "4", "--seed", "2", "--out", "o.png"],
        ["reconstruct", "--n", "4", "--seed", "5", "--out", "o.png"],
    ],
)
def test_other_commands_same_seed_same_bytes(run, tmp_path, args):
    assert run(*args).exit_code == 0
    first = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    for p in tmp_path.iterdir():
        p.unlink()
    assert run(*args).exit_code == 0
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == first


def test_help_says_what_latent_map_and_morph_show(run):
    text = " ".join(run("latent-map", "--help").output.split())
    assert "not all ten" in text and "all digits" not in text
    text = " ".join(run("morph", "--help").output.split())
    assert "picked by --seed" in text and "another --seed" in text


def test_reconstruct_more_digits_than_the_data_has(run, tmp_path, _one_line_error):
    x = np.zeros((5, 28, 28), np.uint8)
    np.savez(tmp_path / "small.npz", x_train=x, y_train=np.zeros(5, np.uint8), x_test=x, y_test=np.zeros(5, np.uint8))
    _one_line_error(run("reconstruct", "--n", "10", "--data", "small.npz", "--model", "vae"),
                    "--n must be at most the 5 test digits")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["small.npz"]


def test_a_classifier_is_not_a_generator(run, tmp_path, bad_models, _one_line_error):
    _one_line_error(run("generate", "--model", str(bad_models["five_units"])), "not a neuroart generator")
    _one_line_error(run("morph", "1", "2", "--model", "mlp"), "not a neuroart generator")
    assert list(tmp_path.iterdir()) == []


def test_generate_cli_shards_concatenate_byte_for_byte(run, tmp_path):
    args = ["generate", "2", "7", "5", "--per-digit", "4", "--seed", "3", "--no-grid"]
    assert run(*args, "--npz", "all.npz").exit_code == 0  # the unsharded run
    for i in range(2):
        assert run(*args, "--npz", f"p{i}.npz", "--shard", f"{i}/2").exit_code == 0
    whole = np.load(tmp_path / "all.npz")
    parts = [np.load(tmp_path / f"p{i}.npz") for i in range(2)]
    for key in ("images", "labels"):
        assert np.concatenate([p[key] for p in parts]).tobytes() == whole[key].tobytes()
