"""Attribution maps (neuroart.explain), their faithfulness score, and `neuroart explain`."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module")
def sample(pick_test_digits):
    return pick_test_digits(64, seed=5)


def test_every_method_gives_signed_maps_of_the_right_shape(sample):
    from neuroart.explain import METHODS, explain

    x, y = sample
    for method in METHODS:
        ex = explain(x[:8], method=method)
        assert ex.maps.shape == (8, 28, 28) and ex.maps.dtype == np.float32, method
        assert ex.images.shape == (8, 28, 28) and ex.probs.shape == (8, 10)
        assert np.all(np.isfinite(ex.maps)) and ex.maps.max() > 0, method
        np.testing.assert_array_equal(ex.targets, ex.probs.argmax(axis=1))
    one = explain(x[0])  # one (28, 28) image
    assert one.maps.shape == (1, 28, 28)


def test_integrated_gradients_completeness(sample):
    """IG maps sum to the logit difference between the digit and the black baseline."""
    from neuroart.explain import explain, target_logits

    x, _ = sample
    ex = explain(x[:16], model="mlp", method="integrated", steps=64)
    diff = target_logits("mlp", x[:16], ex.targets) - target_logits("mlp", np.zeros_like(x[:16]), ex.targets)
    np.testing.assert_allclose(ex.maps.sum(axis=(1, 2)), diff, rtol=0.03, atol=0.2)


def test_contrast_map_explains_target_minus_versus(sample):
    from neuroart.explain import explain, target_logits

    x, _ = sample
    ex = explain(x[:8], model="mlp", method="integrated", target=7, versus=1, steps=64)
    assert list(ex.targets) == [7] * 8 and list(ex.versus) == [1] * 8
    diff = target_logits("mlp", x[:8], 7, versus=1) - target_logits("mlp", np.zeros_like(x[:8]), 7, versus=1)
    np.testing.assert_allclose(ex.maps.sum(axis=(1, 2)), diff, rtol=0.03, atol=0.2)
    # without a target: the likeliest class that is not `versus`
    top = explain(x[:8], versus=int(ex.probs[0].argmax()))
    assert top.targets[0] != top.versus[0]


def test_occlusion_blames_ink_not_background(sample):
    """Blacking out empty background changes nothing: occlusion maps are zero far from any ink."""
    from neuroart.explain import explain

    x, _ = sample
    ex = explain(x[:8], method="occlusion", window=4, stride=2)
    far = np.ones((28, 28), bool)
    far[2:26, 2:26] = False  # the MNIST frame: no ink within 4 px of the edge
    ink = x[:8] > 0.5
    assert np.abs(ex.maps[:, far]).mean() < 0.2 * np.abs(ex.maps[ink.nonzero()]).mean()


def test_gradient_methods_raise_the_target_when_followed(sample):
    """A small step along the gradient (or SmoothGrad) map raises the target's logit; against it lowers it."""
    from neuroart.explain import explain, target_logits

    x, _ = sample
    for method in ("gradient", "smoothgrad"):
        ex = explain(x[:8], model="mlp", method=method)
        step = 0.02 * ex.maps / np.abs(ex.maps).max(axis=(1, 2), keepdims=True)
        base = target_logits("mlp", x[:8], ex.targets)
        assert np.all(target_logits("mlp", x[:8] + step, ex.targets) > base), method
        assert np.all(target_logits("mlp", x[:8] - step, ex.targets) < base), method


def test_default_method_is_more_faithful_than_random(sample):
    from neuroart.explain import DEFAULT_METHOD, explain
    from neuroart.metrics import deletion_auc

    x, _ = sample
    ex = explain(x, model="mlp", method=DEFAULT_METHOD)
    rnd = np.random.default_rng(0).random(x.shape).astype(np.float32)
    auc, curves = deletion_auc("mlp", x, ex.maps, ex.targets, curves=True)
    random_auc = deletion_auc("mlp", x, rnd, ex.targets)
    assert curves.shape == (len(x), 29)
    np.testing.assert_allclose(curves[:, 0], ex.probs[np.arange(len(x)), ex.targets], atol=1e-5)
    assert auc <= 0.5 * random_auc, (auc, random_auc)


def test_same_seed_same_maps_and_other_seed_other_noise(sample):
    from neuroart.explain import explain

    x, _ = sample
    a = explain(x[:6], method="smoothgrad", seed=3).maps
    b = explain(x[:6], method="smoothgrad", seed=3).maps
    assert a.tobytes() == b.tobytes()
    # the noise is per image: the same digit gets the same map alone or in a batch
    np.testing.assert_allclose(explain(x[:1], method="smoothgrad", seed=3).maps[0], a[0], atol=1e-5)
    assert not np.array_equal(explain(x[:6], method="smoothgrad", seed=4).maps, a)


def test_bad_arguments_are_one_clear_line(sample):
    from neuroart import NeuroartError
    from neuroart.explain import explain

    x, _ = sample
    for kwargs, fragment in [({"method": "lime"}, "unknown method"), ({"target": 12}, "target"),
                             ({"target": 3, "versus": 3}, "versus must differ"), ({"versus": -1}, "versus"),
                             ({"steps": 0}, "steps")]:
        with pytest.raises(NeuroartError, match=fragment):
            explain(x[:2], **kwargs)
    with pytest.raises(NeuroartError, match="shape"):
        explain(np.zeros((2, 10, 10)))


