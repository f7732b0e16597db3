"""Generative Adversarial Network: train a generator *indirectly*, through a critic.

A discriminator D (an MLP ending in one logit s, D(x) = sigmoid(s)) learns to tell
real from generated; the generator G learns to make it fail (Goodfellow et al. 2014).

One training step:
  d_steps times:  z ~ noise;  X = G(z)
                  L_D = mean BCE of D over the pooled batch [real -> 1, X -> 0]
                                                                 (ln 2 when D says 1/2)
                  backprop L_D through D only; Adam step on D
  once:           z ~ noise;  X = G(z);  s = D(X)
                  L_G = "non-saturating": mean -log D(X)  |  "minimax": mean log(1 - D(X))
                  dL_G/dX = backprop through D *without* touching D's gradients,
                  then through G; Adam step on G

At the ideal equilibrium G matches the data and D(x) = p_data / (p_data + p_g) = 1/2.
Why: D minimises -E_p log D - E_q log(1 - D) = -integral of [p log D + q log(1 - D)] dx
(p = p_data, q = p_g), pointwise in x; d/dD [p log D + q log(1 - D)] = p / D - q / (1 - D) = 0
gives D* = p / (p + q), which is 1/2 where q = p. There each expectation is -log(1/2) = ln 2,
so their sum is 2 ln 2, and the mean over the pooled batch that L_D reports is ln 2.
Derived, with checks, in docs/guide.md, section 3.5 (and 3.4 for the two generator losses).

Packing (PacGAN, Lin et al. 2018), pack = k > 1: D judges k samples at once, concatenated
into one row of width k*d (real with real, generated with generated). A generator that
drops modes makes packs whose k members are too alike, which a packed D can see and a
D that judges one sample at a time cannot. Packing is a reshape, (k*p, d) -> (p, k*d):
row j of the packed array is rows j*k, ..., j*k + k - 1 one after the other, so its
backward is the inverse reshape, (p, k*d) -> (k*p, d) (each entry of dL/d(pack) is the
gradient of the one sample entry it came from). pack = 1 is the plain GAN.
"""
import numpy as np

