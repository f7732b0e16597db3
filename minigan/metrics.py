"""Figures of merit for generated samples.

    ks_statistic    1-D: sup_x |F_n(x) - F(x)| against a target CDF, with its p-value
    transform_error 1-D: sup_z |G(z) - F^-1((z+1)/2)| against the ideal monotone transform
                         (or its mirror, F^-1((1-z)/2): both push U(-1, 1) onto F)

Deliberately left out (for now): mode coverage on mixtures, which arrives with the 2-D demos.
"""
import numpy as np
from scipy import stats

from ._checks import as_float_array


def ks_statistic(samples, cdf):
    """Kolmogorov-Smirnov statistic and p-value of 1-D samples against a CDF.

    samples: (n,) or (n, 1);  cdf: a function x -> F(x), e.g. minigan.data.gaussian_1d(...).cdf
    Returns (statistic, p_value).
    """
    x = as_float_array(np.asarray(samples).reshape(-1), "samples", ndim=1)
    result = stats.kstest(x, cdf)
    return float(result.statistic), float(result.pvalue)


def transform_error(G_of_z, z, ppf):
    """sup over the z grid of |G(z) - F^-1((z+1)/2)|, the better of the two monotone solutions.

    G_of_z: (k,) generator outputs at the noise values z: (k,) in (-1, 1); ppf: F^-1.
    Returns (error, mirrored) where mirrored says the decreasing solution fits better.
    """
    g = as_float_array(np.asarray(G_of_z).reshape(-1), "G_of_z", ndim=1)
    z = as_float_array(np.asarray(z).reshape(-1), "z", ndim=1)
    increasing = np.abs(g - ppf((z + 1) / 2)).max()
    decreasing = np.abs(g - ppf((1 - z) / 2)).max()
    return float(min(increasing, decreasing)), bool(decreasing < increasing)
