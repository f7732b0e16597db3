# cython: language_level=3
"""Compiled GAN losses (minigan.losses): binary cross-entropy on logits, value and gradient
in one C loop.

What it computes, for logits s_1..s_n (D(x) = sigmoid(s)) and a target t in [0, 1]:

    BCE(s, t) = mean_i softplus(s_i) - t s_i        dBCE/ds_i = (sigmoid(s_i) - t) / n
    softplus(s) = max(s, 0) + log1p(e),   sigmoid(s) = 1 / (1 + e) if s >= 0 else e / (1 + e),
    with e = exp(-|s|) in (0, 1], so nothing overflows for any finite s. The gradient's
    sigmoid(s) - t is taken as (1 - t) - e / (1 + e) for s >= 0 (else e / (1 + e) - t): for
    s >> 0, sigmoid(s) is ~1 and subtracting t ~ 1 would leave only its rounding error
    (a few % of the float32 gradient); NumPy's reference does the same.

and from it the losses a GAN step needs: the discriminator's loss on real and fake logits
(separately or pooled in one array, real rows first), the minimax generator loss
(-mean softplus(s)) and, with t = 1, the non-saturating one. The pooled version also returns
D's mean output on the real and on the fake rows, which the trainer reports.

The same maths as minigan.losses, which stays the readable reference. The NumPy version
makes about twenty array passes per loss (softplus, sigmoid, the mean, the target checks,
each a ~1-2 us call on a small batch); here one loop shares e = exp(-|s|) between the loss
and the gradient and sums in double. The results agree with NumPy's to a few units in the
last place (the sum is taken in another order, and exp may come from glibc's vectorised
libmvec under -ffast-math).

Deliberately left out: per-sample target arrays (minigan.losses runs those in NumPy),
weights, and threads (a GAN batch is a few hundred numbers). Because -ffast-math lets the
compiler assume every number is finite, the loop tests for NaN and inf on the bits of each
logit (integer operations it cannot optimise away) and the wrapper then raises ValueError,
as the NumPy path does.
"""
from libc.stdint cimport uint32_t, uint64_t
from libc.string cimport memcpy

cimport numpy as cnp

import numpy as np

include "_maths.pxi"  # floating, exp_, log1p_

cnp.import_array()


# --------------------------------------------------------------------------------- kernels
cdef inline bint non_finite(floating x) noexcept nogil:
    """True for NaN and +-inf: all exponent bits set (read as an integer, immune to fast-math)."""
    cdef uint64_t bits64
    cdef uint32_t bits32
    if floating is double:  # the exponent is in the high 32 bits; a 32-bit test vectorises
        memcpy(&bits64, &x, 8)   # with plain SSE2, a 64-bit compare would need SSE4.1
        bits32 = <uint32_t>(bits64 >> 32)
        return (bits32 & 0x7ff00000U) == 0x7ff00000U
    else:
        memcpy(&bits32, &x, 4)
        return (bits32 & 0x7f800000U) == 0x7f800000U


cdef double bce_kernel(const floating *s, Py_ssize_t n, floating t, floating omt, floating w,
                       floating *ds, double *p_sum, bint *bad) noexcept nogil:
    """Returns sum_i softplus(s_i) - t s_i; ds_i = ((sigmoid(s_i) - t) / n) w;
    *p_sum = sum_i sigmoid(s_i); *bad = whether some s_i is NaN or inf.
    omt = 1 - t, rounded as NumPy rounds it (computed by the caller, in the logits' dtype)."""
    cdef Py_ssize_t i
    cdef floating x, e, sig, q
    cdef floating nf = <floating>n
    cdef double loss = 0, psum = 0
    cdef bint nonfinite = False
    for i in range(n):
        x = s[i]
        nonfinite |= non_finite(x)
        e = exp_(-x if x >= 0 else x)                    # exp(-|s|) in (0, 1]
        loss += (x if x > 0 else 0) + log1p_(e) - t * x  # softplus(s) - t s
        q = e / (1 + e)                                  # sigmoid(-|s|), the small side
        sig = 1 / (1 + e) if x >= 0 else q               # sigmoid(s)
        psum += sig
        # sigmoid(s) - t without cancelling 1 - ~1 for s >> 0 (the module docstring), then
        # the order NumPy's reference uses
        ds[i] = (omt - q if x >= 0 else q - t) / nf * w
    p_sum[0] = psum
    bad[0] = nonfinite
    return loss


