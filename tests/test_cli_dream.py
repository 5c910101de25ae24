"""`neuroart dream` and `neuroart deepdream` through click's CliRunner."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from neuroart.cli import main

FAST = ["--per-digit", "2"]  # the default dream: through the few-step flow
PIXEL = ["--prior", "auto", "--steps", "20", "--per-digit", "2"]  # the pixel dream (with its vae prior)


@pytest.fixture
def run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    def _run(*args):
        return CliRunner().invoke(main, list(args), catch_exceptions=False)

    return _run


def _one_line_error(result, text):
    assert result.exit_code != 0
    out = result.output.strip()
    assert text in out, out
    assert "Traceback" not in out
    assert len(out.splitlines()) == 1, out


def test_default_dream_writes_a_labelled_grid_in_the_current_folder(run, tmp_path):
    r = run("dream", *FAST)
    assert r.exit_code == 0, r.output
    assert r.stdout.strip() == "wrote dream.png"  # the path on stdout; the progress bar is on stderr
    from PIL import Image

    from neuroart.outputs import read_recipe

    with Image.open(tmp_path / "dream.png") as im:
        assert im.size[0] > 2 * 28 * 3 and im.size[1] > 10 * 28 * 3  # 10 rows of 2, scale 3
    rec = read_recipe(tmp_path / "dream.png")
    assert rec["seed"] == 0 and rec["model"] == "mlp" and "dream" in rec["command"]


def test_same_seed_same_bytes_png_and_npz(run, tmp_path):
    args = ["dream", "3", "7", *FAST, "--seed", "5", "--npz", "a.npz", "--out", "a.png"]
    assert run(*args).exit_code == 0
    png1, npz1 = (tmp_path / "a.png").read_bytes(), (tmp_path / "a.npz").read_bytes()
    assert run(*args).exit_code == 0
    assert (tmp_path / "a.png").read_bytes() == png1
    assert (tmp_path / "a.npz").read_bytes() == npz1
    with np.load(tmp_path / "a.npz", allow_pickle=False) as f:
        assert f["images"].dtype == np.float32 and f["images"].shape == (4, 28, 28)
        assert f["labels"].tolist() == [3, 3, 7, 7]
        assert 0 <= f["images"].min() and f["images"].max() <= 1
    other = ["dream", "3", "7", *FAST, "--seed", "6", "--npz", "b.npz", "--out", "b.png"]
    assert run(*other).exit_code == 0
    assert (tmp_path / "b.npz").read_bytes() != npz1


def test_gif_of_the_ascent(run, tmp_path):
    r = run("dream", "4", "--prior", "auto", "--steps", "10", "--per-digit", "2", "--gif", "up.gif", "--cmap", "magma")
    assert r.exit_code == 0, r.output
    from PIL import Image

    with Image.open(tmp_path / "up.gif") as im:
        assert im.n_frames > 5


def test_start_from_a_users_image_and_fourier(run, tmp_path):
    from PIL import Image

    img = np.zeros((60, 40), np.uint8)
    img[10:50, 18:22] = 255  # a "1"
    Image.fromarray(img).save(tmp_path / "one.png")
    r = run("dream", "7", "--start", "one.png", "--param", "fourier", *PIXEL, "--out", "o.png")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "o.png").is_file()


# The CLI's own table of dream option errors: what the command line checks before TensorFlow
# loads, how it names a flag (`--lr`, not `lr`), and its files. The library's checks of the same
# options are tested once, in tests/test_dream.py.
@pytest.mark.parametrize(
    "args, message",
    [
        (["dream", "10"], "digit 10 is out of range"),
        (["dream", "x"], "not a digit"),
        (["dream", "--steps", "0"], "--steps must be a positive integer"),
        (["dream", "--per-digit", "0"], "--per-digit must be a positive integer"),
        (["dream", "--lr", "inf"], "--lr must be a finite number > 0, got inf"),
        (["dream", "--lr", "nan"], "--lr must be a finite number > 0, got nan"),
        (["dream", "--lr", "-1"], "--lr must be a finite number > 0"),
        (["dream", "--temperature", "inf"], "--temperature must be a finite number > 0"),
        (["dream", "--l1", "nan"], "--l1 must be a finite number"),
        (["dream", "--tv", "-inf"], "--tv must be a finite number"),
        (["dream", "--diversity", "nan"], "--diversity must be a finite number"),
        (["dream", "--objective", "neuron", "--layer", "nope"], "unknown layer 'nope'"),
        (["dream", "--objective", "neuron", "--layer", "dense", "--unit", "999"], "unit 999 is out of range"),
        (["dream", "--objective", "neuron", "--unit", "x-y"], "bad --unit 'x-y'"),
        (["dream", "--objective", "neuron", "--unit", "-1"], "unit -1 is out of range"),
        (["dream", "--model", "nope"], "unknown model 'nope'"),
        (["dream", "--prior", "nope", "--steps", "2"], "unknown --prior 'nope'"),
        (["dream", "--prior", "cvae", "--steps", "2"], "--prior cvae cannot denoise unlabelled images"),
        (["dream", "--start", "missing.png"], "missing.png: no such file"),
        (["dream", "--start", "digit:12"], "digit 12 is out of range"),
        (["dream", "--npz", "x.txt"], "--npz must be a .npz file"),
        (["dream", "--out", "nofolder/x.png"], "folder does not exist"),
        (["dream", "--cmap", "rainbowz"], "--cmap"),
        (["dream", "--prior", "none", "--hand", "2"], "--hand: steers a dream through the flow"),
        (["dream", "--gradient", "up"], "--gradient"),
        (["deepdream", "p.png", "--lr", "inf"], "--lr must be a finite number > 0, got inf"),
        (["deepdream", "p.png", "--octave-scale", "nan"], "--octave-scale must be a finite number > 1"),
    ],
)
def test_dream_bad_input_one_line_no_files(run, tmp_path, args, message):
    _photo(tmp_path / "p.png")
    (tmp_path / "dream.png").write_bytes(b"old")
    r = run(*args)
    _one_line_error(r, message)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dream.png", "p.png"]
    assert (tmp_path / "dream.png").read_bytes() == b"old"


def test_a_prior_that_is_not_an_autoencoder(run, tmp_path, bad_models):
    _one_line_error(run("dream", "3", "--steps", "2", "--prior", str(bad_models["five_units"])), "not an autoencoder")
    assert list(tmp_path.iterdir()) == []


def test_unreadable_start_image_is_one_clear_error(run, tmp_path):
    (tmp_path / "junk.png").write_bytes(b"not really a png")
    _one_line_error(run("dream", "3", "--start", "junk.png", "--steps", "2"), "junk.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junk.png"]


def test_neuron_atlas_with_a_unit_range(run, tmp_path):
    r = run("dream", "--objective", "neuron", "--layer", "dense", "--unit", "0-3", "--unit", "7,9",
            "--per-digit", "1", "--npz", "u.npz", "--out", "u.png")
    assert r.exit_code == 0, r.output
    with np.load(tmp_path / "u.npz") as f:
        assert f["units"].tolist() == [0, 1, 2, 3, 7, 9]
        assert f["labels"].tolist() == [-1] * 6


def _photo(path, w=200, h=150):
    from PIL import Image

    yy, xx = np.mgrid[0:h, 0:w]
    rgb = np.stack([xx / w, yy / h, 0.5 + 0.5 * np.sin(xx / 9.0) * np.cos(yy / 7.0)], -1)
    Image.fromarray((rgb * 255).astype(np.uint8)).save(path)


@pytest.mark.slow
def test_deepdream_writes_a_picture_of_the_same_size(run, tmp_path):
    _photo(tmp_path / "p.png")
    r = run("deepdream", "p.png", "--out", "d.png", "--octaves", "2", "--steps", "3")
    assert r.exit_code == 0, r.output
    assert "wrote d.png" in r.output
    from PIL import Image

    with Image.open(tmp_path / "d.png") as im:
        assert im.size == (200, 150)
    r = run("deepdream", "p.png", "--octaves", "1", "--steps", "2", "--digit", "3")
    assert r.exit_code == 0 and (tmp_path / "p-dream.png").is_file()


def test_deepdream_bad_input(run, tmp_path):
    (tmp_path / "notes.txt").write_text("not a picture")
    _one_line_error(run("deepdream", "notes.txt", "--out", "o.png"), "not an image")
    _one_line_error(run("deepdream", "missing.png", "--out", "o.png"), "no such file")
    from PIL import Image

    Image.new("1", (6000, 4000)).save(tmp_path / "huge.png")  # 24 Mpx, a tiny file
    _one_line_error(run("deepdream", "huge.png", "--out", "o.png"), "too large")
    _photo(tmp_path / "p.png")
    _one_line_error(run("deepdream", "p.png", "--out", "o.png", "--steps", "0"), "steps must be")
    _one_line_error(run("deepdream", "p.png", "--out", "o.png", "--digit", "10"), "digit 10 is out of range")
    _one_line_error(run("deepdream", "p.png", "--out", "o.png", "--layer", "nope"), "unknown layer 'nope'")
    assert not (tmp_path / "o.png").exists()


@pytest.mark.slow
def test_dream_cli_shards_with_the_default_prior_concatenate_byte_for_byte(run, tmp_path):
    args = ["dream", "1", "7", "0", "--per-digit", "3", "--seed", "6"]  # through the flow, its own steps
    assert run(*args, "--npz", "all.npz", "--out", "all.png", "--shard", "0/1").exit_code == 0
    for i in range(2):
        assert run(*args, "--npz", f"p{i}.npz", "--out", f"p{i}.png", "--shard", f"{i}/2").exit_code == 0
    whole = np.load(tmp_path / "all.npz")
    parts = [np.load(tmp_path / f"p{i}.npz") for i in range(2)]
    assert [len(p["images"]) for p in parts] == [6, 3]
    for key in ("images", "labels"):
        assert np.concatenate([p[key] for p in parts]).tobytes() == whole[key].tobytes()
