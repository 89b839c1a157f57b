"""python -m bot: the same as the gongkai command."""

import sys

from bot.cli import main

sys.exit(main())
