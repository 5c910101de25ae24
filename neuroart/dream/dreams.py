"""`dream()`: the recipe behind ``neuroart dream`` -- readable digits out of a classifier.

The defaults in :class:`DreamConfig` were chosen by measurement (docs/dream.md): each image is a
sigmoid-squashed pixel grid that starts from the mean MNIST digit, randomly warped per sample
(so samples of one digit differ), and climbs log p(target) under random jitter/scale/rotation/
blur, minus an L1 ink penalty (digits are thin strokes on black). The classifier dreamed on
labels every result as its target and an independent CNN agrees on nearly all of them.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field

import numpy as np

from .._util import NeuroartError, check_digits, tf
from ..display import Displayed
from ..distribute import row_items
from . import objectives as O
from . import params as P
from . import priors
from . import transforms as TR
from .options import gradient as check_gradient
from .options import refuse_unused
from .priors import resolve_prior  # noqa: F401  (its old home: `neuroart.dream.dreams.resolve_prior`)
from .render import ModelTaps, check_optimizer, render
from .starts import STARTS, start_images  # noqa: F401  (STARTS: read by the CLI)

STEPS = 200  # steps of a pixel dream (a dream through the flow takes the flow's: `flowdream.FLOW_STEPS`)
FLOW_VIEWS = 8  # random views the steering objective is averaged over (without them it fools the classifier)
#: A class dream from noise steers only the dreams the classifier does not yet read as their class
#: (probability below this, `FlowDreamConfig.gate`); the others are left to the flow, which keeps
#: their realness and variety (docs/flow.md, "Steering on demand"). From a start image, where the
#: class must change, every dream is steered.
FLOW_GATE = 0.2
CLASS_SCORES = ("logprob", "logit", "prob")


@dataclass(frozen=True)
class DreamConfig:
    """Every default of a dream, in one place (the CLI options default to these)."""

    per_digit: int = 8  # samples of each target digit (columns of the grid)
    steps: int | None = None  # gradient-ascent steps (None: 200), or flow steps with prior="flow"
    #                           (None: the few-step flow's own 4; 25 through a flow-matching flow)
    lr: float = 0.05  # Adam step size (in the parameterisation's units)
    objective: str = "class"  # class | prob | neuron | channel | layer
    param: str = "pixel"  # pixel | fourier | latent
    start: str = "mean"  # noise | blank | mean | digit | digit:D | path to an image
    model: str = "mlp"  # the classifier dreamed on (bundled name or .keras path)
    seed: int = 0
    layer: str | None = None  # for neuron/channel/layer objectives (default: first hidden layer)
    units: tuple = ()  # for neuron/channel objectives (default: the first few units)
    # -- what is climbed
    class_score: str = "logprob"  # logprob | logit | prob: which class score the `class` objective uses
    temperature: float = 4.0  # softmax temperature of the logprob class score (saturates later)
    l1: float = 1.0  # ink penalty: mean |x|
    l2: float = 0.0  # mean x**2
    tv: float = 0.0  # total variation
    diversity: float | None = None  # push samples of one digit apart (cosine similarity);
    #                                 None: 0.3 with a prior, 0.1 without
    prior: str = "flow"  # "flow": the flow model draws and the objective steers (dream/flowdream.py);
    #                      or a pixel dream with a Plug & Play denoising prior: auto | vae | ae | a .keras
    #                      autoencoder (auto = the bundled vae, else the bundled ae, else none), or none
    denoise: float = 0.03  # weight of that prior (pulls each step towards its reconstruction)
    # -- random transforms each step
    jitter: float = 2.0  # pixels
    scale: float = 0.15  # +- zoom (log-uniform in 1/1.15 .. 1.15)
    rotate: float = 15.0  # +- degrees
    blur: float = 0.5  # max Gaussian sigma, pixels
    # -- the start
    noise: float = 1.0  # amplitude of the seeded start noise (logit units)
    smooth: float = 1.5  # 1/f**smooth spectrum of the start noise (0 = white speckle)
    warp: float = 1.0  # per-sample random affine warp of the start (x 15 deg, 15% zoom, 2 px)
    views: int | None = None  # random transforms per image per step, score averaged (None: 1, 8 with the flow)
    # -- the flow prior (prior="flow")
    steer: float = 1.0  # strength of the classifier's steering of the flow (docs/flow.md: few-step flow,
    #                     n = 2,000, gradient "ink": 1 reads 99.05% at 1.68x the FID floor, diversity 0.95,
    #                     detector 54%; 1.5: 99.15%, 1.70x; the flow alone: 98.5%, 1.64x)
    strength: float = 0.9  # from a start image: how far back to noise it (1 = all the way, 0.3 = a touch;
    #                        the few-step flow starts at its grid time nearest 1 - strength)
    hand: float = 1.0  # from a start image: how strongly to keep its slant and stroke width, relative to steer
    gradient: str | None = None  # how the steering reaches the flow: "ink" moves the predicted digit's ink up
    #                      the objective (blank stays blank), "clean" the predicted digit itself (MPGD: it
    #                      draws new ink), "flow" takes the gradient back through the flow (DPS, ~3x the time;
    #                      flowdream.Steering); None: ink for a class, clean for a unit or layer
    flow: str = "flow"  # the flow model (bundled name or .keras path)
    lowres: int = 1  # pixel param: one value per lowres x lowres block (1 = full resolution)
    bound: str = "sigmoid"  # pixel param: sigmoid (values are logits) | clip (plain projected ascent)
    optimizer: str = "adam"  # adam | normgrad
    decay_power: float = 1.0  # Fourier parameterisation: 1/f**decay
    generator: str = "cvae"  # decoder for --param latent (bundled name, .keras path, or a model)
    latent_prior: float = 1.0  # --param latent: weight of the log-prior -|z|^2/2 (keeps z typical)
    latent_lr: float = 0.01  # --param latent: Adam step on z (larger steps collapse the samples)
    latent_anchor: float = 3.0  # --param latent: pull of each z back to its own random start


DEFAULTS = DreamConfig()


@dataclass
class DreamResult(Displayed):
    images: np.ndarray  # (N, 28, 28) float32 in [0, 1], grid order (row-major)
    labels: np.ndarray  # (N,) int: the target digit of each image (-1 when there is none)
    rows: list  # one label per grid row
    ncols: int
    frames: list = field(default_factory=list)  # snapshots (N, 28, 28) for an animation
    scores: np.ndarray | None = None
    config: DreamConfig = DEFAULTS
    units: np.ndarray | None = None  # (N,) the unit dreamed of, for neuron/channel objectives
    prior: str = "none"  # the Plug & Play prior actually used

    def sheet(self):
        """The labelled grid (one row per digit or unit), its ascent as GIF frames, and the npz arrays."""
        from ..models import model_stamp
        from ..outputs import Sheet

        recipe = {**model_stamp(self.config.model), "seed": self.config.seed, "prior": self.prior,
                  **priors.stamp(self.prior)}
        extra = {} if self.units is None else {"units": np.asarray(self.units, np.int64)}
        real = not (isinstance(self.config.start, str) and self.config.start in ("noise", "blank", "mean"))
        return Sheet(self.images, labels=self.labels, ncols=self.ncols, row_labels=self.rows, frames=list(self.frames),
                     arrays=extra, recipe=recipe, gif_hold=10, composite=real)


def _hidden_layers(taps: ModelTaps):
    keras = tf().keras
    return [
        name
        for name, l in taps.layers.items()
        if isinstance(l, (keras.layers.Dense, keras.layers.Conv2D)) and l is not taps._dense
    ]


def _load_classifier(model):
    from ..models import load_classifier

    return load_classifier(model)  # a name, a path or a Keras model; contract checked


# --------------------------------------------------------------------------- the recipe, step by step
#
# `dream` hands off to small named steps, as lucid's `render_vis` does:
#   _plan       what the grid holds: rows, one target (digit or unit) per image, groups
#   _target     the main score of a batch's images (the class score chosen once, here)
#   _objective  + the penalties, the diversity term and the prior's term
#   _param      the parameterisation of a batch (starts drawn for the whole job, then sliced)
#   _batch      one render of some rows (all of them, or one row of a sharded job)


@dataclass
class _Plan:
    """What a dream's grid holds, for the whole job (before any shard is cut out)."""

    rows: list  # one label per grid row
    labels: np.ndarray  # (N,) target digit per image, -1 for unit/layer dreams
    groups: np.ndarray  # (N,) images pushed apart by the diversity term share a group
    units: np.ndarray | None = None  # (N,) the unit of each image (neuron/channel objectives)
    layer: str | None = None  # the layer of a neuron/channel/layer objective


