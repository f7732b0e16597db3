"""Generative Matching Network (GMN, a.k.a. GMMN): train a generator *directly*.

One training step (docs/guide.md derives the MMD^2 gradient in section 3.2):
    z ~ noise (b, noise_dim)
    X = G(z)                          generated batch (b, d)
    L = MMD^2(X, Y)                   Y: a real batch (b, d)   [or sqrt MMD^2, loss="mmd"]
    dL/dX from minigan.mmd, then backpropagated through G by hand, then an Adam step.

No discriminator: the kernel two-sample statistic *is* the critic (Li, Swersky &
Zemel 2015; Dziugaite, Roy & Ghahramani 2015).

Defaults, chosen by measurement on ring-8 and grid-25 (modes and % of samples within 3 std
of a mode, 5,000 steps; the 1-D Gaussian and the digits demo checked they lose nothing; every
figure is in docs/results.md, the defaults):

  sigmas="data-scales"  fixed once, at the start of fit, from 1000 real samples in the
                        standardised space the generator works in: a ratio-2 ladder from the
                        1 % quantile of the pairwise distances (about the width of one mode)
                        up to the largest one (minigan.mmd.data_scales). The old default, a
                        5-rung ladder around the median distance ("median-ladder"), is far
                        wider than a mode: ring-8 got its 8 modes but only a few % of
                        its samples near one.
  hidden=(64,) * 6      depth sharpens the jumps a ReLU generator makes between modes, and the
                        samples on those jumps are what a mixture's quality counts against
  lr=3e-3, no decay     in a 5,000-step fit a constant rate kept sharpening; decaying it to
                        1 % over the run cost grid-25 about a third of its good samples
  batch_size=512        (fit's default for a GMN) more real points per mode for the narrow
                        kernels to see: on grid-25, batch 512 gave about six times the
                        good samples of batch 128

When to say otherwise: data with one smooth mode (the 1-D demo) has no detail below its bulk;
there the narrow rungs only add noise and let G fold, and sigmas="median-ladder" is better.
The lr is 3x the old default; none of the runs these defaults were measured with diverged.
"""
import numpy as np

from ._checks import check_choice, check_widths
from .mmd import ESTIMATORS, LOSSES, SIGMA_RULES, check_sigmas, mmd_loss_and_grad, resolve_sigmas
from .optim import Adam
from .trainer import Trainer


class GMN(Trainer):
    """Generator trained by minimising MMD between generated and real batches.

    data_dim:  d, the width of a sample
    noise_dim: width of z (default d); noise: "uniform" on [-1, 1] (default) or "gaussian"
    hidden:    hidden widths of the generator MLP (ignored when `generator` is given)
    activation: hidden activation of the generator; its output layer is linear
    generator: an MLP mapping noise_dim -> data_dim, to use instead of a new one
    sigmas:    kernel bandwidths (length-scales) in the standardised space the generator works
               in, i.e. in units of the data's spread (see minigan.trainer), or the name of a
               rule applied once to real data: "data-scales" (the default, see above) or
               "median-ladder" (minigan.mmd); None is kept as an alias of "data-scales"
    estimator: "unbiased" (default) or "biased" MMD^2;  loss: "mmd2" or "mmd" (square root)
    standardize: train on standardised data (see minigan.trainer), default True
    lr, betas: Adam settings;  seed: int or Generator;  dtype: float64 or float32
    backend:   "numpy", "cython" or "auto" for the networks and the MMD (see minigan.backend)

    history["loss"] holds the loss of every step.
    """

    kind = "GMN"
    history_keys = ("loss",)
    default_batch_size = 512

    def __init__(self, data_dim, *, noise_dim=None, hidden=(64,) * 6, activation="relu",
                 generator=None, sigmas="data-scales", estimator="unbiased", loss="mmd2",
                 noise="uniform", standardize=True, lr=3e-3, betas=(0.9, 0.999), seed=None,
                 dtype=np.float64, backend=None):
        super().__init__(data_dim, noise_dim, noise, seed, dtype, standardize, backend)
        rule = "data-scales" if sigmas is None else sigmas
        if isinstance(rule, str):  # a rule, applied to real data once, in _calibrate
            self.sigma_rule, self.sigmas = check_choice(rule, "sigmas", tuple(SIGMA_RULES)), None
        else:
            self.sigma_rule, self.sigmas = None, check_sigmas(rule)
        self.estimator = check_choice(estimator, "estimator", ESTIMATORS)
        self.loss = check_choice(loss, "loss", LOSSES)
        sizes = [self.noise_dim, *check_widths(hidden, "hidden"), self.data_dim]
        self.nets["G"] = self._network(generator, sizes, activation, "identity",
                                       self._init_rngs[0], "generator")
        self.opts["G"] = Adam(self.generator.params, lr=lr, betas=betas, backend=self.backend)
        self._config = {"data_dim": self.data_dim, "noise_dim": self.noise_dim,
                        "sigmas": self.sigma_rule or self.sigmas, "estimator": estimator, "loss": loss, "noise": noise, "standardize": self.standardize, "lr": lr,
                        "betas": list(betas), "dtype": self.dtype.name}

    @classmethod
    def _from_config(cls, config, nets, backend):
        return cls(**config, generator=nets["G"], backend=backend)

    def _is_calibrated(self):
        return super()._is_calibrated() and self.sigmas is not None

    def _calibrate(self, real):
        super()._calibrate(real)
        if self.sigmas is None:
            self.sigmas = resolve_sigmas(self.sigma_rule, self._to_model(real))

    def step(self, real):
        """One generator update against the real batch `real`: (b, d). Returns {"loss": L}."""
        real = self._model_batch(real, min_rows=2)
        G = self.generator
        fake = G._forward(self._noise(len(real)))                 # X = G(z)
        loss, dfake = mmd_loss_and_grad(fake, real, self.sigmas,  # L and dL/dX
                                        self.estimator, self.loss, backend=self.backend)
        G.zero_grad()
        G._backward(dfake, need_input_grad=False)                 # dL/dtheta through G
        self.opts["G"].step(G.grads)
        return self._record(loss=loss)

    def _extra_meta(self):
        return {**super()._extra_meta(), "sigmas": self.sigmas}

    def _load_extra_meta(self, meta):
        super()._load_extra_meta(meta)
        self.sigmas = None if meta["sigmas"] is None else check_sigmas(meta["sigmas"])
