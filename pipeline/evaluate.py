"""`python -m pipeline.evaluate`: the command-line entry of `pipeline.training.evaluate`."""
import sys

from .training.evaluate import main

if __name__ == "__main__":
    sys.exit(main())
