"""Generative Adversarial Network: train a generator *indirectly*, through a critic.

A discriminator D (an MLP ending in one logit s, D(x) = sigmoid(s)) learns to tell
real from generated; the generator G learns to make it fail (Goodfellow et al. 2014).

One training step:
  d_steps times:  z ~ noise;  X = G(z)
                  L_D = mean BCE of D on [real -> 1, X -> 0]     (ln 2 when D says 1/2)
                  backprop L_D through D only; Adam step on D
  once:           z ~ noise;  X = G(z);  s = D(X)
                  L_G = "non-saturating": mean -log D(X)  |  "minimax": mean log(1 - D(X))
                  dL_G/dX = backprop through D *without* touching D's gradients,
                  then through G; Adam step on G

At the ideal equilibrium G matches the data and D(x) = p_data / (p_data + p_g) = 1/2.
Why: D minimises -E_p log D - E_q log(1 - D) = -integral of [p log D + q log(1 - D)] dx
(p = p_data, q = p_g), pointwise in x; d/dD [p log D + q log(1 - D)] = p / D - q / (1 - D) = 0
gives D* = p / (p + q), which is 1/2 where q = p, and then L_D = -log(1/2) = ln 2.
"""
import numpy as np

from ._checks import check_choice, check_number_in, check_positive_int, check_widths
from .backend import resolve
from .layers import sigmoid
from .losses import GENERATOR_LOSSES, discriminator_loss_pooled
from .optim import Adam
from .trainer import Trainer


class GAN(Trainer):
    """Generator and discriminator MLPs trained against each other.

    data_dim, noise_dim, noise, hidden, activation, generator: as for GMN
    d_hidden:    hidden widths of the discriminator (default: hidden)
    d_activation: hidden activation of the discriminator (default leaky_relu, slope 0.2)
    discriminator: an MLP mapping data_dim -> 1 logit, to use instead of a new one
    loss:        generator loss, "non-saturating" (default) or "minimax"
    d_steps:     discriminator updates per generator update
    lr_g, lr_d, betas: Adam settings (beta1 = 0.5 is the usual GAN choice)
    standardize: train on standardised data (see minigan.trainer), default True
    real_label:  target for real samples (1.0; 0.9 is one-sided label smoothing)
    seed, dtype, backend: as for GMN

    history: "d_loss", "g_loss", and "d_real" / "d_fake", D's mean output on the
    real and generated batches of the step's last discriminator update.
    """

    kind = "GAN"
    history_keys = ("d_loss", "g_loss", "d_real", "d_fake")

    def __init__(self, data_dim, *, noise_dim=None, hidden=(64, 64), activation="relu",
                 d_hidden=None, d_activation="leaky_relu", generator=None, discriminator=None,
                 loss="non-saturating", d_steps=1, lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999),
                 real_label=1.0, noise="uniform", standardize=True, seed=None, dtype=np.float64,
                 backend=None):
        super().__init__(data_dim, noise_dim, noise, seed, dtype, standardize, backend)
        self.loss = check_choice(loss, "loss", GENERATOR_LOSSES)
        self.d_steps = check_positive_int(d_steps, "d_steps")
        self.real_label = check_number_in(real_label, "real_label", 0, 1)
        hidden = check_widths(hidden, "hidden")
        d_hidden = hidden if d_hidden is None else check_widths(d_hidden, "d_hidden")
        self.nets["G"] = self._network(generator, [self.noise_dim, *hidden, self.data_dim],
                                       activation, "identity", self._init_rngs[0], "generator")
        self.nets["D"] = self._network(discriminator, [self.data_dim, *d_hidden, 1],
                                       d_activation, "identity", self._init_rngs[1], "discriminator")
        self.opts["G"] = Adam(self.generator.params, lr=lr_g, betas=betas,
                              backend=self.backend)
        self.opts["D"] = Adam(self.discriminator.params, lr=lr_d, betas=betas,
                              backend=self.backend)
        self._loss_backend = resolve(self.backend, module="losses")  # once, as the nets do
        self._config = {"data_dim": self.data_dim, "noise_dim": self.noise_dim, "loss": loss,
                        "d_steps": self.d_steps, "lr_g": lr_g, "lr_d": lr_d, "betas": list(betas),
                        "real_label": self.real_label, "noise": noise,
                        "standardize": self.standardize, "dtype": self.dtype.name}

    @classmethod
    def _from_config(cls, config, nets, backend):
        return cls(**config, generator=nets["G"], discriminator=nets["D"], backend=backend)

    @property
    def discriminator(self):
        return self.nets["D"]

    def discriminate(self, x):
        """D(x) as probabilities: x: (n, data_dim) (or (n,) in 1-D) -> (n,)."""
        x = self._to_model(self._check_real(x))
        self.discriminator.check_range(x, "x")
        logits = self.discriminator._forward(x)
        if not np.all(np.isfinite(logits)):
            raise ValueError("x: the discriminator's logits overflowed to NaN or inf; the "
                             "values are far outside the range it was trained on")
        return sigmoid(logits)[:, 0]

    def _rows_per_step(self, batch_size):
        return self.d_steps * batch_size

    def step(self, real):
        """One GAN step. real: (d_steps * b, d), split into d_steps discriminator batches."""
        real = self._model_batch(real, min_rows=self.d_steps)
        G, D = self.generator, self.discriminator
        batches = [real] if self.d_steps == 1 else np.array_split(real, self.d_steps)
        for batch in batches:
            n = len(batch)
            fake = G._forward(self._noise(n))                                  # X = G(z), G frozen
            logits = D._forward(np.concatenate([batch, fake]))                 # one pass over both
            d_loss, dlogits, d_real, d_fake = discriminator_loss_pooled(       # L_D, dL_D/ds, and
                logits, n, self.real_label, self._loss_backend)                # mean D(real), D(X)
            D.zero_grad()
            D._backward(dlogits, need_input_grad=False)                        # dL_D/dtheta_D
            self.opts["D"].step(D.grads)
        fake = G._forward(self._noise(len(real) // self.d_steps))             # X = G(z)
        g_loss, dlogits = GENERATOR_LOSSES[self.loss](D._forward(fake),        # L_G and dL_G/ds
                                                      self._loss_backend)
        dfake = D._backward_input(dlogits)                                     # dL_G/dX, D untouched
        G.zero_grad()
        G._backward(dfake, need_input_grad=False)                              # dL_G/dtheta_G
        self.opts["G"].step(G.grads)
        return self._record(d_loss=d_loss, g_loss=g_loss, d_real=d_real, d_fake=d_fake)
