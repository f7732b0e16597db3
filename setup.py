"""Build script: compiles every ext/*.pyx into a module under minigan/_ext/.

pyproject.toml carries the metadata; this file only describes the compiled
extensions, because their flags depend on the compiler found at build time.

Environment switches (read at build time):
  MINIGAN_NATIVE=1     add -march=native to every module (not portable to other CPUs, and
                       not needed for speed: see the per-instruction-set kernels below)
  MINIGAN_NO_OPENMP=1  build the serial loops even if the compiler has OpenMP
  MINIGAN_ONLY_EXT=a,b build only ext/a.pyx, ext/b.pyx and their per-instruction-set twins
                       ext/a_*.pyx (for working on one module)
  MINIGAN_REQUIRE_EXT=1 a module that fails to compile fails the install (otherwise it is
                       skipped with a warning, and minigan falls back to NumPy)

Build time: the modules are translated (Cython) and compiled (C) in parallel, one job per CPU.
Every compiled module is also kept in build/minigan-cache/, keyed on a hash of its .pyx and
the .pxi/.pxd files beside it, its flags, the compiler, the Python ABI and the Cython, NumPy
and SciPy versions; a later build with the same key copies it instead of translating and
compiling (so a second `pip install -e ".[extra]"`, or a reinstall after a change to Python
files only, skips the compiler; --force rebuilds). `rm -rf build` empties the cache.

Runtime CPU dispatch: a module named ext/<name>_<isa>.pyx (mmd_avx2, mmd_avx512) is the same
kernel compiled with the flags of ISA_FLAGS[<isa>]. It is built only when the compiler
targets x86 and accepts those flags, and minigan._ext.<name> imports it at run time only on a
CPU that has the instructions (so a wheel built here runs on any x86-64). Elsewhere (ARM, or
MSVC) only the portable modules are built.
"""
import hashlib
import os
import shutil
import sys
import sysconfig
import tempfile
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).parent
CACHE = HERE / "build" / "minigan-cache"
JOBS = os.cpu_count() or 1


# The flags of each per-instruction-set module ext/<name>_<isa>.pyx (the x86-64 psABI levels
# v3 and v4, minus what the kernels do not use). -ffp-contract=off: no fused multiply-adds in
# our own loops (glibc's vector exp still uses them inside), so a loop rounds the same way
# whichever branch the compiler vectorised it in: asking for dY too leaves dX to the bit.
ISA_FLAGS = {
    "avx2": ["-mavx2", "-mfma", "-ffp-contract=off"],
    "avx512": ["-mavx512f", "-mavx512dq", "-mavx512vl", "-mavx512bw", "-mavx2", "-mfma",
               "-ffp-contract=off"],
}
OPENMP_PROBE = "#include <omp.h>\nint main(void){return omp_get_max_threads() < 1;}\n"
X86_PROBE = ("#if !(defined(__x86_64__) || defined(__i386__))\n#error not x86\n#endif\n"
             "#include <immintrin.h>\nint main(void){return 0;}\n")
C_PROBE = "int main(void){return 0;}\n"
CYTHON_OPTIONS = dict(language_level=3, compiler_directives={
    "boundscheck": False, "wraparound": False, "cdivision": True, "initializedcheck": False})


def _compiler_accepts(compiler, flags, source):
    """True when `compiler` compiles and links the C program `source` with `flags`."""
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "probe.c"
        src.write_text(source)
        try:
            objs = compiler.compile([str(src)], output_dir=tmp, extra_postargs=flags)
            compiler.link_executable(objs, str(Path(tmp) / "probe"), extra_postargs=flags)
        except Exception:
            return False
    return True


