"""The `benchsuite` console script and `python -m benchsuite` (also what `torchrun -m benchsuite` runs).

The command line is imported inside `main`, so that a Ctrl-C while it loads (pandas, rich and
click take about a second on a small machine) exits 130 with a message, as it does later on,
instead of a KeyboardInterrupt traceback.
"""

import sys

from benchsuite import signals


def main() -> None:
    """Load the command line and run it."""
    try:
        from benchsuite.cli import main as command_line
    except KeyboardInterrupt:
        sys.stderr.write("\nInterrupted by Ctrl-C.\n")
        sys.exit(signals.EXIT_SIGINT)
    command_line()


if __name__ == "__main__":
    main()
