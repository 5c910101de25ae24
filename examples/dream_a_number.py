"""Dream a number of your own (a year, your initials as digits, a phone code) digit by digit.

    python examples/dream_a_number.py 2026 --out my-number.png

Each digit is dreamed out of the article's MLP; three variations per digit, one per row.
"""

import argparse

import numpy as np

import neuroart as na

ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ap.add_argument("number", nargs="?", default="1984")
ap.add_argument("--out", default="number.png")
ap.add_argument("--seed", type=int, default=0)
args = ap.parse_args()

digits = [int(c) for c in args.number if c.isdigit()]
if not digits:
    raise SystemExit("give a number, e.g. 2026")
result = na.dream_digits(sorted(set(digits)), per_digit=3, seed=args.seed)
by_digit = {d: result.images[result.labels == d] for d in set(digits)}
# lay the number out left to right, one variation per row
rows = [[by_digit[d][k] for d in digits] for k in range(3)]
images = np.stack([img for row in rows for img in row])
na.save_grid(images, args.out, ncols=len(digits), scale=4, cmap="magma")
print(f"wrote {args.out}")
