"""The fleet demo (examples/fleet/demo.py, run by scripts/demo-fleet and
./scripts/setup) ends well with every fleet worker: one execution in the
first stampede, a takeover by another language in the second, and no
redis-server or worker left behind."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_fleet_demo_runs_once_and_shows_a_takeover():
    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed (scripts/bootstrap.sh installs it)")
    out = subprocess.run([sys.executable, str(ROOT / "examples" / "fleet" / "demo.py"), "1", "2"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "the database ran 1 time(s) in the whole fleet" in out.stdout, out.stdout
    assert "took over after" in out.stdout, out.stdout
    sock = out.stdout.split("redis-server on unix://", 1)[1].split(";", 1)[0]
    assert not Path(sock).parent.exists(), "the demo left its server's directory behind"
