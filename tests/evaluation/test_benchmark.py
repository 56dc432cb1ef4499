"""The benchmark table: dataset names matched to the paper's benchmarks, markdown and JSON."""

from __future__ import annotations

from mutualsense.evaluation.benchmark import PAPER_RESULTS, BenchmarkRow, benchmark_markdown, paper_dataset


def test_dataset_folders_are_matched_to_the_papers_benchmarks() -> None:
    assert paper_dataset("/data/NJU2K") == "NJU2K"
    assert paper_dataset("/data/NJU2K_test") == "NJU2K"
    assert paper_dataset("/data/nju2k-test") == "NJU2K"
    assert paper_dataset("/data/DUT-RGBD/test") == "DUT"
    assert paper_dataset("/data/STERE1000") == "STERE"
    assert paper_dataset("/data/NLPR") == "NLPR"
    assert paper_dataset("/data/SIP") == "SIP" and paper_dataset("LFSD") == "LFSD"
    assert paper_dataset("/data/garden") is None
    assert paper_dataset("/data/test") is None
    assert paper_dataset("/data/SIPX") is None


def test_the_markdown_table_puts_the_papers_figures_beside_ours() -> None:
    scores = {"count": 7, "s_measure": 0.5, "max_f": 0.25, "max_e": 0.75, "mae": 0.125}
    rows = [BenchmarkRow.from_scores("d/NLPR_test", scores), BenchmarkRow.from_scores("d/garden", scores)]
    assert rows[0].paper == {"s_measure": 0.932, "max_f": 0.925, "max_e": 0.965, "mae": 0.021}
    assert PAPER_RESULTS["NLPR"] == (0.932, 0.925, 0.965, 0.021)
    lines = benchmark_markdown("m.pt", rows).splitlines()
    table = [line for line in lines if line.startswith("|")]
    assert len(table) == 4
    assert table[2] == "| NLPR | 7 | 0.500 | 0.932 | 0.250 | 0.925 | 0.750 | 0.965 | 0.125 | 0.021 |"
    assert table[3] == "| garden | 7 | 0.500 | — | 0.250 | — | 0.750 | — | 0.125 | — |"
