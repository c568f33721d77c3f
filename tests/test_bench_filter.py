"""bench/filter_bench.py runs end to end in --quick mode (no timing assertions)."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_filter_bench_quick_run(tmp_path):
    out = tmp_path / "filter.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "filter_bench.py"),
            "--quick",
            "--iterations",
            "50",
            "--bp-calls",
            "2",
            "--bp-sample",
            "10",
            "--json",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = json.loads(out.read_text())
    assert set(results["sets"]) == {"short", "typical", "everyday", "long"}
    for name, stats in results["sets"].items():
        assert stats["messages"] > 0, name
        for approach in ("engine", "regex", "better_profanity"):
            assert stats[approach]["calls"] > 0, (name, approach)
            assert stats[approach]["median_us"] >= 0
        assert stats["engine"]["calls"] == 50
        assert stats["better_profanity"]["calls"] == 2
        assert stats["better_profanity"]["reduced"] is True
    assert 200 <= results["sets"]["typical"]["mean_chars"] <= 400
    assert 200 <= results["sets"]["everyday"]["mean_chars"] <= 400
    assert 1500 <= results["sets"]["long"]["mean_chars"] <= 2000
    assert set(results["catches"]) == {"engine", "regex", "better_profanity"}
    for approach, catches in results["catches"].items():
        assert catches["disguised_recall"]["total"] > 0, approach
        assert catches["flag_rate_on_passing"]["total"] > 0, approach
    assert "better-profanity" in proc.stdout and "regex" in proc.stdout
    assert "2 per set" in proc.stdout
