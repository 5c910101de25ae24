"""Generators (AE/VAE/CVAE): architecture, losses, training, files, and the library functions."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from neuroart._util import NeuroartError


@pytest.fixture(scope="module")
def G():
    """The generator pipeline's modules as one namespace (architecture and training)."""
    from types import SimpleNamespace

    from neuroart.generate import model, train

    return SimpleNamespace(**{**vars(model), **vars(train)})


@pytest.fixture(scope="module")
def mnist_float(mnist):
    from neuroart.data import to_float

    (x, y), (xt, yt) = mnist
    return (to_float(x), y), (to_float(xt), yt)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """One tiny trained generator of each kind (1,500 digits, 2 epochs, latent 4): seconds each.

    Tests that use it train, so they are marked slow (CI runs them)."""
    from neuroart.generate.train import train_generator

    folder = tmp_path_factory.mktemp("gens")
    out = {}
    for kind in ("ae", "vae", "cvae"):
        path, card = train_generator(kind, latent_dim=4, epochs=2, batch_size=64, seed=1, data="auto",
                                     out=folder / f"{kind}.keras", progress=False, limit=1500)
        out[kind] = (path, card)
    return out


@pytest.mark.parametrize("kind", ["ae", "vae", "cvae"])
def test_shapes_and_latent_size_setting(G, kind):
    g = G.build_generator(kind, latent_dim=3)
    assert g.kind == kind and g.latent_dim == 3
    x = np.random.default_rng(0).random((5, 28, 28), dtype=np.float32)
    labels = [0, 1, 2, 3, 4] if kind == "cvae" else None
    z = g.encode(x, labels)
    assert z.shape == (5, 3)
    images = g.decode(z, labels)
    assert images.shape == (5, 28, 28) and images.dtype == np.float32
    assert images.min() >= 0 and images.max() <= 1
    assert g.decoder.output_shape == (None, 28, 28)


def test_cvae_needs_labels_and_rejects_bad_ones(G):
    g = G.build_generator("cvae", latent_dim=2)
    with pytest.raises(NeuroartError, match="labels"):
        g.decode(np.zeros((2, 2)))
    with pytest.raises(NeuroartError, match="digit 10"):
        g.decode(np.zeros((2, 2)), [1, 10])


def test_unknown_kind_and_bad_latent(G):
    with pytest.raises(NeuroartError, match="unknown generator kind 'gan'"):
        G.build_generator("gan")
    with pytest.raises(NeuroartError, match="unknown generator kind"):
        G.train_generator("gan", progress=False)
    with pytest.raises(NeuroartError, match="latent_dim"):
        G.build_generator("vae", latent_dim=0)


