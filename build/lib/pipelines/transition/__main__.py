"""`python -m pipelines.transition`: see pipelines.transition.ladders."""

import os
import sys

from pipelines.transition.ladders import main

if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    sys.exit(main())