def _plan(digits, cfg: DreamConfig, taps: ModelTaps) -> _Plan:
    k = cfg.per_digit
    if cfg.objective in ("class", "prob"):
        targets = check_digits(range(10) if digits is None or len(digits) == 0 else digits)
        labels = np.repeat(np.asarray(targets, np.int64), k)
        return _Plan([str(d) for d in targets], labels, labels)
    if digits:
        raise NeuroartError(f"digits are targets of --objective class; --objective {cfg.objective} dreams of --layer/--unit")
    hidden = _hidden_layers(taps)
    layer = cfg.layer or (hidden[0] if hidden else None)
    if layer is None:
        raise NeuroartError("this model has no hidden Dense/Conv layer; give --layer")
    taps.check(layer)
    if cfg.objective == "layer":
        return _Plan([layer], np.full(k, -1, np.int64), np.zeros(k, np.int64), layer=layer)
    size = taps.units(layer)
    want = list(cfg.units) or list(range(min(10, size)))
    for u in want:
        if not 0 <= int(u) < size:
            raise NeuroartError(f"unit {u} is out of range: layer {layer!r} has {size} units (0-{size - 1})")
    units = np.repeat(np.asarray(want, np.int64), k)
    return _Plan([f"{layer}:{u}" for u in want], np.full(len(units), -1, np.int64), units, units, layer)


