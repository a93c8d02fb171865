"""`python -m core.sentiment --evaluate FILE.csv`."""

import sys

from core.sentiment.evaluation import main

sys.exit(main())
