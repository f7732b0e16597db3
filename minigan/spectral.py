"""Spectral normalisation of an MLP's weight matrices (Miyato et al. 2018), forward and backward.

What it is for: keeping a critic *smooth*. Dividing every weight matrix by its largest singular
value sigma(W) makes each affine map 1-Lipschitz (||x W_sn - y W_sn|| <= ||x - y||), and with
1-Lipschitz activations (ReLU, leaky ReLU, tanh) the whole network is: the critic of an MMD-GAN
can then never push the features of two nearby points arbitrarily far apart, which is what makes
its MMD explode one step and its gradients vanish the next (minigan.mmdgan). (With one power
iteration per step sigma is estimated from below, so the bound holds to within that estimate:
largest singular values of W_sn of 1.00002-1.009 were measured after 300 ring-8 steps.)

sigma(W) by power iteration, with W: (d_in, d_out) as the MLP stores it (x @ W), and a vector
u: (d_in,) kept from one training step to the next:

    v = W^T u / ||W^T u||;     u <- W v / ||W v||          (one iteration per critic update)

The normalised weight is then a function of W for the current u, held fixed:

    sigma = ||W^T u||  (= u^T W v),     W_sn = W / sigma

Backward (u held fixed, as in Miyato et al.): with G = dL/dW_sn,

    dsigma/dW     = u v^T                                   (d||W^T u|| / dW = u (W^T u)^T / sigma)
    dL/dW_ij      = G_ij / sigma + sum_kl G_kl W_kl (-1 / sigma^2) dsigma/dW_ij
                  = (G - <G, W_sn> u v^T) / sigma           (<A, B> = sum_kl A_kl B_kl)

Derived step by step, with checks (the power iteration's convergence, dsigma/dW = u v^T, the
backward against finite differences, the 1-Lipschitz bound): docs/guide.md, section 3.9.

Deliberately left out: normalising biases (they do not change the Lipschitz constant),
several power iterations per step (one, warm-started from the last u, tracks sigma closely as W
changes slowly), convolutions.
"""
import numpy as np

from ._checks import check_seed
from .mlp import MLP

INIT_ITERATIONS = 30  # power iterations at construction, so sigma is accurate from the start


def power_iteration(W, u, n_iter=1):
    """n_iter steps of u <- W (W^T u) / ||W (W^T u)||.  W: (d_in, d_out), u: (d_in,) -> new u."""
    for _ in range(n_iter):
        v = W.T @ u
        v /= np.linalg.norm(v)
        u = W @ v
        u /= np.linalg.norm(u)
    return u


def spectral_normalize_forward(W, u):
    """W_sn = W / sigma with sigma = ||W^T u|| (u held fixed).

    W: (d_in, d_out), u: (d_in,) unit vector  ->  W_sn: (d_in, d_out), cache
    """
    Wtu = W.T @ u
    sigma = np.linalg.norm(Wtu)
    W_sn = W / sigma
    return W_sn, (W_sn, u, Wtu / sigma, sigma)


def spectral_normalize_backward(dW_sn, cache):
    """dL/dW = (dL/dW_sn - <dL/dW_sn, W_sn> u v^T) / sigma  (see the module docstring).

    dW_sn: (d_in, d_out) -> dW: (d_in, d_out)
    """
    W_sn, u, v, sigma = cache
    # <G, W_sn>, so that dL/dsigma = sum G (-W / sigma^2) = -<G, W_sn> / sigma
    G_dot_W_sn = np.sum(dW_sn * W_sn)
    # direct path G / sigma, plus dL/dsigma * dsigma/dW with dsigma/dW = u v^T
    return (dW_sn - G_dot_W_sn * np.outer(u, v)) / sigma


class SpectralNorm:
    """An MLP run with spectrally normalised weights.

    net:   the MLP whose *raw* parameters an optimiser updates and a checkpoint stores
    seed:  int or Generator for the starting vectors u
    `normed` is a second MLP of the same shape whose weight matrices are W_l / sigma_l and whose
    biases are the very arrays of `net`: run `normed` forward and backward, then `backward()`
    turns its gradients into gradients of the raw parameters, in `net.grads`.
    `u` (one vector per layer) is state: save it with the weights to resume exactly.
    """

    def __init__(self, net, seed=None):
        if not isinstance(net, MLP):
            raise TypeError(f"net must be a minigan.MLP, got {type(net).__name__}")
        self.net = net
        rng = np.random.default_rng(check_seed(seed))
        with np.errstate(invalid="ignore"):   # an all-zero W gives u = 0/0: refresh() says so
            self.u = [power_iteration(W, self._unit(rng.standard_normal(len(W)), W.dtype),
                                      INIT_ITERATIONS) for W in net.params[0::2]]
        self.normed = MLP(net.sizes, net.activation, net.output_activation, dtype=net.dtype,
                          backend=net.backend)
        self.normed.params[1::2] = net.params[1::2]   # shared biases
        self._caches = None
        self.refresh(update_u=False)

    @staticmethod
    def _unit(x, dtype):
        return (x / np.linalg.norm(x)).astype(dtype)

    def sigmas(self):
        """The current estimates sigma_l = ||W_l^T u_l||, one per layer."""
        return [float(np.linalg.norm(W.T @ u)) for W, u in zip(self.net.params[0::2], self.u)]

    def refresh(self, update_u=True):
        """Recompute every W_sn from the raw weights (after one power iteration if update_u)."""
        if update_u:
            self.u = [power_iteration(W, u) for W, u in zip(self.net.params[0::2], self.u)]
        self._caches = []
        for l, (W, u) in enumerate(zip(self.net.params[0::2], self.u)):
            sigma = np.linalg.norm(W.T @ u)
            if not 0 < sigma < np.inf:   # W / sigma would be NaN or inf everywhere, silently
                raise ValueError(f"spectral normalisation divides each weight matrix by its "
                                 f"largest singular value, estimated ||W^T u||, and for layer "
                                 f"{l + 1} that is {sigma} (all-zero weights, or a zero u)")
            W_sn, cache = spectral_normalize_forward(W, u)
            self.normed.params[2 * l][...] = W_sn   # in place: the compiled passes hold these arrays
            self._caches.append(cache)

    def backward(self):
        """Accumulate the raw parameters' gradients from the normalised net's (`normed.grads`)."""
        for l, cache in enumerate(self._caches):
            self.net.grads[2 * l] += spectral_normalize_backward(self.normed.grads[2 * l], cache)
            self.net.grads[2 * l + 1] += self.normed.grads[2 * l + 1]   # biases pass straight
