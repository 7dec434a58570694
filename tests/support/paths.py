"""Where things are in this repository."""

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
