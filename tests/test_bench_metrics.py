"""bench/metrics_bench.py runs end to end in --quick mode on PostgreSQL (no timing assertions)."""

import json
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import psycopg

ROOT = Path(__file__).resolve().parent.parent


def test_metrics_bench_quick_run(tmp_path, postgres_url):
    name = f"peerchat_metrics_bench_test_{uuid.uuid4().hex[:8]}"
    url = urlunparse(urlparse(postgres_url)._replace(path=f"/{name}"))
    out = tmp_path / "metrics.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "metrics_bench.py"),
            "--quick",
            "--repeat",
            "1",
            "--database-url",
            url,
            "--json",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    results = json.loads(out.read_text())

    assert results["quick"] is True
    assert (results["sessions"], results["messages"], results["repeat"]) == (2_000, 50_000, 1)
    rows = results["rows"]
    assert rows["peerchat_supportsession"] == 2_000
    assert rows["peerchat_room"] == 2_000
    assert rows["peerchat_message"] == 50_000
    assert rows["peerchat_supportrequest"] == 2_300
    for table in (
        "moderation_screening",
        "peerchat_feedback",
        "moderation_escalation",
        "peerchat_debrief",
        "peerchat_shift",
        "peerchat_supervisionslot",
        "peerchat_booking",
    ):
        assert rows[table] > 0, table
    assert rows["peerchat_debrief"] == rows["moderation_escalation"]
    assert results["generation_s"] > 0
    assert set(results["generation_steps_s"]) >= {"messages", "vacuum analyze"}

    timed = ("report_week", "report_month", "csv", "baseline_count", "baseline_python")
    for name_ in (*timed, "csv_only"):
        timing = results["timings"][name_]
        assert len(timing["runs_s"]) >= 1, name_
        assert timing["median_s"] > 0, name_
    for name_ in ("report_week", "report_month", "csv"):
        assert results["ratios"][name_]["to_count"] > 0
        assert results["ratios"][name_]["to_python"] > 0
    for period in ("report_week", "report_month"):
        queries = results["queries"][period]
        assert queries["count"] >= 1, period
        assert queries["slowest"]["seconds"] >= 0
    assert results["report"]["csv_lines"] > 1
    # The report's median wait per week is the one the naive baseline computes from the rows.
    agreement = results["queue_wait_agreement"]
    assert agreement["checked"], agreement
    assert agreement["weeks"] > 0
    assert agreement["agree"] == agreement["weeks"], agreement
    assert results["errors"] == {}
    assert "evaluator figures bench" in proc.stdout

    # The database is dropped at the end (no --keep).
    admin = urlunparse(urlparse(postgres_url)._replace(path="/postgres"))
    with psycopg.connect(admin) as conn:
        left = conn.execute("SELECT count(*) FROM pg_database WHERE datname = %s", [name])
        assert left.fetchone()[0] == 0
