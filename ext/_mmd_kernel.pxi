# The tiled MMD^2 + gradient kernel (included by ext/mmd.pyx and by its per-instruction-set
# twins ext/mmd_avx2.pyx and ext/mmd_avx512.pyx: one source, compiled once per target). Read
# the name map and the task split in ext/mmd.pyx's docstring first. Needs _maths.pxi and
# _blas.pxi included before it.
import numpy as np

from cython.parallel cimport parallel, prange, threadid

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

cdef enum:
    TI = 64           # rows of a tile (one task of the thread pool is TI rows against all columns)
    TJ = 256          # columns of a tile: a tile row of distances and weights is 2 + 2 KiB, in L1
    GEMM_MIN_D = 6    # from this width on, x.z and the gradient sums come from BLAS gemm
                      # (measured here: the direct loops win up to d = 4-6, gemm beyond)
    MAX_THREADS = 64

OPENMP = bool(MINIGAN_HAVE_OPENMP)  # True when built with OpenMP (else n_threads is always 1)
SMALL_WORK = 1_000_000              # n * m below this runs on one thread unless asked otherwise


cdef inline floating _exp_clamped(floating t) noexcept nogil:
    """exp(t), with t raised to the point below which exp underflows anyway.

    Below -708 (float32: -87) glibc's vector exp leaves its fast path for a slow scalar one,
    and the result would be 0 or subnormal (flushed to 0 in the kernel) either way.
    """
    cdef floating lowest = -708.0 if floating is double else -87.0
    return exp_(t if t > lowest else lowest)


cdef void _row_kernel(const floating* dist2, floating* E, floating* W, floating* ksum_col,
                      Py_ssize_t lo, Py_ssize_t hi, const double* gamma, const double* inv_s2,
                      int ns, int seg) noexcept nogil:
    """For the pairs j in [lo, hi) of one tile row, with e_kj = exp(-gamma_k dist2_j):

        W_j = w_ij = sum_k e_kj / sigma_k^2     (the gradient weight of pair (i, j))
        ksum_col_j += sum_k e_kj                (the kernel k(a_i, z_j), summed down a column)

    gamma_k = 1 / (2 sigma_k^2), inv_s2_k = 1 / sigma_k^2, sigmas sorted ascending (k = 0 is
    the narrowest). seg: the rungs one exp serves: 1 for any set of bandwidths (one exp per
    bandwidth), more for a ratio-2 ladder (below). E: a row of work space (the e of the rung
    being computed). Summing the kernel per column slot, across the rows of a tile, keeps a
    reduction chain out of these loops, so each is one vectorisable pass.

    Ladder sigma_k = sigma_{k+1} / 2: exp(-D / (2 sigma_k^2)) = exp(-4 D / (2 sigma_{k+1}^2))
                                     = (exp(-D / (2 sigma_{k+1}^2)))^4,
    so e_k = (e_{k+1}^2)^2: one exp at the top of a segment of seg rungs, then two multiplies
    per step down it (the segment's bottom is e_top^(4^(seg-1))). That power also multiplies
    the exp's relative error by 4^(seg-1): the caller keeps seg <= MAX_LADDER, and a longer
    ladder takes one exp per segment.
    """
    cdef Py_ssize_t j
    cdef int k, top = ns - 1, bottom
    cdef bint first = True
    cdef floating e, e_next, g, w, w_next
    while top >= 0:                        # segments, from the widest rung down
        bottom = max(0, top - seg + 1)
        g = <floating>gamma[top]
        w = <floating>inv_s2[top]
        if first:
            for j in range(lo, hi):
                e = _exp_clamped(-g * dist2[j])
                E[j] = e
                W[j] = w * e
                ksum_col[j] += e
        else:
            for j in range(lo, hi):
                e = _exp_clamped(-g * dist2[j])
                E[j] = e
                W[j] += w * e
                ksum_col[j] += e
        first = False
        # the steps down the segment, two per pass (half the loads and stores of W and ksum_col)
        k = top - 1
        while k >= bottom + 1:
            w = <floating>inv_s2[k]
            w_next = <floating>inv_s2[k - 1]
            for j in range(lo, hi):
                e = E[j] * E[j]
                e = e * e                  # rung k
                e_next = e * e
                e_next = e_next * e_next   # rung k - 1
                E[j] = e_next
                W[j] += w * e + w_next * e_next
                ksum_col[j] += e + e_next
            k -= 2
        if k == bottom:
            w = <floating>inv_s2[k]
            for j in range(lo, hi):
                e = E[j] * E[j]
                e = e * e
                W[j] += w * e
                ksum_col[j] += e
        top = bottom - 1


