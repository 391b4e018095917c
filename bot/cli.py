"""``btcbot``: the bot's command line. The bot itself arrives with issues 4 and 5."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="btcbot", description=__doc__)
    parser.parse_args(argv)
    print("btcbot: no commands yet; the bot is not built (issues 4 and 5)", file=sys.stderr)
    return 2
