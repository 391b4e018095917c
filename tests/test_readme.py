"""README's figures table is generated from benchmarks/results/ (``make bench`` refreshes it),
so a figure quoted there is always the one the results hold."""

from __future__ import annotations

from benchmarks.readme_table import main


def test_the_readme_figures_table_matches_the_results() -> None:
    assert main(["--check"]) == 0, "run `python -m benchmarks.readme_table` and commit README"
