"""Generate, reconstruct, morph and map handwritten digits with the bundled generators.

All functions return float32 images (N, 28, 28) in [0, 1] and take a `model`: a bundled name
(``cvae`` — the default, class-conditional — or ``vae``) or the path of a ``.keras`` generator
made by `neuroart.generate.train.train_generator`. Everything random takes a `seed`.

    >>> from neuroart.generate import generate
    >>> images, labels = generate([3, 7], per_digit=8, seed=1)   # 16 new digits: eight 3s, eight 7s
"""

from __future__ import annotations

import os
from pathlib import Path
from statistics import NormalDist

import numpy as np

from .._util import NeuroartError, check_digits
from ..outputs import Digits
from ..validate import finite, integer, positive_int
from .config import DEFAULT_MODEL, LABEL_JUDGE, SHARPNESS, TEMPERATURE, TRUNCATION, check_frames, check_map_size
from .config import check_temperature as _check_temperature  # (dataset.py reads it by this name)


def _generator(model):
    from .model import Generator, load_generator

    return model if isinstance(model, Generator) else load_generator(model)


def _digits(digits) -> list[int]:
    if digits is None:
        return list(range(10))
    if isinstance(digits, (int, np.integer, str)):
        digits = [digits]
    out = check_digits(digits)
    if not out:
        raise NeuroartError("no digits requested")
    return out


def generate(digits=None, *, per_digit: int = 10, temperature: float = TEMPERATURE, seed: int = 0,
             model=DEFAULT_MODEL, truncation: float = TRUNCATION, sharpness: float = SHARPNESS,
             standard_prior: bool = False, shard=None, steps: int | None = None, guidance: float | None = None,
             show_progress: bool = False) -> Digits:
    """New digits of the requested classes (all ten by default), `per_digit` of each.

    Returns ``(images, labels)``: float32 (N, 28, 28) in [0, 1] and int64 (N,), ordered digit by
    digit (a `neuroart.outputs.Digits`: it unpacks as a pair and shows as a grid in a notebook). `temperature` scales the spread of the prior: below 1 gives neater, more typical
    digits, above 1 wilder ones (0 = each class's mean digit). `truncation` redraws the rarest
    codes, beyond that quantile of the prior's radius (1 = none). `sharpness` renders the
    decoder's soft pixel probabilities as crisper ink (1 = raw). The prior is the Gaussian fitted to the
    training codes (per class for the cvae); `standard_prior` samples N(0, I) instead.
    A conditional model (cvae) draws each requested class; an unconditional one (vae, ae)
    cannot be told which digit to draw, so it only accepts ``digits=None`` and returns labels -1.
    `shard` ``(i, n)`` (or ``"i/n"``) returns only shard i of n of the grid's rows (``per_digit``
    digits each; `neuroart.distribute.job_rows`): every code is drawn from the
    one seed and only the shard's rows are decoded, one row per batch, so shards 0..n-1
    concatenated are, byte for byte, the whole job (no `shard` is ``shard=(0, 1)``: the same rows,
    decoded the same way, since TensorFlow's CPU kernels round some values differently at other
    batch sizes). The flow runs every shard in batches of the job's one size
    (`neuroart.generate.flow.generate_rows`), to the same effect.

    A flow model (``model="flow"``, the bundled few-step flow) draws each digit in its own 4
    network passes; a flow trained by flow matching (``model="flow-teacher"``) integrates in
    `steps` Euler steps with classifier-free `guidance` (None: `FLOW_SAMPLE_DEFAULTS`'s; 0 =
    none), which a few-step flow refuses in one line. A progress bar goes to stderr when
    `show_progress`; `temperature`, `truncation`, `sharpness` and `standard_prior` are the
    VAEs' and do not apply.
    """
    from ..distribute import check_shard

    shard = check_shard(shard)
    per_digit = positive_int("per_digit", per_digit, high=10_000)
    flow = flow_model(model)
    if flow is not None:
        return Digits(*_flow_rows(flow, _digits(digits), per_digit, shard, steps=steps, guidance=guidance,
                                  seed=seed, show_progress=show_progress))
    g = _generator(model)
    temperature = _check_temperature(temperature)
    if g.conditional:
        ds = _digits(digits)
        labels = np.repeat(np.asarray(ds, np.int64), per_digit)
        z = g.prior(labels=labels, temperature=temperature, truncation=truncation, seed=seed,
                    standard=standard_prior)
        return Digits(_decode_rows(g, z, labels, per_digit, shard, sharpness), _rows_of(labels, per_digit, shard))
    if digits is not None and list(digits) != []:
        raise NeuroartError(f"the {g.kind} is unconditional: it cannot draw chosen digits (use the cvae)")
    n = 10 * per_digit
    z = g.prior(n, temperature=temperature, truncation=truncation, seed=seed, standard=standard_prior)
    labels = np.full(n, -1, np.int64)
    return Digits(_decode_rows(g, z, None, per_digit, shard, sharpness), _rows_of(labels, per_digit, shard))


