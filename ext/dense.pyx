# cython: language_level=3
# distutils: extra_compile_args = -fno-finite-math-only -D__FAST_MATH__
"""Compiled forward and backward passes of a whole MLP (minigan.mlp), all layers in one call.

What it computes, for layers l = 1..L with weights W_l: (d_{l-1}, d_l) and biases b_l: (d_l,):

    forward          a_l = h_{l-1} @ W_l + b_l,   h_l = act_l(a_l),   h_0 = x
    backward         da_l = dh_l * act_l'(a_l)                    (dh_L = dout)
                     dW_l += h_{l-1}^T @ da_l,   db_l += sum over rows of da_l
                     dh_{l-1} = da_l @ W_l^T                      (dx = dh_0)
    backward_input   the same without dW_l and db_l (a GAN's generator step through D)

The same maths as minigan.layers / minigan.mlp, which stay the readable reference. What the
compiled version changes is only how it is run:
  - one Python call per pass instead of several NumPy calls per layer (on small layers the
    ~2 us overhead of each NumPy call costs more than the arithmetic);
  - the three matrix products per layer are BLAS gemm calls (scipy.linalg.cython_blas,
    through the row-major gemm of ext/_blas.pxi), except a product with a side of 1 (a
    layer next to a 1-wide input or output): an outer product or a matrix-vector product,
    each a plain loop;
  - the bias add and the activation are one C loop over each layer's output, and so are the
    activation's derivative and the bias-gradient sum;
  - every act'(a) is written through the layer's output h = act(a), so the forward keeps one
    array per layer, not two;
  - the per-layer outputs and the backward's scratch live in one buffer that a `Dense` object
    (one per MLP) keeps and reuses; it only grows when a larger batch comes along;
  - gemms nobody needs are skipped (the first layer's dx when need_input_grad is False; every
    dW and db in backward_input); the GIL is released around the work.

Deliberately left out: threads of our own (BLAS may use its threads), layer types other than
affine + activation, and value checks (NaN, inf): minigan.mlp validates values at its public
methods. Also a hand-written vectorised exp/tanh: the loops call libm's, which gcc vectorises
through glibc's libmvec under -ffast-math; in the portable (SSE2) build that tanh is slower
than NumPy's own AVX-512 one, which a native build (MINIGAN_NATIVE=1) makes up for.

NaN: a NaN must come out where NumPy's would (a ReLU that turned it into 0 would hide a
diverged net). -ffast-math (setup.py) includes -ffinite-math-only, under which the compiler
may assume there are no NaNs and swap the arms of `0 if v <= 0 else v` (it did: NaN became 0).
So this module is compiled with -fno-finite-math-only (the line at the top); that also
un-defines __FAST_MATH__, which glibc's <math.h> needs to declare its vector exp and tanh
(libmvec, which handle NaN and inf correctly), so the line defines it again: without it the
tanh and sigmoid layers ran 2x slower.

The `def` methods here still check every array's type, dtype, shape, contiguity and
writeability, because with bounds checks off a wrong shape would read or write out of bounds.
"""
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from libc.limits cimport INT_MAX
from libc.string cimport memcpy

cimport cython
cimport numpy as cnp

import numpy as np

include "_maths.pxi"  # floating, exp_, tanh_
include "_blas.pxi"   # gemm on row-major arrays

cnp.import_array()

cdef enum:
    IDENTITY, RELU, LEAKY_RELU, TANH, SIGMOID

ACTIVATION_CODES = {"identity": IDENTITY, "relu": RELU, "leaky_relu": LEAKY_RELU,
                    "tanh": TANH, "sigmoid": SIGMOID}
LEAKY_SLOPE = 0.2  # as minigan.layers.leaky_relu_forward
cdef double SLOPE = LEAKY_SLOPE


