"""CA keys in a hardware security module, over PKCS #11 (python-pkcs11).

:class:`PKCS11CAKeyStore` is a :class:`pki.keys.castore.CAKeyStore` whose keys never leave a
token. The store is addressed by a PKCS #11 URI naming the token and its module
(:mod:`pki.keys.pkcs11uri`), ``pkcs11:token=kpki-ca?module-path=/usr/lib/softhsm/libsofthsm2.so``;
the user PIN is given apart (a prompt, a file, the environment: never in the URI).

* **Labels.** The key labelled ``yessign/ocsp`` is a private and a public key object with
  ``CKA_LABEL`` ``yessign/ocsp`` and ``CKA_ID`` the first 16 bytes of the label's SHA-256
  (:func:`key_id`). One token holds one home's keys: a second home with the same CA labels in
  the same token is refused (:class:`CAKeyExistsError`).
* **Generation in the token.** :meth:`~PKCS11CAKeyStore.generate` calls
  ``C_GenerateKeyPair`` (``CKM_RSA_PKCS_KEY_PAIR_GEN``, public exponent 65537) with
  ``CKA_TOKEN``, ``CKA_PRIVATE``, ``CKA_SENSITIVE`` set and ``CKA_EXTRACTABLE`` cleared, so the
  token marks the key ``CKA_NEVER_EXTRACTABLE``. Replacing a key (an OCSP signer or the TSA
  rotating) generates the new pair under a temporary label, destroys the old pair, then gives
  the new one the label: a label never names two keys, and a crash leaves at most an
  unlabelled spare that the next generation removes.
* **Signing.** :meth:`~PKCS11CAKeyStore.load` returns a :class:`PKCS11RSAKey`, an
  :class:`~cryptography.hazmat.primitives.asymmetric.rsa.RSAPrivateKey` whose ``sign`` is
  ``C_Sign``: PKCS #1 v1.5 with SHA-1/224/256/384/512 (``CKM_SHA256_RSA_PKCS`` …) and PSS
  with MGF1 over the same hash and the salt length asked for (kpki asks for 32 with SHA-256:
  ``CKM_SHA256_RSA_PKCS_PSS`` with ``CK_RSA_PKCS_PSS_PARAMS`` (SHA256, MGF1_SHA256, 32)), and
  both over a prehashed digest (``CKM_RSA_PKCS`` over the DigestInfo, ``CKM_RSA_PKCS_PSS``).
  pyca's builders, kpki's CRL encoder, OCSP, the TSA and CMS take such a key unchanged.
  ``private_bytes``, ``private_numbers`` and ``decrypt`` refuse.
* **One lock.** SoftHSM (and python-pkcs11, which calls ``C_Initialize`` without locking
  callbacks) is not safe for concurrent calls: every call into a module holds one
  process-wide lock. A signature costs ~1.7 ms in SoftHSM, so that is ~600 signatures a
  second per process.
* **One login per process.** A token's login covers the whole process, so the store keeps
  one logged-in session per token and process. A wrong PIN is never retried: the token
  counts it, and the same PIN is refused from then on without asking the token again.
* **Fork.** A forked child inherits the parent's login but cannot use it; the first call in
  the child re-initialises the module (``C_Finalize`` + ``C_Initialize``) and logs in again.
  Re-initialising is also how a token made after the module was loaded is found (SoftHSM
  reads its token list at ``C_Initialize``): a token that is not found is looked for once
  more after re-initialising.

Errors: :class:`pki.errors.HSMError` (module, token, mechanism, locked PIN, device),
:class:`pki.errors.WrongPasswordError` for a wrong PIN, :class:`CAKeyNotFoundError`,
:class:`CAKeyExistsError`; each message is one line naming what to fix. python-pkcs11 is
imported when a store is first used (~0.2 s), not with this module.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from ..errors import (
    CAKeyExistsError,
    CAKeyNotFoundError,
    HSMError,
    HSMProblem,
    PKCS11URIError,
    UnsupportedKeyError,
    WrongPasswordError,
)
from ..faults import fault_point
from ..profiles import KeyType
from .castore import CAKey, CAKeyStore, KeyLabel, check_ca_key
from .generate import KeyGenerator
from .pkcs11uri import PKCS11URI, parse_uri

__all__ = ["PKCS11CAKeyStore", "PKCS11RSAKey", "PerCAKeyStore", "PinSource", "key_id"]

PinSource: TypeAlias = "bytes | Callable[[], bytes] | None"
"""A token's user PIN, or a function that gives it when the token is first used (the CLI's
prompt, file or environment variable: a command that signs nothing never asks), or None."""

_SPARE = "~new"
"""Suffix of the temporary label a replacing key is generated under."""

# DER DigestInfo prefixes (RFC 8017 section 9.2, note 1) for CKM_RSA_PKCS over a digest.
_DIGEST_INFO = {
    "sha1": bytes.fromhex("3021300906052b0e03021a05000414"),
    "sha224": bytes.fromhex("302d300d06096086480165030402040500041c"),
    "sha256": bytes.fromhex("3031300d060960864801650304020105000420"),
    "sha384": bytes.fromhex("3041300d060960864801650304020205000430"),
    "sha512": bytes.fromhex("3051300d060960864801650304020305000440"),
}


def key_id(label: KeyLabel | str) -> bytes:
    """The ``CKA_ID`` of the objects of the key labelled ``label``."""
    return hashlib.sha256(str(label).encode()).digest()[:16]


# -- the process: one lock, one module handle per path, re-initialised after a fork --------


class _Process:
    lock = threading.RLock()
    forks = 0


def _forked() -> None:
    _Process.lock = threading.RLock()  # a lock held by another thread at fork stays held
    _Process.forks += 1


os.register_at_fork(after_in_child=_forked)


@contextmanager
def _locked() -> Iterator[None]:
    with _Process.lock:
        yield


@dataclass
class _Module:
    path: str
    lib: Any
    forks: int
    generation: int = 0
    """Bumped at each re-initialisation: every session opened before is gone."""


_modules: dict[str, _Module] = {}


def _module(path: str, uri: str) -> _Module:
    """The loaded module at ``path`` (the caller holds the lock)."""
    module = _modules.get(path)
    if module is None:
        if not os.path.isfile(path):
            why = "is not a file" if os.path.exists(path) else "does not exist"
            raise HSMError(f"the PKCS #11 module {path} {why} (fix module-path in "
                           "the --ca-keys URI)", uri=uri, problem=HSMProblem.MODULE)
        import pkcs11

        try:
            lib = pkcs11.lib(path)
        except pkcs11.PKCS11Error as exc:
            raise HSMError(f"cannot load the PKCS #11 module {path}: "
                           f"{' '.join(str(exc).split()) or type(exc).__name__} (fix "
                           "module-path in the --ca-keys URI)", uri=uri,
                           problem=HSMProblem.MODULE) from None
        module = _modules[path] = _Module(path, lib, _Process.forks)
    elif module.forks != _Process.forks:
        _reinitialize(module, uri)
        module.forks = _Process.forks
    return module


def _reinitialize(module: _Module, uri: str) -> None:
    import pkcs11

    try:
        module.lib.reinitialize()
    except pkcs11.PKCS11Error as exc:
        raise _device(exc, uri, "re-initialising the module") from None
    module.generation += 1


def _device(exc: Exception, uri: str, doing: str) -> HSMError:
    detail = " ".join(str(exc).split())
    return HSMError(f"the token failed {doing}: {type(exc).__name__}"
                    f"{': ' + detail if detail else ''}", uri=uri, problem=HSMProblem.DEVICE)


# -- a token: its one logged-in session in this process -----------------------------------


def _digest(pin: bytes) -> bytes:
    return hashlib.sha256(b"kpki token pin\0" + pin).digest()


@dataclass
class _Token:
    uri: PKCS11URI
    session: Any = None
    generation: int = -1
    login: bytes = b""
    """The digest of the PIN the session logged in with."""
    refused: set[bytes] = field(default_factory=set)
    """Digests of PINs the token refused: never tried again."""

    @property
    def shown(self) -> str:
        return str(self.uri)

    def open(self, pin: bytes | None) -> Any:
        """The logged-in session (the caller holds the lock)."""
        import pkcs11

        assert self.uri.module_path is not None
        module = _module(self.uri.module_path, self.shown)
        if pin is None:
            raise WrongPasswordError(
                f"the CA keys are in token {self.uri.token!r}: give its user PIN (at the "
                "prompt, with --pin-file or $KPKI_CA_PIN)")
        digest = _digest(pin)
        if any(hmac.compare_digest(digest, d) for d in self.refused):
            raise _wrong_pin(self.uri)
        if self.session is not None and self.generation == module.generation:
            if hmac.compare_digest(digest, self.login):
                return self.session
            self._close()  # another PIN: log out; the token judges the new one
        try:
            text = pin.decode("utf-8")
        except UnicodeDecodeError:
            raise WrongPasswordError("the token PIN is not UTF-8 text") from None
        token = self._find(module)
        try:
            session = token.open(rw=True, user_pin=text)
        except pkcs11.PinIncorrect:
            self.refused.add(digest)
            raise _wrong_pin(self.uri) from None
        except pkcs11.UserAlreadyLoggedIn:
            # logged in already through another URI naming the same token: with this PIN?
            if not any(other is not self and other.session is not None
                       and hmac.compare_digest(other.login, digest)
                       for other in _tokens.values()):
                raise HSMError(f"token {self.uri.token!r} is logged in to with another PIN "
                               "in this process: give each CA the same token URI",
                               uri=self.shown, problem=HSMProblem.DEVICE) from None
            session = token.open(rw=True)
        except pkcs11.PinLocked:
            raise HSMError(f"the user PIN of token {self.uri.token!r} is locked (too many "
                           "wrong PINs): its security officer must unlock it", uri=self.shown,
                           problem=HSMProblem.PIN_LOCKED) from None
        except pkcs11.PKCS11Error as exc:
            raise _device(exc, self.shown, "logging in") from None
        self.session, self.generation, self.login = session, module.generation, digest
        return session

    def forget(self) -> None:
        """Drop the session the token no longer knows (it restarted, or was removed): the
        next call opens one and logs in again (the caller holds the lock)."""
        self.session = None

    def _close(self) -> None:
        session, self.session = self.session, None
        with contextlib.suppress(Exception):  # a session the token forgot already
            session.close()

    def _find(self, module: _Module) -> Any:
        import pkcs11

        for attempt in range(2):
            try:
                found = [t for t in (s.get_token() for s in module.lib.get_slots(
                    token_present=True)) if _matches(self.uri, t)]
            except pkcs11.PKCS11Error as exc:
                raise _device(exc, self.shown, "listing its slots") from None
            if len(found) == 1:
                return found[0]
            if len(found) > 1:
                raise HSMError(f"{len(found)} tokens match {self.shown}: add serial= to the "
                               "--ca-keys URI", uri=self.shown, problem=HSMProblem.TOKEN)
            if attempt == 0:  # a token made since the module was initialised
                _reinitialize(module, self.shown)
        raise HSMError(f"no token {self.uri.token!r} in PKCS #11 module "
                       f"{self.uri.module_path} (fix token= in the --ca-keys URI, or "
                       "initialise the token)", uri=self.shown, problem=HSMProblem.TOKEN)


def _matches(uri: PKCS11URI, token: Any) -> bool:
    slot = token.slot
    serial = token.serial.decode("ascii", "replace") if isinstance(token.serial, bytes) \
        else str(token.serial)
    wanted = ((uri.token, token.label), (uri.serial, serial.strip()),
              (uri.manufacturer, token.manufacturer_id), (uri.model, token.model),
              (uri.slot_id, slot.slot_id), (uri.slot_description, slot.slot_description),
              (uri.slot_manufacturer, slot.manufacturer_id))
    return all(want is None or want == have for want, have in wanted)


def _wrong_pin(uri: PKCS11URI) -> WrongPasswordError:
    return WrongPasswordError(
        f"wrong user PIN for token {uri.token!r} (the token counts wrong PINs; kpki does not "
        "try it again: give the right one at the prompt, with --pin-file or $KPKI_CA_PIN)")


_tokens: dict[str, _Token] = {}


def _token(uri: PKCS11URI) -> _Token:
    key = str(uri.token_only())
    with _locked():
        found = _tokens.get(key)
        if found is None:
            found = _tokens[key] = _Token(uri.token_only())
        return found


# -- the key ----------------------------------------------------------------------------------


def _session_gone() -> tuple[type[Exception], ...]:
    import pkcs11

    return (pkcs11.SessionHandleInvalid, pkcs11.SessionClosed, pkcs11.DeviceRemoved,
            pkcs11.TokenNotPresent, pkcs11.UserNotLoggedIn)


_PKCS1 = {"sha1": "SHA1_RSA_PKCS", "sha224": "SHA224_RSA_PKCS",
          "sha256": "SHA256_RSA_PKCS", "sha384": "SHA384_RSA_PKCS",
          "sha512": "SHA512_RSA_PKCS"}
_PSS = {"sha1": ("SHA1_RSA_PKCS_PSS", "SHA_1", "SHA1"),
        "sha224": ("SHA224_RSA_PKCS_PSS", "SHA224", "SHA224"),
        "sha256": ("SHA256_RSA_PKCS_PSS", "SHA256", "SHA256"),
        "sha384": ("SHA384_RSA_PKCS_PSS", "SHA384", "SHA384"),
        "sha512": ("SHA512_RSA_PKCS_PSS", "SHA512", "SHA512")}


class PKCS11RSAKey(rsa.RSAPrivateKey):
    """A CA key in a token: ``sign`` is ``C_Sign``; the key material never leaves it.

    The key finds its private key object by label and modulus at each use (a cached handle
    while the session lasts), so it keeps working after a fork or a re-initialisation, and a
    key replaced under its label is not used in its stead (:class:`CAKeyNotFoundError`).
    """

    def __init__(self, token: _Token, pin: bytes | None, label: KeyLabel,
                 public: rsa.RSAPublicKey) -> None:
        self._token = token
        self._pin = pin
        self._label = label
        self._public = public
        self._handle: tuple[int, Any] | None = None

    @property
    def label(self) -> KeyLabel:
        return self._label

    def sign(self, data: bytes, padding: padding.AsymmetricPadding,  # type: ignore[override]
             algorithm: hashes.HashAlgorithm | Prehashed) -> bytes:
        """``C_Sign`` over ``data``; raises :class:`HSMError` (``MECHANISM``) for a padding,
        hash or salt length the token or kpki does not offer."""
        import pkcs11

        mechanism, param, message = self._mechanism(data, padding, algorithm)
        with _locked():
            for attempt in range(2):
                obj = self._object()
                try:
                    return bytes(obj.sign(message, mechanism=mechanism,
                                          mechanism_param=param))
                except (pkcs11.MechanismInvalid, pkcs11.MechanismParamInvalid,
                        pkcs11.FunctionNotSupported) as exc:
                    raise HSMError(f"token {self._token.uri.token!r} does not offer "
                                   f"{mechanism.name}"
                                   f"{' with these parameters' if param else ''} "
                                   f"({type(exc).__name__}): sign with another padding or "
                                   "hash, or use a token that offers it",
                                   uri=self._token.shown,
                                   problem=HSMProblem.MECHANISM) from None
                except pkcs11.PKCS11Error as exc:
                    self._handle = None
                    if isinstance(exc, _session_gone()) and attempt == 0:
                        self._token.forget()  # log in again (the PIN was right) and retry
                        continue
                    raise _device(exc, self._token.shown,
                                  f"signing with {self._label}") from None
        raise AssertionError("unreachable")

    def _mechanism(self, data: bytes, padding_: padding.AsymmetricPadding,
                   algorithm: hashes.HashAlgorithm | Prehashed
                   ) -> tuple[Any, Any, bytes]:
        from pkcs11 import MGF, Mechanism

        prehashed = isinstance(algorithm, Prehashed)
        digest = algorithm._algorithm if isinstance(algorithm, Prehashed) else algorithm
        name = digest.name
        if name not in _PKCS1:
            raise self._unsupported(f"the hash {name}")
        if isinstance(padding_, padding.PKCS1v15):
            if prehashed:
                return Mechanism.RSA_PKCS, None, _DIGEST_INFO[name] + data
            return Mechanism[_PKCS1[name]], None, data
        if isinstance(padding_, padding.PSS):
            mgf = padding_.mgf
            if not isinstance(mgf, padding.MGF1) or mgf._algorithm.name != name:
                raise self._unsupported("PSS with an MGF1 hash other than the signature's")
            salt = padding_._salt_length
            if salt is padding.PSS.DIGEST_LENGTH:
                salt = digest.digest_size
            if not isinstance(salt, int):
                raise self._unsupported("a PSS salt length chosen by the signer (give a length)")
            mech, hash_mech, mgf_name = _PSS[name]
            param = (Mechanism[hash_mech], MGF[mgf_name], salt)
            if prehashed:
                return Mechanism.RSA_PKCS_PSS, param, data
            return Mechanism[mech], param, data
        raise self._unsupported(f"the padding {padding_.name}")

    def _unsupported(self, what: str) -> HSMError:
        return HSMError(f"kpki does not sign with {what} in a token", uri=self._token.shown,
                        problem=HSMProblem.MECHANISM)

    def _object(self) -> Any:
        session = self._token.open(self._pin)
        generation = self._token.generation
        if self._handle is not None and self._handle[0] == generation:
            return self._handle[1]
        found = _find(session, self._token, self._label,
                      modulus=self._public.public_numbers().n)
        if not found:
            raise CAKeyNotFoundError(
                f"the key labelled {str(self._label)!r} is no longer in token "
                f"{self._token.uri.token!r} (replaced or deleted)", label=str(self._label))
        self._handle = (generation, found[0])
        return found[0]

    def public_key(self) -> rsa.RSAPublicKey:
        return self._public

    @property
    def key_size(self) -> int:
        return self._public.key_size

    def decrypt(self, ciphertext: bytes, padding: padding.AsymmetricPadding) -> bytes:
        raise UnsupportedKeyError("a CA key in a token does not decrypt")

    def private_numbers(self) -> rsa.RSAPrivateNumbers:
        raise UnsupportedKeyError(f"the key {str(self._label)!r} is in a token and cannot "
                                  "be exported")

    def private_bytes(self, encoding: Any, format: Any,
                      encryption_algorithm: Any) -> bytes:
        raise UnsupportedKeyError(f"the key {str(self._label)!r} is in a token and cannot "
                                  "be exported")

    def __copy__(self) -> PKCS11RSAKey:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> PKCS11RSAKey:
        return self


def _find(session: Any, token: _Token, label: KeyLabel | str, *, modulus: int | None = None,
          private: bool = True) -> list[Any]:
    """The key objects labelled ``label`` (the caller holds the lock)."""
    import pkcs11
    from pkcs11 import Attribute, ObjectClass

    template: dict[Any, Any] = {
        Attribute.CLASS: ObjectClass.PRIVATE_KEY if private else ObjectClass.PUBLIC_KEY,
        Attribute.LABEL: str(label)}
    if modulus is not None:
        template[Attribute.MODULUS] = modulus.to_bytes((modulus.bit_length() + 7) // 8, "big")
    try:
        return list(session.get_objects(template))
    except pkcs11.PKCS11Error as exc:
        raise _device(exc, token.shown, f"looking for the key {str(label)!r}") from None


# -- the store --------------------------------------------------------------------------------


class PKCS11CAKeyStore:
    """CA keys in the token that ``uri`` names (see the module doc), opened with ``pin``.

    ``uri`` names a token and its module (``module-path``), not an object: kpki names the
    keys in it. ``key_generator`` is for tests only: keys are made by it and imported into
    the token (``C_CreateObject``, sensitive and not extractable) instead of being generated
    there, which is slow (0.2 to 1.5 s a key in SoftHSM); such keys were outside the token
    once (``CKA_NEVER_EXTRACTABLE`` false). Raises :class:`PKCS11URIError` for a URI that
    does not name a token and its module.
    """

    def __init__(self, uri: PKCS11URI | str, *, pin: PinSource = None,
                 key_generator: KeyGenerator | None = None) -> None:
        self.uri = check_store_uri(parse_uri(uri) if isinstance(uri, str) else uri)
        self._pin_source = pin
        self._pin: bytes | None = pin or None if isinstance(pin, bytes) else None
        self.key_generator = key_generator
        self._token = _token(self.uri)
        self.generated: list[KeyLabel] = []
        """The labels this store made keys under, in order (a failed ``init`` deletes
        them; keys it did not make are never touched)."""

    @property
    def pin(self) -> bytes | None:
        """The PIN, asked of the PIN source once, when first needed."""
        if self._pin is None and callable(self._pin_source):
            self._pin = self._pin_source() or None
        return self._pin

    @property
    def description(self) -> str:
        return f"PKCS #11 token {self.uri.token!r} ({self.uri.module_path})"

    def check(self) -> None:
        """Load the module, find the token and log in, or raise what that raises
        (:class:`HSMError`, :class:`WrongPasswordError`)."""
        with _locked():
            self._token.open(self.pin)

    # -- the protocol ---------------------------------------------------------------------

    def exists(self, label: KeyLabel) -> bool:
        with _locked():
            return bool(_find(self._token.open(self.pin), self._token, label))

    def load(self, label: KeyLabel) -> CAKey:
        from pkcs11 import Attribute

        with _locked():
            session = self._token.open(self.pin)
            found = _find(session, self._token, label)
            if not found:
                raise CAKeyNotFoundError(
                    f"no key labelled {str(label)!r} in token {self.uri.token!r} (is "
                    "--ca-keys the token this home's keys were made in?)", label=str(label))
            if len(found) > 1:
                raise HSMError(f"{len(found)} private keys are labelled {str(label)!r} in "
                               f"token {self.uri.token!r}: remove all but the one the "
                               "certificate names", uri=str(self.uri),
                               problem=HSMProblem.DEVICE)
            try:
                n = int.from_bytes(found[0][Attribute.MODULUS], "big")
                e = int.from_bytes(found[0][Attribute.PUBLIC_EXPONENT], "big")
            except Exception as exc:  # any refusal of the token
                raise _device(exc, str(self.uri), f"reading the key {str(label)!r}") from None
        public = rsa.RSAPublicNumbers(e, n).public_key()
        return check_ca_key(PKCS11RSAKey(self._token, self.pin, label, public))

    def generate(self, label: KeyLabel, key_type: KeyType, *,
                 replace: bool = False) -> CAKey:
        with _locked():
            session = self._token.open(self.pin)
            spare = f"{label}{_SPARE}"
            self._destroy(session, spare)  # left by a replacement that did not finish
            if not replace and _find(session, self._token, label):
                raise CAKeyExistsError(
                    f"a key labelled {str(label)!r} exists already in token "
                    f"{self.uri.token!r} (one token holds one home's keys)", label=str(label))
            self._create(session, spare, key_type.bits)
            self._destroy(session, str(label))
            self._relabel(session, spare, label)
            self.generated.append(label)
        fault_point("pkcs11.generated")
        return self.load(label)

    def delete(self, label: KeyLabel) -> None:
        with _locked():
            session = self._token.open(self.pin)
            self._destroy(session, f"{label}{_SPARE}")
            self._destroy(session, str(label))

    # -- in the token (the caller holds the lock) -----------------------------------------

    def _create(self, session: Any, label: str, bits: int) -> None:
        import pkcs11
        from pkcs11 import Attribute, KeyType, Mechanism

        ident = key_id(label)
        private = {Attribute.TOKEN: True, Attribute.PRIVATE: True, Attribute.SENSITIVE: True,
                   Attribute.EXTRACTABLE: False, Attribute.SIGN: True,
                   Attribute.DECRYPT: False, Attribute.UNWRAP: False,
                   Attribute.LABEL: label, Attribute.ID: ident}
        public = {Attribute.TOKEN: True, Attribute.PRIVATE: False, Attribute.VERIFY: True,
                  Attribute.ENCRYPT: False, Attribute.WRAP: False,
                  Attribute.PUBLIC_EXPONENT: (65537).to_bytes(3, "big"),
                  Attribute.LABEL: label, Attribute.ID: ident}
        try:
            if self.key_generator is not None:
                self._import(session, private, public, bits)
                return
            session.generate_keypair(KeyType.RSA, bits, store=True, label=label, id=ident,
                                     public_template=public, private_template=private,
                                     mechanism=Mechanism.RSA_PKCS_KEY_PAIR_GEN)
        except (pkcs11.MechanismInvalid, pkcs11.FunctionNotSupported,
                pkcs11.TemplateIncomplete, pkcs11.AttributeValueInvalid) as exc:
            raise HSMError(f"token {self.uri.token!r} cannot generate a {bits}-bit RSA key "
                           f"pair as kpki asks ({type(exc).__name__}): use a token that "
                           "offers CKM_RSA_PKCS_KEY_PAIR_GEN", uri=str(self.uri),
                           problem=HSMProblem.MECHANISM) from None
        except pkcs11.PKCS11Error as exc:
            raise _device(exc, str(self.uri), f"generating the key {label!r}") from None

    def _import(self, session: Any, private: dict[Any, Any], public: dict[Any, Any],
                bits: int) -> None:
        from cryptography.hazmat.primitives import serialization
        from pkcs11 import Attribute
        from pkcs11.util.rsa import decode_rsa_private_key, decode_rsa_public_key

        assert self.key_generator is not None
        key = self.key_generator.generate(bits)
        der = key.private_bytes(serialization.Encoding.DER,
                                serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption())
        session.create_object({**decode_rsa_private_key(der), **private})
        public_der = key.public_key().public_bytes(serialization.Encoding.DER,
                                                   serialization.PublicFormat.PKCS1)
        session.create_object({**decode_rsa_public_key(public_der), **{
            k: v for k, v in public.items() if k is not Attribute.PUBLIC_EXPONENT}})

    def _destroy(self, session: Any, label: str) -> None:
        import pkcs11

        for private in (True, False):
            for obj in _find(session, self._token, label, private=private):
                try:
                    obj.destroy()
                except pkcs11.PKCS11Error as exc:
                    raise _device(exc, str(self.uri), f"destroying the key {label!r}") from None

    def _relabel(self, session: Any, spare: str, label: KeyLabel) -> None:
        import pkcs11
        from pkcs11 import Attribute

        for private in (True, False):
            for obj in _find(session, self._token, spare, private=private):
                try:
                    obj[Attribute.LABEL] = str(label)
                    obj[Attribute.ID] = key_id(label)
                except pkcs11.PKCS11Error as exc:
                    raise _device(exc, str(self.uri), f"labelling the key {str(label)!r}"
                                  ) from None


def check_store_uri(uri: PKCS11URI) -> PKCS11URI:
    """``uri`` if it names a token and its module, as a key store's URI must;
    :class:`PKCS11URIError` otherwise."""
    if uri.module_path is None:
        raise PKCS11URIError("the --ca-keys URI needs module-path=FILE, the PKCS #11 module "
                             "(e.g. ?module-path=/usr/lib/softhsm/libsofthsm2.so)",
                             attribute="module-path")
    if uri.token is None:
        raise PKCS11URIError("the --ca-keys URI needs token=LABEL, the token that holds the "
                             "CA keys", attribute="token")
    for name in ("object", "id", "type"):
        if getattr(uri, name) is not None:
            raise PKCS11URIError(f"the --ca-keys URI names a token, not a key: remove {name}= "
                                 "(kpki labels the keys it makes in the token)",
                                 attribute=name)
    return uri


class PerCAKeyStore:
    """CA keys in several stores, chosen by CA: the keys of a CA in ``routes`` (its own
    key and its OCSP signer's) live in that store, every other key in ``default``.

    What a home whose CAs were added with ``kpki ca add --ca-keys pkcs11:…`` uses: the root's
    keys may be files while a licensed CA's are in a token, or in another token.
    """

    def __init__(self, default: CAKeyStore, routes: dict[str, CAKeyStore]) -> None:
        self.default = default
        self.routes = dict(routes)

    def store_of(self, label: KeyLabel) -> CAKeyStore:
        return self.routes.get(label.ca, self.default)

    @property
    def description(self) -> str:
        parts = [self.default.description, *(f"{ca}: {store.description}"
                                             for ca, store in sorted(self.routes.items()))]
        return "; ".join(parts)

    def generate(self, label: KeyLabel, key_type: KeyType, *,
                 replace: bool = False) -> CAKey:
        return self.store_of(label).generate(label, key_type, replace=replace)

    def load(self, label: KeyLabel) -> CAKey:
        return self.store_of(label).load(label)

    def exists(self, label: KeyLabel) -> bool:
        return self.store_of(label).exists(label)

    def delete(self, label: KeyLabel) -> None:
        self.store_of(label).delete(label)
