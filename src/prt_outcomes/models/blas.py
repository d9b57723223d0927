"""One BLAS thread for the engine's matrix products.

The engine's products are small (k x k, p x p, stacked rows): BLAS threads only add
synchronisation (on a loaded 2-core machine they made a fit 20x slower), and with one thread
the sums do not depend on the machine. ``threadpoolctl.threadpool_limits`` looks for the BLAS
libraries on every call (~4-20 ms, a tenth of a 10,000-participant fit); one controller, made
at the first fit (when numpy's and scipy's BLAS are both loaded), is reused.

Examples
--------
>>> import numpy as np
>>> with one_blas_thread():
...     float((np.ones((2, 2)) @ np.ones(2))[0])
2.0
"""

from __future__ import annotations

from threadpoolctl import ThreadpoolController

__all__ = ["one_blas_thread"]

_CONTROLLER: ThreadpoolController | None = None


def one_blas_thread():
    """A context in which BLAS runs on one thread (the libraries found once per process)."""
    global _CONTROLLER
    if _CONTROLLER is None:
        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER.limit(limits=1, user_api="blas")