cdef struct Net:
    int L              # number of layers
    int n              # batch rows of the last forward pass (0: none yet)
    int *sizes         # widths d_0..d_L
    int *act           # activation code of each layer
    void **W           # W[l]: (d_l, d_{l+1}) weights of layer l (0-based here)
    void **b           # b[l]: (d_{l+1},) its biases
    void **dW          # dW[l], db[l]: their gradients, accumulated into (+=)
    void **db
    void **h           # h[0] = x, h[l + 1]: (n, d_{l+1}) output of layer l
    void *scratch[2]   # two (n, max width) buffers for the backward's dh / da


# ------------------------------------------------------------------- elementwise kernels
cdef void bias_act(floating *a, const floating *b, Py_ssize_t n, Py_ssize_t d,
                   int act) noexcept nogil:
    """a[i, j] <- act(a[i, j] + b[j]), in place: the bias add and activation in one pass."""
    cdef Py_ssize_t i, j
    cdef floating v, e
    cdef floating slope = <floating>SLOPE
    cdef floating *row
    for i in range(n):
        row = a + i * d
        if act == RELU:
            for j in range(d):
                v = row[j] + b[j]
                row[j] = 0 if v <= 0 else v  # NaN <= 0 is false: NaN stays NaN (np.maximum)
        elif act == LEAKY_RELU:
            for j in range(d):
                v = row[j] + b[j]
                row[j] = slope * v if v <= 0 else v  # both arms keep a NaN (as np.where)
        elif act == TANH:
            for j in range(d):
                row[j] = tanh_(row[j] + b[j])
        elif act == SIGMOID:
            for j in range(d):
                v = row[j] + b[j]
                e = exp_(v if v < 0 else -v)  # exp(-|v|) in (0, 1]: never overflows
                row[j] = 1 / (1 + e) if v >= 0 else e / (1 + e)
        else:
            for j in range(d):
                row[j] = row[j] + b[j]


cdef void act_backward(floating *da, const floating *dh, const floating *h, floating *db,
                       Py_ssize_t n, Py_ssize_t d, int act) noexcept nogil:
    """da = dh * act'(a) with act' written through h = act(a); db[j] += sum_i da[i, j] unless
    db is NULL. da may be dh itself (in place)."""
    cdef Py_ssize_t i, j
    cdef floating slope = <floating>SLOPE
    cdef floating *out
    cdef const floating *g
    cdef const floating *y
    for i in range(n):
        out, g, y = da + i * d, dh + i * d, h + i * d
        # (each loop is written branch-free, as a select between two numbers, so that the
        # compiler turns it into vector instructions instead of unpredictable jumps)
        # (a NaN h: NaN > 0 is false, so relu' = 0 and leaky' = slope, as minigan.layers has it)
        if act == RELU:            # relu'(a) = [a > 0] = [h > 0]
            for j in range(d):
                out[j] = g[j] * (1 if y[j] > 0 else 0)
        elif act == LEAKY_RELU:    # 1 if a > 0 else slope; h > 0 exactly when a > 0
            for j in range(d):
                out[j] = g[j] * (1 if y[j] > 0 else slope)
        elif act == TANH:          # tanh'(a) = 1 - tanh(a)^2 = 1 - h^2
            for j in range(d):
                out[j] = g[j] * (1 - y[j] * y[j])
        elif act == SIGMOID:       # sigmoid'(a) = s (1 - s), s = h
            for j in range(d):
                out[j] = g[j] * y[j] * (1 - y[j])
        elif out != g:             # identity: da = dh
            for j in range(d):
                out[j] = g[j]
        if db != NULL:             # d(a)/db = 1: sum the rows while they are in cache
            for j in range(d):
                db[j] += out[j]


