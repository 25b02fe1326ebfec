"""The compiled part of the decision path: `kairos_native` (Rust, in `native/`), which `make
setup` builds and installs. Its `Writer` writes what a decision writes for each ad it serves:
the answer from the ad's prerendered page (the tracking fields signed into the URLs' tail, the
page filled with it: byte for byte what `tracking.Signer.signed` and `prerender.Page.filled`
write) and the decision record (the JSON msgspec writes for its `DecisionRecord`, but for the
spelling of numbers). Where it was not built, or is turned off (`KAIROS_NATIVE=false`), the same
are written in Python (`render`).
"""

from __future__ import annotations

import importlib
import logging
from functools import cache
from types import ModuleType
from typing import TYPE_CHECKING

from kairos.logs import kv

if TYPE_CHECKING:
    from kairos_native import Writer

log = logging.getLogger(__name__)


def writer(key: bytes) -> Writer | None:
    """A compiled writer signing with `key`, or None where the module is not installed."""
    module = _module()
    if module is None:
        return None
    made: Writer = module.Writer(key)
    return made


@cache
def _module() -> ModuleType | None:
    """`kairos_native`, looked for once (a missing one said once)."""
    try:
        return importlib.import_module("kairos_native")
    except ImportError as exc:
        log.warning("compiled decision path not installed", extra=kv(error=repr(exc)))
        return None
