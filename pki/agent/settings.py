"""What the signing agent is set up with: the origins that may use it, where it looks for
NPKI certificates, how long a request lives and how much it may sign.

An origin on the allow-list is written the way a browser sends it in the ``Origin``
header: ``scheme://host[:port]``, lower case, no path, the default port left out
(``https://www.gov.kr``, ``http://127.0.0.1:8000``), a Korean domain in its ASCII form
(browsers send ``https://민원.kr`` as ``https://xn--lg3b21r.kr``). A wildcard or ``null``
(the origin of sandboxed frames and local files, which any page can take on) is refused:
every page allowed is named.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .. import origins
from ..errors import AgentSettingsError, InvalidOriginError
from ..keys.discovery import default_base

__all__ = [
    "DEFAULT_MAX_CONTENT_BYTES",
    "DEFAULT_REQUEST_TTL",
    "AgentSettings",
    "Location",
    "LocationKind",
    "location_of",
    "normalise_origin",
]

DEFAULT_REQUEST_TTL = dt.timedelta(minutes=5)
DEFAULT_MAX_CONTENT_BYTES = 1024 * 1024
_REMOVABLE_ROOTS = ("/media", "/run/media", "/mnt", "/Volumes")


class LocationKind(enum.Enum):
    """The storage locations of the selection dialog (저장 위치)."""

    HARD_DISK = "hard_disk"
    """하드디스크: where Korean software keeps certificates on this system."""
    REMOVABLE = "removable"
    """이동식디스크: a USB drive's root."""
    FOLDER = "folder"
    """폴더: any other folder."""

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {LocationKind.HARD_DISK: "하드디스크", LocationKind.REMOVABLE: "이동식디스크",
           LocationKind.FOLDER: "폴더"}


@dataclass(frozen=True)
class Location:
    """One base the dialog scans for ``NPKI/*/USER/cn=*`` folders."""

    kind: LocationKind
    path: Path


def location_of(path: Path) -> Location:
    """A base given by the user: a removable drive when it lies under a mount root
    (``/media``, ``/run/media``, ``/mnt``, ``/Volumes``), else a folder."""
    resolved = PurePosixPath(Path(path).absolute())
    removable = any(resolved.is_relative_to(root) and resolved != PurePosixPath(root)
                    for root in _REMOVABLE_ROOTS)
    return Location(LocationKind.REMOVABLE if removable else LocationKind.FOLDER, Path(path))


def normalise_origin(text: str) -> str:
    """``text`` as a browser's ``Origin`` header gives it (:func:`pki.origins.normalise_origin`);
    :class:`AgentSettingsError` (field ``allowed_origins``) when it is no http(s) origin, a
    wildcard or ``null``."""
    try:
        return origins.normalise_origin(text)
    except InvalidOriginError as exc:
        raise AgentSettingsError(f"{text!r} is not an origin the agent can allow: "
                                 f"{exc.reason}", field="allowed_origins") from None


@dataclass(frozen=True)
class AgentSettings:
    """The agent's settings; make them with :meth:`of` to have the origins checked."""

    allowed_origins: tuple[str, ...]
    """The origins whose pages may ask for signatures (normalised)."""
    locations: tuple[Location, ...]
    """The bases the dialog offers, in its order."""
    request_ttl: dt.timedelta = DEFAULT_REQUEST_TTL
    """How long a request waits for the user's answer before it expires."""
    max_content_bytes: int = DEFAULT_MAX_CONTENT_BYTES
    """The largest content (after decoding) a request may ask to sign."""

    @classmethod
    def of(cls, origins: list[str] | tuple[str, ...], *,
           bases: list[Path] | tuple[Path, ...] = (),
           locations: tuple[Location, ...] | None = None,
           request_ttl: dt.timedelta = DEFAULT_REQUEST_TTL,
           max_content_bytes: int = DEFAULT_MAX_CONTENT_BYTES) -> AgentSettings:
        """Settings from what a user gives: ``origins`` (at least one), ``bases`` (each a
        removable drive or a folder, after this system's hard-disk base, each once) or
        ``locations`` exactly. Raises :class:`AgentSettingsError` naming the field."""
        if not origins:
            raise AgentSettingsError("no page may use an agent without an allowed origin",
                                     field="allowed_origins")
        normalised = tuple(dict.fromkeys(normalise_origin(o) for o in origins))
        if locations is None:
            hard_disk = default_base()
            given = dict.fromkeys(Path(base) for base in bases if Path(base) != hard_disk)
            locations = (Location(LocationKind.HARD_DISK, hard_disk),
                         *(location_of(base) for base in given))
        if request_ttl <= dt.timedelta(0):
            raise AgentSettingsError("a request must live a while", field="request_ttl")
        if max_content_bytes < 1:
            raise AgentSettingsError("the content limit must be positive",
                                     field="max_content_bytes")
        return cls(normalised, tuple(locations), request_ttl, max_content_bytes)
