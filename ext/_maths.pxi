# The small maths helpers every ext/*.pyx shares (included with `include "_maths.pxi"`).
#
# `floating` is Cython's fused type (float or double): a function taking `floating` is
# compiled twice, once per precision, and `if floating is double:` picks the branch at
# compile time. These helpers call the libm function of the argument's precision, so a
# float32 array gets float32 arithmetic (expf, not exp on a promoted double). Under
# -ffast-math gcc turns loops of these calls into calls to glibc's vector versions
# (libmvec: _ZGVbN2v_exp for SSE2, _ZGVdN4v_exp for AVX2, _ZGVeN8v_exp for AVX-512).
from cython cimport floating
from libc.math cimport exp, expf, log1p, log1pf, sqrt, sqrtf, tanh, tanhf


cdef inline floating exp_(floating x) noexcept nogil:
    """exp in the precision of x."""
    if floating is double:
        return exp(x)
    else:
        return expf(x)


cdef inline floating log1p_(floating x) noexcept nogil:
    """log(1 + x) in the precision of x."""
    if floating is double:
        return log1p(x)
    else:
        return log1pf(x)


cdef inline floating tanh_(floating x) noexcept nogil:
    """tanh in the precision of x."""
    if floating is double:
        return tanh(x)
    else:
        return tanhf(x)


cdef inline floating sqrt_(floating x) noexcept nogil:
    """sqrt in the precision of x."""
    if floating is double:
        return sqrt(x)
    else:
        return sqrtf(x)
