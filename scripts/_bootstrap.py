"""Shared start-up of the command-line scripts: puts the repository root on ``sys.path`` (so
``python scripts/<name>.py`` imports the application's modules) and runs their async body."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Awaitable, Callable

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def run_command(command: Callable[[], Awaitable[int]]) -> int:
    """Run a script's async body; a configuration error is one line and exit status 2, not a traceback."""
    from config import ConfigError

    try:
        return asyncio.run(command())
    except ConfigError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return 2
