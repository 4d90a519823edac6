"""Zero-cost proxies: deterministic, synflow growing with width and depth, NASWOT telling images apart, and
Spearman's correlation on rankings worked out by hand."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from tinyml.nas.proxies import naswot, spearman, synflow
from tinyml.nas.space import default_space

SPACE = default_space(16)


def test_synflow_is_deterministic_and_grows_with_width_and_depth():
    small = SPACE.sample(np.random.default_rng(4), 0.25, 16)
    shallow = replace(small, stages=tuple(replace(s, depth=1) for s in small.stages))
    deeper = replace(shallow, stages=(*shallow.stages[:3], replace(shallow.stages[3], depth=3)))
    scores = {a.describe(): synflow(a, 3, 3) for a in (shallow, deeper)}
    assert synflow(shallow, 3, 3) == scores[shallow.describe()]
    assert scores[deeper.describe()] > scores[shallow.describe()] > 0
    assert synflow(SPACE.largest(0.5, 16), 3, 3) > synflow(SPACE.largest(0.25, 16), 3, 3)


def test_naswot_scores_distinct_images_and_is_deterministic():
    arch = SPACE.sample(np.random.default_rng(5), 0.25, 16)
    x = np.random.default_rng(0).random((12, 16, 16, 3), dtype=np.float32)
    score = naswot(arch, x, 3)
    assert math.isfinite(score) and naswot(arch, x, 3) == score
    # two identical images share their code: the kernel is singular, log |det| is -inf
    assert naswot(arch, np.concatenate([x[:11], x[:1]]), 3) == float("-inf")
    assert math.isfinite(naswot(arch, x[:, :8, :8], 3))  # other sizes are resized to the candidate's


def test_spearman():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # ties share their mean rank: ranks (1, 2.5, 2.5, 4) against (1, 2, 3, 4) correlate 4.5 / sqrt(4.5 * 5)
    assert spearman([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(4.5 / math.sqrt(22.5))
    assert spearman([0.5, 0.5, 0.5], [1, 2, 3]) == 0.0
    with pytest.raises(ValueError, match="2\\+ candidates"):
        spearman([1, 2], [1])
