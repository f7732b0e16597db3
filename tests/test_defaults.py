"""Named bandwidth rules ("median-ladder", "data-scales"), and what GMN does by default."""
import numpy as np
import pytest
from scipy.spatial.distance import pdist

from minigan import GMN, data, metrics, mmd


def test_median_ladder_is_a_ratio_two_ladder_around_the_median():
    X = np.array([[0.0], [1.0], [3.0]])  # distances 1, 2, 3: median 2
    assert mmd.median_ladder(X) == [0.5, 1.0, 2.0, 4.0, 8.0]
    assert mmd.default_sigmas is mmd.median_ladder  # the old name still works


def test_data_scales_runs_from_a_low_quantile_to_the_extent():
    X = np.arange(101.0)[:, None]  # distances 1..100; the 1 % quantile of all 5,050 is 1
    sigmas = mmd.data_scales(X)
    assert sigmas[0] == pytest.approx(np.quantile(pdist(X), 0.01))
    assert sigmas == pytest.approx([sigmas[0] * 2.0**k for k in range(len(sigmas))])
    assert sigmas[-1] >= 100 > sigmas[-2]  # the first rung to reach the extent is the last
    assert mmd.data_scales(np.zeros((4, 2))) == [1.0]  # all equal: no non-zero distance


def test_data_scales_is_capped_at_the_compiled_ladder_limit():
    X = np.concatenate([np.zeros((50, 1)), [[1e-6], [1e6]]])  # a spread of 2^40
    assert len(mmd.data_scales(X)) == mmd.MAX_RUNGS == 10
    assert len(mmd.data_scales(X, max_bandwidths=3)) == 3


def test_data_scales_start_near_the_width_of_a_mode():
    # standardised as the trainers do; a mode's std is 0.014 (ring) and 0.018 (grid) there
    for target, low, high in ((data.ring(), 0.4, 0.8), (data.grid(), 0.8, 1.4)):
        X = target.sample(1000, seed=0)
        scale = np.sqrt(X.var(axis=0).mean())
        sigmas = mmd.data_scales(X / scale)
        assert low < sigmas[0] / (target.std / scale) < high
        assert sigmas[-1] > 2.8  # beyond the diameter of the standardised data


@pytest.mark.parametrize("rule", ["median-ladder", "data-scales"])
def test_rules_by_name_in_mmd2(rule):
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(30, 2)), rng.normal(size=(40, 2)) + 0.5
    sigmas = mmd.SIGMA_RULES[rule](X, Y)
    assert mmd.mmd2(X, Y, rule) == mmd.mmd2(X, Y, sigmas)
    value, dX = mmd.mmd2_and_grad(X, Y, rule)
    assert (value, dX.tolist()) == (lambda v, g: (v, g.tolist()))(*mmd.mmd2_and_grad(X, Y, sigmas))
    if rule == "median-ladder":  # None is documented as the same as the default rule
        assert mmd.mmd2(X, Y, None) == mmd.mmd2(X, Y, rule)


def test_unknown_rule_names_the_argument():
    with pytest.raises(ValueError, match="sigmas must be one of"):
        mmd.mmd2(np.zeros((3, 1)), np.ones((3, 1)), "median")
    with pytest.raises(ValueError, match="sigmas must be one of"):
        GMN(2, sigmas="median")
    with pytest.raises(ValueError, match="quantile"):
        mmd.data_scales(np.ones((3, 1)), quantile=1.5)


@pytest.mark.parametrize("sigmas, rule", [(None, "data-scales"), ("data-scales", "data-scales"),
                                          ("median-ladder", "median-ladder")])
def test_gmn_applies_its_rule_once_to_standardised_real_data(sigmas, rule, tmp_path):
    gmn = GMN(2, hidden=(8,), sigmas=sigmas, seed=0)
    assert gmn.sigmas is None and gmn.sigma_rule == rule
    gmn.fit(data.ring(), steps=2, batch_size=16, progress=False)
    real = data.ring().sample(1000, seed=np.random.Generator(np.random.PCG64(
        np.random.SeedSequence(0).spawn(3)[2])))  # the trainer's first draw: calibration
    assert gmn.sigmas == pytest.approx(mmd.SIGMA_RULES[rule](gmn._to_model(real)))
    loaded = GMN.load(gmn.save(tmp_path / "g"))
    assert loaded.sigmas == gmn.sigmas and loaded.sigma_rule == rule


def test_the_defaults_learn_ring_8():
    # GMN(2, seed=0) and fit's defaults, 600 steps. The old defaults (2 x 64, lr 1e-3, batch
    # 128, a 5-rung ladder around the median) give 7 modes and 0.7 % high quality here; the
    # new ones 8 modes and 36 % (93 % at 5,000 steps).
    gmn = GMN(2, seed=0).fit(data.ring(), steps=600, progress=False)
    m = metrics.mode_coverage(gmn.sample(2500, seed=1), data.ring().centres, data.ring().std)
    assert m["modes"] == 8
    assert m["high_quality"] > 0.25
