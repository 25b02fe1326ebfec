"""The compiled part of the decision path: `kairos_native` (Rust, in `native/`), which `make
setup` builds and installs. It writes an ad's answer from its prerendered page: the tracking
fields signed into the URLs' tail and the page filled with it, byte for byte what
`tracking.Signer.signed` and `prerender.Page.filled` write (a third of the time a decision took
to render an ad). Where it was not built, or is turned off (`KAIROS_NATIVE=false`), the same
answers are written in Python.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING

from kairos.logs import kv

if TYPE_CHECKING:
    from kairos_native import Writer

log = logging.getLogger(__name__)
_warned: list[bool] = []


def writer(key: bytes) -> Writer | None:
    """A compiled writer signing with `key`, or None where the module is not installed."""
    try:
        module = importlib.import_module("kairos_native")
    except ImportError as exc:
        if not _warned:
            _warned.append(True)
            log.warning("compiled decision path not installed", extra=kv(error=repr(exc)))
        return None
    made: Writer = module.Writer(key)
    return made
