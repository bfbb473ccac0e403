"""`python -m pipelines.evaluation`: see pipelines.evaluation.cli."""

import os
import sys

from pipelines.evaluation.cli import main

if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    sys.exit(main())
