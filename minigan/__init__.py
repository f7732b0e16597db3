"""minigan: generative networks from scratch, to read and to run on a CPU.

    MLP          hand-written backprop network (minigan.mlp, minigan.layers)
    GMN          generator trained directly by minimising MMD (minigan.gmn, minigan.mmd)
    GAN          generator trained against a discriminator (minigan.gan, minigan.losses)
    MMDGAN       generator trained by MMD on features a critic learns (minigan.mmdgan, .spectral)
    mmd2, mmd2_and_grad, median_heuristic   the MMD estimators and bandwidths
    mmd_test     the kernel two-sample test: a p-value for "same distribution?"
    DeepKernel   a learned kernel for it (kernel="deep"; minigan.deep_kernel, MMD-D)
    data         target distributions (1-D Gaussians, ring-8, grid-25)
    TrainingDiverged  raised when a step turns NaN/inf or blows up (the step is undone)
    gradcheck    finite differences for checking backward passes
    set_num_threads, get_num_threads   the thread policy's override (minigan.threads)
"""
from . import data, deep_kernel, gradcheck, layers, losses, mmd, optim, threads
from .deep_kernel import DeepKernel
from .divergence import TrainingDiverged
from .gan import GAN
from .gmn import GMN
from .mlp import MLP
from .mmdgan import MMDGAN
from .mmd import median_heuristic, mmd2, mmd2_and_grad, mmd_and_grad
from .optim import SGD, Adam
from .threads import get_num_threads, set_num_threads
from .trainer import sample_noise
from .two_sample import mmd_test

__version__ = "0.1.0"
__all__ = ["MLP", "GMN", "GAN", "MMDGAN", "SGD", "Adam", "mmd2", "mmd2_and_grad", "mmd_and_grad",
           "median_heuristic", "mmd_test", "DeepKernel", "TrainingDiverged", "sample_noise", "data",
           "deep_kernel", "gradcheck", "layers", "losses", "mmd", "optim", "threads",
           "set_num_threads", "get_num_threads", "__version__"]
