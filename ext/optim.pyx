# cython: language_level=3
# distutils: extra_compile_args = -fno-fast-math -ffp-contract=off -fno-math-errno
"""Compiled optimiser updates (minigan.optim): every parameter array of a net in one call.

What it computes, for each parameter p with gradient g and its state arrays, at step t:

    Adam   m <- b1 m + (1 - b1) g;   v <- b2 v + (1 - b2) g^2
           p <- p - lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
    SGD    v <- mu v - lr g;   p <- p + v                (heavy-ball momentum)

The same maths as minigan.optim, which stays the readable reference. The NumPy version
makes about eight passes over each array (one per operator, each a ~1-2 us call, and a
temporary for most); here each array gets one C loop that reads g, m, v and p once and
writes m, v and p in place. The work on a small net is tiny, so what this saves is mostly
the per-call overhead: one Python call per optimiser step instead of ~50 NumPy calls.

Results are the NumPy path's, bit for bit. This module alone is compiled without -ffast-math
and without fused multiply-adds (the flags on its second line; -fno-math-errno only stops
sqrt from setting errno), so the compiler may not reorder the operations and each one rounds
as NumPy's ufunc does; the scalars are rounded as NumPy rounds them (computed in double, then
cast to the arrays' precision), so float32 arrays get float32 arithmetic here too. Nothing is
lost by it: the update loops have no reductions and still vectorise (SSE2 has sqrt and division).

Deliberately left out: weight decay, AMSGrad, Nesterov momentum, threads (the arrays are
small; a thread pool would cost more than the loop). The `def` functions check every array
(type, dtype, shape, contiguity, writeability) before any is changed, so bad input raises
ValueError and leaves parameters and state untouched. They also refuse a bad gradient before
anything moves: one C pass over every gradient looks for an entry that is NaN, inf or larger
in size than `limit64` (float64 arrays) or `limit32` (float32), the largest |g| whose update
stays finite (minigan.optim says which); the wrappers then return that gradient's index and
update nothing (-1: all good, all updated). minigan.optim raises the error that names it.
"""
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from libc.float cimport DBL_MAX, FLT_MAX
from libc.math cimport fabs

cimport numpy as cnp

import numpy as np

include "_maths.pxi"  # floating, sqrt_

cnp.import_array()


cdef struct Slot:
    int typenum        # NPY_FLOAT64 or NPY_FLOAT32
    Py_ssize_t size    # number of elements
    void *p            # the parameter (updated in place)
    void *g            # its gradient (read only)
    void *s1           # state: Adam's m, SGD's velocity
    void *s2           # state: Adam's v (NULL for SGD)


# --------------------------------------------------------------------------------- kernels
cdef void adam_kernel(floating *p, const floating *g, floating *m, floating *v, Py_ssize_t n,
                      floating lr, floating b1, floating c1, floating b2, floating c2,
                      floating bc1, floating bc2, floating eps) noexcept nogil:
    """m = b1 m + c1 g;  v = b2 v + c2 g^2;  p -= lr (m / bc1) / (sqrt(v / bc2) + eps)."""
    cdef Py_ssize_t i
    for i in range(n):
        m[i] = m[i] * b1 + c1 * g[i]                      # first moment
        v[i] = v[i] * b2 + c2 * g[i] * g[i]               # second moment
        p[i] -= lr * (m[i] / bc1) / (sqrt_(v[i] / bc2) + eps)  # bias-corrected step


cdef void sgd_kernel(floating *p, const floating *g, floating *vel, Py_ssize_t n,
                     floating lr, floating mu) noexcept nogil:
    """vel = mu vel - lr g;  p += vel."""
    cdef Py_ssize_t i
    for i in range(n):
        vel[i] = vel[i] * mu - lr * g[i]
        p[i] += vel[i]


cdef bint within(const floating *g, Py_ssize_t n, double limit) noexcept nogil:
    """True when every |g_i| <= limit (False for NaN: the comparison fails; for inf: > limit).
    It counts the entries outside, with no early exit: a loop without branches."""
    cdef Py_ssize_t i, outside = 0
    for i in range(n):
        outside += not (fabs(<double>g[i]) <= limit)
    return outside == 0


