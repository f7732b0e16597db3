# Matrix products on row-major (C-ordered) arrays through BLAS: the one gemm every ext/*.pyx
# calls (included with `include "_blas.pxi"`; needs _maths.pxi for `floating`).
#
# BLAS (here scipy's, scipy.linalg.cython_blas) is Fortran: column-major. A C-contiguous
# (rows, cols) array is, byte for byte, the column-major (cols, rows) array of its transpose.
# So for the row-major product C = op(A) op(B) we ask BLAS for the column-major product
#     C^T = op(B)^T op(A)^T
# by handing it B first and A second with M and N swapped; the 'N'/'T' flags stay with their
# operands, and each leading dimension is the row length of the array as stored. Callers
# then write the product they mean, in the shapes they see (as scikit-learn's _cython_blas
# does with its RowMajor order). Example, a layer's forward a = h @ W, h: (n, d_in),
# W: (d_in, d_out):
#     gemm(b'N', b'N', n, d_out, d_in, 1, h, d_in, W, d_out, 0, a, d_out)
# which becomes dgemm('N', 'N', d_out, n, d_in, 1, W, d_out, h, d_in, 0, a, d_out): the
# column-major (d_out, n) result a^T = W^T h^T, i.e. the row-major (n, d_out) array a.
from scipy.linalg.cython_blas cimport dgemm, sgemm


cdef inline void gemm(char ta, char tb, int M, int N, int K, floating alpha,
                      const floating* A, int lda, const floating* B, int ldb,
                      floating beta, floating* C, int ldc) noexcept nogil:
    """Row-major C (M, N) = alpha op(A) op(B) + beta C, op(A): (M, K), op(B): (K, N).

    op(X) is X when its flag is 'N' and X^T when it is 'T'; lda, ldb, ldc are the row
    lengths of A, B, C as stored (A stored (M, K) for 'N', (K, M) for 'T').
    """
    # BLAS never writes A or B; its Fortran-style prototypes just lack the const.
    if floating is double:
        dgemm(&tb, &ta, &N, &M, &K, &alpha, <double*>B, &ldb, <double*>A, &lda,
              &beta, C, &ldc)
    else:
        sgemm(&tb, &ta, &N, &M, &K, &alpha, <float*>B, &ldb, <float*>A, &lda,
              &beta, C, &ldc)
