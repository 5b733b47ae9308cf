"""``kpki ra``: the registration authority's issuance flows, step by step, on the home's
store (``kpki serve`` answers the same over ``/ra/v1``).

``kpki ra joint ...`` (joint certificates: issue, reissue, renew), ``kpki ra financial ...``
(financial certificates into the cloud) and ``kpki ra private ...`` (private certificates
onto a device). Each step is one command naming the session (``--session ID``) its first
step opened; secrets come from a prompt, a file or the environment, never argv.
"""

from __future__ import annotations

import click

from .ra_financial import financial
from .ra_joint import joint
from .ra_private import private


@click.group("ra")
def ra() -> None:
    """Issue as a bank's registration authority does: step by step."""


ra.add_command(joint)
ra.add_command(financial)
ra.add_command(private)
