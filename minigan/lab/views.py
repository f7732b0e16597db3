"""What the lab's views show, each computed by the library and returned as plain lists.

Every function here takes a trainer (GMN, GAN or MMDGAN) and data-space arrays, calls the
library, and returns JSON-ready numbers; the page only draws them. The place each number
comes from is named in SOURCES (shown under the view, with a link to the guide).

    heat       the critic's view over the plane (or the line, in 1-D): the GMN's witness of
               its fixed kernel (mmd.gaussian_witness_grid), the MMD-GAN's witness on the learned kernel
               (MMDGAN.witness), the GAN's D(x) (GAN.discriminate)
    arrows     the generator's step direction -dL/dx at generated points and, for the GMN and
               the MMD-GAN, its two parts (mmd.mmd2_grad_parts): X-X repulsion, X-Y attraction
    gen_map    the generator's map: G of a grid of noise lines (2-D), or G(z) beside the inverse
               CDF (1-D)

Coordinates. The trainers work on standardised data x_model = (x - shift) / scale (see
minigan.trainer). A GMN's bandwidths live in that space; in data space the same kernel has
bandwidths sigma * scale, and its gradient is the model-space one divided by scale. The
MMD-GAN's and the GAN's networks are called in model space, as their own step() calls them.

Deliberately left out: anything drawn (colours, arrow lengths): that is the page's job.
"""
import numpy as np

from .. import mmd, protocol
from ..gan import GAN
from ..gmn import GMN
from ..losses import GENERATOR_LOSSES

GUIDE = {  # view -> the section of docs/guide.md that derives it
    "witness": "31-mmd-the-distance-between-two-mean-embeddings",
    "gradient": "32-the-mmd-gradient-step-by-step",
    "gan": "35-the-gan-optimal-discriminator",
    "mmdgan": "310-the-mmd-gan-two-players-two-gradients",
    "inverse_cdf": "37-from-uniform-noise-to-any-1-d-distribution-the-inverse-cdf",
    "reading": "2-reading-order",
}


def sources(trainer):
    """view -> (function and file that computed it, guide anchor), for this trainer."""
    if isinstance(trainer, GMN):
        heat = ("minigan/mmd.py · gaussian_witness_grid (the GMN's fixed kernel)",
                GUIDE["witness"])
        arrows = ("minigan/mmd.py · mmd2_grad_parts (= mmd2_and_grad's dX)", GUIDE["gradient"])
        curves = ("minigan/gmn.py · GMN.step (history['loss'])", GUIDE["gradient"])
    elif isinstance(trainer, GAN):
        heat = ("minigan/gan.py · GAN.discriminate", GUIDE["gan"])
        arrows = ("minigan/losses.py · GENERATOR_LOSSES, back through D (minigan/mlp.py)",
                  GUIDE["gan"])
        curves = ("minigan/gan.py · GAN.step (history)", GUIDE["gan"])
    else:
        heat = ("minigan/mmdgan.py · MMDGAN.witness (learned kernel)", GUIDE["mmdgan"])
        arrows = ("minigan/mmd.py · mmd2_grad_parts, features back through the critic",
                  GUIDE["mmdgan"])
        curves = ("minigan/mmdgan.py · MMDGAN.step (history)", GUIDE["mmdgan"])
    return {"samples": ("minigan/trainer.py · Trainer.sample", GUIDE["reading"]),
            "heat": heat, "arrows": arrows,
            "map": ("minigan/trainer.py · Trainer.transform", GUIDE["inverse_cdf"]),
            "curves": curves,
            "mmd2": ("minigan/mmd.py · mmd2 (to a held-out real sample)", GUIDE["witness"]),
            "modes": ("minigan/protocol.py · evaluate", GUIDE["reading"])}


def rounded(a, digits=4):
    """An array as nested lists of floats rounded to `digits` (a smaller JSON); NaN and inf,
    which JSON cannot carry (a generator blown far out), become None (null)."""
    a = np.round(np.asarray(a, dtype=np.float64), digits)
    return a.tolist() if np.all(np.isfinite(a)) else np.where(np.isfinite(a), a, None).tolist()


def plane_axes(box, n):
    """The grid's coordinates over box = (x0, x1, y0, y1): xs left to right, ys from the top
    (y1) down, as an image is stored: (n,), (n,)."""
    x0, x1, y0, y1 = box
    return np.linspace(x0, x1, n), np.linspace(y1, y0, n)


def plane_points(box, n):
    """The n x n grid of plane_axes(box, n) as points, row-major: (n * n, 2)."""
    gx, gy = np.meshgrid(*plane_axes(box, n))
    return np.stack([gx.ravel(), gy.ravel()], axis=1)


def data_sigmas(gmn):
    """A GMN's bandwidths in data space (its kernel works on standardised data)."""
    return [s * gmn.data_scale for s in gmn.sigmas]


