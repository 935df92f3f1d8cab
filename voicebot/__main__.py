"""``python -m voicebot`` is the ``voicebot`` command."""

import sys

from voicebot.cli import main

sys.exit(main())