from ._checks import (MAX_INNER_STEPS, MAX_WIDTH, check_choice, check_number_in,
                      check_positive_float, check_positive_int, check_widths)
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
    pack:        k, the samples D judges together (PacGAN; default 1, the plain GAN). D then
                 maps k*data_dim -> 1, and each discriminator batch of b packs takes k*b
                 real rows (fit draws d_steps * pack * batch_size rows per step) and k*b
                 generated ones
    seed, dtype, backend: as for GMN

    history: "d_loss", "g_loss", and "d_real" / "d_fake", D's mean output on the
    real and generated batches of the step's last discriminator update.
    """

    kind = "GAN"
    history_keys = ("d_loss", "g_loss", "d_real", "d_fake")

    def __init__(self, data_dim, *, noise_dim=None, hidden=(64, 64), activation="relu",
                 d_hidden=None, d_activation="leaky_relu", generator=None, discriminator=None,
                 loss="non-saturating", d_steps=1, lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999),
                 real_label=1.0, pack=1, noise="uniform", standardize=True, seed=None,
                 dtype=np.float64, backend=None):
        super().__init__(data_dim, noise_dim, noise, seed, dtype, standardize, backend)
        self.loss = check_choice(loss, "loss", GENERATOR_LOSSES)
        self.d_steps = check_positive_int(d_steps, "d_steps", maximum=MAX_INNER_STEPS)
        self.real_label = check_number_in(real_label, "real_label", 0, 1)
        self.pack = check_positive_int(pack, "pack", maximum=MAX_WIDTH)
        hidden = check_widths(hidden, "hidden")
        d_hidden = hidden if d_hidden is None else check_widths(d_hidden, "d_hidden")
        self.nets["G"] = self._network(generator, [self.noise_dim, *hidden, self.data_dim],
                                       activation, "identity", self._init_rngs[0], "generator")
        self.nets["D"] = self._network(discriminator, [self.pack * self.data_dim, *d_hidden, 1],
                                       d_activation, "identity", self._init_rngs[1], "discriminator")
        lr_g, lr_d = check_positive_float(lr_g, "lr_g"), check_positive_float(lr_d, "lr_d")
        self.opts["G"] = Adam(self.generator.params, lr=lr_g, betas=betas,
                              backend=self.backend)
        self.opts["D"] = Adam(self.discriminator.params, lr=lr_d, betas=betas,
                              backend=self.backend)
        self._loss_backend = resolve(self.backend, module="losses")  # once, as the nets do
        self._config = {"data_dim": self.data_dim, "noise_dim": self.noise_dim, "loss": loss,
                        "d_steps": self.d_steps, "lr_g": lr_g, "lr_d": lr_d, "betas": list(betas),
                        "real_label": self.real_label, "pack": self.pack, "noise": noise,
                        "standardize": self.standardize, "dtype": self.dtype.name}

    @classmethod
    def _from_config(cls, config, nets, backend):
        return cls(**config, generator=nets["G"], discriminator=nets["D"], backend=backend)

    @property
    def discriminator(self):
        return self.nets["D"]

    def discriminate(self, x):
        """D(x) as probabilities: x: (n, data_dim) (or (n,) in 1-D) -> (n / pack,), one per
        pack of `pack` consecutive rows (n must be a multiple of pack)."""
        x = self._to_model(self._check_real(x, name="x"))
        self.discriminator.check_range(x, "x")
        logits = self.discriminator._forward(self._packed(x, "x"))
        if not np.all(np.isfinite(logits)):
            raise ValueError("x: the discriminator's logits overflowed to NaN or inf; the "
                             "values are far outside the range it was trained on")
        return sigmoid(logits)[:, 0]

    def _packed(self, x, name):
        """Pack: (k*p, d) -> (p, k*d), row j holding samples j*k .. j*k + k - 1 side by side."""
        if len(x) % self.pack:
            raise ValueError(f"{name} must have a multiple of pack={self.pack} rows, got {len(x)}")
        return x.reshape(len(x) // self.pack, self.pack * self.data_dim)

    def _unpacked(self, dpacked):
        """Backward of _packed: (p, k*d) -> (k*p, d), each entry back to the sample it came from."""
        return dpacked.reshape(-1, self.data_dim)

    def _rows_per_step(self, batch_size):
        return self.d_steps * self.pack * batch_size

    def step(self, real):
        """One GAN step. real: (d_steps * pack * b, d): its packs, (d_steps * b, pack * d),
        are split into d_steps discriminator batches."""
        real = self._model_batch(real, min_rows=self.d_steps * self.pack)
        packs = self._packed(real, "real")
        batches = [packs] if self.d_steps == 1 else np.array_split(packs, self.d_steps)
        for batch in batches:
            fake = self.generator._forward(self._noise(self.pack * len(batch)))  # X = G(z), G frozen
            d_loss, d_real, d_fake = self._discriminator_loss(batch, fake)
            self.opts["D"].step(self.discriminator.grads)
        g_loss = self._generator_loss(self._noise(self.pack * (len(packs) // self.d_steps)))
        self.opts["G"].step(self.generator.grads)
        return self._record(d_loss=d_loss, g_loss=g_loss, d_real=d_real, d_fake=d_fake)

    def _discriminator_loss(self, real_packs, fake):
        """L_D on real packs (n, k*d) -> 1 and generated samples (k*n, d) -> 0; leaves
        dL_D/dtheta_D in D.grads. Returns (L_D, mean D(real), mean D(X))."""
        D = self.discriminator
        logits = D._forward(np.concatenate([real_packs, self._packed(fake, "fake")]))  # one pass
        d_loss, dlogits, d_real, d_fake = discriminator_loss_pooled(   # L_D, dL_D/ds, and
            logits, len(real_packs), self.real_label, self._loss_backend)  # mean D(real), D(X)
        D.zero_grad()
        D._backward(dlogits, need_input_grad=False)                    # dL_D/dtheta_D
        return d_loss, d_real, d_fake

    def _generator_loss(self, z):
        """L_G of the samples G(z), z: (k*n, noise_dim); leaves dL_G/dtheta_G in G.grads
        (D's gradients untouched). Returns L_G."""
        G, D = self.generator, self.discriminator
        fake = G._forward(z)                                           # X = G(z)
        g_loss, dlogits = GENERATOR_LOSSES[self.loss](                 # L_G and dL_G/ds
            D._forward(self._packed(fake, "fake")), self._loss_backend)
        dfake = self._unpacked(D._backward_input(dlogits))             # dL_G/dX (unpack the packs)
        G.zero_grad()
        G._backward(dfake, need_input_grad=False)                      # dL_G/dtheta_G
        return g_loss
