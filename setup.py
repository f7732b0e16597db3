"""Build script: compiles every ext/*.pyx into a module under minigan/_ext/.

pyproject.toml carries the metadata; this file only describes the compiled
extensions, because their flags depend on the compiler found at build time.

Environment switches (read at build time):
  MINIGAN_NATIVE=1     add -march=native (fastest, not portable to other CPUs)
  MINIGAN_NO_OPENMP=1  build the serial loops even if the compiler has OpenMP
  MINIGAN_ONLY_EXT=a,b build only ext/a.pyx, ext/b.pyx (for working on one module)
  MINIGAN_REQUIRE_EXT=1 a module that fails to compile fails the install (otherwise it is
                       skipped with a warning, and minigan falls back to NumPy)
"""
import os
import sys
import tempfile
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).parent


def _compiler_accepts(compiler, flags):
    """True when `compiler` compiles and links a tiny C file with `flags`."""
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "probe.c"
        src.write_text("#include <omp.h>\nint main(void){return omp_get_max_threads() < 1;}\n")
        try:
            objs = compiler.compile([str(src)], output_dir=tmp, extra_postargs=flags)
            compiler.link_executable(objs, str(Path(tmp) / "probe"), extra_postargs=flags)
        except Exception:
            return False
    return True


class BuildExt(build_ext):
    """build_ext that adds optimisation flags, and OpenMP where the compiler has it."""

    def build_extensions(self):
        unix = self.compiler.compiler_type == "unix"
        compile_flags = ["-O3", "-ffast-math"] if unix else ["/O2"]
        # -ffast-math is a *compile* flag only: as a link flag it would switch the whole
        # Python process to flush-denormals-to-zero when the module is imported.
        if unix and os.environ.get("MINIGAN_NATIVE") == "1":
            compile_flags.append("-march=native")
        openmp = []
        if os.environ.get("MINIGAN_NO_OPENMP") != "1":
            flag = ["-fopenmp"] if unix else ["/openmp"]
            if _compiler_accepts(self.compiler, flag):
                openmp = flag
        # Without a working C compiler the install still succeeds (optional extensions) and
        # minigan runs on its NumPy backend; MINIGAN_REQUIRE_EXT=1 (as in CI) makes it an error.
        optional = os.environ.get("MINIGAN_REQUIRE_EXT") != "1"
        for ext in self.extensions:
            ext.optional = optional
            # a module's own flags (a `# distutils: extra_compile_args=...` line at the top of
            # its .pyx) come last, so they can override these
            ext.extra_compile_args = compile_flags + openmp + list(ext.extra_compile_args)
            ext.extra_link_args = openmp  # -fopenmp must reach the linker too
            if unix:
                ext.libraries = list(ext.libraries) + ["m"]  # glibc's vectorised exp lives in libm
            ext.define_macros = list(ext.define_macros) + [
                ("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION"),
                ("MINIGAN_OPENMP", "1" if openmp else "0"),
            ]
        super().build_extensions()


def extensions():
    """One Extension per ext/<name>.pyx, named minigan._ext.<name>."""
    sources = sorted((HERE / "ext").glob("*.pyx"))
    only = os.environ.get("MINIGAN_ONLY_EXT")
    if only:
        sources = [s for s in sources if s.stem in only.split(",")]
    if not sources:
        return []
    import numpy
    from Cython.Build import cythonize

    exts = [
        Extension(f"minigan._ext.{src.stem}", [str(src.relative_to(HERE))],
                  include_dirs=[numpy.get_include()])
        for src in sources
    ]
    return cythonize(exts, language_level=3,
                     compiler_directives={"boundscheck": False, "wraparound": False,
                                          "cdivision": True, "initializedcheck": False})


setup(
    packages=["minigan", "minigan._ext", "minigan.demos"],
    # The top-level demos/ folder is installed as minigan.demos, so that
    # `minigan demo ...` works from any install and the scripts stay readable at the top.
    package_dir={"minigan.demos": "demos"},
    ext_modules=extensions(),
    cmdclass={"build_ext": BuildExt},
)
