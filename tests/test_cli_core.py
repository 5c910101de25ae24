import json
import subprocess
import sys

import numpy as np
import pytest

from neuroart.cli import main


def test_help_and_version_do_not_import_tensorflow():
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from neuroart.cli import main\n"
        "r = CliRunner()\n"
        "outs = [r.invoke(main, ['--help']), r.invoke(main, ['--version'])]\n"
        "outs += [r.invoke(main, c.split() + ['--help']) for c in sys.argv[1:]]\n"
        "assert all(o.exit_code == 0 for o in outs), [o.output for o in outs]\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n"
        "print(outs[1].output)\n"
    )
    commands = _all_commands()
    out = subprocess.run([sys.executable, "-c", code, *commands], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.startswith("neuroart, version ")


def _all_commands(group=main, prefix=""):
    import click

    names = []
    for name, cmd in group.commands.items():
        full = f"{prefix}{name}"
        if isinstance(cmd, click.Group):
            names += _all_commands(cmd, full + " ")
        else:
            names.append(full)
    return names


@pytest.mark.parametrize("command", _all_commands())
def test_every_command_has_an_example(command, runner):
    result = runner.invoke(main, command.split() + ["--help"])
    assert result.exit_code == 0
    assert "Example:" in result.output, f"`neuroart {command} --help` has no Example: block"
    example = result.output.split("Example:", 1)[1]
    assert f"neuroart {command}" in example, f"`neuroart {command} --help`: its example does not run it"


def test_python_dash_m_works():
    out = subprocess.run([sys.executable, "-m", "neuroart", "--version"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "neuroart" in out.stdout


def test_classify_100_real_test_digits_written_as_png(invoke, tmp_path, mnist):
    from PIL import Image

    _, (x, y) = mnist
    paths = []
    for i in range(100):
        p = tmp_path / f"d{i:03d}.png"
        Image.fromarray(x[i]).save(p)
        paths.append(p.name)
    result = invoke("classify", "--json", *paths)
    assert result.exit_code == 0, result.output
    got = [json.loads(line)["digit"] for line in result.output.splitlines()]
    correct = int((np.array(got) == y[:100]).sum())
    assert correct >= 97, correct


def test_classify_hand_made_digit(invoke, digit_png):
    path = digit_png("seven.png", size=(400, 300))
    result = invoke("classify", path, "--top", "3")
    assert result.exit_code == 0, result.output
    assert result.output.split(": ")[1].startswith("7 ("), result.output
    assert result.output.count("%") == 3


def test_bad_images_give_one_clean_line(invoke, tmp_path, digit_png, assert_clean_error, monkeypatch):
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.png").write_text("I am not a picture")
    good = digit_png().read_bytes()
    (tmp_path / "cut.png").write_bytes(good[: len(good) // 2])
    for name, fragment in [("missing.png", "no such file"), ("empty.png", "empty"),
                           ("text.png", "not an image"), ("cut.png", "truncated")]:
        assert_clean_error(invoke("classify", name), fragment)
    from neuroart import data

    monkeypatch.setattr(data, "MAX_IMAGE_PIXELS", 1000)
    assert_clean_error(invoke("classify", digit_png()), "too large")


def test_unknown_and_corrupted_models(invoke, tmp_path, digit_png, assert_clean_error):
    assert_clean_error(invoke("classify", digit_png(), "--model", "resnet"), "unknown model")
    (tmp_path / "bad.keras").write_bytes(b"garbage")
    assert_clean_error(invoke("evaluate", "--model", "bad.keras"), "bad.keras")


def test_train_with_bad_data_writes_nothing(invoke, tmp_path, assert_clean_error, files_in):
    np.savez(tmp_path / "bad.npz", x_train=np.zeros((5, 10, 10), np.uint8), y_train=np.zeros(5, int),
             x_test=np.zeros((5, 28, 28), np.uint8), y_test=np.zeros(5, int))
    before = files_in(tmp_path)
    assert_clean_error(invoke("train", "classifier", "--data", "bad.npz", "--out", "m.keras"), "shape")
    assert files_in(tmp_path) == before


@pytest.mark.slow
def test_train_classifier_cli_one_epoch(invoke, tmp_path):
    result = invoke("train", "classifier", "--epochs", "1", "--data", "offline", "--out", "one.keras", "--seed", "1")
    assert result.exit_code == 0, result.output
    acc = float(result.output.split("test accuracy: ")[1].split("%")[0])
    assert acc > 95.0
    assert (tmp_path / "one.keras").is_file() and (tmp_path / "one.json").is_file()


def test_evaluate_and_info(invoke):
    result = invoke("evaluate", "--model", "mlp", "--data", "offline", "--json")
    assert result.exit_code == 0
    scores = json.loads(result.output)
    assert scores["accuracy"] >= 0.977 and len(scores["per_digit"]) == 10
    result = invoke("info")
    assert result.exit_code == 0 and "mlp" in result.output and "cnn" in result.output
    assert "offline" in result.output


# A typo fails before TensorFlow loads (issue 19): each case runs in one subprocess that must end
# without importing TensorFlow, and the whole batch must take less than half of TF's own import.
FAST_FAILURES = [
    (["dream", "12"], "digit 12 is out of range"),
    (["dream", "3", "--start", "missing.png"], "missing.png: no such file"),
    (["dream", "--start", "digit:12"], "digit 12 is out of range"),
    (["dream", "--objective", "neuron", "--unit", "200"], "unit 200 is out of range: layer 'dense' has 128 units"),
    (["dream", "--objective", "neuron", "--layer", "dnse"], "unknown layer 'dnse'; this model has: flatten, dense"),
    (["dream", "--model", "cnn", "--objective", "channel", "--unit", "32"], "unit 32 is out of range: layer 'conv1'"),
    (["dream", "3", "--objective", "neuron"], "digits are targets of --objective class"),
    (["dream", "--model", "mpl"], "unknown model 'mpl'"),
    (["dream", "--prior", "vea"], "unknown --prior 'vea': did you mean 'vae'?"),
    (["dream", "--model", "vae"], "a vae generator, not a digit classifier"),
    (["deepdream", "missing.jpg"], "missing.jpg: no such file"),
    (["morph", "3", "12"], "not a digit: 12"),
    (["morph", "3", "mising.png"], "mising.png: neither a digit 0-9 nor an image file"),
    (["morph", "3", "8", "--model", "mlp"], "not a neuroart generator"),
    (["latent-map", "--model", "cvae"], "the cvae draws one digit per map: choose a digit"),
    (["latent-map", "--digit", "3"], "the vae is unconditional"),
    (["latent-map", "--plane", "0,16"], "--plane axes must be two different numbers from 0 to 15"),
    (["generate", "11"], "digit 11 is out of range"),
    (["generate", "3", "--model", "vae"], "the vae is unconditional"),
    (["generate", "3", "--out", "/proc/x.png"], "cannot write --out /proc/x.png"),
    (["generate", "3", "--npz", "/proc/x.npz", "--out", "ok.png"], "cannot write --npz /proc/x.npz"),
    (["reconstruct", "missing.png"], "missing.png: no such file"),
    (["classify", "missing.png"], "missing.png: no such file"),
    (["classify", "loop.png"], "loop.png: a symbolic link loop"),
    (["classify", "seven.png", "--model", "cvae"], "a cvae generator, not a digit classifier"),
    (["evaluate", "--model", "rader"], "unknown model 'rader'"),
    (["evaluate", "--model", "cvae", "--corruptions"], "a cvae generator, not a digit classifier"),
    (["explain", "digit:12"], "digit 12 is out of range"),
    (["explain", "missing.png"], "missing.png: no such file"),
    (["restyle", "missing.png"], "missing.png: no such file"),
    (["restyle", "digit:3", "--model", "cnn"], "not a neuroart generator"),
]


@pytest.mark.slow  # imports TensorFlow in a subprocess; the fast tier has tests/test_first_hour.py
def test_typos_fail_before_tensorflow_loads(tmp_path):
    import os
    import time

    os.symlink("loop.png", tmp_path / "loop.png")  # a link to itself
    (tmp_path / "seven.png").write_bytes(b"")
    code = (
        "import json, sys, time\n"
        "from click.testing import CliRunner\n"
        "from neuroart.cli import main\n"
        "out = []\n"
        "for args in json.loads(sys.argv[1]):\n"
        "    r = CliRunner().invoke(main, args)\n"
        "    out.append([r.exit_code, r.output.strip()])\n"
        "out.append('tensorflow' in sys.modules or 'keras' in sys.modules)\n"
        "print(json.dumps(out))\n"
    )
    start = time.perf_counter()
    run = subprocess.run([sys.executable, "-c", code, json.dumps([a for a, _ in FAST_FAILURES])], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    seconds = time.perf_counter() - start
    assert run.returncode == 0, run.stderr[-3000:]
    *results, loaded = json.loads(run.stdout)
    for (args, fragment), (code_, output) in zip(FAST_FAILURES, results, strict=True):
        assert code_ == 1 and output.startswith("Error:") and len(output.splitlines()) == 1, (args, output)
        assert fragment in output, (args, output)
    assert not loaded, "a typo loaded TensorFlow"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["loop.png", "seven.png"]  # nothing written
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import tensorflow"], capture_output=True, timeout=120, check=True)
    tf_seconds = time.perf_counter() - start
    assert seconds / len(FAST_FAILURES) < tf_seconds / 2, (seconds, tf_seconds)


def test_evaluate_corruptions_shows_progress_on_stderr(invoke):
    result = invoke("evaluate", "--model", "mlp", "--corruptions", "--sample", "20", "--json")
    assert result.exit_code == 0, result.stderr
    lines = result.stderr.splitlines()  # not a terminal: a line per corruption (issue 25), not the label alone
    assert lines[0] == "corruptions: 15 to do" and lines[-1].startswith("corruptions: 15/15 (100%)"), lines
    assert [line.split()[1] for line in lines[1:]] == [f"{i}/15" for i in range(1, 16)], lines
    assert json.loads(result.stdout)["models"]["mlp"]["clean"] > 0.5


@pytest.mark.slow
def test_train_generator_shows_progress_on_stderr(invoke, tmp_path):
    x = np.random.default_rng(0).integers(0, 256, (300, 28, 28), dtype=np.uint8)
    np.savez(tmp_path / "tiny.npz", x_train=x, y_train=np.arange(300) % 10, x_test=x[:50], y_test=np.arange(50) % 10)
    result = invoke("train", "generator", "--kind", "ae", "--epochs", "1", "--batch-size", "100", "--data", "tiny.npz",
                    "--out", "ae.keras")
    assert result.exit_code == 0, result.stderr
    assert "training ae" in result.stderr and "saved ae.keras" in result.output


# --------------------------------------------------------------------------- broken models, odd data


@pytest.mark.parametrize("which, fragment", [("five_units", "its output is 5, not 10 digit scores"),
                                             ("five_heads", "it has 5 outputs")])
def test_cli_refuses_a_broken_classifier_everywhere(bad_models, which, fragment, invoke, assert_clean_error, files_in,
                                                    tmp_path, digit_png):
    """classify, evaluate, evaluate --corruptions and dream: the same one line (issue 9, issue 19)."""
    path = bad_models[which]
    digit = digit_png()
    (tmp_path / "old.png").write_bytes(b"the user's old picture")
    before = files_in(tmp_path)
    for args in (["classify", digit.name], ["evaluate"], ["evaluate", "--corruptions", "--sample", "20"],
                 ["dream", "3", "--out", "old.png"]):
        result = invoke(*args, "--model", path)
        assert_clean_error(result, str(path), "not a digit classifier", fragment)
        assert result.exit_code == 1
    assert files_in(tmp_path) == before
    assert (tmp_path / "old.png").read_bytes() == b"the user's old picture"


def test_evaluate_with_zero_images_is_one_clear_error(invoke, assert_clean_error, tmp_path):
    x = np.zeros((5, 28, 28), np.uint8)
    np.savez(tmp_path / "empty.npz", x_train=x, y_train=np.zeros(5, np.uint8),
             x_test=np.zeros((0, 28, 28), np.uint8), y_test=np.zeros(0, np.uint8))
    r = invoke("evaluate", "--data", "empty.npz")
    assert_clean_error(r, "no test images to evaluate")
    assert r.exit_code == 1 and "nan" not in r.output


@pytest.mark.parametrize("value", ["inf", "nan", "-1"])
def test_train_refuses_a_non_finite_learning_rate(invoke, assert_clean_error, files_in, tmp_path, value):
    assert_clean_error(invoke("train", "classifier", "--learning-rate", value, "--out", "m.keras"),
                       "--learning-rate must be a finite number > 0")
    assert files_in(tmp_path) == []


# --------------------------------------------------------------------------- shards and TF_CONFIG at the CLI


@pytest.mark.parametrize("shard", ["3/2", "0/0", "a/b"])
@pytest.mark.parametrize("command", [["generate", "--npz", "g.npz"], ["dream", "--steps", "2"], ["dataset", "d"],
                                     ["explain", "digit:3"]])
def test_bad_shard_is_one_line_and_no_files(invoke, assert_clean_error, files_in, tmp_path, command, shard):
    result = invoke(*command, "--shard", shard)
    assert_clean_error(result, "shard")
    assert files_in(tmp_path) == []
    assert not (tmp_path / "d").exists()


def test_empty_shard_is_refused(invoke, assert_clean_error, files_in, tmp_path):
    assert_clean_error(invoke("generate", "3", "--shard", "1/2"), "empty")
    assert_clean_error(invoke("explain", "digit:3", "--model", "mlp", "--shard", "1/2"), "empty")
    assert files_in(tmp_path) == []


@pytest.mark.parametrize("raw, fragment", [
    ("{not json", "not JSON"),
    ('{"cluster": {"worker": ["127.0.0.1:1"]}}', "no task"),
    ('{"cluster": {"worker": ["127.0.0.1:99999"]}, "task": {"type": "worker", "index": 0}}',
     "port 99999 is out of range (1-65535)"),
])
@pytest.mark.parametrize("kind", ["classifier", "generator"])
def test_bad_tf_config_at_the_cli(invoke, assert_clean_error, files_in, tmp_path, monkeypatch, raw, fragment, kind):
    monkeypatch.setenv("TF_CONFIG", raw)
    result = invoke("train", kind, "--strategy", "multiworker", "--epochs", "1", "--out", "m.keras")
    assert_clean_error(result, fragment)
    assert files_in(tmp_path) == []
