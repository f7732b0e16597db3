"""minigan's GAN step beside the same step in JAX (jit) and PyTorch (eager), one thread each.

The peers are not minigan's dependencies; install them beside it in an environment of their
own, from the repository root:

    python3 -m venv ../peers
    ../peers/bin/pip install jax jaxlib torch numpy     (a CPU build of torch is enough)
    ../peers/bin/pip install -e .
    ../peers/bin/python docs/gan_step_peers.py [--rounds R] [--steps S]

The step is the one `minigan.GAN(d, hidden=h)` runs by default: G an MLP d-h-h-d with ReLU
and a linear output, D an MLP d-h-h-1 with leaky ReLU (slope 0.2) ending in one logit, noise
uniform on [-1, 1]^d, batch b = 256, one update of D then one of G, each by Adam (lr 2e-4,
betas (0.5, 0.999), eps 1e-8):

    z ~ U;  X = G(z) (G frozen);  s = D([real; X]);  L_D = mean softplus(s) - t s  (t: 1, 0)
    z ~ U;  s = D(G(z)) (D frozen);  L_G = mean softplus(-s)          (non-saturating)

Every library starts from minigan's initial weights, draws its own noise, gets a fresh real
batch each step from the same sampler (minigan.data, drawn in NumPy; its time counts for
all), standardises it as minigan does, and reads both losses back every step (minigan keeps
them in its history). JAX runs the whole step as one jitted function; PyTorch as a user
writes it (torch.optim.Adam, D's parameters frozen for G's update). minigan's step also
runs its divergence guard, which the peers do not have.

Threads: XLA is told to use one thread (XLA_FLAGS, set below before jax is imported), torch
by torch.set_num_threads(1), minigan by its own policy (one BLAS thread in a step). The
"cpu / wall" column is the process's CPU time over the wall time of its runs: about 1 when
one core did the work, less when the process waited for a core, more when the library ran
part of the work on a second thread (JAX's runtime does, beside Python's). "cpu ms a step" is
that CPU time a step: on a machine shared with other programs it moves less than the wall
time.

For each case (2-D: G and D 2-128-128 on ring-8; 1-D: the demo's 1-32-32-1 on N(3, 0.5^2))
and dtype (float32, float64) every library runs S steps in turn, round after round; the table
gives the median time a step and its spread (min-max) over the rounds, and the median of the
round-by-round ratios to minigan's compiled step. The figures are in docs/results.md, "Where
a compiled GAN step's time goes".

Left out: more than one thread, GPUs, and compile time (JAX compiles its step during the
warm-up, which is not timed).
"""
import os

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false "
                                   "intra_op_parallelism_threads=1")
import argparse                      # noqa: E402  (XLA reads its flags when jax is imported)
import statistics                    # noqa: E402
import time                          # noqa: E402

import jax                           # noqa: E402
import jax.numpy as jnp              # noqa: E402
import numpy as np                   # noqa: E402
import torch                         # noqa: E402

from minigan import GAN, data        # noqa: E402

jax.config.update("jax_enable_x64", True)   # float64 when asked; every array says its dtype
torch.set_num_threads(1)
torch.set_num_interop_threads(1)

CASES = {"2-D (2-128-128)": (2, (128, 128), data.ring),
         "1-D demo (1-32-32-1)": (1, (32, 32), lambda: data.gaussian_1d(3, 0.5))}
DTYPES = (np.float32, np.float64)
BATCH, LR, BETAS, EPS, SLOPE = 256, 2e-4, (0.5, 0.999), 1e-8, 0.2


def minigan_runner(d, hidden, target, dtype, backend):
    """steps -> None: `steps` steps of minigan's own fit()."""
    gan = GAN(d, hidden=hidden, seed=0, dtype=dtype, backend=backend)
    return lambda steps: gan.fit(target, steps=steps, batch_size=BATCH, progress=False)