class BuildExt(build_ext):
    """build_ext that adds optimisation flags and OpenMP where the compiler has it, compiles
    the modules in parallel, and reuses a module from CACHE when nothing it is built from has
    changed."""

    def finalize_options(self):
        super().finalize_options()
        if not self.parallel:  # `-j N` on the command line wins
            self.parallel = JOBS

    def build_extensions(self):
        unix = self.compiler.compiler_type == "unix"
        compile_flags = ["-O3", "-ffast-math"] if unix else ["/O2"]
        # -ffast-math is a *compile* flag only: as a link flag it would switch the whole
        # Python process to flush-denormals-to-zero when the module is imported.
        # clang vectorises exp through glibc's libmvec only when told to; but (clang 14) it may
        # then call the AVX2 variant from a baseline build, which would crash a CPU without
        # AVX2. So the flag goes to the per-instruction-set modules only (gcc knows neither
        # the flag nor the problem: it picks the variant of the target).
        veclib = ["-fveclib=libmvec"] if unix and _compiler_accepts(
            self.compiler, ["-fveclib=libmvec"], C_PROBE) else []
        if unix and os.environ.get("MINIGAN_NATIVE") == "1":
            compile_flags.append("-march=native")
        openmp = []
        if os.environ.get("MINIGAN_NO_OPENMP") != "1":
            flag = ["-fopenmp"] if unix else ["/openmp"]
            if _compiler_accepts(self.compiler, flag, OPENMP_PROBE):
                openmp = flag
        # Without a working C compiler the install still succeeds (optional extensions) and
        # minigan runs on its NumPy backend; MINIGAN_REQUIRE_EXT=1 (as in CI) makes it an error.
        optional = os.environ.get("MINIGAN_REQUIRE_EXT") != "1"
        reused, to_build = [], {}  # to_build: name -> (its flags, its place in the cache)
        for ext in self.extensions:
            stem = ext.name.rsplit(".", 1)[-1]  # "mmd_avx2" -> its instruction set "avx2"
            isa_flags = ISA_FLAGS.get(stem.split("_", 1)[-1], []) if "_" in stem else []
            if isa_flags and not (unix and _compiler_accepts(self.compiler, isa_flags,
                                                              X86_PROBE)):
                print(f"minigan: not building {ext.name} (the compiler does not target x86 "
                      f"with {' '.join(isa_flags)}); the portable kernel will run")
                continue
            flags = compile_flags + isa_flags + (veclib if isa_flags else []) + openmp
            target = Path(self.get_ext_fullpath(ext.name))
            cached = CACHE / f"{ext.name}-{self.cache_key(ext, flags)}{target.suffix}"
            if cached.exists() and not self.force:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(cached, target)
                print(f"minigan: {ext.name} unchanged since its last build, reused from "
                      f"{cached.relative_to(HERE)}")
                reused.append(ext)
            else:
                to_build[ext.name] = (flags, cached)
        from Cython.Build import cythonize

        built = [ext for ext in self.extensions if ext.name in to_build]
        translated = {c_ext.name: c_ext for c_ext in cythonize(
            built, force=self.force, nthreads=JOBS, **CYTHON_OPTIONS)} if built else {}
        for ext in built:
            c_ext = translated[ext.name]
            # the C sources, and the settings of the .pyx's `# distutils:` lines; the object
            # itself stays, with what setuptools has noted on it
            vars(ext).update({k: v for k, v in vars(c_ext).items() if not k.startswith("_")})
            ext.optional = optional
            # a module's own flags (a `# distutils: extra_compile_args=...` line at the top of
            # its .pyx, which cythonize has put here) come last, so they can override these
            ext.extra_compile_args = to_build[ext.name][0] + list(ext.extra_compile_args)
            ext.extra_link_args = openmp  # -fopenmp must reach the linker too
            if unix:
                ext.libraries = list(ext.libraries) + ["m"]  # glibc's vectorised exp lives in libm
            ext.define_macros = list(ext.define_macros) + [
                ("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")]
        self.extensions = built
        super().build_extensions()  # compiles in parallel: self.parallel jobs
        for ext in built:
            target, cached = Path(self.get_ext_fullpath(ext.name)), to_build[ext.name][1]
            if target.exists():  # an optional module that failed to compile has none
                try:
                    CACHE.mkdir(parents=True, exist_ok=True)
                    for old in CACHE.glob(f"{ext.name}-*"):  # keep each module's newest build
                        old.unlink()
                    partial = cached.with_name(f"{cached.name}.{os.getpid()}.tmp")
                    shutil.copyfile(target, partial)
                    os.replace(partial, cached)  # a build stopped half-way leaves no bad entry
                except OSError as e:  # a cache that cannot be written costs the next build only
                    print(f"minigan: not caching {ext.name} ({e})")
        # all of them, so that `--inplace` and editable installs copy every one into the tree
        self.extensions = reused + built

    def cache_key(self, ext, flags):
        """A hash of everything a compiled module is made from: its .pyx and the .pxi/.pxd
        files beside it, Cython's options, our flags, the compiler, the Python ABI and the
        versions of Cython, NumPy and SciPy (whose headers and .pxd files it includes)."""
        import Cython
        import numpy
        import scipy
        h = hashlib.sha256()
        shared = sorted((HERE / "ext").glob("*.pxi")) + sorted((HERE / "ext").glob("*.pxd"))
        for source in [*(HERE / s for s in ext.sources), *shared]:
            h.update(source.read_bytes())
        for part in (flags, CYTHON_OPTIONS, self.compiler.compiler_type,
                     getattr(self.compiler, "compiler_so", None),
                     getattr(self.compiler, "linker_so", None), sys.version,
                     sysconfig.get_config_var("EXT_SUFFIX"), Cython.__version__,
                     numpy.__version__, scipy.__version__):
            h.update(repr(part).encode())
        return h.hexdigest()[:20]


def extensions():
    """One Extension per ext/<name>.pyx, named minigan._ext.<name>."""
    sources = sorted((HERE / "ext").glob("*.pyx"))
    only = os.environ.get("MINIGAN_ONLY_EXT")
    if only:
        sources = [s for s in sources if s.stem.split("_")[0] in only.split(",")]
    if not sources:
        return []
    import numpy

    # translated to C by BuildExt, and only the modules it cannot take from the cache
    return [Extension(f"minigan._ext.{src.stem}", [str(src.relative_to(HERE))],
                      include_dirs=[numpy.get_include()])
            for src in sources]


setup(
    # minigan.exercises.skeletons: the files `minigan exercise start` copies out, and
    # minigan.lab.static: the lab's page (both data folders, no __init__.py)
    packages=["minigan", "minigan._ext", "minigan.demos", "minigan.exercises",
              "minigan.exercises.skeletons", "minigan.lab", "minigan.lab.static"],
    # The top-level demos/ folder is installed as minigan.demos, so that
    # `minigan demo ...` works from any install and the scripts stay readable at the top.
    package_dir={"minigan.demos": "demos"},
    ext_modules=extensions(),
    cmdclass={"build_ext": BuildExt},
)