def test_vae_loss_is_summed_over_pixels(G):
    """The reconstruction term is the BCE *sum* over 784 pixels (a mean collapses samples)."""
    import tensorflow as tf

    g = G.build_generator("vae", latent_dim=2)
    rng = np.random.default_rng(0)
    x = rng.random((4, 28, 28), dtype=np.float32)
    eps = np.zeros((4, 2), np.float32)  # z = z_mean: the decoder sees exactly encode(x)
    rec, kl = G._losses(g, tf.constant(x), tf.zeros((4, 10)), tf.constant(eps), False)
    p = np.clip(g.decode(g.encode(x)), 1e-6, 1 - 1e-6)
    expected = -(x * np.log(p) + (1 - x) * np.log(1 - p)).sum(axis=(1, 2))
    np.testing.assert_allclose(np.asarray(rec), expected, rtol=1e-3)
    assert np.asarray(rec).mean() > 300  # ~784 * ln 2 for an untrained decoder, not ~0.7
    assert (np.asarray(kl) >= 0).all()


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["ae", "vae", "cvae"])
def test_train_writes_model_card_and_grid_and_learns(tiny, kind):
    path, card = tiny[kind]
    assert path.is_file() and path.with_suffix(".json").is_file() and path.with_suffix(".png").is_file()
    assert json.loads(path.with_suffix(".json").read_text()) == card
    assert card["kind"] == kind and card["latent_dim"] == 4 and card["epochs"] == 2 and card["seed"] == 1
    assert card["train_images"] == 1500 and card["eval_images"] == 10000
    assert len(card["sha256"]) == 64 and card["train_seconds"] > 0
    assert card["architecture"]["encoder"] and card["architecture"]["decoder"]
    losses = card["train_loss_per_epoch"]
    assert losses[1] < losses[0]
    assert 0 < card["test_reconstruction_loss"] < 784 * np.log(2)
    if kind != "ae":
        assert card["test_elbo"] == pytest.approx(-(card["test_reconstruction_loss"] + card["test_kl"]), abs=0.01)
    else:
        assert "test_elbo" not in card


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["ae", "vae", "cvae"])
def test_save_load_keeps_architecture_and_weights_in_safe_mode(G, tiny, kind):
    import keras

    path, _ = tiny[kind]
    g = G.load_generator(str(path))
    again = keras.saving.load_model(path, safe_mode=True, compile=False)
    assert isinstance(g, G.Generator) and isinstance(again, G.Generator)
    assert again.kind == kind and again.latent_dim == 4
    assert [layer.name for layer in again.decoder.layers] == [layer.name for layer in g.decoder.layers]
    assert again.decoder.count_params() == g.decoder.count_params()
    labels = [0, 1, 2, 3, 4, 5] if kind == "cvae" else None
    z = g.prior(6, labels, seed=3)
    np.testing.assert_array_equal(again.prior_means, g.prior_means)
    np.testing.assert_array_equal(again.prior_chol, g.prior_chol)
    np.testing.assert_array_equal(g.decode(z, labels), again.decode(z, labels))
    # the file is a real keras archive with the config inside (not weights only)
    with zipfile.ZipFile(path) as zf:
        config = json.loads(zf.read("config.json"))
    assert config["class_name"] == "Generator" and config["config"]["kind"] == kind


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["ae", "cvae"])
def test_sampling_prior_is_fitted_to_the_training_codes(G, tiny, mnist_float, kind):
    (x, y), _ = mnist_float
    g = G.load_generator(str(tiny[kind][0]))
    assert g.fitted_prior
    y = y[:1500]
    codes = g.encode(x[:1500], y if kind == "cvae" else None)
    # one Gaussian per class, centred on that class's codes, weighted by its share
    for d in (0, 7):
        np.testing.assert_allclose(g.prior_means[d], codes[y == d].mean(axis=0), atol=1e-3)
    np.testing.assert_allclose(g.prior_weights, np.bincount(y, minlength=10) / len(y), atol=1e-6)
    if kind == "ae":  # the autoencoder's codes are exact: each component's covariance is its class's
        cov = g.prior_chol[3] @ g.prior_chol[3].T
        np.testing.assert_allclose(cov, np.cov(codes[y == 3], rowvar=False), atol=1e-3 * np.abs(cov).max())
        # the mixture as a whole matches all the codes' mean and covariance
        m, L = g.prior_gaussian()
        np.testing.assert_allclose(m, codes.mean(axis=0), atol=1e-3)
        np.testing.assert_allclose(L @ L.T, np.cov(codes, rowvar=False, bias=True), rtol=0.02, atol=1e-3)
        # unconditional sampling visits the components by weight
        z = g.prior(6000, seed=0)
        np.testing.assert_allclose(z.mean(axis=0), m, atol=0.05 * np.abs(L).max() + 1e-3)
    else:
        z = g.prior(labels=[7] * 4000, seed=0)
        np.testing.assert_allclose(z.mean(axis=0), g.prior_means[7], atol=0.15 * g.prior_chol[7].max())
    # the standard prior is still there on request
    std = g.prior(3000, standard=True, seed=1)
    assert abs(std.std() - 1) < 0.05 and abs(std.mean()) < 0.05