# ------------------------------------------------------------------------------ products
cdef void product(char ta, char tb, int M, int N, int K, const floating *A, int lda,
                  const floating *B, int ldb, floating beta, floating *C,
                  int ldc) noexcept nogil:
    """Row-major C (M, N) = op(A) op(B) + beta C, as gemm (ext/_blas.pxi) with alpha = 1.

    A product with a side of 1 is a plain loop here, because BLAS spends longer setting up
    such a product than computing it (docs/results.md, "Where a compiled GAN step's time
    goes"): over a single term (K = 1: the layer out of a 1-wide input, or the dx through a
    1-wide output) it is an outer product, C[i, j] = a_i b_j (+ beta C[i, j]); into one
    column or one row (N = 1: a layer into a 1-wide output, its weight gradient, the dx into
    a 1-wide input; M = 1: the weight gradient of a 1-wide input's layer) it is a
    matrix-vector product (`matvec`). Every other product is gemm.
    """
    cdef Py_ssize_t i, j
    cdef Py_ssize_t sa = lda if ta == c'N' else 1   # op(A)[i, 0] = A[i * sa]: a column of
    cdef Py_ssize_t sb = 1 if tb == c'N' else ldb   # (M, 1) or a row of (1, M); op(B)[0, j]
    cdef floating a                                 # = B[j * sb], likewise
    cdef floating *row
    if N == 1 and K != 1:     # C[i, 0] = sum_k op(A)[i, k] op(B)[k, 0]
        matvec(ta == c'N', M, K, A, lda, B, ldb if tb == c'N' else 1, beta, C, ldc)
        return
    if M == 1 and K != 1:     # C[0, j] = sum_k op(B)^T[j, k] op(A)^T[k, 0]: the same, for C^T
        matvec(tb == c'T', N, K, B, ldb, A, 1 if ta == c'N' else lda, beta, C, 1)
        return
    if K != 1:
        gemm(ta, tb, M, N, K, 1, A, lda, B, ldb, beta, C, ldc)
        return
    for i in range(M):
        a, row = A[i * sa], C + i * ldc
        if beta == 0:               # C is not read (it may hold anything), as in gemm
            for j in range(N):
                row[j] = a * B[j * sb]
        else:
            for j in range(N):
                row[j] = a * B[j * sb] + beta * row[j]


cdef void matvec(bint rows, int M, int K, const floating *A, int lda, const floating *x,
                 Py_ssize_t sx, floating beta, floating *y, Py_ssize_t sy) noexcept nogil:
    """y[i * sy] = sum_k op(A)[i, k] x[k * sx] + beta y[i * sy], i < M, k < K, where op(A)[i, k]
    is A[i * lda + k] when `rows` (A as stored, M x K) and A[k * lda + i] otherwise (A is
    K x M, transposed). Either way the inner loop runs along A's contiguous rows: a dot
    product per row of A, or a row of A scaled and added to y (y is then read once first:
    beta = 0 sets it to 0 without reading it, as gemm does)."""
    cdef Py_ssize_t i, k
    cdef floating total, xk
    cdef const floating *row
    if rows:
        for i in range(M):
            row, total = A + i * lda, 0
            for k in range(K):
                total = total + row[k] * x[k * sx]
            y[i * sy] = total if beta == 0 else total + beta * y[i * sy]
        return
    for i in range(M):
        y[i * sy] = 0 if beta == 0 else beta * y[i * sy]
    for k in range(K):
        row, xk = A + k * lda, x[k * sx]
        for i in range(M):
            y[i * sy] = y[i * sy] + row[i] * xk


# ---------------------------------------------------------------------- whole-net passes
cdef void forward_pass(Net *net, floating *out) noexcept nogil:
    """h_l = act_l(h_{l-1} @ W_l + b_l) for every layer; out (n, d_L) <- h_L."""
    cdef int l, n = net.n, d_in, d_out
    cdef floating *h
    for l in range(net.L):
        d_in, d_out = net.sizes[l], net.sizes[l + 1]
        h = <floating *>net.h[l + 1]
        # a = h_prev @ W: (n, d_in) x (d_in, d_out)
        product(c'N', c'N', n, d_out, d_in, <floating *>net.h[l], d_in,
                <floating *>net.W[l], d_out, 0, h, d_out)
        # h = act(a + b)
        bias_act(h, <floating *>net.b[l], n, d_out, net.act[l])
    # the caller gets its own copy: changing it must not change what backward reads
    memcpy(out, net.h[net.L], <size_t>n * net.sizes[net.L] * sizeof(floating))


