"""neuroart.metrics: judge agreement, judge features, Fréchet distance, novelty, diversity,
precision and recall, the detector (a classifier two-sample test)."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from neuroart import metrics as M
from neuroart._util import NeuroartError


@pytest.fixture(scope="module")
def mnist_float(mnist):
    from neuroart.data import to_float

    (x, y), (xt, yt) = mnist
    return (to_float(x), y), (to_float(xt), yt)


@pytest.fixture(scope="module")
def judge():
    """The bundled independent judge, by name (metrics also take a path or a Keras model)."""
    return "cnn"


def test_agreement_high_for_true_labels_low_for_wrong_ones(mnist_float, judge):
    _, (xt, yt) = mnist_float
    right = M.judge_agreement(xt[:2000], yt[:2000], judge)
    wrong = M.judge_agreement(xt[:2000], (yt[:2000] + 1) % 10, judge)
    assert right > 0.9
    assert wrong < 0.05
    # one label for all images
    sevens = xt[yt == 7][:200]
    assert M.judge_agreement(sevens, 7, judge) > 0.9
    assert M.judge_agreement(sevens, 1, judge) < 0.1


def test_agreement_rejects_bad_input(judge):
    with pytest.raises(NeuroartError, match="shape"):
        M.judge_agreement(np.zeros((5, 27, 28)), [0] * 5, judge)
    with pytest.raises(NeuroartError, match="0-9"):
        M.judge_agreement(np.zeros((2, 28, 28)), [3, 10], judge)
    with pytest.raises(NeuroartError, match="labels"):
        M.judge_agreement(np.zeros((3, 28, 28)), [1, 2], judge)


def test_features_are_the_penultimate_layer(mnist_float, judge):
    _, (xt, _) = mnist_float
    f = M.judge_features(xt[:50], judge)
    assert f.shape == (50, 128)  # the cnn's Dense(128, relu) (through an inference-time dropout)
    assert (f >= 0).all()
    # the last Dense layer applied to the features gives the judge's own prediction
    dense = M.load_judge(judge).layers[-1]
    w, b = (np.asarray(v) for v in dense.get_weights())
    logits = f @ w + b
    np.testing.assert_array_equal(logits.argmax(1), M.judge_predict(xt[:50], judge).argmax(1))


def test_features_of_a_functional_judge():
    import keras

    inp = keras.Input((28, 28))
    h = keras.layers.Flatten()(inp)
    h = keras.layers.Dense(7, activation="relu", name="penultimate")(h)
    out = keras.layers.Dense(10, activation="softmax")(h)
    model = keras.Model(inp, out)
    x = np.random.default_rng(0).random((9, 28, 28), dtype=np.float32)
    f = M.judge_features(x, model)
    expected = keras.Model(inp, model.get_layer("penultimate").output)(x)
    np.testing.assert_allclose(f, np.asarray(expected), rtol=1e-5, atol=1e-6)


def test_frechet_from_stats_matches_closed_forms():
    # 1-D: (mu1 - mu2)^2 + (s1 - s2)^2
    assert M.frechet_from_stats([1.0], [[4.0]], [3.0], [[9.0]]) == pytest.approx(4 + 1)
    # identical Gaussians: 0
    rng = np.random.default_rng(0)
    a = rng.standard_normal((6, 6))
    c = a @ a.T
    assert M.frechet_from_stats(np.zeros(6), c, np.zeros(6), c) == pytest.approx(0, abs=1e-8)


def test_frechet_matches_scipy_sqrtm():
    linalg = pytest.importorskip("scipy.linalg")
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((2, 12, 12))
    c1, c2 = a @ a.T + 0.1 * np.eye(12), b @ b.T
    mu1, mu2 = rng.standard_normal((2, 12))
    s = linalg.sqrtm(c1 @ c2).real
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(c1 + c2 - 2 * s)
    assert M.frechet_from_stats(mu1, c1, mu2, c2) == pytest.approx(expected, rel=1e-6)


def test_frechet_distance_orders_sets_sensibly(mnist_float, judge):
    (x, _), (xt, _) = mnist_float
    self_fid = M.frechet_distance(xt[:1000], xt[:1000], judge)
    real_fid = M.frechet_distance(x[:2000], xt[:2000], judge)
    noise = np.random.default_rng(0).random((1000, 28, 28), dtype=np.float32)
    noise_fid = M.frechet_distance(noise, xt[:2000], judge)
    assert self_fid == pytest.approx(0, abs=1e-6 * max(real_fid, 1))
    assert real_fid > 0
    assert noise_fid > 20 * real_fid


def test_novelty_zero_for_copies_positive_for_new_digits(mnist_float):
    (x, _), (xt, _) = mnist_float
    train = x[:5000]
    assert M.novelty(train[:300], train) == pytest.approx(0, abs=1e-3)
    assert M.novelty(xt[:300], train) > 3.0
    # a copy with one pixel changed by 0.5 is 0.5 away from its original
    probe = train[:4].copy()
    probe[:, 0, 0] += 0.5
    np.testing.assert_allclose(M.nearest_distances(probe, train), 0.5, atol=1e-3)


def test_nearest_distances_match_brute_force():
    rng = np.random.default_rng(3)
    a = rng.random((37, 28, 28), dtype=np.float32)
    b = rng.random((53, 28, 28), dtype=np.float32)
    brute = np.array([np.sqrt(((b - im) ** 2).sum(axis=(1, 2))).min() for im in a])
    np.testing.assert_allclose(M.nearest_distances(a, b, batch=10), brute, rtol=1e-4)
    # exclude_self: nearest *other* image
    brute_other = []
    for i, im in enumerate(a):
        d = np.sqrt(((a - im) ** 2).sum(axis=(1, 2)))
        d[i] = np.inf
        brute_other.append(d.min())
    np.testing.assert_allclose(M.nearest_distances(a, a, exclude_self=True, batch=8), brute_other, rtol=1e-4)


def test_diversity_zero_for_collapsed_classes(mnist_float):
    _, (xt, yt) = mnist_float
    real = M.diversity(xt[:1000], yt[:1000], per_class=True)
    assert sorted(real) == list(range(10))
    assert min(real.values()) > 4.0
    collapsed = np.concatenate([np.repeat(xt[:1], 50, axis=0), xt[yt == 3][:50]])
    labels = np.array([9] * 50 + [3] * 50)
    scores = M.diversity(collapsed, labels, per_class=True)
    assert scores[9] == pytest.approx(0, abs=1e-3)
    assert scores[3] > 4.0
    assert M.diversity(collapsed, labels) == pytest.approx(scores[3] / 2, rel=1e-6)


def test_diversity_matches_brute_force():
    rng = np.random.default_rng(4)
    x = rng.random((12, 28, 28), dtype=np.float32)
    y = np.array([0] * 5 + [1] * 7)
    expected = []
    for c in (0, 1):
        xc = x[y == c]
        d = [np.sqrt(((xc[i] - xc[j]) ** 2).sum()) for i in range(len(xc)) for j in range(i + 1, len(xc))]
        expected.append(np.mean(d))
    assert M.diversity(x, y) == pytest.approx(np.mean(expected), rel=1e-5)
    with pytest.raises(NeuroartError, match="at least two"):
        M.diversity(x[:2], [0, 1])


def test_judge_by_path_and_by_model(tmp_path, judge, mnist_float):
    from neuroart.models import WEIGHTS_DIR

    _, (xt, yt) = mnist_float
    by_name = M.judge_agreement(xt[:300], yt[:300], judge)
    assert M.judge_agreement(xt[:300], yt[:300], str(WEIGHTS_DIR / "cnn.keras")) == by_name
    assert M.judge_agreement(xt[:300], yt[:300], M.load_judge(judge)) == by_name
    with pytest.raises(NeuroartError, match="missing.keras: no such model file"):
        M.judge_agreement(xt[:3], yt[:3], str(tmp_path / "missing.keras"))


def test_the_real_reference_draws_its_two_sets_from_all_the_writers(mnist_float, judge):
    """MNIST's test set is two populations of writers (the first 5,000 digits cleaner than the
    last): the reference's two real sets are disjoint, have the asked class mix and come from
    both halves, so real training digits score near the floor."""
    (x, y), (xt, yt) = mnist_float
    ref = M.RealReference(xt, yt, 100, judge=judge)
    rows = {im.tobytes(): i for i, im in enumerate(xt)}
    a = np.array([rows[im.tobytes()] for im in ref.a])
    b = np.array([rows[im.tobytes()] for im in ref.b])
    assert not set(a) & set(b)
    assert (yt[a] == ref.labels).all() and (yt[b] == ref.labels).all()
    assert 0.3 < (b >= 5000).mean() < 0.7
    per_class = [np.flatnonzero(y == d)[:100] for d in range(10)]
    train = x[np.concatenate(per_class)]
    assert ref.score(train)["fid_over_floor"] < 3.0  # 2.0 (4.1 with the first digits of each class)
    assert M.RealReference(xt, yt, 100, judge=judge, seed=0).floor == ref.floor


# --------------------------------------------------------------------------- precision and recall


def test_knn_radii_match_brute_force():
    f = np.random.default_rng(0).normal(size=(230, 5))
    d2 = ((f[:, None] - f[None]) ** 2).sum(-1)
    np.fill_diagonal(d2, np.inf)
    expected = np.sort(d2, axis=1)[:, 2]
    np.testing.assert_allclose(M.knn_radii(f, k=3, batch=64), expected, rtol=1e-9, atol=1e-9)
    with pytest.raises(NeuroartError, match="more than k=3"):
        M.knn_radii(f[:3], k=3)


def test_precision_recall_one_for_the_same_set_lower_for_a_shifted_one():
    rng = np.random.default_rng(1)
    real = rng.normal(size=(600, 8))
    same = M.precision_recall_features(real, real)
    assert same == {"precision": 1.0, "recall": 1.0}
    fresh = M.precision_recall_features(rng.normal(size=(600, 8)), real)
    assert min(fresh.values()) > 0.7  # the same distribution, new draws: most inside the balls
    shifted = M.precision_recall_features(rng.normal(size=(600, 8)) + 2.0, real)
    assert max(shifted.values()) < 0.2
    with pytest.raises(NeuroartError, match="same D"):
        M.precision_recall_features(real[:, :4], real)


def test_precision_recall_of_digits_see_a_collapsed_and_a_shifted_set(mnist_float, judge):
    """In the judge's features: the same digits score 1 / 1; every digit the same digit (a
    collapsed generator) keeps precision and loses recall; digits moved 6 pixels off centre lose both."""
    _, (xt, yt) = mnist_float
    real, other = xt[:500], xt[500:1000]
    assert M.precision_recall(real, real, judge=judge) == {"precision": 1.0, "recall": 1.0}
    fresh = M.precision_recall(other, real, judge=judge)
    assert min(fresh.values()) > 0.6
    collapsed = M.precision_recall(np.repeat(other[:1], 500, axis=0), real, judge=judge)
    assert collapsed["precision"] == 1.0 and collapsed["recall"] < 0.05
    shifted = M.precision_recall(np.roll(other, 6, axis=2), real, judge=judge)
    assert shifted["precision"] < fresh["precision"] - 0.3 and shifted["recall"] < fresh["recall"] - 0.3


# --------------------------------------------------------------------------- the detector


def test_the_detector_sees_bytes_on_a_log_scale():
    x = np.zeros((1, 28, 28), np.float32)
    x[0, 0, :5] = [0.0015, 0.0025, 1 / 255, 0.5, 1.0]  # bytes 0, 1, 1, 128, 255
    v = M.detector_view(x)
    assert v.dtype == np.float32 and v[0, 1:].max() == 0
    np.testing.assert_allclose(v[0, 0, :5], [0, 0.125, 0.125, np.log(129) / np.log(256), 1], rtol=1e-6)


def test_as_saved_and_zero_share_see_what_a_png_keeps():
    x = np.zeros((2, 28, 28), np.float32)
    x[0, 0, :4] = [0.001, 0.0019, 0.002, 0.5]  # half a byte is 0.00196
    saved = M.as_saved(x)
    assert saved.dtype == np.float32
    np.testing.assert_array_equal(saved[0, 0, :4] * 255, [0, 0, 1, 128])
    assert M.zero_share(x) == 1 - 2 / (2 * 784)


@pytest.fixture(scope="module")
def two_real_sets(mnist_float):
    """Two disjoint sets of 300 real training digits, and the second with faint haze on its background."""
    (x, _), _ = mnist_float
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(x))[:600]
    a, b = x[idx[:300]], x[idx[300:]]
    haze = np.where(b == 0, rng.uniform(0, 0.02, b.shape), b).astype(np.float32)
    return a, b, haze


@pytest.mark.slow
def test_the_detector_tells_haze_from_real_and_not_real_from_real(two_real_sets):
    a, b, haze = two_real_sets
    detect = functools.partial(M.detector_accuracy, seed=0, examples=10_000)  # a third of the training: faster
    real = detect(b, a)
    assert abs(real - 0.5) < 0.1
    assert detect(b, a) == real  # the same seed, the same accuracy
    assert detect(haze, a) > 0.95
    # haze under half a byte is not in a saved picture: the detector cannot see it either
    assert detect(np.where(b == 0, 0.0015, b), a) == real


def test_the_detector_refuses_unbalanced_sets(two_real_sets):
    a, b, _ = two_real_sets
    with pytest.raises(NeuroartError, match="as many real digits"):
        M.detector_accuracy(b[:10], a)
    with pytest.raises(NeuroartError, match="at least 4"):
        M.detector_accuracy(b[:2], a[:2])


def test_the_real_reference_scores_realness_beside_its_floors(mnist_float, judge):
    (x, y), (xt, yt) = mnist_float
    ref = M.RealReference(xt, yt, 30, judge=judge, train_images=x, train_labels=y)
    assert 0.5 < ref.precision <= 1 and 0.5 < ref.recall <= 1
    mine = ref.training_digits(ref.labels)
    other = ref.training_digits(ref.labels, other=True)
    rows = {im.tobytes(): i for i, im in enumerate(x)}
    ia, ib = [rows[im.tobytes()] for im in mine], [rows[im.tobytes()] for im in other]
    assert not set(ia) & set(ib)
    assert (y[ia] == ref.labels).all() and (y[ib] == ref.labels).all()
    s = ref.score(other, detector=False)
    assert set(s) == {"judge_agreement", "fid", "fid_over_floor", "precision", "recall",
                      "diversity_over_real", "zero_share"}
    assert s["fid"] == pytest.approx(M.frechet_distance(other, ref.b, judge=judge))
    assert s["zero_share"] > 0.7
    with pytest.raises(NeuroartError, match="without train_images"):
        M.RealReference(xt, yt, 5, judge=judge).training_digits([1, 2])
    with pytest.raises(NeuroartError, match="training digits of class 3"):
        ref.training_digits(np.full(4000, 3))
