"""`python -m intentcast.agents.cli`: the same as the `intentcast` command."""

import sys

from intentcast.agents.cli.main import main

sys.exit(main())
