"""MMD-GAN: the direct and the indirect idea in one trainer (Li et al. 2017; Binkowski et al. 2018).

Start from the goal. A generator G turns random noise z into samples X = G(z); we want the
samples to be distributed like the data Y. Two ways to tell G how it is doing:

  direct (the GMN, minigan.gmn): measure the gap between the two samples with a fixed yardstick,
      the Maximum Mean Discrepancy with a Gaussian kernel k,
          MMD^2(X, Y) = mean k(x, x') + mean k(y, y') - 2 mean k(x, y),
      zero exactly when the two distributions agree, and move G down its gradient;
  indirect (the GAN, minigan.gan): train a second network, the critic, to tell real from
      generated, and move G so as to fool it.

The MMD-GAN is both at once: the yardstick is an MMD, but computed on features f(x) that a critic
network f *learns*, choosing the features in which the two samples look most different:

    critic f:     maximise   M(f, G) = MMD^2( f(G(z)), f(y) )     (critic_steps Adam steps)
    generator G:  minimise   M(f, G) + lambda MMD^2( G(z), y )     (one Adam step)

With f the identity (and no raw term) this is the GMN; with a critic that outputs one number and
a linear kernel it becomes a (Wasserstein-style) GAN that compares mean critic scores. A fixed
Gaussian kernel looks at the data through one blurred lens; the critic learns where to look.

One training step, with b rows per batch:

  critic_steps times, each on its own real batch Y:
      X = G(z)                                   (G is not updated here)
      F = f([X; Y])                              one pass of the critic over both samples
      c, dF_X, dF_Y = MMD^2(F_X, F_Y) and its gradient through BOTH samples
                                                 (minigan.mmd.mmd2_and_grad(wrt="both"))
      backprop -[dF_X; dF_Y] through f           ascent on MMD^2 = descent on -MMD^2; f's
                                                 weights shape the features of both samples, so
                                                 dMMD^2/dtheta_f has a term from each
      Adam step on f's parameters
  once, on a fresh real batch Y:
      X = G(z);  F_Y = f(Y);  F_X = f(X)
      dL/dX = (dMMD^2(F_X, F_Y)/dF_X backprop'd through f, *without* touching f's gradients)
              + lambda dMMD^2(X, Y)/dX           (the raw-input kernel below)
      backprop dL/dX through G;  Adam step on G

simultaneous=True folds the generator's update into the last critic update: one X = G(z), one
pass of f over [X; Y] forward and backward, and that backward also returns d(-MMD^2)/dX, whose
negative is the generator's feature gradient. Both players then step from the same point (the
generator sees the critic before its update, not after), and with a critic smaller than the
generator (the recipes': one layer of 128 against six) a step costs about 1.25 GMN steps instead
of 2-3: the network passes and the feature MMD are not repeated for the generator.
The recipes (minigan.protocol) use it: within a fixed time, the extra steps were worth more than
the generator's look at the updated critic (measured in docs/results.md, mode collapse).

Why the raw-input kernel (raw_kernel=True, the default) matters. A Gaussian kernel on the data is
*characteristic*: MMD^2 = 0 only when the two distributions are equal. On features f(x) that is
lost as soon as f maps two different points to the same feature vector (a critic with fewer
outputs than it needs, or one that has saturated): the generator can then win by matching the
features while the samples stay wrong, and the critic has no way to point this out. The sum

    k((x, f(x)), (y, f(y))) = k_sigma(f(x), f(y)) + lambda k_raw(x, y)    (lambda = raw_weight > 0)

has MMD^2 = MMD^2_features + lambda MMD^2_raw >= lambda MMD^2_raw, so it is zero only when the
distributions are equal, whatever the critic does; the raw term also never saturates, so G
always gets a useful gradient, even in the first steps when the critic is still random.

Why a stabiliser. The critic's best move is to push real and generated features apart until the
kernel between them is 0: then MMD^2 stops growing and its gradient for the generator vanishes,
and the critic chases every change of G. Li et al. clipped the critic's weights to [-c, c]
(stabilizer="clip", c = clip_value); spectral normalisation (Miyato et al. 2018,
minigan.spectral), the default here, divides each weight matrix by its largest singular value,
so f is 1-Lipschitz: ||f(x) - f(y)|| <= ||x - y|| (to within the power iteration's estimate of
that value: one iteration per step, from below).

The feature bandwidths are fixed once, from the critic's features when fit starts, so they are
only right while the features keep that scale. Clipping a freshly initialised critic shrinks its
features by orders of magnitude; with bandwidths fitted before that first clip every pair of
points would be a tiny fraction of a bandwidth apart, k = 1 for all of them, MMD^2 = 0: a blind
critic. So the clip comes first: the critic is clipped at construction, and the bandwidths are
fitted to the clipped features (docs/guide.md, exercise 5, runs both orders; docs/results.md
compares the stabilisers).

Derived step by step, each formula checked by running code: docs/guide.md, sections 3.8 (the
MMD^2 gradient through both samples), 3.9 (spectral normalisation) and 3.10 (the two players'
gradients, the sum kernel, the shared pass, the witness).

Deliberately left out: the repulsive loss and gradient penalties, autoencoder critics (Li et al.'s
injective f), other kernels on the features.
"""
import numpy as np

