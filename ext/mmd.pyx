# cython: language_level=3
"""Compiled MMD^2 and its gradients (X, or X and Y): the fast twin of minigan/mmd.py.

Same kernel, estimators and gradient as the NumPy reference (read that first):

    k(x, y) = sum_s exp(-||x - y||^2 / (2 s^2))          (s a length-scale)
    MMD^2   = c_xx sum k(x_i, x_j) + c_yy sum k(y_i, y_j) - 2 c_xy sum k(x_i, y_j)
    dMMD^2/dx_a = -2 c_xx sum_j w_aj (x_a - x_j) + 2 c_xy sum_j w_aj (x_a - y_j),
    dMMD^2/dy_b = -2 c_yy sum_j w_bj (y_b - y_j) + 2 c_xy sum_i w_ib (y_b - x_i),
    w = sum_s exp(-||.||^2 / (2 s^2)) / s^2

How it is fast:
  * one fused pass over the pairs, tile by tile (TI rows x TJ columns): no n x m matrix is
    ever made; extra memory is O((n + m) d + tile) per thread;
  * the X-X and Y-Y sums are symmetric: only the pairs j > i are visited, and each X-X pair
    adds to the gradient of both of its rows;
  * within a tile row, unit-stride passes over an L1-sized buffer (distances, then one exp
    pass per bandwidth, then the reductions), so gcc vectorises the exp calls (with
    -ffast-math it calls glibc's vector exp, _ZGVbN2v_exp / _ZGVbN4v_expf);
  * ratio-2 bandwidth ladders use one exp per pair (see _row_kernel; up to MAX_LADDER
    bandwidths, beyond which the ladder's rounding error would break the accuracy contract);
  * for d >= GEMM_MIN_D (6) the cross products x.z and the gradient sums of a tile are BLAS
    gemms;
  * row blocks are shared among OpenMP threads (prange) with per-thread accumulators;
    OpenBLAS is held to one thread meanwhile, and the threads flush subnormals to zero.
    The schedule is static (a fixed task -> thread map, each thread's tasks in order) and the
    per-thread sums are added in thread order afterwards: for a given thread count the
    result is the same to the bit from run to run.

float32 inputs: distances, exps and the short partial sums of one tile (at most TJ terms along
a row, TI * len(sigmas) down a column) are float32; everything beyond is summed in float64.

Left out: input validation beyond what keeps memory safe (minigan.mmd does it: finite values,
dtypes, sizes), the linear-time estimator, other kernels.
"""
import ctypes
import threading

import numpy as np

from cython.parallel cimport parallel, prange, threadid
from libc.math cimport exp, expf
from scipy.linalg.cython_blas cimport dgemm, sgemm

cdef extern from *:
    """
    /* Flush-to-zero / denormals-are-zero for the kernel's threads (x86 SSE control word).
       Repeated squaring pushes small kernel values into the subnormal range, where every
       operation costs 10-100x. Elsewhere these are no-ops. */
    #if defined(__SSE2__) || defined(_M_X64)
    #include <xmmintrin.h>
    #include <pmmintrin.h>
    static unsigned int minigan_ftz_on(void) {
        unsigned int old = _mm_getcsr();
        _MM_SET_FLUSH_ZERO_MODE(_MM_FLUSH_ZERO_ON);
        _MM_SET_DENORMALS_ZERO_MODE(_MM_DENORMALS_ZERO_ON);
        return old;
    }
    static void minigan_ftz_restore(unsigned int old) { _mm_setcsr(old); }
    #else
    static unsigned int minigan_ftz_on(void) { return 0; }
    static void minigan_ftz_restore(unsigned int old) { (void)old; }
    #endif

    #ifdef _OPENMP
    #include <omp.h>
    #define MINIGAN_HAVE_OPENMP 1
    static int minigan_max_threads(void) { return omp_get_max_threads(); }
    #else
    #define MINIGAN_HAVE_OPENMP 0
    static int minigan_max_threads(void) { return 1; }
    #endif
    """
    unsigned int minigan_ftz_on() noexcept nogil
    void minigan_ftz_restore(unsigned int old) noexcept nogil
    int minigan_max_threads() noexcept nogil
    int MINIGAN_HAVE_OPENMP

ctypedef fused floating:
    float
    double

cdef enum:
    TI = 64           # rows of a tile (one task of the thread pool is TI rows against all columns)
    TJ = 256          # columns of a tile: a tile row of distances and weights is 2 KiB, in L1
    GEMM_MIN_D = 6    # from this width on, x.z and the gradient sums come from BLAS gemm
                      # (measured here: the direct loops win up to d = 4-6, gemm beyond)
    MAX_THREADS = 64