cdef Py_ssize_t first_bad(Slot *slots, Py_ssize_t n, double limit64,
                          double limit32) noexcept nogil:
    """The index of the first gradient with an entry beyond its dtype's limit (or NaN), or -1.
    A limit beyond the dtype's largest number is taken as that number: inf is always refused."""
    cdef Py_ssize_t i
    limit64, limit32 = min(limit64, DBL_MAX), min(limit32, FLT_MAX)
    for i in range(n):
        if slots[i].typenum == cnp.NPY_FLOAT64:
            if not within(<double *>slots[i].g, slots[i].size, limit64):
                return i
        elif not within(<float *>slots[i].g, slots[i].size, limit32):
            return i
    return -1


# ------------------------------------------------------------------------------- checking
cdef int check(object a, str list_name, Py_ssize_t i, object like, bint writeable,
               void **data) except -1:
    """Check that a = list_name[i] is an aligned, C-contiguous, native-order float32/float64
    ndarray (writeable if asked) with the dtype and shape of `like` (when `like` is not
    None), then store its data pointer in *data. Raises ValueError otherwise."""
    cdef cnp.ndarray arr
    if not cnp.PyArray_Check(a):
        raise ValueError(f"{list_name}[{i}] must be a numpy array, got {type(a).__name__}")
    arr = <cnp.ndarray>a
    if like is None:
        if cnp.PyArray_TYPE(arr) not in (cnp.NPY_FLOAT64, cnp.NPY_FLOAT32):
            raise ValueError(f"{list_name}[{i}] must be float32 or float64, got dtype {a.dtype}")
    else:
        if cnp.PyArray_TYPE(arr) != cnp.PyArray_TYPE(<cnp.ndarray>like):
            raise ValueError(f"{list_name}[{i}] has dtype {a.dtype}, the parameter has "
                             f"{like.dtype}")
        if not cnp.PyArray_SAMESHAPE(arr, <cnp.ndarray>like):
            raise ValueError(f"{list_name}[{i}] has shape {a.shape}, the parameter has "
                             f"{like.shape}")
    if not (cnp.PyArray_ISBEHAVED_RO(arr) and cnp.PyArray_IS_C_CONTIGUOUS(arr)):
        raise ValueError(f"{list_name}[{i}] must be an aligned, C-contiguous, native-order "
                         f"array (C-contiguous={a.flags.c_contiguous}, "
                         f"aligned={a.flags.aligned})")
    if writeable and not cnp.PyArray_ISWRITEABLE(arr):
        raise ValueError(f"{list_name}[{i}] must be writeable")
    data[0] = cnp.PyArray_DATA(arr)
    return 0


cdef Slot *collect(list copies, tuple params, tuple grads, tuple state1, str name1,
                   tuple state2=None, str name2=None) except NULL:
    """Check every array and gather their pointers, one Slot per parameter (caller frees).
    A gradient that is not C-contiguous is copied into one that is, kept in `copies`.
    Nothing is written here, so an error leaves every array as it was."""
    cdef Py_ssize_t i, n = len(params)
    cdef Slot *slots
    if len(grads) != n:
        raise ValueError(f"expected {n} gradients, got {len(grads)}")
    for name, state in ((name1, state1), (name2, state2)):
        if state is not None and len(state) != n:
            raise ValueError(f"expected {n} {name} arrays (one per parameter), got {len(state)}")
    slots = <Slot *>PyMem_Malloc(max(n, 1) * sizeof(Slot))
    if slots == NULL:
        raise MemoryError()
    try:
        for i in range(n):
            p = params[i]
            check(p, "params", i, None, True, &slots[i].p)
            slots[i].typenum = cnp.PyArray_TYPE(<cnp.ndarray>p)
            slots[i].size = cnp.PyArray_SIZE(<cnp.ndarray>p)
            g = grads[i]
            if cnp.PyArray_Check(g) and not cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>g):
                g = np.ascontiguousarray(g)  # only read: a copy will do
                copies.append(g)
            check(g, "grads", i, p, False, &slots[i].g)
            check(state1[i], name1, i, p, True, &slots[i].s1)
            slots[i].s2 = NULL
            if state2 is not None:
                check(state2[i], name2, i, p, True, &slots[i].s2)
    except BaseException:
        PyMem_Free(slots)
        raise
    return slots


