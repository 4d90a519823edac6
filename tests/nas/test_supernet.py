"""The weight-sharing supernet: candidates inherit weights that classify the tiny data after a short fit, an exported
candidate is exactly build_keras's model computing what the supernet computes, and a saved supernet loads whole."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import softmax

from tinyml.nas.data import load_labelled, split
from tinyml.nas.model import build_keras
from tinyml.nas.space import default_space
from tinyml.nas.supernet import Supernet
from tinyml.nas.train import Recipe, predict

SPACE = default_space(16).restrict(0.25, 16)


@pytest.fixture(scope="module")
def fitted(tiny_data):
    train, val = split(load_labelled(tiny_data.npz), 0.25, seed=0)
    net = Supernet(SPACE, 3, 3, seed=0)
    net.fit(train, epochs=3, recipe=Recipe(batch_size=32, lr=0.05, seed=0))
    return net, train, val


def _candidates(net, n, seed):
    rng = np.random.default_rng(seed)
    return net.sandwich(rng)[:2] + [SPACE.sample(rng) for _ in range(n)]


def test_subnets_learn_after_a_short_fit(fitted):
    net, _, val = fitted
    largest, smallest, *others = _candidates(net, 4, seed=1)
    assert {s.block for a in others for s in a.stages} == {"mb", "res", "conv"}  # every block type is scored
    accs = {a.key: net.accuracy(a, val) for a in [largest, smallest, *others]}
    chance = 1 / 3
    assert sum(acc > chance + 0.1 for acc in accs.values()) >= 4, accs  # most candidates well above chance
    assert max(accs[a.key] for a in [largest, *others]) >= accs[smallest.key], accs
    assert net.accuracy(largest, val) == accs[largest.key]  # calibration and evaluation are deterministic


def test_export_is_build_keras_with_the_inherited_weights(fitted):
    net, _, val = fitted
    rng = np.random.default_rng(2)
    archs = [net.sandwich(rng)[0], net.sandwich(rng)[1]]
    archs += [a for a in (SPACE.sample(rng) for _ in range(40)) if {"res", "conv"} & {s.block for s in a.stages}][:1]
    for arch in archs:
        model = net.export(arch)
        reference = build_keras(arch, 3, 3)
        assert [(w.path, w.shape) for w in model.weights] == [(w.path, w.shape) for w in reference.weights]
        stats = net.calibrate(arch)
        expected = softmax(net.logits(arch, val.x, stats), axis=1)
        assert np.allclose(predict(model, val.x), expected, atol=1e-5), arch.describe()
    # calibration images other than the kept training sample give other statistics
    assert not np.allclose(net.calibrate(archs[0], val)["stem_bn"][0], net.calibrate(archs[0])["stem_bn"][0])


def test_save_and_load(fitted, tmp_path):
    net, _, val = fitted
    net.save(tmp_path / "supernet.npz")
    assert [p.name for p in tmp_path.iterdir()] == ["supernet.npz"]  # no temporary file left behind
    loaded = Supernet.load(tmp_path / "supernet.npz")
    assert loaded.space == net.space and np.array_equal(loaded.calib, net.calib)
    arch = _candidates(net, 1, seed=3)[2]
    stats = net.calibrate(arch)
    assert np.array_equal(loaded.logits(arch, val.x, loaded.calibrate(arch)), net.logits(arch, val.x, stats))
    fresh = Supernet(SPACE, 3, 3, seed=0)
    assert all(np.array_equal(fresh.vars[k].numpy(), Supernet(SPACE, 3, 3, seed=0).vars[k].numpy()) for k in fresh.vars)


def test_candidates_outside_the_space(fitted):
    net, _, _ = fitted
    with pytest.raises(ValueError, match="one width and one resolution"):
        Supernet(default_space(16), 3, 3)
    other = default_space(16).largest(0.5, 16)
    with pytest.raises(ValueError, match="not in the supernet's space"):
        net.choices(other)
    with pytest.raises(ValueError, match="calibration images"):
        Supernet(SPACE, 3, 3).calibrate(SPACE.largest(0.25, 16))