def reference(d, hidden, target, dtype):
    """minigan's initial weights [W1, b1, ...] of G and D, its standardisation and sampler."""
    gan = GAN(d, hidden=hidden, seed=0, dtype=dtype, backend="numpy")
    gan.fit(target, steps=1, batch_size=BATCH, progress=False)   # fixes shift and scale
    fresh = GAN(d, hidden=hidden, seed=0, dtype=dtype, backend="numpy")
    rng = np.random.default_rng(1)
    return (fresh.generator.params, fresh.discriminator.params, gan.data_shift,
            float(gan.data_scale), lambda: target.sample(BATCH, seed=rng).astype(dtype))


# ---------------------------------------------------------------------------------- JAX
def jax_mlp(params, x, act):
    """x -> act(x W1 + b1) ... -> x WL + bL (a linear last layer)."""
    for W, b in zip(params[:-2:2], params[1:-2:2]):
        x = act(x @ W + b)
    return x @ params[-2] + params[-1]


def jax_adam(params, grads, m, v, t):
    """One Adam update of the lists params, m, v (t: the step number, from 1)."""
    b1, b2 = BETAS
    m = [b1 * mi + (1 - b1) * g for mi, g in zip(m, grads)]
    v = [b2 * vi + (1 - b2) * g * g for vi, g in zip(v, grads)]
    params = [p - LR * (mi / (1 - b1 ** t)) / (jnp.sqrt(vi / (1 - b2 ** t)) + EPS)
              for p, mi, vi in zip(params, m, v)]
    return params, m, v


def jax_runner(d, hidden, target, dtype):
    g0, d0, shift, scale, draw = reference(d, hidden, target, dtype)
    relu, leaky = jax.nn.relu, lambda a: jnp.where(a > 0, a, SLOPE * a)
    labels = jnp.concatenate([jnp.ones((BATCH, 1), dtype), jnp.zeros((BATCH, 1), dtype)])

    @jax.jit
    def step(state, real, t, key):
        G, D, mG, vG, mD, vD = state
        k1, k2 = jax.random.split(jax.random.fold_in(key, t))
        t = t.astype(dtype)                         # the bias corrections in the step's dtype
        real = (real - shift) / scale
        fake = jax_mlp(G, jax.random.uniform(k1, (BATCH, d), dtype, -1, 1), relu)

        def d_loss(D):
            s = jax_mlp(D, jnp.concatenate([real, fake]), leaky)
            return jnp.mean(jax.nn.softplus(s) - labels * s)

        def g_loss(G):
            z = jax.random.uniform(k2, (BATCH, d), dtype, -1, 1)
            return jnp.mean(jax.nn.softplus(-jax_mlp(D, jax_mlp(G, z, relu), leaky)))

        ld, dD = jax.value_and_grad(d_loss)(D)
        D, mD, vD = jax_adam(D, dD, mD, vD, t)
        lg, dG = jax.value_and_grad(g_loss)(G)      # gradients for G only: D stays as it is
        G, mG, vG = jax_adam(G, dG, mG, vG, t)
        return (G, D, mG, vG, mD, vD), ld, lg

    zeros = lambda ps: [jnp.zeros_like(p) for p in ps]
    G, D = [jnp.asarray(p) for p in g0], [jnp.asarray(p) for p in d0]
    box = {"state": (G, D, zeros(G), zeros(G), zeros(D), zeros(D)), "t": 0}
    key = jax.random.key(0)

    def run(steps):
        for _ in range(steps):
            box["t"] += 1
            box["state"], ld, lg = step(box["state"], draw(), box["t"], key)
            float(ld), float(lg)                    # the losses back, every step
    return run


# ------------------------------------------------------------------------------ PyTorch
def torch_mlp(params, act, dtype):
    """An nn.Sequential holding minigan's weights (nn.Linear keeps W transposed)."""
    layers = []
    for W, b in zip(params[::2], params[1::2]):
        linear = torch.nn.Linear(*W.shape, dtype=dtype)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(W.T.copy()))
            linear.bias.copy_(torch.from_numpy(b))
        layers += [linear, act()]
    return torch.nn.Sequential(*layers[:-1])


