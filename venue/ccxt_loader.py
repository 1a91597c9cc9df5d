"""``ccxt`` with only its Binance exchange imported.

``import ccxt`` runs ccxt's ``__init__``, which imports all of its ~105 exchange classes: about
36 MB of resident memory in the live process, which talks to one exchange. ``ccxt_package()``
registers ``ccxt`` as a package whose ``__init__`` has not run yet, imports ``ccxt.binance`` (its
base classes and errors come with it) and sets ``binance`` and every error class on the package,
so ``ccxt.binance(...)`` and ``except ccxt.BaseError`` work as usual. The first time anything asks
the package for another name (``ccxt.kraken``, ``ccxt.__version__``), ccxt's own ``__init__`` runs
in that same module object and the name is there, only later. If ccxt is already imported, it is
returned as it is.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
from types import ModuleType

_lock = threading.Lock()


def ccxt_package() -> ModuleType:
    """The ``ccxt`` package, with ``binance`` and the error classes (see the module docstring)."""
    with _lock:
        loaded = sys.modules.get("ccxt")
        if loaded is not None:
            return loaded
        spec = importlib.util.find_spec("ccxt")
        if spec is None:
            raise ImportError("ccxt is not installed")
        package = importlib.util.module_from_spec(spec)  # __path__ set, no code run

        def complete(name: str):
            # PEP 562: called for a name the package does not have yet. Run ccxt's __init__ once.
            with _lock:
                if package.__dict__.pop("__getattr__", None) is not None:
                    spec.loader.exec_module(package)
            return getattr(package, name)

        package.__getattr__ = complete
        sys.modules["ccxt"] = package
        try:
            from ccxt.base import errors
            from ccxt.binance import binance
        except BaseException:
            del sys.modules["ccxt"]
            raise
        for name in errors.__all__:
            setattr(package, name, getattr(errors, name))
        package.binance = binance
        return package
