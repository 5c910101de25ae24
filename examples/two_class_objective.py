"""A custom objective: digits that are half 3, half 8 — objectives combine with + - * as sentences.

    python examples/two_class_objective.py --out three-eight.png

Row 1 climbs log p(3), row 2 log p(8), row 3 both at once; each with an ink penalty, random
jitter/scale/rotate/blur every step, and the VAE as a Plug & Play prior that keeps strokes
clean; all start from the same real test digits. The CNN (which was not dreamed on) says what
it sees under each picture.
"""

import argparse

import numpy as np

import neuroart as na

ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ap.add_argument("--out", default="three-eight.png")
ap.add_argument("--steps", type=int, default=200)
ap.add_argument("--seed", type=int, default=0)
args = ap.parse_args()

O, P, T = na.objectives, na.params, na.transforms
mlp = na.load_model("mlp")
_, (x_test, y_test) = na.load_mnist()
n = 6
# start each row from the same six real test digits (a 0, 1, 2, 5, 6 and 9: neither 3 nor 8)
starts = na.to_float(np.stack([x_test[y_test == d][args.seed] for d in (0, 1, 2, 5, 6, 9)]))
moves = T.Transforms([T.jitter(2), T.scale(0.15), T.rotate(15), T.blur(0.5)])
clean = O.denoise(na.load_generator("vae"))  # pulls each step towards the VAE's reconstruction

rows = []
for goal in (O.class_logprob(3, temperature=4),
             O.class_logprob(8, temperature=4),
             O.class_logprob(3, temperature=4) + O.class_logprob(8, temperature=4)):
    objective = goal - 1.0 * O.l1() + 0.03 * clean
    result = na.render(mlp, objective, P.pixel(n, start=starts, seed=args.seed),
                       steps=args.steps, transforms=moves, seed=args.seed)
    rows.append(result.images)
images = np.concatenate(rows)
seen = [f"{r[0][0]} {r[0][1]:.0%}" for r in na.classify_images(images, model="cnn")]
na.save_grid(images, args.out, ncols=n, captions=seen, row_labels=["3", "8", "3+8"], scale=4, cmap="viridis")
print(f"wrote {args.out}")