def test_sharpen():
    from neuroart.generate.model import sharpen

    p = np.array([0.0, 0.1, 0.5, 0.9, 1.0], np.float32)
    np.testing.assert_array_equal(sharpen(p, 1.0), p)
    s = sharpen(p, 2.0)
    np.testing.assert_allclose(s[2], 0.5)  # the midpoint stays
    assert s[1] < p[1] and s[3] > p[3]  # faint gets fainter, strong gets stronger
    np.testing.assert_allclose(s[1], 1 / 82, rtol=1e-4)  # sigmoid(2 logit(0.1)) = 0.01 / (0.01 + 0.81)
    with pytest.raises(NeuroartError, match="sharpness"):
        sharpen(p, 0)


@pytest.mark.slow
def test_corrupted_and_wrong_model_files(G, tmp_path, tiny):
    bad = tmp_path / "broken.keras"
    bad.write_bytes(b"not a zip at all")
    with pytest.raises(NeuroartError, match="not a .keras model file"):
        G.load_generator(str(bad))
    truncated = tmp_path / "truncated.keras"
    truncated.write_bytes(tiny["vae"][0].read_bytes()[:5000])
    with pytest.raises(NeuroartError, match="truncated.keras: (cannot load|not a .keras)"):
        G.load_generator(str(truncated))
    with pytest.raises(NeuroartError, match="no such model file|unknown model"):
        G.load_generator(str(tmp_path / "missing.keras"))


def test_train_refuses_bad_options_before_work(G, tmp_path):
    with pytest.raises(NeuroartError, match="epochs"):
        G.train_generator("vae", epochs=0, out=tmp_path / "x.keras", progress=False)
    with pytest.raises(NeuroartError, match=".keras"):
        G.train_generator("vae", out=tmp_path / "x.h5", progress=False)
    with pytest.raises(NeuroartError, match="folder does not exist"):
        G.train_generator("vae", out=tmp_path / "nope" / "x.keras", progress=False)
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------- library functions


@pytest.mark.slow
def test_generate_is_seeded_and_ordered(tiny):
    from neuroart.generate import generate

    model = str(tiny["cvae"][0])
    a, la = generate([3, 7], per_digit=4, seed=5, model=model)
    b, lb = generate([3, 7], per_digit=4, seed=5, model=model)
    c, _ = generate([3, 7], per_digit=4, seed=6, model=model)
    assert a.shape == (8, 28, 28) and a.dtype == np.float32
    np.testing.assert_array_equal(la, [3, 3, 3, 3, 7, 7, 7, 7])
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 0.05
    # temperature 0 draws the prior mean: every sample of a class is the same
    d, _ = generate([5], per_digit=3, temperature=0, model=model)
    np.testing.assert_allclose(d[0], d[2], atol=1e-6)


@pytest.mark.slow
def test_generate_rejects_bad_requests(tiny):
    from neuroart.generate import generate

    with pytest.raises(NeuroartError, match="digit 10"):
        generate([10], model=str(tiny["cvae"][0]))
    with pytest.raises(NeuroartError, match="not a digit"):
        generate(["x"], model=str(tiny["cvae"][0]))
    with pytest.raises(NeuroartError, match="per_digit must be"):
        generate(per_digit=0, model=str(tiny["cvae"][0]))
    with pytest.raises(NeuroartError, match="temperature"):
        generate(temperature=-1, model=str(tiny["cvae"][0]))
    with pytest.raises(NeuroartError, match="unconditional"):
        generate([3], model=str(tiny["vae"][0]))
    images, labels = generate(per_digit=2, model=str(tiny["vae"][0]))
    assert images.shape == (20, 28, 28) and (labels == -1).all()


def test_slerp_endpoints_and_norm():
    from neuroart.generate import slerp

    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 16))
    b *= np.linalg.norm(a) / np.linalg.norm(b)
    path = slerp(a, b, np.linspace(0, 1, 7))
    np.testing.assert_allclose(path[0], a, rtol=1e-5)
    np.testing.assert_allclose(path[-1], b, rtol=1e-5)
    # equal-norm endpoints: the path stays on the sphere (a straight line would cut inside it)
    np.testing.assert_allclose(np.linalg.norm(path, axis=1), np.linalg.norm(a), rtol=1e-5)
    assert np.linalg.norm((a + b) / 2) < np.linalg.norm(a)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["vae", "cvae", "ae"])
