"""The mean MNIST training digit (60 000 images, rounded to bytes), so ``--start mean`` needs no data.

Made with ``np.rint(x_train.mean(0)).astype(uint8)``, zlib-compressed and base64-encoded.
"""

import base64
import zlib

import numpy as np

_DATA = (
    "eNqlkm1zGWEUhrPvdu0uG/EWUVFdwVAmQlqk02qFSFaoqC6yykaKbbs0KoOIjkmm7bQ/umZiG/G15+O55pznOXNf"
    "Kyv/WQAAgBAEwxAEAsASAWEEI0iKIgkMBhchACIqSmdxeHzeLZtRgyP3FIAxSr/pjaYLZT4b335sIDFoDgEIo01s"
    "KMm3L6+GnQ+HYYdejYDzhShpeBJOC53x7Y/byVdh37+hmQ8CsIp55H9T+nQ5Gg1Hw16DC21qMehuDCbWHLsZUZZb"
    "otiUZZEL2TQoqDA9G8uffRTyxwWh2RZSgQ0KAea/JPSul0Wx+vbgqFCT2vwrj5mC5wwijN5EqV7OHvPn3b5UiDpN"
    "FKycoF4PHFRq5WJNvppOPud2WRM937kCkdZgulQ9rV9M//z6LmWfba1rUOU92hZMvisLrdHP3zeDRibittwzxr4d"
    "z5zwjd71ZCBXuZjHQisM1dkDscRhrnTevei0Trmo26zcAKrWHIFIPMXlq1JHbgncc6dRrTDcwAZfJDP5UqPT70mV"
    "VNCuw2GF6dlwIleqS9/G1/3myZ7bTCsZgRhj39kvNjqj6c34C//6qVWLw6CSrNro3suJ3dF4IL2P+6zMQu4gQppc"
    "Ua5yJpaPIi6zBl8QZpYEzlic/p2gj7XoyGWXIJSgmdVVLUWoEOgBulMQndXMz2U9/+n7oP0Xp9NmAg=="
)


def mean_digit() -> np.ndarray:
    """(28, 28) float32 in [0, 1]: the average of the MNIST training digits."""
    raw = zlib.decompress(base64.b64decode(_DATA))
    return np.frombuffer(raw, np.uint8).reshape(28, 28).astype(np.float32) / 255.0