def torch_runner(d, hidden, target, dtype):
    g0, d0, shift, scale, draw = reference(d, hidden, target, dtype)
    tdtype = {np.float32: torch.float32, np.float64: torch.float64}[dtype]
    G = torch_mlp(g0, torch.nn.ReLU, tdtype)
    D = torch_mlp(d0, lambda: torch.nn.LeakyReLU(SLOPE), tdtype)
    opt_G = torch.optim.Adam(G.parameters(), lr=LR, betas=BETAS, eps=EPS)
    opt_D = torch.optim.Adam(D.parameters(), lr=LR, betas=BETAS, eps=EPS)
    labels = torch.cat([torch.ones(BATCH, 1, dtype=tdtype), torch.zeros(BATCH, 1, dtype=tdtype)])
    shift = torch.from_numpy(shift)
    noise = lambda: torch.rand(BATCH, d, dtype=tdtype) * 2 - 1

    def run(steps):
        for _ in range(steps):
            real = (torch.from_numpy(draw()) - shift) / scale
            with torch.no_grad():
                fake = G(noise())                                   # G frozen
            ld = torch.nn.functional.binary_cross_entropy_with_logits(
                D(torch.cat([real, fake])), labels)
            opt_D.zero_grad()
            ld.backward()
            opt_D.step()
            D.requires_grad_(False)                                 # D frozen for G's update
            lg = torch.nn.functional.softplus(-D(G(noise()))).mean()
            opt_G.zero_grad()
            lg.backward()
            opt_G.step()
            D.requires_grad_(True)
            ld.item(), lg.item()                                    # the losses back
    return run


LIBRARIES = {"minigan compiled": lambda *a: minigan_runner(*a, backend="cython"),
             "minigan NumPy": lambda *a: minigan_runner(*a, backend="numpy"),
             "JAX jit": jax_runner,
             "PyTorch eager": torch_runner}


def spread(values, digits=3):
    return (f"{statistics.median(values):.{digits}f} "
            f"({min(values):.{digits}f}-{max(values):.{digits}f})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    load = [os.getloadavg()[0]]
    runs = {}       # (case, dtype, library) -> (run, [ms a step], [cpu ms a step])
    for case, (d, hidden, make_target) in CASES.items():
        for dtype in DTYPES:
            for lib, runner in LIBRARIES.items():
                run = runner(d, hidden, make_target(), dtype)
                run(30)                                             # warm-up (and JIT)
                runs[case, dtype, lib] = run, [], []
    for _ in range(args.rounds):
        for run, ms, cpu in runs.values():
            wall, proc = time.perf_counter(), time.process_time()
            run(args.steps)
            wall, proc = time.perf_counter() - wall, time.process_time() - proc
            ms.append(wall / args.steps * 1e3)
            cpu.append(proc / args.steps * 1e3)
        load.append(os.getloadavg()[0])
    print(f"{args.rounds} rounds of {args.steps} steps; jax {jax.__version__}, torch "
          f"{torch.__version__}, numpy {np.__version__}; load average (1 min) "
          f"{min(load):.2f}-{max(load):.2f}\n")
    print("| nets | dtype | library | ms a step | / minigan compiled | cpu ms a step | "
          "cpu / wall |")
    print("|---|---|---|---|---|---|---|")
    for (case, dtype, lib), (_, ms, cpu) in runs.items():
        ours = runs[case, dtype, "minigan compiled"][1]
        ratio = spread([m / o for m, o in zip(ms, ours)], 2)
        print(f"| {case} | {np.dtype(dtype).name} | {lib} | {spread(ms)} | {ratio} | "
              f"{spread(cpu)} | {sum(cpu) / sum(ms):.2f} |")


if __name__ == "__main__":
    main()