from ._checks import (MAX_INNER_STEPS, MAX_WIDTH, as_float_array, check_bool, check_choice,
                      check_positive_float, check_positive_int, check_widths)
from .mmd import SIGMA_RULES, check_sigmas, gaussian_kernel, mmd2_and_grad, resolve_sigmas
from .mmd import witness as mmd_witness
from .optim import Adam
from .spectral import SpectralNorm
from .trainer import Trainer

STABILIZERS = ("spectral", "clip", "none")


class MMDGAN(Trainer):
    """Generator trained by MMD on features that a critic network learns to make discriminative.

    data_dim, noise_dim, noise, activation, generator: as for GMN
    hidden:      hidden widths of the generator (default six of 64, as for GMN)
    critic_hidden: hidden widths of the critic f (default one of 128; None: those of the
                 generator); leaky ReLU (slope 0.2)
    features:    width of the critic's output f(x) (default 8)
    critic:      an MLP mapping data_dim -> features, to use instead of a new one (with
                 stabilizer="clip" its parameters are clipped in place)
    sigmas:      bandwidths (length-scales) of the feature kernel, or the name of a rule in
                 minigan.mmd.SIGMA_RULES applied once, at the start of fit, to the critic's
                 features of 1000 real samples; None: "median-ladder", a ratio-2 ladder of
                 five around their median distance
    raw_sigmas:  bandwidths of the Gaussian kernel on the (standardised) inputs that keeps the
                 kernel characteristic, or a rule applied to 1000 real samples; default (and
                 None) "data-scales", the GMN's: from about a mode's width up to the data's
                 extent. Data with one smooth mode wants "median-ladder" (see minigan.gmn)
    raw_kernel:  add that raw-input kernel (default True; see the module docstring)
    raw_weight:  its weight lambda in the generator's kernel
                 k_sigma(f(x), f(y)) + lambda k_raw(x, y)
                 (default 1; any lambda > 0 keeps the kernel characteristic). Where the critic's
                 features are many and their MMD^2 much larger than the raw one (8x8 digits),
                 a larger lambda keeps the generator matching the data as a whole
    critic_steps: critic updates per generator update, each on its own real batch
    simultaneous: False (default): the generator steps after the critic's updates, with
                 passes of its own; True: it shares the last critic update's pass (both step
                 from the same point; about half the cost; see the module docstring)
    stabilizer:  "spectral" (default; minigan.spectral), "clip" (every critic parameter clipped
                 to [-clip_value, clip_value] at construction, so the feature bandwidths are
                 fitted to the clipped critic, and after each update; Li et al.) or "none"
    estimator:   "unbiased" (default) or "biased" MMD^2
    lr_g, lr_c, betas: Adam settings of the generator (lr 3e-3, as the GMN's) and the critic
    standardize, seed, dtype, backend: as for GMN

    The defaults (and fit's batch_size of 256) are the recipes' settings (minigan.protocol)
    that do not depend on the data set; what MMDGAN(2, seed=s).fit(X, steps=5000) reaches with
    nothing else set is in docs/results.md (the defaults). The recipes add simultaneous updates,
    the fixed ladder LADDER, more steps and a decaying rate.

    history: "critic_mmd2", the feature MMD^2 at the step's last critic update (what the critic
    maximises), and "generator_mmd2", the loss of the generator update (feature + raw MMD^2).
    """

    kind = "MMDGAN"
    history_keys = ("critic_mmd2", "generator_mmd2")
    default_batch_size = 256

    def __init__(self, data_dim, *, noise_dim=None, hidden=(64,) * 6, activation="relu",
                 critic_hidden=(128,), features=8, generator=None, critic=None, sigmas=None,
                 raw_sigmas="data-scales", raw_kernel=True, raw_weight=1.0, critic_steps=1,
                 simultaneous=False, stabilizer="spectral", clip_value=0.01,
                 estimator="unbiased", lr_g=3e-3, lr_c=1e-3,
                 betas=(0.5, 0.999), noise="uniform", standardize=True, seed=None,
                 dtype=np.float64, backend=None):
        super().__init__(data_dim, noise_dim, noise, seed, dtype, standardize, backend)
        self.features = check_positive_int(features, "features", maximum=MAX_WIDTH)
        self.critic_steps = check_positive_int(critic_steps, "critic_steps",
                                               maximum=MAX_INNER_STEPS)
        self.stabilizer = check_choice(stabilizer, "stabilizer", STABILIZERS)
        self.clip_value = check_positive_float(clip_value, "clip_value")
        self.estimator = check_choice(estimator, "estimator", ("unbiased", "biased"))
        self.raw_kernel = check_bool(raw_kernel, "raw_kernel")
        self.raw_weight = check_positive_float(raw_weight, "raw_weight")
        self.simultaneous = check_bool(simultaneous, "simultaneous")
        # a rule name (or None) is applied once, in _calibrate; numbers are checked now
        self._sigma_rules = {"sigmas": sigmas, "raw_sigmas": raw_sigmas}
        for name, value in self._sigma_rules.items():
            if isinstance(value, str):
                check_choice(value, name, tuple(SIGMA_RULES))
            setattr(self, name, None if value is None or isinstance(value, str)
                    else check_sigmas(value))
        hidden = check_widths(hidden, "hidden")
        critic_hidden = hidden if critic_hidden is None else check_widths(critic_hidden,
                                                                          "critic_hidden")
        self.nets["G"] = self._network(generator, [self.noise_dim, *hidden, self.data_dim],
                                       activation, "identity", self._init_rngs[0], "generator")
        self.nets["C"] = self._network(critic, [self.data_dim, *critic_hidden, self.features],
                                       "leaky_relu", "identity", self._init_rngs[1], "critic")
        # the critic's passes run on `self._f`: the critic itself, or its spectrally normalised twin
        self._sn = (SpectralNorm(self.critic, seed=self._init_rngs[1])
                    if stabilizer == "spectral" else None)
        self._f = self.critic if self._sn is None else self._sn.normed
        self._clip()        # a clipped critic starts in its box: the bandwidths are fitted to it
        lr_g, lr_c = check_positive_float(lr_g, "lr_g"), check_positive_float(lr_c, "lr_c")
        self.opts["G"] = Adam(self.generator.params, lr=lr_g, betas=betas, backend=self.backend)
        self.opts["C"] = Adam(self.critic.params, lr=lr_c, betas=betas, backend=self.backend)
        rules_or_values = {k: v if isinstance(v, str) or v is None else getattr(self, k)
                           for k, v in self._sigma_rules.items()}
        self._config = {"data_dim": self.data_dim, "noise_dim": self.noise_dim,
                        "features": self.features, **rules_or_values,
                        "raw_kernel": self.raw_kernel, "raw_weight": self.raw_weight,
                        "critic_steps": self.critic_steps, "stabilizer": stabilizer,
                        "clip_value": self.clip_value, "simultaneous": self.simultaneous,
                        "estimator": estimator, "lr_g": lr_g,
                        "lr_c": lr_c, "betas": list(betas), "noise": noise,
                        "standardize": self.standardize, "dtype": self.dtype.name}

    @classmethod
    def _from_config(cls, config, nets, backend):
        return cls(**config, generator=nets["G"], critic=nets["C"], backend=backend)

    @property
    def critic(self):
        """The critic MLP f with its raw parameters (what Adam updates and save() stores)."""
        return self.nets["C"]

    # ------------------------------------------------------------- the kernel
    def _is_calibrated(self):
        return super()._is_calibrated() and self.sigmas is not None and self.raw_sigmas is not None

    def _calibrate(self, real):
        super()._calibrate(real)
        x = self._to_model(real)
        if self.raw_sigmas is None:
            self.raw_sigmas = resolve_sigmas(self._sigma_rules["raw_sigmas"], x,
                                             default="data-scales")
        if self.sigmas is None:
            self.sigmas = resolve_sigmas(self._sigma_rules["sigmas"], self._f._forward(x[:1000]))

    def features_of(self, x):
        """The critic's features f(x) of data-space points x: (n, data_dim) -> (n, features)."""
        if not self._is_calibrated():
            raise RuntimeError("features_of needs a trained (or at least calibrated) MMDGAN: "
                               "call fit or step first")
        x = self._check_real(x, name="x")
        return self._f._forward(self._to_model(x))

    def witness(self, points, real, fake, kernel="learned"):
        """The MMD witness function h(t) = mean_i k(t, real_i) - mean_j k(t, fake_j).

        points: (p, data_dim), real: (n, data_dim), fake: (m, data_dim), all in data space.
        kernel: "learned", the generator's kernel k_sigma(f(t), f(x)) + raw_weight k_raw(t, x)
        (without the raw part when raw_kernel is False); "features", k_sigma(f(t), f(x))
        alone, what the critic shapes; "raw", k_raw(t, x) alone, the GMN's fixed Gaussian
        yardstick.
        h is positive where the data has more mass than the generator, negative where the
        generator puts too much, and MMD^2 (biased) = mean_i h(real_i) - mean_j h(fake_j).
        Returns (p,).
        """
        check_choice(kernel, "kernel", ("learned", "features", "raw"))
        if not self._is_calibrated():
            raise RuntimeError("witness needs a trained (or at least calibrated) MMDGAN: "
                               "call fit or step first")
        points, real, fake = (self._to_model(self._check_real(a, name=name)) for a, name in
                              ((points, "points"), (real, "real"), (fake, "fake")))
        use_raw = kernel == "raw" or (kernel == "learned" and self.raw_kernel)
        use_features = kernel != "raw"
        weight = self.raw_weight if kernel == "learned" else 1.0
        f = self._f._forward

        def k(A, B):  # the chosen kernel: on the critic's features, on the raw inputs, or both
            K = gaussian_kernel(f(A), f(B), self.sigmas) if use_features else 0
            return K + weight * gaussian_kernel(A, B, self.raw_sigmas) if use_raw else K

        return mmd_witness(k, points, real, fake)

    # ---------------------------------------------------------------- training
    def _rows_per_step(self, batch_size):
        return self._batches_per_step() * batch_size

    def _batches_per_step(self):
        # alternating: critic_steps critic batches + one generator batch; simultaneous: the
        # generator shares the last critic batch
        return self.critic_steps + (not self.simultaneous)

    def step(self, real):
        """One MMD-GAN step. real: (batches * b, d), split into the critic's and the generator's
        batches (critic_steps + 1 of them; critic_steps when simultaneous), each of >= 2 rows.
        Returns the recorded figures."""
        real = self._model_batch(real, min_rows=2 * self._batches_per_step())
        batches = np.array_split(real, self._batches_per_step())
        for Y in batches[:self.critic_steps - self.simultaneous]:
            self._refresh(update_u=True)                                # one power iteration
            critic_mmd2 = self._critic_gradients(self.generator._forward(self._noise(len(Y))), Y)
            self._critic_update()
        Y = batches[-1]
        if self.simultaneous:
            self._refresh(update_u=True)
            critic_mmd2, g_mmd2 = self._joint_gradients(self._noise(len(Y)), Y)
            self._critic_update()
            self._refresh(update_u=False)       # f after the update (features_of, witness, save)
        else:
            self._refresh(update_u=False)                               # f after its last update
            g_mmd2 = self._generator_gradients(self._noise(len(Y)), Y)
        self.opts["G"].step(self.generator.grads)
        return self._record(critic_mmd2=critic_mmd2, generator_mmd2=g_mmd2)

    def _critic_update(self):
        """Adam step on the critic's raw parameters (then clipping, if that is the stabiliser)."""
        self.opts["C"].step(self.critic.grads)
        self._clip()

    def _clip(self):
        """Weight clipping: every critic parameter into [-clip_value, clip_value] (Li et al.).
        Called at construction too, before _calibrate fits the feature bandwidths to f's
        features: clipping first shrinks them by orders of magnitude, and bandwidths fitted to
        the unclipped critic would then see every pair of points as one (k = 1, MMD^2 = 0)."""
        if self.stabilizer == "clip":
            for p in self.critic.params:
                np.clip(p, -self.clip_value, self.clip_value, out=p)

    def _refresh(self, update_u):
        """Spectral normalisation: W_sn from the current raw weights (and u, updated or not)."""
        if self._sn is not None:
            self._sn.refresh(update_u)

    def _critic_gradients(self, X, Y):
        """MMD^2(f(X), f(Y)) for generated X: (n, d) and real Y: (m, d); the gradient of
        -MMD^2 (ascent) with respect to the critic's raw parameters goes into critic.grads."""
        value, _ = self._critic_pass(X, Y, need_input_grad=False)
        return value

    def _critic_pass(self, X, Y, need_input_grad):
        """The critic's forward and backward over both samples: returns MMD^2(f(X), f(Y)) and,
        if asked, d(-MMD^2)/dX: (n, d) (else None); d(-MMD^2)/dtheta_f goes into critic.grads."""
        f, n = self._f, len(X)
        F = f._forward(np.concatenate([X, Y]))                          # one pass over both
        value, dF_X, dF_Y = mmd2_and_grad(F[:n], F[n:], self.sigmas, self.estimator,
                                          backend=self.backend, wrt="both")
        f.zero_grad()
        d_in = f._backward(-np.concatenate([dF_X, dF_Y]),              # d(-MMD^2)/dtheta_f
                           need_input_grad=need_input_grad)
        if self._sn is not None:
            self.critic.zero_grad()
            self._sn.backward()                                         # dW_sn -> dW (raw)
        # MMD^2 sees only differences f(x) - f(y), so the output bias's exact gradient is 0;
        # what backprop gives is rounding noise, and Adam divides by its size: in float32
        # (noise ~1e-6, far above eps) it would walk the bias at the full learning rate
        self.critic.grads[-1].fill(0)
        return value, (d_in[:n] if need_input_grad else None)

    def _generator_gradients(self, z, Y):
        """The generator's loss L = MMD^2(f(G(z)), f(Y)) [+ raw_weight * MMD^2(G(z), Y)];
        dL/dtheta_G goes into generator.grads, the critic's gradients are left alone."""
        G, f = self.generator, self._f
        F_Y = f._forward(Y)                                             # real features
        X = G._forward(z)                                               # X = G(z)
        loss, dF_X = mmd2_and_grad(f._forward(X), F_Y, self.sigmas,     # MMD^2 on features and
                                   self.estimator, backend=self.backend)  # its gradient in F_X
        # through f, f untouched; f(X) must be f's last forward: its cache is what this reads
        loss, dX = self._plus_raw_term(X, Y, loss, f._backward_input(dF_X))
        G.zero_grad()
        G._backward(dX, need_input_grad=False)                          # dL/dtheta_G
        return loss

    def _joint_gradients(self, z, Y):
        """Both players' gradients from one pass (simultaneous=True): X = G(z), then the
        critic's forward and backward over [X; Y] as in _critic_gradients, asking that backward
        for the input gradient too. Its rows for X are d(-MMD^2)/dX (rows of an MLP do not mix),
        so the generator's dL/dX is minus them, plus the raw-input kernel's gradient: the same
        gradient _generator_gradients computes, at the critic *before* this step's update.
        Returns (critic's feature MMD^2, generator's loss)."""
        G = self.generator
        X = G._forward(z)                                               # X = G(z)
        value, d_neg_dX = self._critic_pass(X, Y, need_input_grad=True)
        loss, dX = self._plus_raw_term(X, Y, value, -d_neg_dX)          # descent on MMD^2_features
        G.zero_grad()
        G._backward(dX, need_input_grad=False)                          # dL/dtheta_G
        return value, loss

    def _plus_raw_term(self, X, Y, loss, dX):
        """loss + raw_weight * MMD^2(X, Y) on the raw inputs (the characteristic part), and
        dX + its gradient in X; unchanged when raw_kernel is False. X: (n, d), Y: (m, d)."""
        if not self.raw_kernel:
            return loss, dX
        raw_mmd2, dX_raw = mmd2_and_grad(X, Y, self.raw_sigmas, self.estimator,
                                         backend=self.backend)
        return loss + self.raw_weight * raw_mmd2, dX + self.raw_weight * dX_raw

    def _step_state(self):
        """The power-iteration vectors u move at every critic update: a rolled-back step
        (minigan.divergence) must put them back too, or a resume would not be exact."""
        return None if self._sn is None else [u.copy() for u in self._sn.u]

    def _restore_step_state(self, state):
        if state is not None:
            self._sn.u = state
            self._sn.refresh(update_u=False)                            # W_sn from restored u

    # ------------------------------------------------------------ checkpoints
    def _extra_meta(self):
        u = None if self._sn is None else [v.tolist() for v in self._sn.u]
        return {**super()._extra_meta(), "sigmas": self.sigmas, "raw_sigmas": self.raw_sigmas,
                "power_iteration_u": u}

    def _load_extra_meta(self, meta):
        super()._load_extra_meta(meta)
        self.sigmas, self.raw_sigmas = (None if meta[k] is None else check_sigmas(meta[k])
                                        for k in ("sigmas", "raw_sigmas"))
        if self._sn is not None:
            # one vector u_l of length d_in per critic layer (zip would drop extra or missing ones)
            widths = [len(W) for W in self.critic.params[0::2]]
            u = meta["power_iteration_u"]
            if not isinstance(u, list) or [len(v) if isinstance(v, list) else None
                                           for v in u] != widths:
                raise ValueError(f"power_iteration_u must hold one list per critic layer, of "
                                 f"lengths {widths}")
            self._sn.u = [as_float_array(v, "power_iteration_u", ndim=1, dtype=self.dtype)
                          for v in u]
            self._sn.refresh(update_u=False)