def test_morph_goes_from_a_to_b(tiny, kind):
    from neuroart.generate import morph

    model = str(tiny[kind][0])
    frames, info = morph(3, 8, frames=6, seed=2, model=model)
    assert frames.shape == (6, 28, 28)
    assert info["path"] == ("linear" if kind == "ae" else "slerp")
    if kind == "cvae":
        assert (info["from"], info["to"]) == (3, 8)
    steps = np.abs(np.diff(frames, axis=0)).mean(axis=(1, 2))
    assert (steps > 0).all()  # it moves every frame
    assert np.abs(frames[0] - frames[-1]).mean() > steps.max() / 2  # ends differ more than a step
    with pytest.raises(NeuroartError, match="frames must be an integer >= 2"):
        morph(3, 8, frames=1, model=model)
    with pytest.raises(NeuroartError, match="neither a digit"):
        morph(3, "no_such_file.png", model=model)
    with pytest.raises(NeuroartError, match="not a digit"):
        morph(3, 12, model=model)


@pytest.mark.slow
def test_latent_map_planes(tiny):
    from neuroart.generate import latent_map

    model = str(tiny["vae"][0])
    images, info = latent_map(model=model, n=5)
    assert images.shape == (25, 28, 28)
    assert "decoder" in info["plane"]
    pca, info = latent_map(model=model, n=5, plane="pca")
    assert "principal" in info["plane"]
    axes, info = latent_map(model=model, n=4, plane=(1, 3))
    assert axes.shape == (16, 28, 28) and info["plane"] == "latent axes 1 and 3"
    assert np.abs(axes[0] - axes[-1]).mean() > 0.01  # the corners differ
    # the decoder plane is the most visible one: near the centre the picture changes more
    # across it than across any pair of latent axes
    spread = {}
    for plane in ["decoder", (0, 1), (2, 3), (0, 3)]:
        grid, _ = latent_map(model=model, n=5, span=0.6, plane=plane, sharpness=1.0)
        spread[str(plane)] = grid.reshape(25, -1).var(axis=0).sum()
    assert spread["decoder"] == max(spread.values()), spread
    # a seed slices through another point of the space, same plane
    seeded, _ = latent_map(model=model, n=3, seed=4, plane=(0, 1))
    assert np.abs(seeded - latent_map(model=model, n=3, plane=(0, 1))[0]).max() > 0.05
    with pytest.raises(NeuroartError, match="plane axes"):
        latent_map(model=model, plane=(0, 4))
    with pytest.raises(NeuroartError, match="choose a digit"):
        latent_map(model=str(tiny["cvae"][0]))
    one, info = latent_map(model=str(tiny["cvae"][0]), digit=4, n=3)
    assert one.shape == (9, 28, 28) and info["digit"] == 4


@pytest.mark.slow
def test_reconstruct_random_test_digits(tiny):
    from neuroart.generate import reconstruct

    originals, recons, labels = reconstruct(n=6, seed=1, model=str(tiny["cvae"][0]))
    assert originals.shape == recons.shape == (6, 28, 28) and labels.shape == (6,)
    # a trained autoencoder does better than predicting the mean image
    err = ((originals - recons) ** 2).mean()
    assert err < ((originals - originals.mean()) ** 2).mean()


def test_save_npz_is_byte_reproducible(tmp_path):
    from neuroart.outputs import save_npz

    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    a = save_npz(tmp_path / "a.npz", images=x, labels=np.array([1, 2, 3]))
    import time

    time.sleep(1.1)  # a zip timestamp would change now
    b = save_npz(tmp_path / "b.npz", images=x, labels=np.array([1, 2, 3]))
    assert a.read_bytes() == b.read_bytes()
    with np.load(a, allow_pickle=False) as f:
        np.testing.assert_array_equal(f["images"], x)


# ----------------------------------------------------------------- the bundled generators


