"""What the command-line scripts share: running their async body with one-line configuration errors."""

from __future__ import annotations

import asyncio
import sys
from typing import Awaitable, Callable


def run_command(command: Callable[[], Awaitable[int]]) -> int:
    """Run a script's async body; a configuration error is one line and exit status 2, not a traceback."""
    from config import ConfigError

    try:
        return asyncio.run(command())
    except ConfigError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return 2
