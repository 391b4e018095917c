"""``chaos``: the chaos harness's command line. The harness arrives with issue 6."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="chaos", description=__doc__)
    parser.parse_args(argv)
    print("chaos: no commands yet; the harness is not built (issue 6)", file=sys.stderr)
    return 2
