"""Generating digits: the autoencoder family (``ae``, ``vae``, ``cvae``) and what they draw.

- `config`: sampling defaults and training configuration (no TensorFlow: the CLI reads them);
- `model`: the `Generator` architecture and `load_generator` (importing it loads TensorFlow);
- `train`: losses, the training loop, the fitted sampling prior, `train_generator`;
- `sample`: `generate`, `reconstruct`, `morph`, `latent_map`;
- `style`: one digit's handwriting style written as other digits (`restyle`, `mix_styles`,
  `style_walk`, `similar`). The module is `style` and the function `restyle`: one name each.

    >>> from neuroart.generate import generate
    >>> images, labels = generate([3, 7], per_digit=8, seed=1)   # eight 3s, eight 7s
"""

from __future__ import annotations

from .sample import generate, latent_map, morph, reconstruct, slerp
from .style import mix_styles, restyle, similar, style_walk

__all__ = ["generate", "latent_map", "load_generator", "mix_styles", "morph", "reconstruct", "restyle",
           "similar", "slerp", "style_walk", "train_generator"]


def load_generator(name_or_path="cvae"):
    """Load a generator by bundled name or ``.keras`` path (see `neuroart.generate.model.load_generator`)."""
    from .model import load_generator as load

    return load(name_or_path)


#: `FewStepConfig` fields the CLI passes (None: the config's default).
_FEWSTEP_FIELDS = ("init", "targets", "learning_rate", "ema", "levels")


def train_generator(kind="cvae", **options):
    """Train a generator (see `neuroart.generate.train.train_generator` for the options;
    ``kind="flow"``: `neuroart.generate.flow_train.train_flow`; ``kind="fewstep"``: the bundled
    flow distilled into 4 passes, `neuroart.generate.fewstep.distil_flow`)."""
    from .._util import NeuroartError

    if kind != "fewstep":
        given = [options.pop(name, None) for name in ("teacher", "paths", "init", "targets", "learning_rate", "ema",
                                                  "levels")]
        if any(v is not None for v in given):
            raise NeuroartError("--teacher, --paths, --init, --targets, --learning-rate, --ema and --levels are for --kind fewstep")
    if kind == "fewstep":
        from .fewstep import distil_flow

        if options.pop("latent_dim", None) is not None:
            raise NeuroartError("a flow model has no latent code: --latent-dim is for ae, vae and cvae")
        return distil_flow(**{k: v for k, v in options.items() if v is not None or k not in _FEWSTEP_FIELDS})
    if kind == "flow":
        from .flow_train import train_flow

        if options.pop("latent_dim", None) is not None:
            raise NeuroartError("a flow model has no latent code: --latent-dim is for ae, vae and cvae")
        if options.pop("strategy", "default") not in ("default", None):
            raise NeuroartError("the flow trains on one device: --strategy is for the other kinds")
        return train_flow(**options)
    from .train import train_generator as train

    return train(kind, **options)