# ------------------------------------------------------------------------------- checking
cdef cnp.ndarray checked(object a, str name):
    """`a` after checking that it is a non-empty, aligned, C-contiguous, native-order float32
    or float64 ndarray. Raises ValueError otherwise."""
    if not cnp.PyArray_Check(a):
        raise ValueError(f"{name} must be a numpy array, got {type(a).__name__}")
    cdef cnp.ndarray arr = <cnp.ndarray>a
    if (cnp.PyArray_TYPE(arr) not in (cnp.NPY_FLOAT64, cnp.NPY_FLOAT32)
            or not cnp.PyArray_ISBEHAVED_RO(arr) or not cnp.PyArray_IS_C_CONTIGUOUS(arr)):
        raise ValueError(f"{name} must be an aligned, C-contiguous, native-order float32 or "
                         f"float64 array, got dtype {a.dtype}, "
                         f"C-contiguous={a.flags.c_contiguous}, aligned={a.flags.aligned}")
    if cnp.PyArray_SIZE(arr) == 0:
        raise ValueError(f"{name} must be a non-empty array, got shape {a.shape}")
    return arr


cdef tuple bce_part(cnp.ndarray s, Py_ssize_t start, Py_ssize_t n, double t, double w,
                    cnp.ndarray ds, str name):
    """(sum of the BCE terms, sum of sigmoid) over s.flat[start:start + n], writing the
    gradient ((sigmoid - t) / n) w into ds.flat[start:start + n]."""
    cdef double loss, p_sum
    cdef bint bad
    cdef float t32 = <float>t
    cdef float omt32 = 1 - t32  # 1 - t in float32, as NumPy computes it for float32 logits
    if cnp.PyArray_TYPE(s) == cnp.NPY_FLOAT64:  # else float32, as checked() made sure
        with nogil:
            loss = bce_kernel(<double *>cnp.PyArray_DATA(s) + start, n, t, 1 - t, w,
                              <double *>cnp.PyArray_DATA(ds) + start, &p_sum, &bad)
    else:
        with nogil:
            loss = bce_kernel(<float *>cnp.PyArray_DATA(s) + start, n, t32, omt32, <float>w,
                              <float *>cnp.PyArray_DATA(ds) + start, &p_sum, &bad)
    if bad:
        raise ValueError(f"{name} contains NaN or inf")
    return loss, p_sum


cdef int check_target(double t, str name) except -1:
    if not 0 <= t <= 1:  # (False for NaN too)
        raise ValueError(f"{name} must lie in [0, 1], got {t}")
    return 0


# -------------------------------------------------------------------------------- wrappers
def bce_with_logits(logits, double target):
    """(mean BCE, dBCE/ds) for logits s: any shape, and one target t in [0, 1]."""
    s = checked(logits, "logits")
    check_target(target, "targets")
    ds = np.empty_like(s)
    n = s.size
    loss, _ = bce_part(s, 0, n, target, 1.0, ds, "logits")
    return loss / n, ds


def generator_loss_minimax(fake_logits):
    """(-mean softplus(s), -sigmoid(s) / n): BCE with t = 0, negated."""
    s = checked(fake_logits, "fake_logits")
    ds = np.empty_like(s)
    n = s.size
    loss, _ = bce_part(s, 0, n, 0.0, -1.0, ds, "fake_logits")
    return -loss / n, ds


def discriminator_loss(real_logits, fake_logits, double real_label=1.0):
    """(loss, d_real, d_fake): the mean BCE over the pooled batch, real -> real_label,
    fake -> 0, as minigan.losses.discriminator_loss."""
    r = checked(real_logits, "real_logits")
    f = checked(fake_logits, "fake_logits")
    check_target(real_label, "real_label")
    n_r, n_f = r.size, f.size
    w_r, w_f = n_r / (n_r + n_f), n_f / (n_r + n_f)
    d_r, d_f = np.empty_like(r), np.empty_like(f)
    loss_r, _ = bce_part(r, 0, n_r, real_label, w_r, d_r, "real_logits")
    loss_f, _ = bce_part(f, 0, n_f, 0.0, w_f, d_f, "fake_logits")
    return w_r * (loss_r / n_r) + w_f * (loss_f / n_f), d_r, d_f


def discriminator_loss_pooled(logits, Py_ssize_t n_real, double real_label=1.0):
    """(loss, dlogits, mean D(real), mean D(fake)) for logits: (n, ...) whose first n_real
    rows are real and the rest fake; loss and gradient as discriminator_loss's."""
    s = checked(logits, "logits")
    check_target(real_label, "real_label")
    rows = cnp.PyArray_DIM(s, 0) if cnp.PyArray_NDIM(s) else 0
    if not 0 < n_real < rows:
        raise ValueError(f"n_real must lie in [1, {rows - 1}] for logits of shape "
                         f"{logits.shape}, got {n_real}")
    n_r = n_real * (s.size // rows)   # entries in the real rows
    n_f = s.size - n_r
    w_r, w_f = n_r / (n_r + n_f), n_f / (n_r + n_f)
    ds = np.empty_like(s)
    loss_r, p_r = bce_part(s, 0, n_r, real_label, w_r, ds, "logits")
    loss_f, p_f = bce_part(s, n_r, n_f, 0.0, w_f, ds, "logits")
    return w_r * (loss_r / n_r) + w_f * (loss_f / n_f), ds, p_r / n_r, p_f / n_f
