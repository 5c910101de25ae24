"""What replay checks before it runs a recipe, beyond its allow-list (`cli/gallery.py`):

- its cost: the work a command asks for, counted as network passes of one digit (digits x steps x
  passes a step, each pass weighed by its network's size), and the memory of its largest batch;
- what it would use that differs from what the recipe recorded: a model whose weights are not the
  ones the recipe's hashes name (a bundled model retrained since), an input picture (``--with``)
  that is not the one the recipe read.

No TensorFlow: model cards and file hashes only.
"""

from __future__ import annotations

import dataclasses
import os

#: What one pass of a network costs, relative to a pass of the flow's U-Net (1.1 ms a digit on 2
#: cores, docs/flow.md). Forward passes of a batch of 100, timed side by side on one (loaded)
#: machine: flow 17.8 ms a digit, cnn 3.7, the vae's decoder 0.16, mlp 0.09. A model file of
#: unknown kind counts as a cnn.
PASS_COST = {"flow": 1.0, "cnn": 0.2, "reader": 0.2, "vae": 0.01, "cvae": 0.01, "ae": 0.01, "mlp": 0.005}
UNKNOWN_COST = 0.2
#: A gradient step is a forward and a backward pass (the backward about twice the forward).
GRADIENT = 3
#: Memory of one image in the batch of a dream: through the flow (its U-Net's activations for the
#: gradient, ~3.2 MB: 10,000 dreams took ~32 GB), and of a pixel dream, per view.
FLOW_DREAM_BYTES, PIXEL_DREAM_BYTES = 3.2e6, 64e3
#: The classifier-free guidance window doubles the flow's passes on ~30% of its steps.
GUIDED = 1.3
#: Without --yes replay runs at most this work (flow passes of a digit: ~4 minutes on 2 cores)
#: and this much memory.
REPLAY_WORK = 200_000
REPLAY_MEMORY = 4e9
#: Digits `generate --model flow` samples at once (`neuroart.generate.flow.BATCH`; no gradient).
GENERATE_BATCH = 100
#: Seconds of one unit of work on 2 cores (for the message).
SECONDS_PER_PASS = 1.1e-3


@dataclasses.dataclass(frozen=True)
class Cost:
    work: float  # network passes of one digit, in flow passes
    memory: float  # bytes of the largest batch, roughly

    def too_much(self) -> bool:
        return self.work > REPLAY_WORK or self.memory > REPLAY_MEMORY

    def describe(self) -> str:
        minutes = self.work * SECONDS_PER_PASS / 60
        when = f"~{minutes:,.0f} min" if minutes >= 1 else "under a minute"
        return f"{self.work:,.0f} network passes of a digit ({when} on 2 cores) and ~{self.memory / 1e9:,.1f} GB"


def _card(model) -> dict:
    from .._util import NeuroartError
    from ..models import load_card

    try:
        card = load_card(str(model))
    except (NeuroartError, OSError):
        return {}
    return card if isinstance(card, dict) else {}


def pass_cost(model) -> float:
    """What a pass of `model` (a bundled name or a .keras path) costs, relative to the flow's."""
    if _card(model).get("kind") == "flow":
        return PASS_COST["flow"]
    name = os.path.basename(str(model or ""))
    return PASS_COST.get(name[: -len(".keras")] if name.endswith(".keras") else name, UNKNOWN_COST)


def flow_steps(model, steps: int | None, default: int) -> tuple[int, bool]:
    """(steps, own grid): a few-step flow's own grid when no `steps` are asked for (its guidance
    baked in), else `steps` (default `default`)."""
    sampling = _card(model).get("sampling") or {}
    times = sampling.get("times") if isinstance(sampling, dict) else None
    if steps is None and isinstance(times, list) and len(times) > 1:
        return len(times) - 1, True
    return int(steps or default), False


def _rows(p: dict) -> int:
    from .dream import parse_units

    return max(len(p.get("digits") or ()), len(parse_units(p.get("units") or ())), 10)


