"""Loads the compiled cffi module and checks the engine it is linked to.

Kept apart so that a missing or mismatched engine fails at import with a
message that says what to do, instead of a bare loader error.
"""

from __future__ import annotations

_HELP = (
    "singleflight (Python binding) could not load its engine, libsingleflight.so.0. "
    "A package that bundles it has it beside this module (singleflight/); one built "
    "against an installed engine finds it through the rpath recorded at build time. "
    "Reinstall the package: from a clone of the singleflight repository, "
    "`pip install ./bindings/python` bundles the engine when pkg-config finds none "
    "(SINGLEFLIGHT_BUNDLED=always bundles it in any case); to link the checkout's own "
    "engine instead, run `scripts/setup` and `. scripts/env.sh` first. If an installed "
    "engine was moved after this package was built, set LD_LIBRARY_PATH to its lib "
    "directory."
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
        "(the process has one engine: the libsingleflight.so.0 loaded first, by this "
        "package or by another library). Install a newer engine, or reinstall the "
        "package against the installed one."
    )

__all__ = ["ffi", "lib"]
