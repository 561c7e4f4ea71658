"""``python -m generator``: the otel-service command line."""

import sys

from generator.cli import main

sys.exit(main())
