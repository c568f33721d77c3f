"""bench/load.py runs end to end in --quick mode, both modes, all three targets.

No timing assertions (figures go in bench/README.md): what must hold at any speed is that every
accepted message reached every other member of its room exactly once and in order.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.live


def test_load_harness_quick_run_delivers_everything_once_in_order(
    tmp_path, postgres_url, redis_url
):
    out = tmp_path / "load.json"
    report = tmp_path / "load.md"
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "load.py"),
            "--quick",
            "--postgres-url",
            postgres_url,
            "--redis-url",
            redis_url,
            "--json",
            str(out),
            "--report",
            str(report),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(out.read_text())
    steps = result["steps"]
    ran = {(s["mode"], s["target"]) for s in steps}
    assert ran == {
        (mode, target)
        for mode in ("single", "redis")
        for target in ("peerchat", "channels", "websockets")
    }
    for step in steps:
        where = f"{step['mode']} {step['target']}"
        assert step["connections"] == 100, where
        assert step["sent"] > 0 and step["expected"] == step["accepted"] * 4, where
        assert (step["missing"], step["duplicates"], step["out_of_order"]) == (0, 0, 0), where
        assert step["delivered"] == step["expected"], where
        if step["target"] == "peerchat":
            assert step["accepted"] == step["sent"] and step["refused"] == 0, step["errors"]
    assert {(m["mode"], m["target"]) for m in result["memory"]} == ran
    assert all(m["kib_per_connection"] > 0 for m in result["memory"])
    text = report.read_text()
    assert "Highest rate meeting the target" in text and "| redis | peerchat |" in text
