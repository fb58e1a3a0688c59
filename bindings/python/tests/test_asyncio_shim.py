"""The asyncio shim takes asyncio's internals on the Pythons the package
claims, and only public APIs when told to (SINGLEFLIGHT_ASYNCIO=public,
the mode test.sh runs the asyncio tests in a second time)."""

from __future__ import annotations

import asyncio
import os
import sys

from singleflight import _asyncio_shim as shim


def test_the_mode_is_the_one_the_environment_asks_for():
    public = os.environ.get("SINGLEFLIGHT_ASYNCIO") == "public"
    assert shim.PUBLIC_ONLY is public
    if public:
        assert shim.CURRENT_TASKS is None
        assert shim.running_loop is shim._running_loop_public
        assert shim.refcount(object()) is None
    elif sys.implementation.name == "cpython" and sys.version_info[:2] == (3, 11):
        # Every internal the fast path reads is there on the claimed Python.
        assert isinstance(shim.CURRENT_TASKS, dict)
        assert shim.running_loop is shim._running_loop_fast
        assert isinstance(shim.refcount(object()), int)


def test_running_loop_and_current_task_agree_with_asyncio():
    assert shim.running_loop() is None

    async def main():
        loop = asyncio.get_running_loop()
        assert shim.running_loop() is loop
        assert shim.running_loop() is loop  # (the remembered loop)
        assert shim.current_task(loop) is asyncio.current_task()
        return loop

    loop = asyncio.run(main())
    assert shim.running_loop() is None
    assert shim.shutdown_started(loop)  # closed