def replay_cost(name: str, p: dict) -> Cost:
    """The work and memory of command `name` with parsed params `p`."""
    if name == "dream":
        return _dream_cost(p)
    model = p.get("model")
    if name == "generate":
        digits = max(len(p.get("digits") or ()), 10) * int(p.get("per_digit") or 1)
        if pass_cost(model) >= 1:
            from ..generate.config import FLOW_SAMPLE_DEFAULTS

            steps, own = flow_steps(model, p.get("steps"), FLOW_SAMPLE_DEFAULTS["steps"])
            return Cost(digits * steps * (1 if own else GUIDED), GENERATE_BATCH * FLOW_DREAM_BYTES / GRADIENT)
        return Cost(digits * pass_cost(model), digits * 4e3)
    if name == "deepdream":  # a picture in tiles of digits: ~500 digits a step
        return Cost(int(p.get("octaves") or 1) * int(p.get("steps") or 1) * 500 * GRADIENT * pass_cost(model),
                    500 * PIXEL_DREAM_BYTES)
    if name == "explain":  # gradient passes: images x (IG steps, SmoothGrad samples or occlusion patches)
        images = len(p.get("images") or ())
        passes = max(int(p.get("steps") or 1), int(p.get("samples") or 1), 49)
        return Cost(images * passes * GRADIENT * pass_cost(model), images * passes * 4e3)
    if name == "latent-map":
        n = int(p.get("n") or 1) ** 2
        return Cost(n * pass_cost(model), n * 4e3)
    n = int(p.get("frames") or p.get("n") or 10)
    return Cost(n * GRADIENT * pass_cost(model), n * 4e3)


def _dream_cost(p: dict) -> Cost:
    from ..dream.dreams import FLOW_BATCH, FLOW_VIEWS, STEPS
    from ..dream.flowdream import FLOW_STEPS

    images = _rows(p) * int(p.get("per_digit") or 1)
    classifier = GRADIENT * pass_cost(p.get("model"))
    if str(p.get("prior")) == "flow":  # in batches of FLOW_BATCH, the gradient through the flow
        flow = p.get("flow") or "flow"
        steps, _ = flow_steps(flow, p.get("steps"), FLOW_STEPS)
        views = int(p.get("views") or FLOW_VIEWS)
        return Cost(images * steps * (GRADIENT * pass_cost(flow) + views * classifier),
                    min(images, FLOW_BATCH) * FLOW_DREAM_BYTES)
    steps = int(p.get("steps") or STEPS)
    views = int(p.get("views") or 1)
    prior = 0.0 if str(p.get("prior")) == "none" else GRADIENT * pass_cost(p.get("prior") or "vae")
    return Cost(images * steps * (views * classifier + prior), images * views * PIXEL_DREAM_BYTES)


# --------------------------------------------------------------------------- what differs


def model_differences(recipe: dict, used: dict[str, str]) -> list[str]:
    """A line for each model whose weights differ from the hash the recipe recorded.

    `used` maps a recorded model (its name or path, as the recipe's ``model``, ``prior``, ...
    keys hold it) to the file replay reads instead (a --with file); other names are bundled."""
    from .._util import NeuroartError
    from ..models import bundled, model_hash

    lines, names = [], set(bundled())
    for key, recorded in sorted(recipe.items()):
        role = key[: -len("_sha256")]
        if not key.endswith("_sha256") or not isinstance(recorded, str) or not isinstance(recipe.get(role), str):
            continue
        name = recipe[role]
        source = used.get(name) or (name if name in names else None)
        if source is None:
            continue
        try:
            now = model_hash(source)
        except NeuroartError:
            continue
        if now != recorded[:16]:
            what = f"the bundled {name}" if source == name else f"{source} (for {name})"
            lines.append(f"replay: the recipe's {role} had weights {recorded[:16]}; {what} has {now}: "
                         "the picture will differ")
    return lines


def input_differences(recipe: dict, hashes: list[str]) -> list[str]:
    """A line for each input picture replay reads that is not the one the recipe read.

    `hashes` are `neuroart.recipe.input_hashes` of replay's own options (its --with files in the
    recipe's places)."""
    recorded = recipe.get("inputs_sha256")
    if not isinstance(recorded, list):
        if not hashes:
            return []
        return ["replay: the recipe recorded no hash of its input pictures (it is older than that), so replay "
                "cannot tell whether they are the ones it read"]
    lines = []
    for i, (want, have) in enumerate(zip(recorded, hashes, strict=False)):
        if want != have:
            option, _, digest = str(have).partition("=")
            lines.append(f"replay: input {i + 1} ({option}) is not the picture the recipe read "
                         f"(sha256 {digest}, recorded {str(want).partition('=')[2]}): the picture will differ")
    if len(recorded) != len(hashes):
        lines.append(f"replay: the recipe read {len(recorded)} input files; this replay reads {len(hashes)}")
    return lines