@pytest.fixture(scope="module")
def cvae_samples():
    from neuroart.generate import generate

    images, labels = generate(per_digit=200, seed=0)  # the defaults: bundled cvae, temperature 1
    return images, labels


def test_bundled_cvae_draws_the_requested_digits(cvae_samples):
    from neuroart.metrics import judge_agreement

    images, labels = cvae_samples
    assert judge_agreement(images, labels, "cnn") >= 0.98
    for d in range(10):
        assert judge_agreement(images[labels == d], d, "cnn") >= 0.93, f"digit {d}"


def test_bundled_cvae_makes_new_and_varied_digits(cvae_samples, mnist_float):
    from neuroart.metrics import diversity, novelty

    (x, _), (xt, yt) = mnist_float
    images, labels = cvae_samples
    assert novelty(images, x) >= novelty(xt[:2000], x)  # not copies of training digits
    real = diversity(xt[:2000], yt[:2000], per_class=True)
    fake = diversity(images, labels, per_class=True)
    for d in range(10):  # no class collapsed to near-identical samples
        assert fake[d] > 0.6 * real[d], f"digit {d}: {fake[d]:.2f} vs real {real[d]:.2f}"


def test_bundled_cards_describe_their_training():
    from neuroart.models import load_card

    for name in ("cvae", "vae"):
        card = load_card(name)
        assert card["kind"] == name and card["train_images"] == 60000
        assert card["test_elbo"] < 0 and card["epochs"] >= 1 and "sha256" in card


def test_truncation_bounds_the_prior_radius(G):
    from neuroart.generate.model import chi_quantile

    g = G.build_generator("vae", latent_dim=6)
    z = g.prior(5000, truncation=0.5, seed=0)  # N(0, I) before fitting: the radius is the code's norm
    r = np.linalg.norm(z, axis=1)
    assert r.max() <= chi_quantile(0.5, 6) + 1e-5
    full = np.linalg.norm(g.prior(5000, seed=0), axis=1)
    assert np.mean(full <= chi_quantile(0.5, 6)) == pytest.approx(0.5, abs=0.03)
    with pytest.raises(NeuroartError, match="truncation"):
        g.prior(3, truncation=0)


def test_bundled_morph_moves_in_even_steps():
    """Frames sit at equal arc length of the pictures: no long still stretch, then a jump."""
    from neuroart.generate import morph

    for a, b in [(1, 7), (3, 8)]:
        frames, info = morph(a, b, frames=12, seed=8)
        steps = np.linalg.norm(np.diff(frames.reshape(12, -1), axis=0), axis=1)
        assert steps.max() < 1.5 * steps.min(), (a, b, steps)
        assert (info["from"], info["to"]) == (a, b)


def test_the_generator_family_registers_its_contract_with_models():
    """models knows a generator only through the family's registration (it imports no pipeline):
    the package root declares the module, the module registers the class and its contract."""
    import subprocess
    import sys

    import neuroart
    from neuroart import models
    from neuroart._util import NeuroartError

    assert neuroart.MODEL_FAMILIES["neuroart>Generator"] == "neuroart.generate.model"
    code = ("import sys, neuroart.models as m; g = m.load_model('vae', role='prior'); "
            "print(type(g).__module__, 'neuroart.generate.model' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.split()[-2:] == ["neuroart.generate.model", "True"], out.stderr[-500:]
    from neuroart.generate.model import Generator

    vae = models.load_model("vae")
    assert models.family_of(vae) is Generator and models.family_of(models.load_model("mlp")) is None
    with pytest.raises(NeuroartError, match="a vae generator, not a digit classifier"):
        models.check_model(vae, "classifier")
    # a family of functional models registers by predicate, with a role of its own
    seen = []
    models.register_family(lambda m: getattr(m, "name", "") == "mlp", lambda m, role, src: seen.append(role) or m,
                           roles=("test-role",))
    try:
        assert models.load_model("mlp", role="test-role") is models.load_model("mlp") and seen == ["test-role"]
    finally:
        models._FAMILIES.popitem()
        models.ROLES.remove("test-role")
