"""mmd_test(kernel="deep") chooses phi's shape on held-out rows (deep_kernel.choose_kernel)."""
import numpy as np
import pytest

import minigan
from minigan import deep_kernel as dk


def blobs(n, rng, stretch=1.0, angle=0.0):
    """A 4 x 4 grid of unit blobs 5 apart, each stretched and turned alike."""
    c, s = np.cos(angle), np.sin(angle)
    shape = np.array([[c, -s], [s, c]]) @ np.diag([np.sqrt(stretch), 1.0])
    centres = (rng.integers(0, 4, size=(n, 2)) - 1.5) * 5.0
    return centres + rng.standard_normal((n, 2)) @ shape.T


def grid_pair(seed=0, n=250):
    rng = np.random.default_rng(seed)
    return blobs(n, rng), blobs(n, rng, 2.0, np.pi / 4)


def shift_pair(n=300):
    rng = np.random.default_rng(1)
    return rng.standard_normal((n, 2)), rng.standard_normal((n, 2)) + [0.5, 0.0]


def test_the_chosen_kernel_is_the_one_with_the_larger_held_out_J():
    X, Y = grid_pair()
    kernel, history = dk.choose_kernel(X, Y, seed=0)
    start = int(np.random.default_rng(0).integers(2**63))
    for name, shape in dk.FEATURE_MAPS.items():   # each learned from the same seed, alone
        k, h = dk.learn_kernel(X, Y, seed=start, **shape)
        assert history["best_J_holdout"][name] == pytest.approx(max(h["J_holdout"]), rel=1e-12)
        if name == history["chosen"]:
            for p, q in zip(kernel.params, k.params):
                np.testing.assert_array_equal(p, q)
    best = history["best_J_holdout"]
    assert history["chosen"] == max(best, key=best.get)


def test_a_grid_of_blobs_gets_the_periodic_map():
    # blobs that differ alike in every cell: waves matching the grid see every cell at once,
    # where the MLP's features barely beat a single Gaussian
    _, grid = dk.choose_kernel(*grid_pair(), seed=0)
    assert grid["chosen"] == "periodic"
    assert grid["best_J_holdout"]["periodic"] > 10 * grid["best_J_holdout"]["mlp"]
    # a difference at the data's scale (a shift): both maps see it, either may be chosen
    _, shift = dk.choose_kernel(*shift_pair(), seed=0)
    assert min(shift["best_J_holdout"].values()) > 0.5


def test_mmd_test_chooses_only_when_phis_shape_is_not_given():
    X, Y = grid_pair()
    chosen = minigan.mmd_test(X, Y, kernel="deep", seed=0, n_permutations=50)
    assert chosen.kernel.periodic_params            # the periodic map won here (above)
    assert "sin 16" in chosen.kernel.describe()
    for given in (dict(hidden=(50, 50)), dict(n_features=20), dict(periodic=0),
                  dict(selection="last", max_steps=20)):   # "last": no held-out rows
        r = minigan.mmd_test(X, Y, kernel="deep", seed=0, n_permutations=50, **given)
        assert not r.kernel.periodic_params, given


def test_choose_kernel_needs_held_out_rows():
    X, Y = shift_pair(40)
    with pytest.raises(ValueError, match="selection='holdout'"):
        dk.choose_kernel(X, Y, selection="last")
