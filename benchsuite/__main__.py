"""`python -m benchsuite` (also what `torchrun -m benchsuite` runs)."""

from benchsuite.cli import main

if __name__ == "__main__":
    main()
