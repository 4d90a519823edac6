"""Training a candidate: the recipe learns the tiny classes in a few epochs, and the same seed gives the same
weights in a fresh process (what workers and Ray tasks rely on)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from tinyml.errors import InputDataError
from tinyml.nas.data import load_labelled, split
from tinyml.nas.model import build_keras
from tinyml.nas.space import default_space
from tinyml.nas.train import Recipe, accuracy, augment_batch, batches, train

RUN = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    from tinyml.nas.data import load_labelled, split
    from tinyml.nas.model import build_keras
    from tinyml.nas.space import default_space
    from tinyml.nas.train import Recipe, train

    train_part, val = split(load_labelled(sys.argv[1]), 0.25, seed=0)
    arch = default_space(16).restrict(0.25, 16).sample(np.random.default_rng(0))
    model = build_keras(arch, 3, 3, seed=0)
    acc = train(model, train_part, val, Recipe(epochs=2, batch_size=32, seed=0))
    print(json.dumps({"accuracy": acc, "weights": [float(w.sum(dtype=np.float64)) for w in model.get_weights()]}))
    """
)


def test_augment_crops_and_flips():
    x = np.arange(2 * 8 * 8 * 1, dtype=np.float32).reshape(2, 8, 8, 1) + 1
    out = augment_batch(np.repeat(x, 50, axis=0), np.random.default_rng(0))
    assert out.shape == (100, 8, 8, 1)
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    seen_flip = seen_shift = False
    for i, img in enumerate(out):
        src = padded[i // 50]
        views = [(dy, dx, f) for dy in range(3) for dx in range(3) for f in (False, True)]
        match = [
            (dy, dx, f)
            for dy, dx, f in views
            if np.array_equal(img, (src[dy : dy + 8, dx : dx + 8][:, ::-1] if f else src[dy : dy + 8, dx : dx + 8]))
        ]
        assert len(match) == 1, i  # every output is one crop of the zero-padded image, flipped or not
        seen_flip |= match[0][2]
        seen_shift |= match[0][:2] != (1, 1)
    assert seen_flip and seen_shift
    assert np.array_equal(out, augment_batch(np.repeat(x, 50, axis=0), np.random.default_rng(0)))
    assert sorted(np.concatenate(batches(10, 4, np.random.default_rng(0))).tolist()) != list(range(10))  # drops 2
    assert [len(b) for b in batches(3, 4, np.random.default_rng(0))] == [3]


def test_trains_and_is_deterministic_across_processes(tiny_data):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    other = subprocess.Popen(
        [sys.executable, "-c", RUN, str(tiny_data.npz)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    try:
        train_part, val = split(load_labelled(tiny_data.npz), 0.25, seed=0)
        arch = default_space(16).restrict(0.25, 16).sample(np.random.default_rng(0))
        model = build_keras(arch, 3, 3, seed=0)
        acc = train(model, train_part, val, Recipe(epochs=2, batch_size=32, seed=0))
        out, err = other.communicate(timeout=300)
    finally:
        other.kill()
    assert other.returncode == 0, err.decode()[-2000:]
    theirs = json.loads(out.decode().strip().splitlines()[-1])
    ours = [float(w.sum(dtype=np.float64)) for w in model.get_weights()]
    assert theirs["weights"] == ours and theirs["accuracy"] == acc
    assert accuracy(model, val) == acc
    assert acc > 0.6  # two epochs tell stripes from squares well above chance (1/3)


def test_divergence_is_named(tiny_data):
    data = load_labelled(tiny_data.npz, limit=32)
    arch = default_space(16).restrict(0.25, 16).sample(np.random.default_rng(1))
    with pytest.raises(InputDataError, match="training diverged") as e:
        train(build_keras(arch, 3, 3, seed=0), data, None, Recipe(epochs=2, batch_size=16, lr=1e12, augment=False))
    assert "learning rate" in e.value.fix