def heat(trainer, points, real, fake):
    """The critic's value at points: (p, d) -> (p,) (see the module docstring)."""
    if isinstance(trainer, GAN):
        return trainer.discriminate(points)
    if isinstance(trainer, GMN):
        kernel = lambda A, B: mmd.gaussian_kernel(A, B, data_sigmas(trainer))  # noqa: E731
        return mmd.witness(kernel, points, real, fake)
    return trainer.witness(points, real, fake)


def heat_plane(trainer, box, n, real, fake):
    """heat() on the n x n grid of plane_points(box, n): (n * n,). The GMN's Gaussian witness
    factorises over the two coordinates (mmd.gaussian_witness_grid): the same numbers from
    2n rather than n * n exponentials per sample point and bandwidth."""
    if not isinstance(trainer, GMN):
        return heat(trainer, plane_points(box, n), real, fake)
    return mmd.gaussian_witness_grid(*plane_axes(box, n), real, fake,
                                     data_sigmas(trainer)).ravel()


def arrows(trainer, fake, real):
    """Gradients of the generator's loss at the generated points fake: (n, d), in data space.

    Returns {"total": (n, d)} and, for the GMN and the MMD-GAN, "repulsion" and "attraction"
    too (total = repulsion + attraction). The page draws minus them (the step direction).
    """
    scale = trainer.data_scale
    if isinstance(trainer, GMN):   # the MMD^2 gradient in data space: bandwidths sigma * scale
        rep, att = mmd.mmd2_grad_parts(fake, real, data_sigmas(trainer), trainer.estimator,
                                       backend=trainer.backend)
        return {"total": rep + att, "repulsion": rep, "attraction": att}
    x, y = trainer._to_model(fake), trainer._to_model(real)
    if isinstance(trainer, GAN):   # dL_G/dx: the loss's gradient in the logits, back through D
        D = trainer.discriminator
        _, dlogits = GENERATOR_LOSSES[trainer.loss](D._forward(x), trainer._loss_backend)
        return {"total": D._backward_input(dlogits) / scale}
    # MMD-GAN (its alternating generator step): feature MMD^2 through the critic f, plus
    # raw_weight times the raw-input MMD^2, each split into its two parts
    f = trainer._f
    F_y = f._forward(y)
    F_x = f._forward(x)  # f(x) last: the backward below reads its cache
    parts = mmd.mmd2_grad_parts(F_x, F_y, trainer.sigmas, trainer.estimator,
                                backend=trainer.backend)
    rep, att = (f._backward_input(p) for p in parts)
    if trainer.raw_kernel:
        raw = mmd.mmd2_grad_parts(x, y, trainer.raw_sigmas, trainer.estimator,
                                  backend=trainer.backend)
        rep, att = rep + trainer.raw_weight * raw[0], att + trainer.raw_weight * raw[1]
    return {"total": (rep + att) / scale, "repulsion": rep / scale, "attraction": att / scale}


def noise_grid(trainer, lines=11, points=41):
    """Noise lines for the generator's map (2-D noise): `lines` horizontal and `lines` vertical
    lines across the noise's range ([-1, 1] uniform, [-2, 2] Gaussian), `points` per line.
    Returns (lines * 2 * points, 2)."""
    r = 1.0 if trainer.noise == "uniform" else 2.0
    tick, along = np.meshgrid(np.linspace(-r, r, lines), np.linspace(-r, r, points),
                              indexing="ij")                     # (lines, points) each
    horizontal = np.stack([along, tick], axis=-1)                # line i: z_2 = tick i
    vertical = np.stack([tick, along], axis=-1)                  # line i: z_1 = tick i
    return np.concatenate([horizontal, vertical]).reshape(-1, 2)


def gen_map(trainer, target=None):
    """2-D: {"lines": G(noise lines) as (2 * lines, points, 2)}. 1-D: {"z", "g"} and, when the
    target has an inverse CDF, "ideal" = F^-1((z + 1) / 2) (uniform noise only)."""
    if trainer.data_dim == 1:
        z = np.linspace(-0.99, 0.99, 101)[:, None]
        out = {"z": rounded(z[:, 0]), "g": rounded(trainer.transform(z)[:, 0])}
        if target is not None and hasattr(target, "ppf") and trainer.noise == "uniform":
            out["ideal"] = rounded(target.ppf((z[:, 0] + 1) / 2))
        return out
    if trainer.noise_dim != 2:
        return {"lines": []}
    z = noise_grid(trainer)
    return {"lines": rounded(trainer.transform(z).reshape(22, 41, 2), 3)}


def modes(trainer, dataset):
    """protocol.evaluate's figures (2,500 samples) on ring-8 and grid-25; None elsewhere."""
    if dataset not in protocol.DATASETS:
        return None
    figures = protocol.evaluate(trainer, dataset)
    return {"modes": int(figures["modes"]), "of": len(protocol.DATASETS[dataset]().centres),
            "high_quality_pct": round(float(figures["high_quality_pct"]), 1),
            # inf when no sample is near a mode (JSON has no inf: null)
            "reverse_kl": (round(float(figures["reverse_kl"]), 3)
                           if np.isfinite(figures["reverse_kl"]) else None)}
