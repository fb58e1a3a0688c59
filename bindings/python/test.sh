#!/usr/bin/env bash
# Installs the Python binding into the project's virtual environment and runs
# its tests. Usage: bindings/python/test.sh [pytest args...]
#   SF_VENV          the venv (default: <repo>/.venv, from scripts/env.sh)
#   SF_PIP_ISOLATION 1 to build with pip's build isolation (fetches setuptools
#                    and cffi from PyPI); by default the venv's own are used
#                    when it has them.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/../../scripts/env.sh"   # PKG_CONFIG_PATH, SF_VENV
py="$SF_VENV/bin/python"

if ! pkg-config --exists singleflight; then
  echo "bindings/python/test.sh: the engine is not installed (no singleflight.pc);" >&2
  echo "  run scripts/setup first (or set PKG_CONFIG_PATH)." >&2
  exit 1
fi

# Lint and format (configuration: pyproject.toml [tool.ruff]).
if [ ! -x "$SF_VENV/bin/ruff" ]; then
  echo "bindings/python/test.sh: ruff is not in $SF_VENV; run scripts/setup (sf_bootstrap_tools)." >&2
  exit 1
fi
(cd "$here" && "$SF_VENV/bin/ruff" check --quiet . && "$SF_VENV/bin/ruff" format --check --quiet .)

flags=()
if [ "${SF_PIP_ISOLATION:-0}" != 1 ] && "$py" -c 'import setuptools, cffi, wheel' 2>/dev/null; then
  flags+=(--no-build-isolation)
fi
# Build from a scratch copy: pip (and setuptools) leave build/ and egg-info/
# in the source tree otherwise.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -r "$here/pyproject.toml" "$here/setup.py" "$here/MANIFEST.in" "$here/README.md" "$here/src" "$tmp/"
find "$tmp/src" \( -name '*.so' -o -name '*.o' -o -name '_singleflight.c' -o -name __pycache__ \) -prune -exec rm -rf {} +
# This package installed under the distribution name `singleflight` (another
# project's name on PyPI) would own the same files as singleflight-engine.
old_files=$("$py" -m pip show -f singleflight 2>/dev/null || true)
if grep -q 'singleflight/_build.py' <<<"$old_files"; then
  "$py" -m pip uninstall --quiet -y singleflight
fi
"$py" -m pip install --quiet --force-reinstall --no-deps "${flags[@]}" "$tmp"
# The prometheus extra's dependency, for tests/test_metrics.py.
"$py" -c 'import prometheus_client' 2>/dev/null || "$py" -m pip install --quiet 'prometheus_client>=0.17'

cd "$here/tests"   # import the installed package, not src/
"$py" -m pytest -q -p no:cacheprovider "$@" .
# The asyncio tests again with asyncio's internals left alone: the public-API
# fallback of src/singleflight/_asyncio_shim.py.
echo "bindings/python/test.sh: asyncio tests with SINGLEFLIGHT_ASYNCIO=public"
SINGLEFLIGHT_ASYNCIO=public "$py" -m pytest -q -p no:cacheprovider "$@" \
  test_asyncio_shim.py test_async.py test_async_deadlock.py test_async_outcomes.py \
  test_async_shutdown.py test_giveups.py
