"""`python -m pipeline.train`: the command-line entry of `pipeline.training.train`."""
import sys

from .training.train import main

if __name__ == "__main__":
    sys.exit(main())
