"""The benchmark tool: aiperf's metric definitions on known records, and a real sweep against a course NIM."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest

from nimlab.bench.load import LoadResult, RequestRecord
from nimlab.bench.report import ratios, table
from nimlab.bench.stats import percentile, summarize


def test_percentile_interpolates_like_numpy():
    xs = [10.0, 20.0, 30.0, 40.0]
    assert percentile(xs, 50) == 25.0
    assert percentile(xs, 90) == pytest.approx(37.0)
    assert percentile([5.0], 99) == 5.0


def test_metrics_follow_aiperf_definitions():
    # two requests: 11 tokens, first after 0.1 s, done at 1.1 s -> ITL = (1.1 - 0.1) / 10 = 100 ms
    recs = [RequestRecord(0, "a", 11, 0.1, 1.1), RequestRecord(1, "b", 11, 0.3, 1.3)]
    stats = summarize("x", LoadResult(concurrency=2, wall_s=2.0, records=recs))
    assert stats.output_tokens_per_s == pytest.approx(22 / 2.0)
    assert stats.requests_per_s == pytest.approx(1.0)
    assert stats.itl_ms.avg == pytest.approx(100.0)
    assert stats.ttft_ms.p50 == pytest.approx(200.0)
    assert stats.output_tokens_per_s_per_user.avg == pytest.approx(10.0)


def test_report_ratios_against_the_first_endpoint():
    a = summarize("nim", LoadResult(8, 1.0, [RequestRecord(0, "", 100, 0.1, 1.0)]))
    b = summarize("triton", LoadResult(8, 1.0, [RequestRecord(0, "", 50, 0.1, 1.0)]))
    assert ratios([a, b], "nim") == ["triton / nim @ concurrency 8: 0.50x"]
    assert "| nim | 8 | 1 | 0 | 100.0 |" in table([a, b])


@pytest.mark.slow
def test_sweep_against_a_real_endpoint_writes_json_csv_and_plot(nim_optimized, tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "nimlab", "bench", "--endpoint", f"nim={nim_optimized.url}/v1",
         "--concurrency", "1,2", "--requests-per-client", "1", "--max-tokens", "8", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "| nim | 2 | 2 | 0 |" in out.stdout
    data = json.loads((tmp_path / "bench.json").read_text())
    assert [r["concurrency"] for r in data["runs"]] == [1, 2]
    for r in data["runs"]:
        assert r["requests"] == r["concurrency"] and r["errors"] == 0
        assert 0 < r["ttft_ms"]["p50"] <= r["latency_ms"]["p50"] and r["itl_ms"]["avg"] > 0
    rows = list(csv.DictReader((tmp_path / "bench.csv").open()))
    assert rows[1]["endpoint"] == "nim" and float(rows[1]["output_tok_s"]) > 0
    assert (tmp_path / "bench.png").stat().st_size > 5000


def test_bad_endpoint_spec_is_a_clear_error():
    out = subprocess.run([sys.executable, "-m", "nimlab", "bench", "--endpoint", "127.0.0.1:8000"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "is not NAME=URL" in out.stderr and "next:" in out.stderr