OPENMP = bool(MINIGAN_HAVE_OPENMP)  # True when built with OpenMP (else n_threads is always 1)
SMALL_WORK = 1_000_000              # n * m below this runs on one thread unless asked otherwise


cdef void _gemm(char ta, char tb, int M, int N, int K, floating alpha,
                const floating* A, int lda, const floating* B, int ldb,
                floating beta, floating* C, int ldc) noexcept nogil:
    """Row-major C (M, N) = alpha op(A) op(B) + beta C, with op(A): (M, K) and op(B): (K, N)."""
    # BLAS is column-major, and a row-major array is the column-major storage of its
    # transpose. So ask BLAS for C^T = op(B)^T op(A)^T: swap the operands and M <-> N;
    # the transpose flags stay as they are.
    if floating is double:
        dgemm(&tb, &ta, &N, &M, &K, &alpha, <double*>B, &ldb, <double*>A, &lda,
              &beta, C, &ldc)
    else:
        sgemm(&tb, &ta, &N, &M, &K, &alpha, <float*>B, &ldb, <float*>A, &lda,
              &beta, C, &ldc)


cdef void _row_kernel(floating* D, floating* W, floating* K, Py_ssize_t lo, Py_ssize_t hi,
                      const double* coef, const double* inv_s2, int ns,
                      bint ladder) noexcept nogil:
    """W_j = sum_s e_sj / s^2 and K_j += sum_s e_sj for j in [lo, hi), e_sj = exp(coef_s D_j).

    coef_s = -1 / (2 s^2), sigmas sorted ascending. D is overwritten. K collects kernel
    sums per column slot across the rows of a tile: no reduction chain in these loops.
    """
    cdef Py_ssize_t j
    cdef int s
    cdef floating e, e2, t, c, w, w2
    # below these arguments glibc's vector exp takes a slow scalar path (and the result is 0)
    cdef floating floor = -708.0 if floating is double else -87.0
    if ladder:
        # Ladder s_k = s_{k+1} / 2: exp(-D / (2 s_k^2)) = exp(-4 D / (2 s_{k+1}^2))
        #                                              = (exp(-D / (2 s_{k+1}^2)))^4,
        # so e_k = (e_{k+1}^2)^2: one exp for the widest bandwidth, two multiplies per step
        # down the ladder (e_0 = e_top^(4^(ns-1))). That power also multiplies the relative
        # error of the exp by 4^(ns-1): the caller keeps ns <= MAX_LADDER (mmd2_and_grad).
        c = <floating>coef[ns - 1]
        w = <floating>inv_s2[ns - 1]
        for j in range(lo, hi):
            t = c * D[j]
            t = t if t > floor else floor
            if floating is double:
                e = exp(t)
            else:
                e = expf(t)
            D[j] = e
            W[j] = w * e
            K[j] += e
        # the steps down the ladder, two per pass (half the loads and stores of W and K)
        s = ns - 2
        while s >= 1:
            w = <floating>inv_s2[s]
            w2 = <floating>inv_s2[s - 1]
            for j in range(lo, hi):
                e = D[j] * D[j]
                e = e * e
                e2 = e * e
                e2 = e2 * e2
                D[j] = e2
                W[j] += w * e + w2 * e2
                K[j] += e + e2
            s -= 2
        if s == 0:
            w = <floating>inv_s2[0]
            for j in range(lo, hi):
                e = D[j] * D[j]
                e = e * e
                W[j] += w * e
                K[j] += e
    else:
        for j in range(lo, hi):
            W[j] = 0
        for s in range(ns):
            c = <floating>coef[s]
            w = <floating>inv_s2[s]
            for j in range(lo, hi):
                t = c * D[j]
                t = t if t > floor else floor
                if floating is double:
                    e = exp(t)
                else:
                    e = expf(t)
                W[j] += w * e
                K[j] += e


cdef inline Py_ssize_t _buf_size(Py_ssize_t d) noexcept nogil:
    """Per-thread work space of _rows_vs: two (TI, TJ) tiles, three (d, TJ) and three TJ rows."""
    return 2 * TI * TJ + 3 * d * TJ + 3 * TJ


