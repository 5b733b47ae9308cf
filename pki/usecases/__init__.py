"""Use cases: what a face of kpki asks for, assembled once from the library's parts.

The faces (the ``kpki`` CLI, the web app, the pytest plugin, :class:`pki.testing.TestPKI`)
call these; they call the domain (:mod:`pki.authority`, :mod:`pki.lifecycle`,
:mod:`pki.publisher`, :mod:`pki.signing`, :mod:`pki.cloud`, :mod:`pki.timestamp`), which
talks to the store, the CA key store and the formats. A use case takes its options as
keyword arguments, its secrets as values (the face reads them), returns a frozen dataclass
and raises :class:`pki.errors.PKIError`; it never prints, prompts or exits.

- :mod:`.issuing`: issue into an NPKI folder; renew or reissue into one; finish deliveries.
- :mod:`.batch`: issue a batch file's people into NPKI folders, all or nothing.
- :mod:`.folders`: check an NPKI folder (password, key, R, VID).
- :mod:`.serving`: the web app and its publisher in a thread of this process.
- :mod:`.publishing`: publish CRLs (and renew OCSP signers) once.
- :mod:`.signing`: sign with the key of an NPKI folder, time-stamped, R sealed.
- :mod:`.banking`: the bank (issue 14) assembled for a home or a store and a clock.
"""