cdef void backward_pass(Net *net, const floating *dout, floating *dx,
                        bint param_grads) noexcept nogil:
    """Backpropagate dout = dL/dh_L to dx = dL/dx (skipped when dx is NULL), accumulating
    dW_l += h_{l-1}^T @ da_l and db_l += colsum(da_l) when param_grads is true."""
    cdef int l, n = net.n, d_in, d_out
    cdef const floating *dh = dout
    cdef floating *da
    cdef floating *dh_prev
    cdef floating *db
    for l in reversed(range(net.L)):
        d_in, d_out = net.sizes[l], net.sizes[l + 1]
        # scratch ping-pong: da of this layer in one buffer, dh_prev (next layer's da) in the other
        da = <floating *>net.scratch[(net.L - 1 - l) % 2]
        dh_prev = <floating *>net.scratch[(net.L - l) % 2] if l > 0 else dx
        db = <floating *>net.db[l] if param_grads else NULL
        # da = dh * act'(a)  (and db += sum over rows of da)
        act_backward(da, dh, <floating *>net.h[l + 1], db, n, d_out, net.act[l])
        # dW += h_prev^T @ da: (d_in, n) x (n, d_out), beta = 1 accumulates
        if param_grads:
            product(c'T', c'N', d_in, d_out, n, <floating *>net.h[l], d_in, da, d_out,
                    1, <floating *>net.dW[l], d_out)
        # dh_prev = da @ W^T: (n, d_out) x (d_out, d_in)
        if dh_prev != NULL:
            product(c'N', c'T', n, d_in, d_out, da, d_out, <floating *>net.W[l], d_out,
                    0, dh_prev, d_in)
        dh = dh_prev


# ------------------------------------------------------------------------- Python wrapper
cdef Py_ssize_t check_array(object a, str name, int typenum, Py_ssize_t rows, Py_ssize_t cols,
                            bint writeable) except -1:
    """Raise ValueError unless `a` is an aligned, C-contiguous, native-order ndarray of
    dtype `typenum` and shape (rows, cols) ((cols,) when rows == 0; any rows when rows < 0).
    Returns its number of rows."""
    cdef cnp.ndarray arr
    cdef int ndim = 1 if rows == 0 else 2
    if not cnp.PyArray_Check(a):
        raise ValueError(f"{name} must be a numpy array, got {type(a).__name__}")
    arr = <cnp.ndarray>a
    if (cnp.PyArray_TYPE(arr) != typenum or not cnp.PyArray_ISBEHAVED_RO(arr)
            or not cnp.PyArray_IS_C_CONTIGUOUS(arr)):
        want = "float64" if typenum == cnp.NPY_FLOAT64 else "float32"
        raise ValueError(f"{name} must be an aligned, C-contiguous, native-order {want} "
                         f"array, got dtype {a.dtype}, C-contiguous={a.flags.c_contiguous}, "
                         f"aligned={a.flags.aligned}")
    if writeable and not cnp.PyArray_ISWRITEABLE(arr):
        raise ValueError(f"{name} must be writeable")
    if (cnp.PyArray_NDIM(arr) != ndim or cnp.PyArray_DIM(arr, ndim - 1) != cols
            or (rows > 0 and cnp.PyArray_DIM(arr, 0) != rows)):
        want = (cols,) if rows == 0 else (rows if rows > 0 else "n", cols)
        raise ValueError(f"{name} must have shape {want}, got {a.shape}")
    if ndim == 2 and not 0 < cnp.PyArray_DIM(arr, 0) <= INT_MAX:
        raise ValueError(f"{name} must have between 1 and {INT_MAX} rows, got {a.shape[0]}")
    return cnp.PyArray_DIM(arr, 0)