cdef double _rows_vs(const floating* A, const floating* nA, Py_ssize_t i0, Py_ssize_t i1,
                     const floating* Z, const floating* nZ, Py_ssize_t jb, Py_ssize_t je,
                     Py_ssize_t d, bint symmetric,
                     const double* coef, const double* inv_s2, int ns, bint ladder,
                     double f, double* grad_A, double* grad_Z, floating* buf) noexcept nogil:
    """sum k(a_i, z_j), rows i in [i0, i1) of A, columns j in [jb, je) of Z (j > i if symmetric).

    Adds f sum_j w_ij (a_i - z_j) to grad_A[i] and f sum_i w_ij (z_j - a_i) to grad_Z[j]
    (each when not NULL). nA, nZ: squared row norms (read only when d >= GEMM_MIN_D).
    buf: work space of _buf_size(d) elements.
    """
    cdef Py_ssize_t ti = i1 - i0, tj, jt, j0, ii, jj, i, a, lo
    cdef bint gemm = d >= GEMM_MIN_D, grads = grad_A != NULL or grad_Z != NULL
    # work space: tiles D (distances, then e) and W (weights), then rows of length TJ
    cdef floating* D = buf
    cdef floating* W = buf + TI * TJ
    cdef floating* zT = buf + 2 * TI * TJ       # (d, tj): the tile's columns (small d)
    cdef floating* colT = zT + d * TJ           # (d, tj): column gradient sums (small d)
    cdef floating* V = colT + d * TJ            # (max(ti, tj), d): gemm gradient sums
    cdef floating* K = V + TJ * d               # (tj,): kernel sums per column slot
    cdef floating* cw = K + TJ                  # (tj,): column sums of W (gemm)
    cdef floating* rw = cw + TJ                 # (ti,): row sums of W (gemm)
    cdef const floating* Ai = A + i0 * d
    cdef const floating* Zj
    cdef const floating* ai
    cdef floating* Drow
    cdef floating* Wrow
    cdef floating xa, t, acc
    cdef double ksum = 0.0
    for jt in range((je - jb + TJ - 1) // TJ):
        j0 = jb + jt * TJ
        tj = min(TJ, je - j0)
        Zj = Z + j0 * d
        for jj in range(tj):
            K[jj] = 0
        # 1. distances: ||a - z||^2 = ||a||^2 + ||z||^2 - 2 a.z with a.z from one gemm, or
        #    (small d) directly, from the tile's columns laid out as zT (d, tj)
        if gemm:
            _gemm(c'N', c'T', <int>ti, <int>tj, <int>d, <floating>1.0, Ai, <int>d, Zj, <int>d,
                  <floating>0.0, D, <int>tj)
            for ii in range(ti):
                Drow = D + ii * tj
                for jj in range(tj):
                    t = nA[i0 + ii] + nZ[j0 + jj] - 2 * Drow[jj]
                    Drow[jj] = t if t > 0 else 0
        else:
            for jj in range(tj):
                for a in range(d):
                    zT[a * tj + jj] = Zj[jj * d + a]
            for jj in range(d * tj):
                colT[jj] = 0
        for ii in range(ti):
            i = i0 + ii
            ai = A + i * d
            Drow = D + ii * tj
            Wrow = W + ii * tj
            lo = min(max(0, i + 1 - j0), tj) if symmetric else 0  # symmetric: pairs j > i only
            if not gemm:
                xa = ai[0]
                for jj in range(lo, tj):
                    t = xa - zT[jj]
                    Drow[jj] = t * t
                for a in range(1, d):
                    xa = ai[a]
                    for jj in range(lo, tj):
                        t = xa - zT[a * tj + jj]
                        Drow[jj] += t * t
            # 2. kernel values and gradient weights: one unit-stride pass per bandwidth
            _row_kernel(Drow, Wrow, K, lo, tj, coef, inv_s2, ns, ladder)
            if not grads:
                continue
            # 3. the gradient sums of the pairs (a_i, z_j): per row for small d, else gemm below
            if gemm:
                for jj in range(lo):
                    Wrow[jj] = 0  # pairs left out must not reach the gemm
                continue
            for a in range(d):
                xa = ai[a]
                if grad_A != NULL and grad_Z != NULL:
                    acc = 0
                    for jj in range(lo, tj):
                        t = Wrow[jj] * (xa - zT[a * tj + jj])
                        acc += t                # w_ij (a_i - z_j) for row i
                        colT[a * tj + jj] -= t  # w_ij (z_j - a_i) for column j
                    grad_A[i * d + a] += f * acc
                elif grad_A != NULL:
                    acc = 0
                    for jj in range(lo, tj):
                        acc += Wrow[jj] * (xa - zT[a * tj + jj])
                    grad_A[i * d + a] += f * acc
                else:
                    for jj in range(lo, tj):
                        colT[a * tj + jj] += Wrow[jj] * (zT[a * tj + jj] - xa)
        for jj in range(tj):
            ksum += K[jj]
        if not grads:
            continue
        if not gemm:
            if grad_Z != NULL:
                for jj in range(tj):
                    for a in range(d):
                        grad_Z[(j0 + jj) * d + a] += f * colT[a * tj + jj]
            continue
        if grad_A != NULL:
            # sum_j w_ij (a_i - z_j) = (sum_j w_ij) a_i - (W Z)_i, with W Z: (ti, tj) x (tj, d)
            _gemm(c'N', c'N', <int>ti, <int>d, <int>tj, <floating>1.0, W, <int>tj, Zj, <int>d,
                  <floating>0.0, V, <int>d)
            for ii in range(ti):
                Wrow = W + ii * tj
                rw[ii] = 0
                for jj in range(tj):
                    rw[ii] += Wrow[jj]
                for a in range(d):
                    grad_A[(i0 + ii) * d + a] += f * (rw[ii] * Ai[ii * d + a] - V[ii * d + a])
        if grad_Z != NULL:
            # sum_i w_ij (z_j - a_i) = (sum_i w_ij) z_j - (W^T A)_j, W^T A: (tj, ti) x (ti, d)
            _gemm(c'T', c'N', <int>tj, <int>d, <int>ti, <floating>1.0, W, <int>tj, Ai, <int>d,
                  <floating>0.0, V, <int>d)
            for jj in range(tj):
                cw[jj] = 0
            for ii in range(ti):
                Wrow = W + ii * tj
                for jj in range(tj):
                    cw[jj] += Wrow[jj]
            for jj in range(tj):
                for a in range(d):
                    grad_Z[(j0 + jj) * d + a] += f * (cw[jj] * Zj[jj * d + a] - V[jj * d + a])
    return ksum


cdef object _run(const floating[:, ::1] X, const floating[:, ::1] Y,
                 const double[::1] coef, const double[::1] inv_s2, bint ladder,
                 bint unbiased, bint with_grad, bint grad_y, int n_threads):
    """Allocate the per-thread buffers, run the tasks on T threads, reduce their sums."""
    dtype = np.float64 if floating is double else np.float32
    cdef Py_ssize_t n = X.shape[0], m = Y.shape[0], d = X.shape[1]
    cdef Py_ssize_t nbx = (n + TI - 1) // TI, nby = (m + TI - 1) // TI
    cdef int ns = coef.shape[0]
    # a task is one block of TI rows: of X, or of Y
    cdef Py_ssize_t ntasks = nbx + nby, task
    cdef int T = n_threads
    if T <= 0:
        T = 1 if n * m < SMALL_WORK else minigan_max_threads()
    T = max(1, min(T, ntasks, MAX_THREADS)) if OPENMP else 1

    # per-thread work space and accumulators (row t belongs to thread t); a thread's gradient
    # row holds dX (n * d) and, when asked for, dY (m * d) after it
    cdef Py_ssize_t grad_len = (n + (m if grad_y else 0)) * d if with_grad else 1
    cdef floating[:, ::1] work = np.empty((T, _buf_size(d)), dtype)
    cdef double[:, ::1] grads = np.zeros((T, grad_len), np.float64)
    cdef double[:, ::1] sums = np.zeros((T, 8), np.float64)  # 8: one cache line per thread
    norms_x = np.einsum("ij,ij->i", X, X)  # squared row norms, for the gemm path
    norms_y = np.einsum("ij,ij->i", Y, Y)
    cdef const floating[::1] nX = norms_x, nY = norms_y

    cdef double c_xx = 1.0 / (n * (n - 1)) if unbiased else 1.0 / (n * n)
    cdef double c_yy = 1.0 / (m * (m - 1)) if unbiased else 1.0 / (m * m)
    cdef double c_xy = 1.0 / (n * m)
    cdef double f_xx = -2.0 * c_xx, f_yy = -2.0 * c_yy, f_xy = 2.0 * c_xy

    cdef int tid
    cdef unsigned int csr
    cdef Py_ssize_t i0, i1
    cdef floating* buf
    cdef double* g
    cdef double* gy
    with nogil, parallel(num_threads=T):
        tid = threadid()
        csr = minigan_ftz_on()
        buf = &work[tid, 0]
        g = &grads[tid, 0] if with_grad else NULL
        gy = &grads[tid, n * d] if with_grad and grad_y else NULL
        # static, chunks of one: task k runs on thread k % T, so the sums in sums[tid] and
        # grads[tid] are added in the same order on every run (dynamic scheduling made the
        # results differ from run to run in the last bits); round-robin keeps the load even
        # (the tasks' costs fall slowly along each half of the task list)
        for task in prange(ntasks, schedule="static", chunksize=1):
            if task < nbx:  # rows of X against X (pairs j > i): both ends get a gradient
                i0 = task * TI
                i1 = min(n, i0 + TI)
                sums[tid, 0] += _rows_vs(&X[0, 0], &nX[0], i0, i1, &X[0, 0], &nX[0], i0, n, d,
                                         True, &coef[0], &inv_s2[0], ns, ladder, f_xx, g, g, buf)
            else:  # rows of Y against Y (pairs j > i), then against X: X is the column side
                # (gy is NULL unless dY was asked for: then these passes add to X's side only)
                i0 = (task - nbx) * TI
                i1 = min(m, i0 + TI)
                sums[tid, 1] += _rows_vs(&Y[0, 0], &nY[0], i0, i1, &Y[0, 0], &nY[0], i0, m, d,
                                         True, &coef[0], &inv_s2[0], ns, ladder, f_yy, gy, gy,
                                         buf)
                sums[tid, 2] += _rows_vs(&Y[0, 0], &nY[0], i0, i1, &X[0, 0], &nX[0], 0, n, d,
                                         False, &coef[0], &inv_s2[0], ns, ladder, f_xy, gy, g,
                                         buf)
        minigan_ftz_restore(csr)

    # the threads' partial sums, added in thread order (numpy sums axis 0 row after row)
    s_xx, s_yy, s_xy = np.asarray(sums).sum(0)[:3]
    diag = 0.0 if unbiased else float(ns)  # k(x, x) = ns, left out by the U-statistic
    value = (c_xx * (2 * s_xx + n * diag) + c_yy * (2 * s_yy + m * diag) - 2 * c_xy * s_xy)
    if not with_grad:
        return (float(value), None, None) if grad_y else (float(value), None)
    total = np.asarray(grads).sum(0)
    dX = total[:n * d].reshape(n, d).astype(dtype)
    if not grad_y:
        return float(value), dX
    return float(value), dX, total[n * d:].reshape(m, d).astype(dtype)


def _openblas_thread_controls():
    """(get_num_threads, set_num_threads) of each OpenBLAS loaded in this process (Linux only).

    The tiles' gemms are small: OpenBLAS's own thread pool, woken for each of them, made the
    kernel 20x slower here, and it fights the OpenMP threads. So the kernel holds OpenBLAS to
    one thread while it runs (what OPENBLAS_NUM_THREADS=1 does for the whole process).
    """
    try:
        with open("/proc/self/maps") as maps:
            paths = sorted({line[line.index("/"):].strip() for line in maps
                            if "openblas" in line.lower() and "/" in line})
    except OSError:
        return []
    controls = []
    for path in paths:
        try:
            lib = ctypes.CDLL(path)  # already loaded (scipy's BLAS): this only gets a handle
        except OSError:
            continue
        for name in ("scipy_openblas_{}_num_threads", "scipy_openblas_{}_num_threads64_",
                     "openblas_{}_num_threads"):
            try:
                get, set_ = getattr(lib, name.format("get")), getattr(lib, name.format("set"))
            except AttributeError:
                continue
            get.restype, set_.argtypes = ctypes.c_int, [ctypes.c_int]
            controls.append((get, set_))
            break
    return controls


_BLAS_THREADS = None  # filled on first use
# Calls may overlap (the kernel releases the GIL): the first one in saves OpenBLAS's thread
# counts and sets them to 1, the last one out restores them. _BLAS_LOCK guards these three.
_BLAS_LOCK = threading.Lock()
_BLAS_USERS = 0
_BLAS_SAVED = []


def _blas_cap():
    """Hold OpenBLAS to one thread (counted: pair every call with one _blas_release)."""
    global _BLAS_THREADS, _BLAS_USERS, _BLAS_SAVED
    with _BLAS_LOCK:
        if _BLAS_THREADS is None:
            _BLAS_THREADS = _openblas_thread_controls()
        if _BLAS_USERS == 0:
            _BLAS_SAVED = [(set_, get()) for get, set_ in _BLAS_THREADS]
            for set_, _ in _BLAS_SAVED:
                set_(1)
        _BLAS_USERS += 1


def _blas_release():
    global _BLAS_USERS, _BLAS_SAVED
    with _BLAS_LOCK:
        _BLAS_USERS -= 1
        if _BLAS_USERS == 0:
            for set_, threads in _BLAS_SAVED:
                set_(threads)
            _BLAS_SAVED = []


# The longest ratio-2 ladder done with one exp per pair, per dtype: the narrowest kernel is
# exp(top)^(4^(ns-1)), so exp's relative rounding error (float32 ~6e-8, float64 ~1.1e-16) grows
# 4^(ns-1)-fold. float32: 4^4 * 6e-8 ~ 1.5e-5 against the contract's rtol 1e-4 (at 9 rungs it
# was 4e-3); float64: 4^9 * 1.1e-16 ~ 3e-11 against rtol 1e-10. Longer ladders take one exp
# per bandwidth, as any other bandwidth set.
MAX_LADDER = {np.dtype(np.float32): 5, np.dtype(np.float64): 10}


def _is_ladder(s):
    """True when the sorted bandwidths double at each step (within 1e-12 relative)."""
    return s.size >= 2 and bool(np.all(np.abs(s[1:] - 2 * s[:s.size - 1]) <= 1e-12 * s[1:]))


def mmd2_and_grad(X, Y, sigmas, bint unbiased, bint with_grad, int n_threads,
                  bint grad_y=False):
    """MMD^2 of X: (n, d) against Y: (m, d) and (if with_grad) its gradient w.r.t. X, and
    w.r.t. Y too when grad_y.

    X, Y: C-contiguous, both float32 or both float64, finite (minigan.mmd checks this);
    sigmas: float64 1-D C-contiguous positive bandwidths (length-scales).
    unbiased: U-statistic (else V-statistic). n_threads <= 0: 1 thread when n m < SMALL_WORK,
    else omp_get_max_threads() (OMP_NUM_THREADS).
    Returns (value: float, dX: (n, d) of X's dtype, or None), and dY: (m, d) (or None) as a
    third item when grad_y.
    Shapes, dtypes and layout are re-checked here (ValueError) so that no call can read out
    of bounds.
    """
    for name, arr in (("X", X), ("Y", Y)):
        if not isinstance(arr, np.ndarray) or arr.ndim != 2:
            raise ValueError(f"{name} must be a 2-D numpy array")
        if arr.dtype not in (np.float32, np.float64) or not arr.flags.c_contiguous:
            raise ValueError(f"{name} must be C-contiguous float32 or float64, "
                             f"got {arr.dtype}, C-contiguous={arr.flags.c_contiguous}")
        if arr.shape[0] < 1 + unbiased or not 1 <= arr.shape[1] < 2**31:
            raise ValueError(f"{name} must have at least {1 + unbiased} rows and 1 to 2^31 - 1 "
                             f"columns, got shape {arr.shape}")
    if X.dtype != Y.dtype or X.shape[1] != Y.shape[1]:
        raise ValueError(f"X and Y must share dtype and width, got {X.dtype} {X.shape} "
                         f"and {Y.dtype} {Y.shape}")
    if (not isinstance(sigmas, np.ndarray) or sigmas.dtype != np.float64 or sigmas.ndim != 1
            or sigmas.size == 0 or not sigmas.flags.c_contiguous):
        raise ValueError("sigmas must be a non-empty 1-D C-contiguous float64 array")
    if not np.all(np.isfinite(sigmas)) or np.any(sigmas <= 0):
        raise ValueError("sigmas must be finite and > 0")
    s = np.sort(sigmas)
    if s[0] < np.sqrt(4 / np.finfo(X.dtype).max):
        raise ValueError(f"sigmas must be >= {np.sqrt(4 / np.finfo(X.dtype).max):.1e} for "
                         f"{X.dtype} (1 / sigma^2 overflows), got {s[0]}")
    coef = -0.5 / s**2
    inv_s2 = 1.0 / s**2
    ladder = s.size <= MAX_LADDER[X.dtype] and _is_ladder(s)
    capped = X.shape[1] >= GEMM_MIN_D  # only the gemm path calls BLAS
    if capped:
        _blas_cap()
    try:
        if X.dtype == np.float64:
            return _run[double](X, Y, coef, inv_s2, ladder, unbiased, with_grad, grad_y,
                                n_threads)
        return _run[float](X, Y, coef, inv_s2, ladder, unbiased, with_grad, grad_y, n_threads)
    finally:
        if capped:
            _blas_release()