def _target(cfg: DreamConfig, plan: _Plan, sel):
    """The main score of images `sel` (a slice or indices): the class score, or the unit/layer objective."""
    labels = plan.labels[sel]
    if cfg.objective == "prob" or (cfg.objective == "class" and cfg.class_score == "prob"):
        return O.class_prob(labels)
    if cfg.objective == "class":
        if cfg.class_score == "logit":
            return O.class_logit(labels)
        return O.class_logprob(labels, temperature=cfg.temperature)
    if cfg.objective == "layer":
        return O.layer(plan.layer)
    return (O.neuron if cfg.objective == "neuron" else O.channel)(plan.layer, plan.units[sel])


def _objective(cfg: DreamConfig, main, groups, prior: str, labels):
    """`main` minus the ink penalties, plus the diversity term and the prior's term."""
    objective = main
    if cfg.l1:
        objective = objective - cfg.l1 * O.l1()
    if cfg.l2:
        objective = objective - cfg.l2 * O.l2()
    if cfg.tv:
        objective = objective - cfg.tv * O.total_variation()
    diversity = cfg.diversity if cfg.diversity is not None else (0.3 if prior != "none" else 0.1)
    if diversity:
        objective = objective + diversity * O.diversity(groups=groups)
    term = priors.objective_term(cfg, prior, labels)
    return objective if term is None else objective + term


def _param(cfg: DreamConfig, plan: _Plan, sel: slice, part):
    """The parameterisation of images `sel`; random starts are drawn for the whole job (`part`
    says which images of it this batch is) so every image starts the same in any shard."""
    n = len(plan.labels)
    labels = plan.labels[sel]
    if cfg.param == "latent":
        gen = priors.load_generator(cfg.generator)
        decoder = getattr(gen, "decoder", gen)
        conditional = len(decoder.inputs) > 1
        if conditional and labels.min() < 0:
            raise NeuroartError("--param latent with the cvae needs target digits (--objective class)")
        z0 = None
        if hasattr(gen, "prior"):  # the generator's own prior (a fitted Gaussian for the plain ae)
            z0 = gen.prior(n, seed=cfg.seed)
        elif part is not None:  # the draw P.latent makes for the whole job
            z0 = np.random.default_rng(cfg.seed).standard_normal((n, int(decoder.inputs[0].shape[-1]))).astype(np.float32)
        if part is not None:
            z0 = z0[sel]
        return P.latent(decoder, len(labels), labels=labels if conditional else None, seed=cfg.seed, z_start=z0,
                        prior_weight=cfg.latent_prior, anchor_weight=cfg.latent_anchor)
    named = cfg.start if isinstance(cfg.start, str) else "image"  # an array: the start itself
    start = start_images(cfg.start, n, seed=cfg.seed, warp=cfg.warp)  # the mean digit's, and copies of an image
    noise = cfg.noise if start is None or named in ("mean", "blank") else min(cfg.noise, 0.3)
    if start is None:
        noise = max(noise, 0.5)
    if cfg.param == "pixel":
        param = P.pixel(n, start=start, seed=cfg.seed, noise=noise, smooth=cfg.smooth, bound=cfg.bound, lowres=cfg.lowres)
    else:
        param = P.fourier(n, start=start, seed=cfg.seed, noise=noise, smooth=cfg.smooth, decay_power=cfg.decay_power)
    if part is not None:  # the whole job's starts, this batch's rows
        param = dataclasses.replace(param, init=[np.ascontiguousarray(v[sel]) for v in param.init])
    return param


