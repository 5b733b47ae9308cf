"""The registration authority: issuance as banks run it, step by step.

:mod:`pki.ra.sessions` is the step-session engine every flow runs on; the flows are
:mod:`pki.ra.joint` (joint certificates: issue, reissue, renew) and :mod:`pki.ra.financial`
(financial certificates into the cloud, other institutions' certificates registered, PIN
reset). Each step proves one thing about the person (the terms agreed, the phone, the
account, the security medium) with the bank channel's own pieces (:mod:`pki.bank`).
"""
