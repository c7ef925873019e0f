"""LeNet-style forward pass in NumPy: fixed random weights (seeded), one 28x28 input.

conv 5x5x6 (padding 2) -> ReLU -> max pool 2 -> conv 5x5x16 -> ReLU -> max pool 2
-> fc 120 -> ReLU -> fc 84 -> ReLU -> fc 10. Prints the predicted class, a checksum
of the logits (the same on every CPU up to rounding) and the time per inference.
Usage: python3 lenet.py [RUNS]
"""
import sys
import time

import numpy as np


def conv2d(x, w, b, pad):
    """x: (C, H, W), w: (K, C, R, R) -> (K, H', W') through im2col and one matmul."""
    c, h, wd = x.shape
    k, _, r, _ = w.shape
    if pad:
        x = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    oh, ow = x.shape[1] - r + 1, x.shape[2] - r + 1
    cols = np.lib.stride_tricks.sliding_window_view(x, (r, r), axis=(1, 2))  # (C, oh, ow, r, r)
    cols = cols.transpose(1, 2, 0, 3, 4).reshape(oh * ow, c * r * r)
    out = cols @ w.reshape(k, -1).T + b
    return out.T.reshape(k, oh, ow)


def maxpool2(x):
    c, h, w = x.shape
    return x.reshape(c, h // 2, 2, w // 2, 2).max(axis=(2, 4))


def relu(x):
    return np.maximum(x, 0)


def make_weights(seed=2024):
    rng = np.random.default_rng(seed)

    def init(*shape):
        fan_in = int(np.prod(shape[1:]))
        return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)

    return {
        "c1": init(6, 1, 5, 5), "b1": np.zeros(6, np.float32),
        "c2": init(16, 6, 5, 5), "b2": np.zeros(16, np.float32),
        "f1": init(120, 16 * 5 * 5), "g1": np.zeros(120, np.float32),
        "f2": init(84, 120), "g2": np.zeros(84, np.float32),
        "f3": init(10, 84), "g3": np.zeros(10, np.float32),
    }


def forward(p, image):
    x = maxpool2(relu(conv2d(image[None], p["c1"], p["b1"], pad=2)))   # 6x14x14
    x = maxpool2(relu(conv2d(x, p["c2"], p["b2"], pad=0)))             # 16x5x5
    x = relu(p["f1"] @ x.reshape(-1) + p["g1"])
    x = relu(p["f2"] @ x + p["g2"])
    return p["f3"] @ x + p["g3"]


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    params = make_weights()
    image = np.random.default_rng(7).random((28, 28), dtype=np.float32)
    logits = forward(params, image)          # warm-up
    start = time.perf_counter()
    for _ in range(runs):
        logits = forward(params, image)
    per = (time.perf_counter() - start) / runs
    print("machine: %s, numpy %s" % (__import__("platform").machine(), np.__version__))
    print("class: %d, logits checksum: %.4f" % (int(np.argmax(logits)), float(np.abs(logits).sum())))
    print("time per inference: %.2f ms (%d runs)" % (per * 1000.0, runs))


if __name__ == "__main__":
    main()