def _batch(keras_model, taps, cfg: DreamConfig, plan: _Plan, prior: str, rows: range | None, *,
           frames: int, show_progress: bool) -> DreamResult:
    """Render the images of `rows` (None: every row at once) as one batch."""
    k = cfg.per_digit
    if rows is None:
        sel, part, row_labels = slice(None), None, plan.rows
    else:
        sel = row_items(rows, k)
        part, row_labels = (len(plan.labels), sel.start, sel.stop), plan.rows[rows.start : rows.stop]
    labels, units = plan.labels[sel], None if plan.units is None else plan.units[sel]
    objective = _objective(cfg, _target(cfg, plan, sel), plan.groups[sel], prior, labels)
    result = render(keras_model, objective, _param(cfg, plan, sel, part), steps=cfg.steps,
                    lr=cfg.latent_lr if cfg.param == "latent" else cfg.lr, optimizer=cfg.optimizer,
                    transforms=TR.standard(cfg.jitter, cfg.scale, cfg.rotate, cfg.blur), seed=cfg.seed,
                    frames=frames, views=cfg.views, taps=taps, show_progress=show_progress, part=part)
    return DreamResult(images=result.images, labels=labels, rows=row_labels, ncols=k, frames=result.frames,
                       scores=result.scores, config=cfg, units=units, prior=priors.prior_name(cfg.prior, prior))


#: Dreams per batch through the flow (fewer when the whole job is smaller): memory stays bounded
#: whatever the job's size, and every batch of a job has this one size, so shards give its bytes.
FLOW_BATCH = 100
#: The flow's own view transforms unless a dream asks for others (`flowdream.FlowDreamConfig`).
FLOW_VIEW_OPTIONS = {"jitter": "jitter", "scale": "zoom", "rotate": "rotate"}