cdef inline Py_ssize_t _buf_size(Py_ssize_t d) noexcept nogil:
    """Per-thread work space of _rows_vs: two (TI, TJ) tiles, three (d, TJ) and four TJ rows."""
    return 2 * TI * TJ + 3 * d * TJ + 4 * TJ


cdef double _rows_vs(const floating* A, const floating* normsA, Py_ssize_t i0, Py_ssize_t i1,
                     const floating* Z, const floating* normsZ, Py_ssize_t jb, Py_ssize_t je,
                     Py_ssize_t d, bint symmetric,
                     const double* gamma, const double* inv_s2, int ns, int seg,
                     double grad_coef, double* grad_A, double* grad_Z,
                     floating* buf) noexcept nogil:
    """sum k(a_i, z_j) over rows i in [i0, i1) of A and columns j in [jb, je) of Z (only the
    pairs j > i when symmetric, for A = Z).

    Adds grad_coef sum_j w_ij (a_i - z_j) to grad_A[i] and grad_coef sum_i w_ij (z_j - a_i)
    to grad_Z[j] (each when not NULL); grad_coef is the +-2c of the gradient formula.
    normsA, normsZ: squared row norms (read only when d >= GEMM_MIN_D).
    buf: work space of _buf_size(d) elements.
    """
    cdef Py_ssize_t ti = i1 - i0, tj, jt, j0, ii, jj, i, dim, lo
    cdef bint use_gemm = d >= GEMM_MIN_D, grads = grad_A != NULL or grad_Z != NULL
    # work space: two (TI, TJ) tiles, then rows of length TJ
    cdef floating* dist2 = buf                  # (ti, tj): squared distances ||a_i - z_j||^2
    cdef floating* W = buf + TI * TJ            # (ti, tj): gradient weights w_ij
    cdef floating* zT = buf + 2 * TI * TJ       # (d, tj): the tile's columns (small d)
    cdef floating* colT = zT + d * TJ           # (d, tj): column gradient sums (small d)
    cdef floating* V = colT + d * TJ            # (max(ti, tj), d): gemm gradient sums
    cdef floating* ksum_col = V + TJ * d        # (tj,): kernel sums per column slot
    cdef floating* E = ksum_col + TJ            # (tj,): one rung's exps for one tile row
    cdef floating* wcol = E + TJ                # (tj,): column sums of W (gemm)
    cdef floating* wrow = wcol + TJ             # (ti,): row sums of W (gemm)
    cdef const floating* Ai = A + i0 * d
    cdef const floating* Zj
    cdef const floating* a_i
    cdef floating* dist2_row
    cdef floating* W_row
    cdef floating a_id, t, acc
    cdef double ksum = 0.0
    for jt in range((je - jb + TJ - 1) // TJ):
        j0 = jb + jt * TJ
        tj = min(TJ, je - j0)
        Zj = Z + j0 * d
        for jj in range(tj):
            ksum_col[jj] = 0
        # 1. distances: ||a - z||^2 = ||a||^2 + ||z||^2 - 2 a.z with a.z from one gemm, or
        #    (small d) directly, from the tile's columns laid out as zT (d, tj)
        if use_gemm:
            # a.z for the whole tile: (ti, d) x (tj, d)^T
            gemm(c'N', c'T', <int>ti, <int>tj, <int>d, <floating>1.0, Ai, <int>d, Zj, <int>d,
                 <floating>0.0, dist2, <int>tj)
            for ii in range(ti):
                dist2_row = dist2 + ii * tj
                for jj in range(tj):
                    t = normsA[i0 + ii] + normsZ[j0 + jj] - 2 * dist2_row[jj]
                    dist2_row[jj] = t if t > 0 else 0
        else:
            for jj in range(tj):
                for dim in range(d):
                    zT[dim * tj + jj] = Zj[jj * d + dim]
            for jj in range(d * tj):
                colT[jj] = 0
        for ii in range(ti):
            i = i0 + ii
            a_i = A + i * d
            dist2_row = dist2 + ii * tj
            W_row = W + ii * tj
            lo = min(max(0, i + 1 - j0), tj) if symmetric else 0  # symmetric: pairs j > i only
            if not use_gemm:
                a_id = a_i[0]
                for jj in range(lo, tj):
                    t = a_id - zT[jj]
                    dist2_row[jj] = t * t
                for dim in range(1, d):
                    a_id = a_i[dim]
                    for jj in range(lo, tj):
                        t = a_id - zT[dim * tj + jj]
                        dist2_row[jj] += t * t
            # 2. kernel values and gradient weights: one unit-stride pass per exp
            _row_kernel(dist2_row, E, W_row, ksum_col, lo, tj, gamma, inv_s2, ns, seg)
            if not grads:
                continue
            # 3. the gradient sums of the pairs (a_i, z_j): per row for small d, else gemm below
            if use_gemm:
                for jj in range(lo):
                    W_row[jj] = 0  # pairs left out must not reach the gemm
                continue
            # the column side's update is written the same way in both loops, so that asking
            # for dY too (row side) leaves dX's bits unchanged
            for dim in range(d):
                a_id = a_i[dim]
                if grad_A != NULL:
                    acc = 0
                    for jj in range(lo, tj):
                        t = W_row[jj] * (a_id - zT[dim * tj + jj])
                        acc += t                  # w_ij (a_i - z_j) for row i
                        colT[dim * tj + jj] -= t  # w_ij (z_j - a_i) for column j
                    grad_A[i * d + dim] += grad_coef * acc
                else:  # the column side only (dX from the Y-X pass when dY is not asked for)
                    for jj in range(lo, tj):
                        colT[dim * tj + jj] -= W_row[jj] * (a_id - zT[dim * tj + jj])
        for jj in range(tj):
            ksum += ksum_col[jj]
        if not grads:
            continue
        if not use_gemm:
            if grad_Z != NULL:
                for jj in range(tj):
                    for dim in range(d):
                        grad_Z[(j0 + jj) * d + dim] += grad_coef * colT[dim * tj + jj]
            continue
        if grad_A != NULL:
            # sum_j w_ij (a_i - z_j) = (sum_j w_ij) a_i - (W Z)_i, with W Z: (ti, tj) x (tj, d)
            gemm(c'N', c'N', <int>ti, <int>d, <int>tj, <floating>1.0, W, <int>tj, Zj, <int>d,
                 <floating>0.0, V, <int>d)
            for ii in range(ti):
                W_row = W + ii * tj
                wrow[ii] = 0
                for jj in range(tj):
                    wrow[ii] += W_row[jj]
                for dim in range(d):
                    grad_A[(i0 + ii) * d + dim] += grad_coef * (wrow[ii] * Ai[ii * d + dim]
                                                                - V[ii * d + dim])
        if grad_Z != NULL:
            # sum_i w_ij (z_j - a_i) = (sum_i w_ij) z_j - (W^T A)_j, W^T A: (tj, ti) x (ti, d)
            gemm(c'T', c'N', <int>tj, <int>d, <int>ti, <floating>1.0, W, <int>tj, Ai, <int>d,
                 <floating>0.0, V, <int>d)
            for jj in range(tj):
                wcol[jj] = 0
            for ii in range(ti):
                W_row = W + ii * tj
                for jj in range(tj):
                    wcol[jj] += W_row[jj]
            for jj in range(tj):
                for dim in range(d):
                    grad_Z[(j0 + jj) * d + dim] += grad_coef * (wcol[jj] * Zj[jj * d + dim]
                                                                - V[jj * d + dim])
    return ksum


cdef object _run(const floating[:, ::1] X, const floating[:, ::1] Y,
                 const double[::1] gamma, const double[::1] inv_s2, int seg,
                 bint unbiased, bint with_grad, bint grad_y, bint parts, int n_threads):
    """Allocate the per-thread buffers, run the tasks on T threads, reduce their sums.
    parts (with_grad, not grad_y): dX's X-X and X-Y terms go to two accumulators, returned apart
    in place of the value, which needs the Y-Y block they do not."""
    dtype = np.float64 if floating is double else np.float32
    cdef Py_ssize_t n = X.shape[0], m = Y.shape[0], d = X.shape[1]
    cdef Py_ssize_t nbx = (n + TI - 1) // TI, nby = (m + TI - 1) // TI
    cdef int ns = gamma.shape[0]
    # a task is one block of TI rows: of X, or of Y
    cdef Py_ssize_t ntasks = nbx + nby, task
    cdef int T = n_threads
    if T <= 0:
        T = 1 if n * m < SMALL_WORK else minigan_max_threads()
    T = max(1, min(T, ntasks, MAX_THREADS)) if OPENMP else 1

    # per-thread work space and accumulators (row t belongs to thread t); a thread's gradient
    # row holds dX (n * d) and, when asked for, dY (m * d) or dX's X-Y term (parts) after it
    cdef Py_ssize_t grad_len = (n + (m if grad_y else n if parts else 0)) * d if with_grad else 1
    cdef floating[:, ::1] work = np.empty((T, _buf_size(d)), dtype)
    cdef double[:, ::1] grads = np.zeros((T, grad_len), np.float64)
    cdef double[:, ::1] sums = np.zeros((T, 8), np.float64)  # 8: one cache line per thread
    norms_x = np.einsum("ij,ij->i", X, X)  # squared row norms, for the gemm path
    norms_y = np.einsum("ij,ij->i", Y, Y)
    cdef const floating[::1] normsX = norms_x, normsY = norms_y

    cdef double c_xx = 1.0 / (n * (n - 1)) if unbiased else 1.0 / (n * n)
    cdef double c_yy = 1.0 / (m * (m - 1)) if unbiased else 1.0 / (m * m)
    cdef double c_xy = 1.0 / (n * m)
    # the gradient coefficients: -2 c_xx sum w (x_a - x_j), -2 c_yy ..., +2 c_xy sum w (x_a - y_j)
    cdef double coef_xx = -2.0 * c_xx, coef_yy = -2.0 * c_yy, coef_xy = 2.0 * c_xy

    cdef int tid
    cdef unsigned int csr
    cdef Py_ssize_t i0, i1
    cdef floating* buf
    cdef double* dX
    cdef double* dX_xy
    cdef double* dY
    with nogil, parallel(num_threads=T):
        tid = threadid()
        csr = minigan_ftz_on()
        buf = &work[tid, 0]
        dX = &grads[tid, 0] if with_grad else NULL
        dY = &grads[tid, n * d] if with_grad and grad_y else NULL
        dX_xy = &grads[tid, n * d] if with_grad and parts else dX   # X-Y term: apart or not
        # static, chunks of one: task k runs on thread k % T, so the sums in sums[tid] and
        # grads[tid] are added in the same order on every run (dynamic scheduling made the
        # results differ from run to run in the last bits); round-robin keeps the load even
        # (the tasks' costs fall slowly along each half of the task list)
        for task in prange(ntasks, schedule="static", chunksize=1):
            if task < nbx:
                # X rows against X (pairs j > i): Kxx, and dX's X-X term at both ends of a pair
                i0 = task * TI
                i1 = min(n, i0 + TI)
                sums[tid, 0] += _rows_vs(&X[0, 0], &normsX[0], i0, i1, &X[0, 0], &normsX[0],
                                         i0, n, d, True, &gamma[0], &inv_s2[0], ns, seg,
                                         coef_xx, dX, dX, buf)
            else:
                # Y rows against Y (pairs j > i): Kyy and dY's Y-Y term (dY NULL: value only);
                # parts needs neither
                i0 = (task - nbx) * TI
                i1 = min(m, i0 + TI)
                if not parts:
                    sums[tid, 1] += _rows_vs(&Y[0, 0], &normsY[0], i0, i1, &Y[0, 0],
                                             &normsY[0], i0, m, d, True, &gamma[0],
                                             &inv_s2[0], ns, seg, coef_yy, dY, dY, buf)
                # Y rows against all of X: Kxy (transposed), dY's X-Y term on the row side
                # and dX's X-Y term on the column side
                sums[tid, 2] += _rows_vs(&Y[0, 0], &normsY[0], i0, i1, &X[0, 0], &normsX[0],
                                         0, n, d, False, &gamma[0], &inv_s2[0], ns, seg,
                                         coef_xy, dY, dX_xy, buf)
        minigan_ftz_restore(csr)

    # the threads' partial sums, added in thread order (numpy sums axis 0 row after row)
    s_xx, s_yy, s_xy = np.asarray(sums).sum(0)[:3]
    diag = 0.0 if unbiased else float(ns)  # k(x, x) = ns, left out by the U-statistic
    value = (c_xx * (2 * s_xx + n * diag) + c_yy * (2 * s_yy + m * diag) - 2 * c_xy * s_xy)
    if not with_grad:
        return (float(value), None, None) if grad_y else (float(value), None)
    total = np.asarray(grads).sum(0)
    grad_x = total[:n * d].reshape(n, d).astype(dtype)
    if parts:   # (None: no Y-Y block, no value; X-X term, X-Y term)
        return None, grad_x, total[n * d:].reshape(n, d).astype(dtype)
    if not grad_y:
        return float(value), grad_x
    return float(value), grad_x, total[n * d:].reshape(m, d).astype(dtype)


def run(X, Y, gamma, inv_s2, int seg, bint unbiased, bint with_grad, bint grad_y,
        int n_threads, bint parts=False):
    """The kernel on checked input (minigan._ext.mmd.mmd2_and_grad checks it and calls this).

    X: (n, d), Y: (m, d), C-contiguous, one dtype (float32 or float64); gamma, inv_s2:
    float64 (ns,), 1 / (2 sigma^2) and 1 / sigma^2 for the sorted sigmas; seg >= 1: the
    rungs one exp serves (_row_kernel: 1 unless the sigmas are a ratio-2 ladder); parts: dX's
    two terms apart (see _run). The sizes that decide what memory is read, seg and parts are
    re-checked here (ValueError), so a direct call cannot read out of bounds or loop forever.
    """
    if (not isinstance(X, np.ndarray) or not isinstance(Y, np.ndarray) or X.dtype != Y.dtype
            or X.ndim != 2 or Y.ndim != 2 or X.shape[1] != Y.shape[1]
            or not 1 <= X.shape[1] < 2**31 or min(X.shape[0], Y.shape[0]) < 1 + unbiased
            or len(gamma) != len(inv_s2) or len(gamma) < 1 or seg < 1
            or (parts and (grad_y or not with_grad))):
        raise ValueError("run: X (n, d) and Y (m, d) arrays of one dtype, n, m >= 1 (2 when "
                         "unbiased), 1 <= d < 2^31, gamma, inv_s2 of one length >= 1, "
                         "seg >= 1, and parts only with with_grad and not grad_y")
    if X.dtype == np.float64:
        return _run[double](X, Y, gamma, inv_s2, seg, unbiased, with_grad, grad_y, parts,
                            n_threads)
    return _run[float](X, Y, gamma, inv_s2, seg, unbiased, with_grad, grad_y, parts, n_threads)


cdef floating _exp_passes(floating* row, Py_ssize_t passes) noexcept nogil:
    """passes x TJ calls of the kernel's clamped exp over one L1-resident row (the floor)."""
    cdef Py_ssize_t p, j
    cdef floating total = 0
    cdef floating g = <floating>0.5
    for p in range(passes):
        for j in range(TJ):
            row[j] = _exp_clamped(-g * row[j])  # arguments in [-10, 0]: the fast path
        total += row[0]
    return total


def exp_floor(dtype, Py_ssize_t n_evals):
    """Run about n_evals of the kernel's vector exp (same loop shape, flags and instruction
    set as _row_kernel's one exp per pair) and return the number run; the caller times it.
    This is the ceiling a one-exp-per-pair kernel cannot beat: minigan bench reports the
    kernel's pairs per second as a fraction of it."""
    cdef Py_ssize_t passes = max(1, n_evals // TJ)
    cdef double[::1] row64
    cdef float[::1] row32
    start = np.linspace(0.0, 20.0, TJ)
    if np.dtype(dtype) == np.float64:
        row64 = start.copy()
        with nogil:
            _exp_passes(&row64[0], passes)
    else:
        row32 = start.astype(np.float32)
        with nogil:
            _exp_passes(&row32[0], passes)
    return passes * TJ