def flow_model(model):
    """The flow model `model` names (or is), else None: a flow is its own family of model files
    (a flow that has sampled on this machine before opens as a `flow_graph.FlowFile`)."""
    if isinstance(model, (str, os.PathLike)):
        from ..models import load_card

        try:
            kind = load_card(model).get("kind")
        except (NeuroartError, OSError, ValueError):
            kind = None
        if kind not in (None, "flow"):
            return None
        from .flow_graph import load

        model = load(model, role=None)
    from .flow import is_flow

    return model if is_flow(model) else None


def _flow_rows(flow, ds, per_digit: int, shard, *, steps, guidance, seed, show_progress):
    from .._util import progress
    from ..distribute import job_rows
    from .flow import generate_rows, job_batch, model_grid, sampling

    how = sampling(flow, steps=steps, guidance=guidance)  # a few-step flow refuses steps, in one line
    n_steps = len(model_grid(flow, how["steps"], spacing=how["spacing"])) - 1
    labels = np.repeat(np.asarray(ds, np.int64), per_digit)
    rows = job_rows(len(ds), shard)
    batches = -(-len(rows) * per_digit // job_batch(len(labels)))
    with progress(length=batches * n_steps, label="generating through the flow", show=show_progress) as bar:
        images = generate_rows(flow, labels, per_digit=per_digit, rows=rows, steps=steps, guidance=guidance,
                               seed=seed, progress=bar.update)
    return images, _rows_of(labels, per_digit, shard)


def _rows_of(a, per_digit: int, shard):
    """The items of shard ``(i, n)`` of the rows (``per_digit`` items each) of `a`."""
    from ..distribute import job_rows, row_items

    return a[row_items(job_rows(len(a) // per_digit, shard), per_digit)]


def _decode_rows(g, z, labels, per_digit: int, shard, sharpness: float) -> np.ndarray:
    """Decode the shard's rows of codes `z`, one row per batch (the same bytes whichever shard)."""
    z = _rows_of(z, per_digit, shard)
    labels = None if labels is None else _rows_of(labels, per_digit, shard)
    out = [np.zeros((0, 28, 28), np.float32)]
    for a in range(0, len(z), per_digit):
        out.append(g.decode(z[a : a + per_digit], None if labels is None else labels[a : a + per_digit],
                            sharpness=sharpness))
    return np.concatenate(out)


sample = generate


def _test_digits(data="auto"):
    from ..data import load_mnist, to_float

    _, (xt, yt) = load_mnist(data)
    return to_float(xt), yt


def reconstruct(images=None, labels=None, *, n: int = 10, seed: int = 0, model=DEFAULT_MODEL,
                data="auto", sharpness: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Encode and decode digits: `images` (N, 28, 28), or `n` random MNIST test digits (seeded).

    Returns ``(originals, reconstructions, labels)``. The cvae needs the labels of user images;
    when they are not given the `cnn` classifier names them.
    """
    g = _generator(model)
    if images is None:
        n = positive_int("n", n, high=10_000)
        xt, yt = _test_digits(data)
        if n > len(xt):
            raise NeuroartError(f"n must be at most the {len(xt)} test digits of the data, got {n}")
        idx = np.random.default_rng(integer("seed", seed, low=0)).choice(len(xt), n, replace=False)
        images, labels = xt[idx], yt[idx]
    else:
        images = np.asarray(images, np.float32).reshape(-1, 28, 28)
        if labels is None:  # only the cvae needs them; name the digits with the cnn
            labels = _classify(images) if g.conditional else np.full(len(images), -1)
    labels = np.asarray(labels, np.int64).reshape(-1)
    z = g.encode(images, labels if g.conditional else None)
    return images, g.decode(z, labels if g.conditional else None, sharpness=sharpness), labels


def _classify(images) -> np.ndarray:
    from ..metrics import judge_predict

    return judge_predict(images, LABEL_JUDGE).argmax(axis=1).astype(np.int64)


def slerp(a, b, t) -> np.ndarray:
    """Spherical interpolation between latent vectors a and b at fractions t (falls back to linear
    when they are (anti)parallel). Keeps interpolants at a typical norm under a Gaussian prior."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    t = np.asarray(t, np.float64).reshape(-1, 1)
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 or nb == 0:
        return ((1 - t) * a + t * b).astype(np.float32)
    cos = np.clip(np.dot(a, b) / (na * nb), -1.0, 1.0)
    omega = np.arccos(cos)
    if np.sin(omega) < 1e-6:
        return ((1 - t) * a + t * b).astype(np.float32)
    so = np.sin(omega)
    return (np.sin((1 - t) * omega) / so * a + np.sin(t * omega) / so * b).astype(np.float32)


def _endpoint(x, g, rng, data):
    """A morph endpoint (a digit 0-9, an image file, or a (28, 28) array) -> (image, label)."""
    if isinstance(x, np.ndarray) and x.shape == (28, 28):
        img = x.astype(np.float32)
        return img, int(_classify(img[None])[0])
    text = str(x)
    if text.strip().isdigit() and not os.path.exists(text):
        d = int(text)
        if not 0 <= d <= 9:
            raise NeuroartError(f"not a digit: {text} (give 0-9 or an image file)")
        xt, yt = _test_digits(data)
        pool = np.flatnonzero(yt == d)
        i = int(rng.choice(pool))
        return xt[i], d
    path = Path(text)
    if not path.exists():
        raise NeuroartError(f"{text}: neither a digit 0-9 nor an image file")
    from ..data import load_digit_image

    img = load_digit_image(path)
    return img, int(_classify(img[None])[0])


def morph(a, b, *, frames: int = 12, seed: int = 0, model=DEFAULT_MODEL, data="auto",
          path: str = "auto", sharpness: float = SHARPNESS) -> tuple[np.ndarray, dict]:
    """A smooth latent path from `a` to `b` (each a digit 0-9 or an image file), `frames` images.

    A digit picks a real MNIST test digit of that class (seeded). Both ends are encoded; the path
    is spherical (slerp) for the Gaussian-prior VAEs and straight for the autoencoder (``path``
    may force ``slerp`` or ``linear``). For the cvae the digit label travels too, linearly from one
    class to the other, so a 3 turns into an 8 while keeping its handwriting style. The frames
    are spaced evenly in picture space (equal arc length along the decoded path).
    Returns ``(frames (F, 28, 28), info)`` where info holds the endpoint labels.
    """
    g = _generator(model)
    frames = check_frames(frames)
    if path not in ("auto", "slerp", "linear"):
        raise NeuroartError(f"path must be auto, slerp or linear, got {path!r}")
    rng = np.random.default_rng(integer("seed", seed, low=0))
    (xa, la), (xb, lb) = _endpoint(a, g, rng, data), _endpoint(b, g, rng, data)
    za = g.encode(xa[None], [la] if g.conditional else None)[0]
    zb = g.encode(xb[None], [lb] if g.conditional else None)[0]
    from .model import sharpen

    use_slerp = path == "slerp" or (path == "auto" and g.gaussian_prior)

    def render(t):
        if use_slerp:
            z = slerp(za, zb, t)
        else:
            z = ((1 - t)[:, None] * za + t[:, None] * zb).astype(np.float32)
        if g.conditional:
            ya, yb = np.eye(10, dtype=np.float32)[la], np.eye(10, dtype=np.float32)[lb]
            soft = ((1 - t)[:, None] * ya + t[:, None] * yb).astype(np.float32)
            return sharpen(np.asarray(g.decoder([z, soft], training=False)), sharpness)
        return g.decode(z, sharpness=sharpness)

    # Even steps in the picture, not in the latent: the decoder answers a travelling label (and
    # some latent stretches) unevenly -- a 1 can stay a 1 for most of the way and then jump to a
    # 7. So the path is drawn densely, and the frames are placed at equal arc length of the
    # pictures along it (a perceptually uniform morph).
    dense_t = np.linspace(0.0, 1.0, max(128, 16 * frames))
    dense = render(dense_t).reshape(len(dense_t), -1)
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(dense, axis=0), axis=1))])
    if arc[-1] > 1e-6:
        t = np.interp(np.linspace(0.0, arc[-1], frames), arc, dense_t)
    else:
        t = np.linspace(0.0, 1.0, frames)
    out = render(t)
    return out, {"from": la, "to": lb, "path": "slerp" if use_slerp else "linear", "kind": g.kind}


def _plane(g, dims, data, digit, c):
    """Two unit directions in the prior's whitened coordinates w (z = mean + L w), and a description.

    ``"decoder"``: the two directions along which the decoded digit changes most (the top right-
    singular vectors of the decoder's finite-difference Jacobian at the prior mean) -- the most
    visible plane for any latent size. ``"pca"``: the top two principal directions of the encoded
    test digits (of `digit` only, for the cvae). ``(i, j)``: two latent axes.
    """
    n = g.latent_dim
    m, L = g.prior_gaussian(c)
    labels = [digit] * (2 * n) if g.conditional else None

    def whiten(raw):  # raw latent directions (2, n) -> unit whitened directions
        u = np.linalg.solve(L, np.asarray(raw, np.float64).T).T
        return u / np.linalg.norm(u, axis=1, keepdims=True)

    if dims == "decoder" and n > 2:
        eye = 0.5 * np.eye(n)
        probes = np.concatenate([m + eye @ L.T, m - eye @ L.T]).astype(np.float32)
        out = g.decode(probes, labels).reshape(2 * n, -1).astype(np.float64)
        jac = out[:n] - out[n:]  # (n, 784): how the picture moves along each whitened axis
        u, _, _ = np.linalg.svd(jac, full_matrices=False)
        return u[:, :2].T, "the decoder's two most visible directions"
    if dims == "pca" and n > 2:
        xt, yt = _test_digits(data)
        if g.conditional:
            keep = yt == digit
            xt, yt = xt[keep], yt[keep]
        z = g.encode(xt[:5000], yt[:5000] if g.conditional else None)
        _, _, vt = np.linalg.svd(z - z.mean(axis=0), full_matrices=False)
        who = f"digit {digit}" if g.conditional else "the"
        return whiten(vt[:2]), f"principal components 1-2 of {who} encoded test digits"
    if dims in ("pca", "decoder", None):
        dims = (0, 1)
    try:
        i, j = (int(v) for v in dims)
    except (TypeError, ValueError):
        raise NeuroartError(f"plane must be 'decoder', 'pca' or two latent axes like 0,1; got {dims!r}") from None
    if not (0 <= i < n and 0 <= j < n) or i == j:
        raise NeuroartError(f"plane axes must be two different numbers from 0 to {n - 1}, got {i},{j}")
    return whiten(np.eye(n)[[i, j]]), f"latent axes {i} and {j}"


def latent_map(*, model="vae", digit: int | None = None, n: int = 15, span: float = 0.95,
               plane="decoder", data="auto", seed: int | None = None,
               sharpness: float = SHARPNESS) -> tuple[np.ndarray, dict]:
    """The decoded latent plane as an n x n grid of digits (like the Keras VAE example).

    The grid is centred on the prior's mean (the chosen digit's, for the cvae) and steps through
    the prior's Gaussian quantiles from ``1 - span`` to `span` along two directions, the other
    coordinates held at the mean -- or, with a `seed`, at one seeded draw from the prior (another
    slice through the space, through a random digit rather than the average one). `plane` is
    ``"decoder"`` (the default: the two directions that change the picture most), ``"pca"`` (the
    top principal directions of the encoded test digits) or two latent axes like ``(0, 1)``.
    The default model is the unconditional VAE, whose map shows every digit; a cvae map shows one
    chosen `digit`'s styles. Returns ``(images (n*n, 28, 28), info)``.
    """
    g = _generator(model)
    n = check_map_size(n)  # the grid is n x n
    span = finite("span", span, low=0.5, low_open=True, high=1, high_open=True)  # a prior quantile
    if g.conditional:
        if digit is None:
            raise NeuroartError("the cvae draws one digit per map: choose a digit 0-9")
        digit = _digits([digit])[0]
    elif digit is not None:
        raise NeuroartError(f"the {g.kind} is unconditional: a digit needs the cvae")
    c = digit if g.conditional else None  # the digit's Gaussian, or the whole mixture's
    u, desc = _plane(g, plane, data, digit, c)
    m, L = g.prior_gaussian(c)
    w0 = np.zeros(g.latent_dim)
    if seed is not None:  # slice through a random prior draw instead of the mean
        w0 = np.linalg.solve(L, g.prior(1, [c] if g.conditional else None, seed=seed)[0] - m)
        q_, _ = np.linalg.qr(u.T)
        w0 = w0 - q_ @ (q_.T @ w0)  # the plane itself stays centred
    q = np.array([NormalDist().inv_cdf(p) for p in np.linspace(1 - span, span, n)])
    rows, cols = np.meshgrid(q[::-1], q, indexing="ij")  # top row = high second coordinate
    w = w0[None] + cols.reshape(-1, 1) * u[0] + rows.reshape(-1, 1) * u[1]
    z = (m[None] + w @ L.T).astype(np.float32)
    labels = [digit] * len(z) if g.conditional else None
    images = g.decode(z, labels, sharpness=sharpness)
    return images, {"plane": desc, "digit": digit, "n": n, "kind": g.kind}


# --------------------------------------------------------------------------- sheets to save
# What the commands write: each runs one function above and lays its result out as a
# `neuroart.outputs.Sheet` (grid, frames, npz arrays, recipe) for `outputs.save`.

#: Digits in one PNG grid (a 20-column grid of 5,000 at scale 3 is ~1700 x 22000 px).
MAX_GRID = 5000


def _stamp(model) -> dict:
    from ..models import model_stamp

    return model_stamp(model)


def _with_defaults(fn, options: dict) -> dict:
    """`options` completed with `fn`'s keyword defaults (the one place they live); unknown names refused."""
    import inspect

    params = {n: p for n, p in inspect.signature(fn).parameters.items() if p.kind is p.KEYWORD_ONLY}
    unknown = sorted(set(options) - set(params))
    if unknown:
        raise NeuroartError(f"{fn.__name__}: unknown option {unknown[0]!r}")
    return {name: options.get(name, p.default) for name, p in params.items()}


def generate_sheet(digits=None, *, grid: bool = True, **options):
    """`generate` laid out as a grid of at most 20 columns (one row per digit when they fit).

    `grid=False` skips the picture (for an npz of a large batch); a grid of more than
    `MAX_GRID` digits is refused before any work.
    """
    from ..outputs import Sheet

    opts = _with_defaults(generate, options)
    per_digit = int(opts["per_digit"])
    if grid and len(_digits(digits)) * per_digit > MAX_GRID:
        raise NeuroartError(f"a grid of {len(_digits(digits)) * per_digit:,} digits is too large to draw "
                            f"(at most {MAX_GRID:,}); write the npz alone for large batches")
    images, labels = generate(digits, **opts)
    cols = per_digit if per_digit <= 20 else 20
    rows = [str(d) for d in labels[::cols]] if labels[0] >= 0 and per_digit % cols == 0 else None
    knobs = ("seed", "steps", "guidance") if flow_model(opts["model"]) is not None else (
        "seed", "temperature", "truncation", "sharpness")
    recipe = {**_stamp(opts["model"]), **{k: opts[k] for k in knobs}}
    return Sheet(images.astype(np.float32), labels=labels, ncols=cols, row_labels=rows, recipe=recipe)


def reconstruct_sheet(images=None, **options):
    """`reconstruct` as rows of originals ("in") above their reconstructions ("out"), 10 per row."""
    from ..outputs import Sheet

    opts = _with_defaults(reconstruct, options)
    originals, recons, labels = reconstruct(images, **opts)
    cols = min(len(originals), 10)
    rows, row_labels = [], []
    for i in range(0, len(originals), cols):
        a, b = originals[i : i + cols], recons[i : i + cols]
        pad = np.zeros((cols - len(a), 28, 28), np.float32)
        rows += [np.concatenate([a, pad]), np.concatenate([b, pad])]
        row_labels += ["in", "out"]
    err = float(((originals - recons) ** 2).mean())
    return Sheet(np.concatenate(rows), ncols=cols, row_labels=row_labels, composite=True,  # the originals drawn
                 arrays={"originals": originals, "reconstructions": recons, "labels": labels},
                 recipe={**_stamp(opts["model"]), "seed": opts["seed"]},
                 message=f"mean squared pixel error {err:.4f} over {len(originals)} digits")


def morph_sheet(a, b, **options):
    """`morph` as a strip of frames, and a looping GIF of them (forward then back)."""
    from ..outputs import Sheet

    opts = _with_defaults(morph, options)
    strip, info = morph(a, b, **opts)
    recipe = {**_stamp(opts["model"]), "seed": opts["seed"],
              "from": info["from"], "to": info["to"]}
    return Sheet(strip, ncols=len(strip), frames=list(strip), recipe=recipe, gif_bounce=True, gif_min_scale=4,
                 composite=True,  # from two real digits (yours, or MNIST's)
                 message=f"{info['kind']}: {info['from']} -> {info['to']}, {len(strip)} frames, {info['path']} path")


def latent_map_sheet(**options):
    """`latent_map` as an n x n grid without gaps between the cells."""
    from ..outputs import Sheet

    opts = _with_defaults(latent_map, options)
    images, info = latent_map(**opts)
    recipe = {**_stamp(opts["model"]), "plane": info["plane"], "seed": opts["seed"]}
    return Sheet(images, ncols=info["n"], pad=0, recipe=recipe, message=f"{info['kind']} latent map along {info['plane']}")