@cython.final
cdef class Dense:
    """The compiled passes of one MLP and the buffers they reuse (one Dense per MLP).

    Dense(sizes, activations, dtype): sizes [d_0, ..., d_L], activations: L names, dtype
    float32 or float64. params / grads are the MLP's lists [W_1, b_1, W_2, b_2, ...], read
    (and, for grads, accumulated into) in place. Not thread-safe: one call at a time.
    """
    cdef Net net
    cdef int typenum
    cdef Py_ssize_t itemsize, max_width, capacity
    cdef object buffer      # the ndarray behind net.h[1:] and net.scratch
    cdef tuple params       # the arrays behind net.W and net.b (as of the last forward)
    cdef object x           # the last forward's input, behind net.h[0]
    cdef bint busy
    cdef tuple args         # the constructor's arguments, for pickling and copying

    def __cinit__(self, sizes, activations, dtype):
        cdef int l, L = len(sizes) - 1
        if L < 1 or len(activations) != L:
            raise ValueError(f"need at least two sizes and one activation per layer, got "
                             f"{list(sizes)} and {list(activations)}")
        dt = np.dtype(dtype)
        if dt.num not in (cnp.NPY_FLOAT64, cnp.NPY_FLOAT32):
            raise ValueError(f"dtype must be float32 or float64, got {dt}")
        self.typenum, self.itemsize = dt.num, dt.itemsize
        self.net.L = L
        self.net.sizes = <int *>PyMem_Malloc((L + 1) * sizeof(int))
        self.net.act = <int *>PyMem_Malloc(L * sizeof(int))
        self.net.W = <void **>PyMem_Malloc((6 * L + 1) * sizeof(void *))
        if self.net.sizes == NULL or self.net.act == NULL or self.net.W == NULL:
            raise MemoryError()
        self.net.b, self.net.dW, self.net.db = self.net.W + L, self.net.W + 2 * L, self.net.W + 3 * L
        self.net.h = self.net.W + 4 * L  # L + 1 entries
        for l in range(L + 1):
            if not 0 < sizes[l] <= INT_MAX:
                raise ValueError(f"sizes must be positive ints, got {list(sizes)}")
            self.net.sizes[l] = sizes[l]
        for l in range(L):
            if activations[l] not in ACTIVATION_CODES:
                raise ValueError(f"unknown activation {activations[l]!r}; "
                                 f"choose from {sorted(ACTIVATION_CODES)}")
            self.net.act[l] = ACTIVATION_CODES[activations[l]]
        self.max_width = max(sizes[1:])
        self.args = (list(sizes), list(activations), dt.name)

    def __reduce__(self):
        """A copy is a fresh Dense for the same net: caches are not copied."""
        return (Dense, self.args)

    def __dealloc__(self):
        PyMem_Free(self.net.sizes)
        PyMem_Free(self.net.act)
        PyMem_Free(self.net.W)

    cdef tuple _bind(self, list arrays, void **first, void **second, str name, bint writeable):
        """Check arrays = [W_1, b_1, ...] (or their gradients) and point first[l] / second[l]
        at W_l / b_l. Returns them as a tuple, which keeps them alive while we hold it."""
        cdef int l, L = self.net.L
        if len(arrays) != 2 * L:
            raise ValueError(f"{name} must hold {2 * L} arrays, got {len(arrays)}")
        held = tuple(arrays)
        for l in range(L):
            check_array(held[2 * l], f"{name}[{2 * l}]", self.typenum,
                        self.net.sizes[l], self.net.sizes[l + 1], writeable)
            check_array(held[2 * l + 1], f"{name}[{2 * l + 1}]", self.typenum,
                        0, self.net.sizes[l + 1], writeable)
            first[l] = cnp.PyArray_DATA(<cnp.ndarray>held[2 * l])
            second[l] = cnp.PyArray_DATA(<cnp.ndarray>held[2 * l + 1])
        return held

    cdef void _layout(self, Py_ssize_t n) except *:
        """Point net.h[1:] and net.scratch into one buffer sized for n rows (grown if needed)."""
        cdef int l
        cdef cnp.npy_intp offset = 0, need = 2 * n * self.max_width
        cdef char *base
        for l in range(1, self.net.L + 1):
            need += n * self.net.sizes[l]
        if need > self.capacity:
            self.buffer = None  # let the old buffer go first (lower peak memory)
            self.capacity = 0
            self.buffer = cnp.PyArray_EMPTY(1, &need, self.typenum, 0)
            self.capacity = need
        base = <char *>cnp.PyArray_DATA(self.buffer)
        for l in range(1, self.net.L + 1):
            self.net.h[l] = base + offset * self.itemsize
            offset += n * self.net.sizes[l]
        self.net.scratch[0] = base + offset * self.itemsize
        self.net.scratch[1] = base + (offset + n * self.max_width) * self.itemsize

    cdef void _enter(self) except *:
        if self.busy:
            raise RuntimeError("this MLP is already running a pass (Dense is not thread-safe)")
        self.busy = True

    def forward(self, x, list params):
        """x: (n, d_0) -> out: (n, d_L), a new array; keeps x and every h_l for backward."""
        cdef cnp.npy_intp dims[2]
        cdef void *out_data
        cdef Py_ssize_t n = check_array(x, "x", self.typenum, -1, self.net.sizes[0], False)
        self._enter()
        try:
            self.net.n = 0  # the old caches are gone from here on
            self.params = self._bind(params, self.net.W, self.net.b, "params", False)
            self._layout(n)
            self.x = x
            self.net.h[0] = cnp.PyArray_DATA(<cnp.ndarray>x)
            self.net.n = <int>n
            dims[0], dims[1] = n, self.net.sizes[self.net.L]
            out = cnp.PyArray_EMPTY(2, dims, self.typenum, 0)
            out_data = cnp.PyArray_DATA(<cnp.ndarray>out)
            with nogil:
                if self.typenum == cnp.NPY_FLOAT64:
                    forward_pass(&self.net, <double *>out_data)
                else:
                    forward_pass(&self.net, <float *>out_data)
            return out
        finally:
            self.busy = False

    def backward(self, dout, list grads, bint need_input_grad=True):
        """dout: (n, d_L) -> dx: (n, d_0), or None when need_input_grad is false (which skips
        the first layer's dx gemm). Accumulates into grads = [dW_1, db_1, ...] (+=)."""
        return self._backward(dout, grads, need_input_grad, True)

    def backward_input(self, dout):
        """dout: (n, d_L) -> dx: (n, d_0) only: no parameter-gradient work at all."""
        return self._backward(dout, None, True, False)

    cdef object _backward(self, dout, list grads, bint need_input_grad, bint param_grads):
        cdef cnp.npy_intp dims[2]
        cdef void *dx_data = NULL
        cdef void *dout_data
        if self.net.n == 0:
            raise RuntimeError("call forward(x) before backward(dout)")
        check_array(dout, "dout", self.typenum, self.net.n, self.net.sizes[self.net.L], False)
        dout_data = cnp.PyArray_DATA(<cnp.ndarray>dout)
        self._enter()
        try:
            # the weights of the forward pass, checked again (their shapes could have changed)
            self._bind(list(self.params), self.net.W, self.net.b, "params", False)
            held = self._bind(grads, self.net.dW, self.net.db, "grads", True) if param_grads else None
            dx = None
            if need_input_grad:
                dims[0], dims[1] = self.net.n, self.net.sizes[0]
                dx = cnp.PyArray_EMPTY(2, dims, self.typenum, 0)
                dx_data = cnp.PyArray_DATA(<cnp.ndarray>dx)
            with nogil:
                if self.typenum == cnp.NPY_FLOAT64:
                    backward_pass(&self.net, <double *>dout_data, <double *>dx_data, param_grads)
                else:
                    backward_pass(&self.net, <float *>dout_data, <float *>dx_data, param_grads)
            return dx
        finally:
            self.busy = False
