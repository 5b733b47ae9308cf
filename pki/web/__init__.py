"""The web layer: one Starlette app that reads the store and answers (:mod:`pki.web.app`).

Parts: CRLs and OCSP (:mod:`.revocation`), time stamps (:mod:`.timestamp`), the CPS pages
(:mod:`.cps`), limits on slow and greedy clients under uvicorn (:mod:`.limits`,
:mod:`.guarded_http`), uvicorn in a thread (:mod:`.thread`). The cloud API
(:mod:`.cloud`) is mounted beside them. Nothing here writes CRLs, OCSP signers or the
TSA: the publisher does (:mod:`pki.publisher`).
"""

from .app import WebState, create_app
from .thread import serve_in_thread

__all__ = ["WebState", "create_app", "serve_in_thread"]