def _flow_batch(keras_model, taps, cfg: DreamConfig, plan: _Plan, prior: str, rows: range | None, *,
                frames: int, show_progress: bool) -> DreamResult:
    """Draw the images of `rows` with the flow prior, steered by the objective (`dream.flowdream`).

    A class objective also conditions the flow on the class and steers by the classifier's
    log-probability; a unit or layer objective steers the unconditional flow. A start image (a
    digit, a file, an array) is noised back by `strength`. The dreams run in batches of one
    size (`FLOW_BATCH`, the last padded), so memory does not grow with the job and any split
    into shards gives the same bytes.
    """
    from .._util import progress
    from ..generate.flow import flow_times, model_grid
    from .flowdream import FLOW_STEPS, NULL, FlowDreamConfig, dream_flow, load_flow, unit_objective

    flow = load_flow(cfg.flow)  # a file that is not a flow: one line, before the progress bar
    own = flow_times(flow) is not None
    steps = cfg.steps if cfg.steps is not None or own else FLOW_STEPS
    k = cfg.per_digit
    sel = slice(0, len(plan.labels)) if rows is None else row_items(rows, k)
    labels, units = plan.labels[sel], None if plan.units is None else plan.units[sel]
    classy = cfg.objective in ("class", "prob")
    named = isinstance(cfg.start, str) and cfg.start in ("noise", "blank", "mean")
    start = None if named else start_images(cfg.start, len(plan.labels), seed=cfg.seed)[sel]
    views = {FLOW_VIEW_OPTIONS[f]: getattr(cfg, f) for f in FLOW_VIEW_OPTIONS if getattr(cfg, f) != getattr(DEFAULTS, f)}
    fcfg = FlowDreamConfig(steps=steps, scale=cfg.steer, views=cfg.views, strength=cfg.strength, hand=cfg.hand,
                           gradient=cfg.gradient or ("ink" if classy else "clean"), flow=cfg.flow,
                           gate=FLOW_GATE if start is None else 1.0, **views)  # `Steering` gates a class only
    n_steps = len(model_grid(flow, steps, 0.0 if start is None else 1.0 - cfg.strength)) - 1
    size = max(1, min(FLOW_BATCH, len(plan.labels)))
    # each row's unit an input of one compiled steering (no tracing again batch after batch)
    by_unit = unit_objective(cfg.objective, plan.layer) if cfg.objective in ("neuron", "channel") else None
    first = sel.start
    out, snaps = [], [] if frames else None
    with progress(length=n_steps * -(-len(labels) // size), label="dreaming through the flow",
                  show=show_progress) as bar:
        for a in range(0, len(labels), size):
            n = min(size, len(labels) - a)
            pad = size - n
            idx = np.minimum(np.arange(first + a, first + a + size), len(plan.labels) - 1)  # padded: the last again
            y = np.concatenate([labels[a : a + n], np.zeros(pad, np.int64)])
            batch_snaps = [] if frames else None
            starts = None if start is None else np.concatenate([start[a : a + n], np.zeros((pad, 28, 28), np.float32)])
            images = dream_flow(y if classy else np.full(size, NULL), classifier=taps,
                                objective=None if classy else by_unit or _target(cfg, plan, idx),
                                targets=plan.units[idx] if by_unit else y, cfg=fcfg, seed=cfg.seed, first=first + a, start_images=starts,
                                snapshots=batch_snaps, progress=bar.update)
            out.append(images[:n])
            if frames:
                snaps.append([f[:n] for f in batch_snaps])
    images = np.concatenate(out) if out else np.zeros((0, 28, 28), np.float32)
    steps_seen = [np.concatenate([b[j] for b in snaps]) for j in range(len(snaps[0]))] if snaps else []
    picks = np.linspace(0, len(steps_seen) - 1, frames).round().astype(int) if frames and steps_seen else []
    return DreamResult(images=images, labels=labels, rows=plan.rows if rows is None else plan.rows[rows.start : rows.stop],
                       ncols=k, frames=[steps_seen[i] for i in picks], scores=np.zeros(len(labels), np.float32),
                       config=cfg, units=units, prior=priors.FLOW)


def dream(digits=None, *, config: DreamConfig | None = None, frames: int = 0, model=None,
          show_progress: bool = False, shard=None, **overrides) -> DreamResult:
    """Dream images of ``digits`` (default: all ten) out of a classifier.

    Any :class:`DreamConfig` field can be given as a keyword (``steps=100, param="fourier"``).
    ``model`` may be a loaded Keras model (else ``config.model`` is loaded by name or path).
    ``frames`` > 0 also returns that many intermediate snapshots for an animation.
    Returns a :class:`DreamResult` whose images are in grid order: one row per digit (or unit).
    ``shard`` ``(i, n)`` (or ``"i/n"``) dreams only shard i of n of the grid's rows: the samples
    of one row are coupled (the diversity term pushes them apart), so a job is split into whole
    rows (`neuroart.distribute.job_rows`). A sharded job renders one row per batch, with every
    random start and transform drawn for the whole job from the one seed and sliced: shards
    0..n-1 concatenated are, byte for byte, the job run as ``shard=(0, 1)``.
    Without `shard` all rows climb in one batch (faster for small jobs); TensorFlow's CPU
    kernels round a few values differently at other batch sizes, so that run matches the
    row-by-row one to float rounding (~1e-6), not to the byte.
    """
    from ..distribute import check_shard, job_rows
    from ..validate import integer

    shard = None if shard is None else check_shard(shard)
    cfg = _validate(dataclasses.replace(config or DEFAULTS, **overrides))
    frames = integer("frames", frames or 0, low=0, high=10_000)
    keras_model = _load_classifier(model if model is not None else cfg.model)
    taps = ModelTaps(keras_model)
    plan = _plan(digits, cfg, taps)
    prior = priors.resolve_prior(cfg.prior) if cfg.param != "latent" else "none"
    step = _flow_batch if prior == priors.FLOW else _batch
    run = functools.partial(step, keras_model, taps, cfg, plan, prior, frames=frames, show_progress=show_progress)
    if shard is None:  # every row in one batch
        return run(None)
    parts = [run(range(r, r + 1)) for r in job_rows(len(plan.rows), shard)]  # one batch per row
    return _concat_rows(parts, cfg, priors.prior_name(cfg.prior, prior))


def dream_sheet(digits=None, **options):
    """`dream` laid out as a `neuroart.outputs.Sheet` (the front ends' one way to a Sheet: every
    pipeline has a ``*_sheet`` function taking its own arguments; `DreamResult.sheet` is the same
    layout for a result already in hand)."""
    return dream(digits, **options).sheet()


def _concat_rows(parts: list[DreamResult], cfg: DreamConfig, prior: str) -> DreamResult:
    """The rows dreamed one by one, as one result (an empty one for a shard with no rows)."""
    k = cfg.per_digit
    if not parts:
        return DreamResult(images=np.zeros((0, 28, 28), np.float32), labels=np.zeros(0, np.int64), rows=[],
                           ncols=k, scores=np.zeros(0, np.float32), config=cfg, prior=prior)
    cat = np.concatenate
    frames = [cat([p.frames[j] for p in parts]) for j in range(len(parts[0].frames))]
    units = None if parts[0].units is None else cat([p.units for p in parts])
    return DreamResult(images=cat([p.images for p in parts]), labels=cat([p.labels for p in parts]),
                       rows=[r for p in parts for r in p.rows], ncols=k, frames=frames,
                       scores=cat([p.scores for p in parts]), config=cfg, units=units, prior=prior)


MAX_STEPS = 100_000
MAX_PER_DIGIT = 1000


def _validate(cfg: DreamConfig) -> DreamConfig:
    """Every option checked (non-finite numbers refused), as plain Python numbers."""
    from .. import validate as V

    if cfg.objective in ("class", "prob") and cfg.class_score not in CLASS_SCORES:
        raise NeuroartError(f"unknown class score {cfg.class_score!r} (use logprob, logit or prob)")
    if cfg.objective not in O.OBJECTIVES:
        raise NeuroartError(f"unknown objective {cfg.objective!r} (use {', '.join(O.OBJECTIVES)})")
    if cfg.param not in P.PARAMS:
        raise NeuroartError(f"unknown parameterisation {cfg.param!r} (use {', '.join(P.PARAMS)})")
    check_optimizer(cfg.optimizer)
    fin = V.finite
    flow = cfg.prior == priors.FLOW
    if cfg.objective in ("class", "prob") and cfg.units:
        raise NeuroartError("--unit picks hidden units for --objective neuron or channel; a class objective "
                            "dreams the digits given as arguments")
    checked = dataclasses.replace(
        cfg,
        steps=None if flow and cfg.steps is None else V.positive_int("steps", STEPS if cfg.steps is None else cfg.steps,
                                                                      high=MAX_STEPS),
        per_digit=V.positive_int("per_digit", cfg.per_digit, high=MAX_PER_DIGIT),
        views=V.positive_int("views", cfg.views if cfg.views is not None else (FLOW_VIEWS if flow else 1), high=64),
        steer=fin("steer", cfg.steer, low=0, high=1000),
        strength=fin("strength", cfg.strength, low=0, low_open=True, high=1),
        hand=fin("hand", cfg.hand, low=0, high=100),
        gradient=check_gradient(cfg.gradient),
        lowres=V.positive_int("lowres", cfg.lowres, high=28),
        seed=V.integer("seed", cfg.seed, low=0),
        lr=fin("lr", cfg.lr, low=0, low_open=True),
        latent_lr=fin("latent_lr", cfg.latent_lr, low=0, low_open=True),
        temperature=fin("temperature", cfg.temperature, low=0, low_open=True),
        l1=fin("l1", cfg.l1), l2=fin("l2", cfg.l2), tv=fin("tv", cfg.tv),
        diversity=None if cfg.diversity is None else fin("diversity", cfg.diversity),
        denoise=fin("denoise", cfg.denoise, low=0),
        jitter=fin("jitter", cfg.jitter, low=0, high=28),
        scale=fin("scale", cfg.scale, low=0, high=4),
        rotate=fin("rotate", cfg.rotate, low=0, high=360),
        blur=fin("blur", cfg.blur, low=0, high=28),
        noise=fin("noise", cfg.noise, low=0, high=100),
        smooth=fin("smooth", cfg.smooth, low=0, high=10),
        warp=fin("warp", cfg.warp, low=0, high=6),  # 15% zoom x warp must stay below 100%
        decay_power=fin("decay_power", cfg.decay_power, low=0, high=10),
        latent_prior=fin("latent_prior", cfg.latent_prior, low=0),
        latent_anchor=fin("latent_anchor", cfg.latent_anchor, low=0),
        units=tuple(V.integer("units", u) for u in (cfg.units or ())),  # ranges: checked per layer
    )
    refuse_unused(checked, DEFAULTS, flow=flow)
    return checked