def test_sheet_renders_rgb_cells():
    from neuroart.explain import Explanation
    from neuroart.outputs import render

    x = np.zeros((2, 28, 28), np.float32)
    x[:, 10:18, 12:16] = 1
    maps = np.random.default_rng(0).normal(size=(2, 28, 28)).astype(np.float32)
    ex = Explanation(images=x, maps=maps, targets=np.array([1, 7]), probs=np.full((2, 10), 0.1, np.float32),
                     method="gradient", model="mlp")
    still, _ = render(ex.sheet(), scale=2)
    assert still.ndim == 3 and still.shape[2] == 3 and still.dtype == np.uint8


def test_cli_writes_png_with_recipe_and_npz(invoke, tmp_path, digit_png):
    from neuroart.outputs import read_recipe

    png = digit_png()
    result = invoke("explain", png, "digit:3", "--out", "e.png", "--npz", "e.npz")
    assert result.exit_code == 0, result.output
    assert "wrote e.png" in result.output and "wrote e.npz" in result.output
    recipe = read_recipe(tmp_path / "e.png")
    from neuroart.classify.read import DEFAULT_MODEL

    assert recipe["argv"][0] == "explain" and recipe["method"] == "integrated" and recipe["model"] == DEFAULT_MODEL
    with np.load(tmp_path / "e.npz", allow_pickle=False) as f:
        assert f["images"].shape == (2, 28, 28) and f["maps"].shape == (2, 28, 28)
        assert f["maps"].dtype == np.float32
    first = (tmp_path / "e.png").read_bytes()
    npz = (tmp_path / "e.npz").read_bytes()
    assert invoke("explain", png, "digit:3", "--out", "e.png", "--npz", "e.npz").exit_code == 0
    assert (tmp_path / "e.png").read_bytes() == first and (tmp_path / "e.npz").read_bytes() == npz


@pytest.mark.parametrize("args, fragment", [
    (["digit:3", "--target", "12"], "--target must be a digit"),
    (["digit:3", "--target", "7", "--versus", "7"], "--versus must differ"),
    (["digit:3", "--method", "lime"], "--method"),
    (["blank.png"], "blank"),
    (["missing.png"], "no such file"),
    (["digit:3", "--out", "x.jpg"], "--out"),
])
def test_cli_bad_input_one_line_no_files(invoke, tmp_path, assert_clean_error, files_in, args, fragment):
    from PIL import Image

    Image.new("L", (40, 40), 255).save(tmp_path / "blank.png")
    before = files_in(tmp_path)
    result = invoke("explain", *args, "--npz", "m.npz") if "--out" not in args else invoke("explain", *args)
    assert_clean_error(result, fragment)
    assert files_in(tmp_path) == before


def test_public_name_is_the_module_and_explain_its_function():
    import neuroart as na
    import neuroart.explain as module
    from neuroart.explain import explain

    assert na.explain is module and module.explain is explain and not callable(module)
    x = np.zeros((28, 28), np.float32)
    x[6:22, 13:15] = 1
    assert na.explain.explain(x, method="gradient").maps.shape == (1, 28, 28)
    from neuroart.data import load_images
    from neuroart.explain import load_images as old_home

    assert old_home is load_images  # moved to the data layer, still importable from explain


def test_methods_are_objects_in_a_registry(sample):
    """captum's shape: a method object per name; NoiseTunnel wraps any method (SmoothGrad = NoiseTunnel(Gradient))."""
    from neuroart.explain import (
        METHODS,
        REGISTRY,
        Gradient,
        IntegratedGradients,
        Method,
        NoiseTunnel,
        Occlusion,
        explain,
    )

    assert METHODS == tuple(REGISTRY) == ("gradient", "smoothgrad", "integrated", "occlusion")
    x, _ = sample
    by_name = explain(x[:4], model="mlp", method="smoothgrad", samples=6, seed=2)
    by_object = explain(x[:4], model="mlp", method=NoiseTunnel(Gradient(), samples=6, seed=2))
    assert by_object.maps.tobytes() == by_name.maps.tobytes() and by_object.method == "smoothgrad"
    assert by_object.options == by_name.options
    ig = explain(x[:4], model="mlp", method=IntegratedGradients(steps=8))
    assert ig.options == {"seed": 0, "steps": 8, "baseline": "black"}
    tunnel = explain(x[:4], model="mlp", method=NoiseTunnel(IntegratedGradients(steps=4), samples=3, noise=0.0))
    np.testing.assert_allclose(tunnel.maps, explain(x[:4], model="mlp", method="integrated", steps=4).maps, atol=1e-5)
    assert tunnel.method == "smoothgrad(integrated)"
    occ = NoiseTunnel(Occlusion(window=7, stride=7), samples=2)
    assert occ.cost() == 2 * 16 and isinstance(occ, Method)
    assert explain(x[:2], model="mlp", method=occ).maps.shape == (2, 28, 28)


def test_method_numbers_go_through_validate():
    from neuroart import NeuroartError
    from neuroart.explain import IntegratedGradients, NoiseTunnel, Occlusion

    for make, fragment in [(lambda: IntegratedGradients(0), "steps must be an integer >= 1"),
                           (lambda: Occlusion(window=4, stride=5), "stride must be an integer >= 1 and <= 4"),
                           (lambda: Occlusion(window=29), "window"),
                           (lambda: NoiseTunnel(IntegratedGradients(), noise=float("inf")), "noise must be a finite"),
                           (lambda: NoiseTunnel(IntegratedGradients(), samples=True), "samples")]:
        with pytest.raises(NeuroartError, match=fragment):
            make()
