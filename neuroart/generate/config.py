"""Sampling defaults and training configuration of the generators (no TensorFlow here).

The CLI reads its option defaults from this module, so `neuroart generate --help` stays instant
and no value is written twice.
"""

from __future__ import annotations

import dataclasses

from .._util import NeuroartError

KINDS = ("ae", "vae", "cvae")
DEFAULT_KIND = "cvae"


@dataclasses.dataclass(frozen=True)
class GeneratorConfig:
    """Training defaults for one generator kind (the CLI options default to these)."""

    latent_dim: int = 16  # size of the latent code z
    epochs: int = 10  # passes over the 60k training digits
    batch_size: int = 128
    learning_rate: float = 1e-3  # Adam, decayed by cosine to 5% over the run
    seed: int = 0
    filters: tuple[int, int] = (32, 64)  # encoder convolutions (the decoder mirrors them, lighter)
    hidden: int = 256  # dense layer between convolutions and the code


DEFAULTS = {
    # batch 256 trains ~1.7x faster per image than 128 on a 2-core CPU; lr scaled with it
    "ae": GeneratorConfig(latent_dim=16, epochs=12, batch_size=256, learning_rate=2e-3),
    "vae": GeneratorConfig(latent_dim=16, epochs=15, batch_size=256, learning_rate=2e-3),
    "cvae": GeneratorConfig(latent_dim=16, epochs=15, batch_size=256, learning_rate=2e-3),
}


def check_latent(latent_dim) -> int:
    value = int(latent_dim)
    if value < 1 or value > 512:
        raise NeuroartError(f"latent_dim must be between 1 and 512, got {latent_dim}")
    return value


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise NeuroartError(f"unknown generator kind {kind!r} (choose from {', '.join(KINDS)})")
    return kind



#: The generator the sampling functions use unless told otherwise.
DEFAULT_MODEL = "cvae"
#: Names the digit of a user's image file when a cvae needs its label.
LABEL_JUDGE = "cnn"
#: How samples are drawn and rendered unless told otherwise (generate, the card's sample grid).
SAMPLE_DEFAULTS = {"temperature": 1.0, "truncation": 0.8, "sharpness": 3.0}
SHARPNESS = SAMPLE_DEFAULTS["sharpness"]
#: How the flow model samples unless told otherwise (`generate --model flow`, its card's grid).
#: `spacing` 2 puts step i of n at time (i/n)², bunched toward the noise, where the paths bend
#: most: 20 such steps match 25 even ones (docs/flow.md: 1.59x the floor either way) in 3/4 the time.
FLOW_SAMPLE_DEFAULTS = {"steps": 20, "guidance": 0.3, "solver": "euler", "spacing": 2.0}
#: The times t (0 = noise, 1 = a digit) between which classifier-free guidance acts (a guidance
#: interval, Kynkäänniemi et al. 2024): early guidance makes every digit the typical one, late
#: guidance only costs time (docs/flow.md: 0.3 here reads 98.6% at 1.59x the floor; 0.1 at every
#: step 98.5% at 1.69x, in 1.5x the time).
GUIDANCE_WINDOW = (0.3, 0.7)
#: The flow's label for "any digit" (its unconditional flow; classifier-free guidance).
FLOW_NULL = 10
SOLVERS = ("euler", "heun")


def check_few_step(n_steps: int, **given) -> None:
    """A few-step flow samples on its own `n_steps`: any of `given` (steps, guidance, solver,
    spacing) set is one line (the library's samplers and the CLI's early check say the same)."""
    named = [name for name, value in given.items() if value is not None]
    if named:
        raise NeuroartError(f"this flow was distilled to sample in its own {n_steps} steps: {', '.join(named)} "
                            "cannot be set (a flow trained by flow matching, such as 'flow-teacher', takes them)")


def check_steps(steps) -> int:
    """Steps of a flow sampler: 1-1000."""
    from ..validate import positive_int

    return positive_int("steps", steps, high=1000)


def check_guidance(guidance) -> float:
    """Classifier-free guidance of a flow sampler: 0 (none) to 20."""
    from ..validate import finite

    return finite("guidance", guidance, low=0, high=20)


def check_spacing(spacing) -> float:
    """How a flow sampler spaces its steps (`neuroart.generate.flow.time_grid`): 0.25 to 4, 1 = even."""
    from ..validate import finite

    return finite("spacing", spacing, low=0.25, high=4)


def check_temperature(temperature) -> float:
    """Spread of a VAE's latent prior: 0 (each class's mean digit) to 10."""
    from ..validate import finite

    return finite("temperature", temperature, low=0, high=10)


def check_frames(frames) -> int:
    """Images on a morph's path, both ends included: 2-1000."""
    from ..validate import integer

    return integer("frames", frames, low=2, high=1000)


def check_map_size(n) -> int:
    """A latent map is n x n digits: 2-60 a side."""
    from ..validate import integer

    return integer("n", n, low=2, high=60)


def check_solver(solver: str) -> str:
    if solver not in SOLVERS:
        raise NeuroartError(f"solver must be one of {', '.join(SOLVERS)}, got {solver!r}")
    return solver
TRUNCATION = SAMPLE_DEFAULTS["truncation"]
TEMPERATURE = SAMPLE_DEFAULTS["temperature"]
