"""What the model libraries print: quiet by default, everything with ``ragkit --verbose``.

transformers, huggingface_hub and datasets draw their own progress bars ("Loading weights",
"Map") and advisory warnings around ragkit's own progress display. The CLI process turns them
off before any of those libraries is imported (they read these variables at import time);
``--verbose`` turns them back on. A variable the user set is left as it is, unless ``--verbose``
asks for the output. The library (``import ragkit``) changes none of this: the process decides.
"""

from __future__ import annotations

import os
from typing import MutableMapping

__all__ = ["QUIET_ENV", "VERBOSE_ENV", "set_library_output"]

QUIET_ENV = {
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",  # transformers' "Loading weights" bar follows huggingface_hub's setting
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_VERBOSITY": "error",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
}
"""Environment that silences the model libraries' progress bars and warnings."""

VERBOSE_ENV = {
    "HF_HUB_DISABLE_PROGRESS_BARS": "0",
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "0",
    "TRANSFORMERS_VERBOSITY": "info",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "0",
}
"""Environment that shows them (and transformers' info messages)."""


def set_library_output(verbose: bool, environ: MutableMapping[str, str] | None = None) -> None:
    """Quiet the model libraries (keeping what the user set), or with ``verbose`` show everything.

    Call it before transformers / huggingface_hub / datasets are imported.
    """
    environ = os.environ if environ is None else environ
    if verbose:
        environ.update(VERBOSE_ENV)
        return
    for key, value in QUIET_ENV.items():
        environ.setdefault(key, value)
