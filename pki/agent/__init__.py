"""The local signing agent (``kpki agent``): the program on the user's PC that web pages on
an allow-list of origins ask to sign with the NPKI certificates on disk (issue 17).

:mod:`pki.agent.settings` holds what it is set up with, :mod:`pki.agent.service` its rules
without HTTP (requests, tokens, the dialog's choices, signing), :mod:`pki.agent.app` the
Starlette app on 127.0.0.1 and the pages it serves (``agent.js``, the dialog). docs/agent.md
tells a page how to use it."""

from .app import PREFIX, create_app
from .service import Opened, Outcome, SigningAgent, SignOrder, SignResult, State
from .settings import AgentSettings, Location, LocationKind

__all__ = [
    "PREFIX",
    "AgentSettings",
    "Location",
    "LocationKind",
    "Opened",
    "Outcome",
    "SignOrder",
    "SignResult",
    "SigningAgent",
    "State",
    "create_app",
]
