# cython: language_level=3
"""The kernel of ext/mmd.pyx built for AVX-512 (F, DQ, VL, BW) + AVX2 + FMA (setup.py: ISA_FLAGS["avx512"]). minigan._ext.mmd
imports it only on a CPU that has them: see "runtime CPU dispatch" in ext/mmd.pyx."""
include "_maths.pxi"
include "_blas.pxi"
include "_mmd_kernel.pxi"