# -------------------------------------------------------------------------------- wrappers
def adam_step(params, grads, m, v, double lr, double beta1, double beta2, double eps,
              Py_ssize_t t, double limit64=DBL_MAX, double limit32=FLT_MAX):
    """One Adam update, in place, of every array in params and of its moments m and v.

    params: a list of float32 or float64 arrays (aligned, C-contiguous, writeable);
    grads, m, v: lists as long as params, each array of its parameter's shape and dtype
    (m and v aligned, C-contiguous and writeable too; grads of any layout);
    t >= 1: the step number, for the bias corrections 1 - beta^t;
    limit64, limit32: the largest |g| allowed in a float64 / float32 gradient.
    Returns -1, or the index of the first gradient beyond its limit (then nothing changed).
    """
    cdef Py_ssize_t i, n, bad
    cdef Slot *s
    cdef Slot *slots
    # scalars as NumPy rounds them: computed in double, cast to each array's precision
    cdef double c1 = 1 - beta1, c2 = 1 - beta2
    cdef double bc1 = 1 - beta1 ** t, bc2 = 1 - beta2 ** t
    if t < 1:
        raise ValueError(f"t must be >= 1, got {t}")
    # tuples hold every array while the GIL is released, whatever happens to the lists
    params, grads, m, v = tuple(params), tuple(grads), tuple(m), tuple(v)
    copies = []
    n = len(params)
    slots = collect(copies, params, grads, m, "m", v, "v")
    try:
        with nogil:
            bad = first_bad(slots, n, limit64, limit32)
            for i in range(n if bad < 0 else 0):   # all or nothing: one bad gradient, no update
                s = &slots[i]
                if s.typenum == cnp.NPY_FLOAT64:
                    adam_kernel(<double *>s.p, <double *>s.g, <double *>s.s1, <double *>s.s2,
                                s.size, lr, beta1, c1, beta2, c2, bc1, bc2, eps)
                else:
                    adam_kernel(<float *>s.p, <float *>s.g, <float *>s.s1, <float *>s.s2,
                                s.size, <float>lr, <float>beta1, <float>c1, <float>beta2,
                                <float>c2, <float>bc1, <float>bc2, <float>eps)
    finally:
        PyMem_Free(slots)
    return bad


def sgd_step(params, grads, velocity, double lr, double momentum, double limit64=DBL_MAX,
             double limit32=FLT_MAX):
    """One SGD-with-momentum update, in place, of every array in params and its velocity.

    params: a list of float32 or float64 arrays (aligned, C-contiguous, writeable);
    grads, velocity: lists as long as params, each array of its parameter's shape and dtype
    (velocity aligned, C-contiguous and writeable too; grads of any layout);
    limit64, limit32, and what it returns: as adam_step.
    """
    cdef Py_ssize_t i, n, bad
    cdef Slot *s
    cdef Slot *slots
    params, grads, velocity = tuple(params), tuple(grads), tuple(velocity)  # as in adam_step
    copies = []
    n = len(params)
    slots = collect(copies, params, grads, velocity, "velocity")
    try:
        with nogil:
            bad = first_bad(slots, n, limit64, limit32)
            for i in range(n if bad < 0 else 0):   # all or nothing: one bad gradient, no update
                s = &slots[i]
                if s.typenum == cnp.NPY_FLOAT64:
                    sgd_kernel(<double *>s.p, <double *>s.g, <double *>s.s1, s.size, lr,
                               momentum)
                else:
                    sgd_kernel(<float *>s.p, <float *>s.g, <float *>s.s1, s.size, <float>lr,
                               <float>momentum)
    finally:
        PyMem_Free(slots)
    return bad
