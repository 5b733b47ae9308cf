"""Wire formats that pyca/cryptography cannot build fast enough or cannot express at all.

Certificates, CRLs, OCSP and PKCS #12 go through pyca's builders; structures pyca does not
model (identifyData, NPKI key files, CMS) go through asn1crypto's declarative specs. This
package holds the few places where kpki writes DER itself, and the asn1crypto specs that
several modules share. Each hand-written encoder exists because the library encoder was
measured to dominate a hot path, covers one fixed shape only, and is tested byte for byte
against the library encoder, which stays in the tree as the reference:

- :mod:`.der`: DER's tag-length-value framing, and IdentifyData with one VID and its
  HashContent, on the issuance path. asn1crypto needs about 0.9 ms to build and dump one
  IdentifyData, more than the RSA-2048 signature of the whole certificate; with the
  hand-written encoder ``issue_many`` runs at ~0.88 of bare pyca building and signing the
  same certificates (``bench/issue.py``). Reference: the asn1crypto specs in
  :mod:`pki.vid` (``encode_identify_data_reference``, ``hash_content_reference``), checked
  by ``tests/test_der.py``.
- :mod:`.cmsder`: kpki's SignedData (one signer, SHA-256, PKCS #1 v1.5 or PSS, optional
  signed attributes and signature time-stamp token), on the signing path. asn1crypto costs
  about 550 µs per SignedData, more than twice the RSA-2048 signature it wraps; with this
  encoder signing runs at 0.92 of raw RSA-2048 signing (``bench/sign.py``, target ≥ 0.8).
  Reference: :func:`pki.signing.cms.sign_reference`, checked in every shape by
  ``tests/test_cmsder.py``.
- :mod:`.crlder`: CRLs streamed from the store. pyca's ``CertificateRevocationListBuilder``
  re-checks the whole list on every entry (quadratic: 100,000 entries take over 20 s) and
  would hold a million entry objects in memory. The entries are encoded from the store's
  own text (hex serial, time, reason name) and the CRL assembled in one buffer; ``kpki crl
  publish`` is timed against ``openssl ca -gencrl`` by ``bench/crl.py`` (issue 18's targets:
  ≤ 1.0 at 10,000 and 100,000 revocations, ≤ 0.3 at 1,000,000, time and memory).
  Reference: pyca's builder, checked by
  ``tests/test_crl.py::test_encoder_matches_pycas_builder_byte_for_byte``,
  ``test_empty_crl_matches_pyca`` and ``tests/test_crl_speed.py`` (the stored-text path
  against the typed one). Signing still goes through pyca.

- :mod:`.ocspder`: kpki's OCSP response (one SingleResponse, the responder by key hash,
  SHA-256 with RSA, the responder certificate, an optional nonce), on the responder's hot
  path. pyca's ``OCSPResponseBuilder.sign`` holds the GIL for the whole build and signature
  (two signing threads gain 1.23x where bare ``key.sign`` gains 2.0x); with this encoder a
  response is signed with ``key.sign``. Reference: pyca's builder, checked byte for byte,
  signature included, by ``tests/test_ocspder.py``.

:mod:`.asn1specs` holds the asn1crypto specs shared by several modules (an
``AlgorithmIdentifier`` that keeps absent parameters absent). Specs used by one module only
stay beside the code that reads them (:mod:`pki.vid`, :mod:`pki.keys.npki`).
"""
