"""Generative Matching Network (GMN, a.k.a. GMMN): train a generator *directly*.

One training step:
    z ~ noise (b, noise_dim)
    X = G(z)                          generated batch (b, d)
    L = MMD^2(X, Y)                   Y: a real batch (b, d)   [or sqrt MMD^2, loss="mmd"]
    dL/dX from minigan.mmd, then backpropagated through G by hand, then an Adam step.

No discriminator: the kernel two-sample statistic *is* the critic (Li, Swersky &
Zemel 2015; Dziugaite, Roy & Ghahramani 2015).

Bandwidths: `sigmas=None` fixes, once at the start of fit, a ratio-2 ladder of five
bandwidths around the median pairwise distance of 1000 real samples. Bandwidths
are in the standardised space the generator works in (see minigan.trainer).
"""
import numpy as np

from ._checks import check_choice, check_widths
from .mmd import ESTIMATORS, LOSSES, check_sigmas, default_sigmas, mmd_loss_and_grad
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
               in, i.e. in units of the data's spread (see minigan.trainer); None: from the data
    estimator: "unbiased" (default) or "biased" MMD^2;  loss: "mmd2" or "mmd" (square root)
    standardize: train on standardised data (see minigan.trainer), default True
    lr, betas: Adam settings;  seed: int or Generator;  dtype: float64 or float32
    backend:   "numpy", "cython" or "auto" for the networks and the MMD (see minigan.backend)

    history["loss"] holds the loss of every step.
    """

    kind = "GMN"
    history_keys = ("loss",)

    def __init__(self, data_dim, *, noise_dim=None, hidden=(64, 64), activation="relu",
                 generator=None, sigmas=None, estimator="unbiased", loss="mmd2",
                 noise="uniform", standardize=True, lr=1e-3, betas=(0.9, 0.999), seed=None,
                 dtype=np.float64, backend=None):
        super().__init__(data_dim, noise_dim, noise, seed, dtype, standardize, backend)
        self.sigmas = None if sigmas is None else check_sigmas(sigmas)
        self.estimator = check_choice(estimator, "estimator", ESTIMATORS)
        self.loss = check_choice(loss, "loss", LOSSES)
        sizes = [self.noise_dim, *check_widths(hidden, "hidden"), self.data_dim]
        self.nets["G"] = self._network(generator, sizes, activation, "identity",
                                       self._init_rngs[0], "generator")
        self.opts["G"] = Adam(self.generator.params, lr=lr, betas=betas, backend=self.backend)
        self._config = {"data_dim": self.data_dim, "noise_dim": self.noise_dim,
                        "estimator": estimator, "loss": loss, "noise": noise, "standardize": self.standardize, "lr": lr,
                        "betas": list(betas), "dtype": self.dtype.name}

    @classmethod
    def _from_config(cls, config, nets, backend):
        return cls(**config, generator=nets["G"], backend=backend)

    def _is_calibrated(self):
        return super()._is_calibrated() and self.sigmas is not None

    def _calibrate(self, real):
        super()._calibrate(real)
        if self.sigmas is None:
            self.sigmas = default_sigmas(self._to_model(real))

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
