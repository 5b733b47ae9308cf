"""What the group hands its commands."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pki.home import Home


@dataclass
class Context:
    home: Path
    home_given: bool

    def open_home(self) -> Home:
        return Home.open(self.home)
