"""Loads the compiled cffi module and checks the engine it is linked to.

Kept apart so that a missing or mismatched engine fails at import with a
message that says what to do, instead of a bare loader error.
"""

from __future__ import annotations

_HELP = (
    "singleflight (Python binding) needs the engine library libsingleflight.so "
    "(the singleflight C ABI). Install it, then (re)install this package with "
    "pkg-config able to find singleflight.pc, e.g. from a clone of the "
    "singleflight repository: run `scripts/setup` (it builds the engine and "
    "installs it into .local), then `. scripts/env.sh` "
    "(it sets PKG_CONFIG_PATH), then "
    "`pip install ./bindings/python`. If the engine was moved after this "
    "package was built, set LD_LIBRARY_PATH to its lib directory."
)

try:
    from ._singleflight import ffi, lib
except ImportError as exc:  # pragma: no cover - depends on the machine
    raise ImportError(f"{_HELP}\n(loader said: {exc})") from exc

_lib_version = lib.sf_version()
if (
    _lib_version // 10000 != lib.SF_VERSION_MAJOR or _lib_version < lib.SF_VERSION_NUMBER
):  # pragma: no cover - depends on the machine
    raise ImportError(
        "singleflight: this package was built against singleflight.h "
        f"{lib.SF_VERSION_MAJOR}.{lib.SF_VERSION_MINOR}.{lib.SF_VERSION_PATCH} "
        "but loaded libsingleflight "
        f"{ffi.string(lib.sf_version_string()).decode()}; "
        "reinstall the package against the installed engine. " + _HELP
    )

__all__ = ["ffi", "lib"]
