"""One error hierarchy for the whole library.

Every error kpki raises on purpose is a :class:`PKIError`. Each carries the data a caller
needs as attributes, so no caller ever has to branch on message text. The CLI maps the
whole hierarchy to a one-line message and exit status 1 in one place.
"""

from __future__ import annotations

import datetime as dt
import enum

__all__ = [
    "AccountLockedError",
    "AgentBusyError",
    "AgentError",
    "AgentExpiredError",
    "AgentKeyError",
    "AgentNotFoundError",
    "AgentOriginError",
    "AgentPasswordError",
    "AgentRequestError",
    "AgentSettingsError",
    "AgentStateError",
    "AlreadyRevokedError",
    "AmbiguousSerialError",
    "AppLockedError",
    "ArsBlockedError",
    "BankError",
    "BankNotFoundError",
    "BankRequestError",
    "BankSettingsError",
    "BatchFileError",
    "BiometricDeclinedError",
    "BranchOnlyDeviceChangeError",
    "CAKeyExistsError",
    "CAKeyNotFoundError",
    "CSRError",
    "CannotEvaluateError",
    "CardLockedError",
    "CertificateExpiredError",
    "CertificateNotFoundError",
    "CertificateUnusableError",
    "ChallengeExpiredError",
    "ChallengeUsedError",
    "ClockBehindError",
    "CloudError",
    "CloudNotFoundError",
    "CloudRequestError",
    "CodeExhaustedError",
    "CodeExpiredError",
    "CodeLimitError",
    "CodeTriesExhaustedError",
    "ContentTooLargeError",
    "CustomerExistsError",
    "DeliveryError",
    "DemoWebError",
    "DeviceError",
    "DeviceKeystoreError",
    "DeviceLockedError",
    "DeviceNotDesignatedError",
    "DeviceWrongPinError",
    "DiskFullError",
    "EnrolmentExpiredError",
    "FetchError",
    "FolderExistsError",
    "HSMError",
    "HSMProblem",
    "HomeError",
    "HomeExistsError",
    "HomeNotFoundError",
    "IdentityMismatchError",
    "InvalidNameError",
    "InvalidOriginError",
    "InvalidRRNError",
    "InvalidRegistrationError",
    "KeyFileError",
    "KeyMismatchError",
    "LifecycleError",
    "LimitExceededError",
    "LineIneligibleError",
    "LoginRefusedError",
    "MismatchLimitError",
    "NoCodePendingError",
    "NoDesignatedDeviceError",
    "NoMediumError",
    "NoRecoveryCopyError",
    "NotConfirmedError",
    "NotConnectedError",
    "NotEnrolledError",
    "NotFoundError",
    "NotSuspendedError",
    "OperatorLoginError",
    "OriginNotAllowedError",
    "OtpActivationExpiredError",
    "OtpDeviceError",
    "OtpDisabledError",
    "OtpLockedError",
    "OtpLostError",
    "OtpNotActivatedError",
    "OtpNotUsableHereError",
    "OtpReplayError",
    "OtpSealedUnderOtherSecretError",
    "OutputError",
    "PKCS11URIError",
    "PKIError",
    "PadError",
    "PasswordPolicyError",
    "PetitionFiledError",
    "PetitionNotFoundError",
    "PhoneCodeExpiredError",
    "PhoneVerificationError",
    "PinBusyError",
    "PinLockedError",
    "PinPolicyError",
    "PortalRequestError",
    "ProfileError",
    "PushIneligibleError",
    "PushNotEnrolledError",
    "ReadOnlyStoreError",
    "RegistrationError",
    "RenewalNotDueError",
    "RenewalWindowError",
    "RequestRefusedError",
    "RevocationDataError",
    "SdkError",
    "SdkSessionError",
    "SealedUnderOtherSecretError",
    "SendLimitError",
    "SerialInUseError",
    "SignatureRefusedError",
    "SimpleAuthAppError",
    "SimpleAuthError",
    "SimpleAuthExpiredError",
    "SimpleAuthNotFoundError",
    "SimpleAuthRegistrationError",
    "SimpleAuthRequestError",
    "SimpleAuthSignatureError",
    "SimpleAuthStateError",
    "SsnMismatchError",
    "StepUpInvalidError",
    "StepUpRequiredError",
    "StepUpUsedError",
    "StoreError",
    "StoreURLError",
    "TimestampError",
    "TooManyDevicesError",
    "UnauthorizedError",
    "UnencodableContentError",
    "UnknownCAError",
    "UnknownEncodingError",
    "UnknownUserError",
    "UnstorableValueError",
    "UnsupportedKeyError",
    "UpstreamError",
    "UpstreamRefusal",
    "ValidityError",
    "VaultError",
    "VerificationUsedError",
    "WrongAccountPasswordError",
    "WrongAppPasswordError",
    "WrongCardAnswerError",
    "WrongCodeError",
    "WrongOtpError",
    "WrongPasswordError",
    "WrongPhoneCodeError",
    "WrongPinError",
]


class PKIError(Exception):
    """Root of every error kpki raises on purpose."""


class InvalidOriginError(PKIError, ValueError):
    """Text that is no web origin a browser sends (:func:`pki.origins.normalise_origin`):
    ``origin`` as given, ``reason`` why, and ``ascii_form`` the origin to give instead when
    only the host's letters were the matter (a Korean domain name), else None."""

    def __init__(self, origin: str, reason: str, *, ascii_form: str | None = None) -> None:
        super().__init__(f"{origin!r} is not a web origin: {reason}")
        self.origin = origin
        self.reason = reason
        self.ascii_form = ascii_form


class InvalidRRNError(PKIError, ValueError):
    """A resident registration number failed validation.

    ``rule`` names the rule that failed: ``"format"``, ``"date"`` or ``"check-digit"``;
    for the last, ``found`` is the number's check digit and ``expected`` the right one.
    The RRN itself is never part of the message: it is personal data.
    """

    def __init__(self, message: str, *, rule: str, found: int | None = None,
                 expected: int | None = None) -> None:
        super().__init__(message)
        self.rule = rule
        self.found = found
        self.expected = expected


class InvalidNameError(PKIError, ValueError):
    """A holder name cannot go into a certificate, or a name cannot be a folder.

    ``rule`` names the rule that failed (:mod:`pki.names` lists them) and ``characters``
    the characters that broke it, if any.
    """

    def __init__(self, message: str, *, name: str, rule: str = "",
                 characters: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.name = name
        self.rule = rule
        self.characters = characters


class BatchFileError(PKIError, ValueError):
    """A batch file (``kpki issue ... --from FILE``) cannot be issued from as it stands.

    ``path`` is the file, ``row`` its line number (a CSV header is row 1; ``None`` for the
    file as a whole) and ``column`` the column or key at fault (``None`` for the whole
    row); ``reason`` is the message without them. ``cause`` is the error of the rule that
    failed, if one did (:class:`InvalidRRNError`, :class:`InvalidNameError`, ...).
    """

    def __init__(self, reason: str, *, path: str, row: int | None = None,
                 column: str | None = None, cause: PKIError | None = None) -> None:
        where = path if row is None else f"{path}, row {row}"
        if column is not None:
            where += f", column {column}"
        super().__init__(f"{where}: {reason}")
        self.reason = reason
        self.path = path
        self.row = row
        self.column = column
        self.cause = cause


class ProfileError(PKIError, ValueError):
    """A profile is unknown, or cannot be used with the chosen CA or options."""

    def __init__(self, message: str, *, profile: str | None = None) -> None:
        super().__init__(message)
        self.profile = profile


class ValidityError(ProfileError):
    """A certificate's validity would begin before or end after its CA's own."""

    def __init__(self, message: str, *, profile: str, ca: str, not_before: object,
                 not_after: object, ca_not_before: object, ca_not_after: object) -> None:
        super().__init__(message, profile=profile)
        self.ca = ca
        self.not_before = not_before
        self.not_after = not_after
        self.ca_not_before = ca_not_before
        self.ca_not_after = ca_not_after


class CSRError(PKIError, ValueError):
    """A certificate signing request is malformed or its signature does not verify."""


class UnsupportedKeyError(PKIError, ValueError):
    """A public or private key is of a type or size the profile does not allow."""



class WrongPasswordError(PKIError):
    """A password or passphrase does not open the key it was given for.

    The message never says *why* decryption failed (padding, structure), so it cannot be
    used as an oracle.
    """


class KeyFileError(PKIError, ValueError):
    """A key file (``signPri.key``, PKCS #12) is malformed, truncated, uses an algorithm
    kpki does not know, or asks for an unreasonable amount of work."""


class KeyMismatchError(PKIError, ValueError):
    """A private key does not belong to the certificate it was paired with."""


class PasswordPolicyError(PKIError, ValueError):
    """A new password breaks a rule; ``rule`` names which."""

    def __init__(self, message: str, *, rule: str) -> None:
        super().__init__(message)
        self.rule = rule


class NotFoundError(PKIError, LookupError):
    """Something looked up by name or serial does not exist."""


class UnknownCAError(NotFoundError):
    """No CA with that label exists in the home."""

    def __init__(self, label: str) -> None:
        super().__init__(f"no CA labelled {label!r}")
        self.label = label


class CAKeyNotFoundError(NotFoundError):
    """The CA key store holds no key under that label (or cannot read it)."""

    def __init__(self, message: str, *, label: str) -> None:
        super().__init__(message)
        self.label = label


class CAKeyExistsError(ProfileError):
    """The CA key store holds a key under that label already: a CA's key is never
    replaced (a CA label cannot be used twice)."""

    def __init__(self, message: str, *, label: str) -> None:
        super().__init__(message)
        self.label = label


class HSMProblem(enum.Enum):
    """What went wrong with a hardware security module (a PKCS #11 token)."""

    MODULE = "module"
    """The PKCS #11 module (its shared library) cannot be loaded."""
    TOKEN = "token"
    """No token matches the URI."""
    MECHANISM = "mechanism"
    """The token does not offer a mechanism kpki needs (RSA key generation, a signature)."""
    PIN_LOCKED = "pin-locked"
    """The token locked its user PIN after too many wrong entries."""
    DEVICE = "device"
    """The token failed, or refused an operation for another reason."""
    URI = "uri"
    """The PKCS #11 URI is malformed or names what kpki does not accept."""


class HSMError(PKIError):
    """The HSM holding the CA keys cannot do what was asked. ``uri`` is the key store's
    PKCS #11 URI (never with a PIN), ``problem`` says what went wrong."""

    def __init__(self, message: str, *, uri: str, problem: HSMProblem) -> None:
        super().__init__(message)
        self.uri = uri
        self.problem = problem


class PKCS11URIError(HSMError, ValueError):
    """A PKCS #11 URI (RFC 7512) is malformed or holds what kpki refuses; ``attribute``
    names the attribute at fault (or the part: ``scheme``, ``query``, ``fragment``)."""

    def __init__(self, message: str, *, attribute: str) -> None:
        super().__init__(message, uri="", problem=HSMProblem.URI)
        self.attribute = attribute


class CertificateNotFoundError(NotFoundError):
    """No certificate with that serial exists."""

    def __init__(self, serial: int, *, ca: str | None = None) -> None:
        where = f" at CA {ca!r}" if ca else ""
        super().__init__(f"no certificate with serial {serial:X}{where}")
        self.serial = serial
        self.ca = ca


class LifecycleError(PKIError):
    """A lifecycle operation is not allowed in the certificate's present state."""

    def __init__(self, message: str, *, serial: int) -> None:
        super().__init__(message)
        self.serial = serial


class AlreadyRevokedError(LifecycleError):
    """The certificate is revoked already."""


class NotSuspendedError(LifecycleError):
    """Only a suspended certificate can be resumed."""


class CertificateExpiredError(LifecycleError):
    """The certificate has expired; nothing but new issuance helps."""


class RenewalWindowError(LifecycleError):
    """Renewal is open only from ``opens_at`` to ``closes_at``."""

    def __init__(self, message: str, *, serial: int, opens_at: object, closes_at: object
                 ) -> None:
        super().__init__(message, serial=serial)
        self.opens_at = opens_at
        self.closes_at = closes_at


class AmbiguousSerialError(PKIError):
    """Several CAs issued a certificate with this serial; name the CA."""

    def __init__(self, serial: int, cas: list[str]) -> None:
        super().__init__(f"serial {serial:X} exists at several CAs ({', '.join(cas)}); "
                         "name the CA")
        self.serial = serial
        self.cas = cas


class StoreError(PKIError):
    """The store cannot be read or written (corrupted, wrong schema, I/O failure)."""


class StoreURLError(StoreError):
    """A store URL kpki does not take where it was given (another scheme, a password in
    it); ``url`` is the URL with any password masked."""

    def __init__(self, message: str, *, url: str) -> None:
        super().__init__(message)
        self.url = url


class DiskFullError(StoreError):
    """The disk holding the store at ``path`` is full; the change was not made."""

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(message)
        self.path = path


class ReadOnlyStoreError(StoreError):
    """The store at ``path`` can be read but not written (a read-only home or disk)."""

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(message)
        self.path = path


class SerialInUseError(StoreError):
    """A CA has already used this serial; issuance draws another one."""

    def __init__(self, serial: int, *, ca: str) -> None:
        super().__init__(f"serial {serial:X} is already used at CA {ca!r}")
        self.serial = serial
        self.ca = ca


class UnstorableValueError(PKIError, ValueError):
    """The store at ``path`` cannot hold a value it was given to keep or to look up (text
    holding a NUL character, which PostgreSQL's text cannot hold; a number beyond its
    columns); nothing was changed. Bad input, not an unavailable store: the faces refuse
    such input first, so that a user sees the same answer on every backend."""

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(message)
        self.path = path


class ClockBehindError(PKIError):
    """The clock reads earlier than a CRL the CA has already issued.

    A CRL older than the last one would look stale (or like a replay) to every client, so
    none is made until the clock is right again. ``at`` is what the clock says, ``last``
    the thisUpdate of the CA's latest CRL.
    """

    def __init__(self, *, ca: str, at: object, last: object) -> None:
        super().__init__(
            f"the clock reads {at}, earlier than the last CRL of CA {ca!r} ({last}); a CRL "
            "cannot go back in time: correct the system clock")
        self.ca = ca
        self.at = at
        self.last = last


class TimestampError(PKIError):
    """A time-stamping authority refused a request, or answered something unusable.

    ``status`` is the PKIStatus of the answer (``rejection``, ...) when there was one,
    ``fail_info`` its failure bits (``bad_alg``, ``bad_data_format``, ...), ``url`` where
    the request went.
    """

    def __init__(self, message: str, *, url: str | None = None, status: str | None = None,
                 fail_info: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.url = url
        self.status = status
        self.fail_info = fail_info


class FetchError(PKIError):
    """Revocation data could not be fetched from ``url``: not an http(s) URL, no whole
    answer within the deadline, an error status, or more bytes than allowed."""

    def __init__(self, message: str, *, url: str) -> None:
        super().__init__(message)
        self.url = url


class RevocationDataError(PKIError, ValueError):
    """A CRL or OCSP response is malformed or is not what it claims to be."""


class HomeError(PKIError):
    """A kpki home is unusable."""

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(message)
        self.path = path


class HomeNotFoundError(HomeError):
    """There is no kpki home at the given path."""


class HomeExistsError(HomeError):
    """``init`` was asked to create a home where one already exists."""


class OutputError(PKIError):
    """A file or folder could not be written where the caller asked."""

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(message)
        self.path = path


class FolderExistsError(OutputError):
    """The NPKI folder a certificate would go to exists already; nothing was issued.

    The CN sequence number that named it is used up, so the next issuance for the same
    holder gets another CN (and another folder); ``replace=True`` replaces the folder.
    """

    def __init__(self, path: str) -> None:
        super().__init__(f"{path} exists already", path=path)


class DeliveryError(OutputError):
    """A certificate was recorded but its files could not be put into their folder.

    They wait in ``staging``; :func:`pki.delivery.recover_deliveries` finishes the delivery
    later, and :func:`pki.delivery.undelivered` lists it until then.
    """

    def __init__(self, message: str, *, path: str, serial: int, ca: str,
                 staging: str) -> None:
        super().__init__(message, path=path)
        self.serial = serial
        self.ca = ca
        self.staging = staging


class VaultError(PKIError):
    """The cloud's vault secret is missing, unusable, or not the one its keys were sealed
    under. ``sealed_keys`` counts the keys the vault holds (0 when none is at stake)."""

    def __init__(self, message: str, *, sealed_keys: int = 0) -> None:
        super().__init__(message)
        self.sealed_keys = sealed_keys


# -- refusals of kpki's services (the cloud, registration) ----------------------------------


class RequestRefusedError(PKIError):
    """A request to one of kpki's services was refused.

    ``code`` names the refusal, stably: a service's API answers with it (the HTTP status
    is the web layer's business, never the domain's) and a user's history records it.
    Nothing changed, except where a subclass says what was counted.
    """

    code = "refused"


class RegistrationError(RequestRefusedError):
    """A registration (a person confirming their phone with a code) was refused."""


class InvalidRegistrationError(RegistrationError, ValueError):
    """A registration's ``field`` is unusable (a name, a phone, a birth date)."""

    code = "bad_request"

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class UnknownUserError(RegistrationError, NotFoundError):
    """No such user for the asking institution: it does not exist, or the institution may
    not know of it (the two are answered the same)."""

    code = "not_found"

    def __init__(self) -> None:
        super().__init__("unknown user")


class NotConfirmedError(RegistrationError):
    """The user has not confirmed the code sent to their phone yet."""

    code = "not_confirmed"

    def __init__(self, user_id: str) -> None:
        super().__init__("the registration is not confirmed")
        self.user_id = user_id


class WrongCodeError(RegistrationError):
    """A wrong confirmation code: it was compared and counted; ``attempts_left`` more may
    be compared."""

    code = "code_invalid"

    def __init__(self, *, attempts_left: int) -> None:
        super().__init__("wrong confirmation code")
        self.attempts_left = attempts_left


class CodeExhaustedError(RegistrationError):
    """Five wrong codes ended the registration; no guess is compared any more."""

    code = "code_invalid"

    def __init__(self) -> None:
        super().__init__("too many wrong codes: register again")


class NoCodePendingError(RegistrationError):
    """No confirmation code is waiting for this user."""

    code = "code_invalid"

    def __init__(self) -> None:
        super().__init__("no confirmation is pending")


class CodeExpiredError(RegistrationError):
    """The confirmation code is older than its lifetime."""

    code = "code_expired"

    def __init__(self) -> None:
        super().__init__("the confirmation code has expired")


class CodeLimitError(RegistrationError):
    """The institution spent its ``limit`` wrong codes for this phone in the window; it may
    neither confirm nor register the phone until the window has passed."""

    code = "code_limit"

    def __init__(self, *, limit: int) -> None:
        super().__init__(f"{limit} wrong confirmation codes for this phone today: try again "
                         "tomorrow")
        self.limit = limit


class CloudError(RequestRefusedError):
    """The financial-certificate cloud refused a request."""


class CloudRequestError(CloudError, ValueError):
    """A request's ``field`` is unusable."""

    code = "bad_request"

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class UnauthorizedError(CloudError):
    """No API key, or one the cloud does not know."""

    code = "unauthorized"


class CloudNotFoundError(CloudError, NotFoundError):
    """No such certificate in the cloud for the asking institution: it does not exist, or
    is not registered there (the two are answered the same)."""

    code = "not_found"

    def __init__(self) -> None:
        super().__init__("no such certificate in the cloud")


class WrongPinError(CloudError):
    """A verified wrong PIN, counted; ``attempts_left`` more before the key locks."""

    code = "wrong_pin"

    def __init__(self, *, serial: int, attempts_left: int) -> None:
        super().__init__("wrong PIN")
        self.serial = serial
        self.attempts_left = attempts_left


class PinLockedError(CloudError):
    """Five wrong PINs in a row locked the key for good: revoke and reissue."""

    code = "pin_locked"

    def __init__(self, message: str, *, serial: int) -> None:
        super().__init__(message)
        self.serial = serial


class NoRecoveryCopyError(CloudError):
    """A PIN reset was asked for a certificate the vault keeps no recovery copy of (it was
    issued where PINs are not reset): revoke and reissue it."""

    code = "no_recovery_copy"

    def __init__(self, *, serial: int) -> None:
        super().__init__("this certificate has no recovery copy (issued where PINs are not "
                         "reset): revoke and reissue it (financial-reissue)")
        self.serial = serial


class PinBusyError(CloudError):
    """As many PIN checks of this key are in flight as failures are left; nothing was
    checked or counted: try again."""

    code = "busy"

    def __init__(self, *, serial: int) -> None:
        super().__init__("too many PIN checks of this certificate are in flight: try again")
        self.serial = serial


class PinChangedError(CloudError):
    """The key was sealed again under a new PIN (a PIN change or reset) while this check
    ran against the old seal: nothing was counted or changed; try again with the PIN now
    in force."""

    code = "pin_changed"

    def __init__(self, *, serial: int) -> None:
        super().__init__("the PIN of this certificate was changed while it was checked: "
                         "nothing was counted; try again")
        self.serial = serial


class SealedUnderOtherSecretError(CloudError):
    """The key was sealed under another vault secret (an operator's mistake, never counted
    as a wrong PIN)."""

    code = "vault_secret"

    def __init__(self, *, serial: int) -> None:
        super().__init__("this key was sealed under another vault secret: the operator must "
                         "restore it")
        self.serial = serial


class CertificateUnusableError(CloudError):
    """The certificate cannot be used: ``state`` is ``revoked``, ``suspended`` or
    ``expired`` (and is the error's code)."""

    def __init__(self, *, serial: int, state: str) -> None:
        super().__init__(f"the certificate is {state}" if state != "expired"
                         else "the certificate has expired")
        self.serial = serial
        self.state = state
        self.code = state


class ContentTooLargeError(CloudError):
    """The content to sign is larger than ``limit`` bytes."""

    code = "too_large"

    def __init__(self, *, limit: int) -> None:
        super().__init__(f"the content is larger than {limit // (1024 * 1024)} MiB")
        self.limit = limit


class PinPolicyError(CloudError, ValueError):
    """A new PIN breaks a rule; ``rule`` names which (``format``, ``mismatch``,
    ``repeated``, ``sequence``, ``birth-date``)."""

    code = "pin_policy"

    def __init__(self, message: str, *, rule: str) -> None:
        super().__init__(message)
        self.rule = rule


# -- refusals of the bank (pki.bank) ---------------------------------------------------------


class BankError(RequestRefusedError):
    """The bank (:mod:`pki.bank`) refused a request. Nothing changed, except where a
    subclass says what was counted."""


# -- refusals of the device rules (pki.devices: the cloud's users, the bank's customers) ---


class DeviceError(CloudError, BankError):
    """A device rule (:mod:`pki.devices`) refused. The rules are one module for the cloud's
    users and the bank's customers, so the refusal is both a cloud and a bank one."""


class DeviceNotDesignatedError(DeviceError):
    """Only designated devices may do this (``operation``: None for a cloud signature),
    and ``device`` is not one."""

    code = "device_not_designated"

    def __init__(self, *, device: str | None, operation: str | None = None) -> None:
        super().__init__("signing is allowed from designated devices only" if operation is None
                         else f"{operation} is allowed from designated devices only")
        self.device = device
        self.operation = operation


class TooManyDevicesError(DeviceError):
    """The owner has ``limit`` designated devices already."""

    code = "too_many_devices"

    def __init__(self, *, limit: int) -> None:
        super().__init__(f"at most {limit} designated devices")
        self.limit = limit


class BranchOnlyDeviceChangeError(DeviceError):
    """While designated-only is on, removing the last designated device or turning
    designated-only off is a branch's action (an operator named): ``change`` is
    ``remove-last-device`` or ``designated-only-off``."""

    code = "device_change_branch_only"

    def __init__(self, *, change: str) -> None:
        what = ("removing the last designated device" if change == "remove-last-device"
                else "turning designated-only off")
        super().__init__(f"{what} while designated-only is on is done at a branch")
        self.change = change


class NoDesignatedDeviceError(DeviceError):
    """Designated-only mode asked for while no device is designated: it would refuse
    every covered operation until a branch turned it off."""

    code = "no_designated_device"

    def __init__(self) -> None:
        super().__init__("designate a device before turning designated-only on")


class StepUpRequiredError(DeviceError):
    """From this device the operation needs the extra step (an SMS or ARS verification:
    ``methods``), and none was given."""

    code = "step_up_required"

    def __init__(self, *, methods: tuple[str, ...]) -> None:
        super().__init__("this operation from an undesignated device needs an extra "
                         f"verification ({' or '.join(m.upper() for m in methods)})")
        self.methods = methods


class StepUpInvalidError(DeviceError):
    """The verification given as the extra step proves nothing: ``reason`` is
    ``not_found`` (none, or another site's), ``not_confirmed``, ``expired`` (older than the
    institution's validity), ``other_person`` (another phone or person than the
    customer's) or ``wrong_method``. Nothing is used up."""

    code = "step_up_invalid"

    def __init__(self, *, reason: str) -> None:
        super().__init__("the extra verification does not count: "
                         + reason.replace("_", " "))
        self.reason = reason


class StepUpUsedError(DeviceError):
    """The verification given as the extra step allowed an operation already."""

    code = "step_up_used"

    def __init__(self, *, verification: str) -> None:
        super().__init__("this verification allowed an operation already: verify again")
        self.verification = verification


class BankRequestError(BankError, ValueError):
    """A request's ``field`` is unusable (a code, an RRN, a phone, an amount ...)."""

    code = "bad_request"

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class BankSettingsError(BankError, ValueError):
    """An institution's settings are unusable: ``key`` names the setting."""

    code = "bad_settings"

    def __init__(self, message: str, *, key: str) -> None:
        super().__init__(message)
        self.key = key


class OtpSealedUnderOtherSecretError(BankError, VaultError):
    """The OTP centre cannot open the seed of token ``serial``: it was sealed under another
    secret (an operator's mistake: restore the centre's secret). Never counted as a wrong
    code; a :class:`VaultError` too, for whoever handles the vault's errors as one."""

    code = "vault_secret"

    def __init__(self, *, serial: str) -> None:
        super().__init__("this OTP token's seed was sealed under another secret: the operator "
                         "must restore the OTP centre's secret")
        self.serial = serial


class BankNotFoundError(BankError, NotFoundError):
    """No such ``what`` (``institution``, ``customer``, ``account``, ``card``,
    ``challenge``) for the asking institution: it does not exist, or belongs to another
    institution (the two are answered the same)."""

    code = "not_found"

    def __init__(self, what: str) -> None:
        super().__init__(f"no such {what}")
        self.what = what


class CustomerExistsError(BankError):
    """The institution has a customer with this resident registration number already
    (``customer_id``); an account number taken is the same refusal with ``field``."""

    code = "exists"

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class WrongAccountPasswordError(BankError):
    """A wrong 4-digit account password, compared and counted; ``attempts_left`` more
    before the account password locks."""

    code = "wrong_account_password"

    def __init__(self, *, account: str, attempts_left: int) -> None:
        super().__init__(f"wrong account password: {attempts_left} attempts left")
        self.account = account
        self.attempts_left = attempts_left


class AccountLockedError(BankError):
    """The account password is locked after too many wrong ones; a branch resets it."""

    code = "account_locked"

    def __init__(self, *, account: str) -> None:
        super().__init__("the account password is locked: reset it at a branch")
        self.account = account


class NotEnrolledError(BankError):
    """The customer has no active internet-banking enrolment (never signed up at a
    branch, or signed up and not activated online yet)."""

    code = "not_enrolled"

    def __init__(self, *, customer_id: str) -> None:
        super().__init__("the customer is not enrolled in internet banking")
        self.customer_id = customer_id


class EnrolmentExpiredError(BankError):
    """The branch sign-up was not activated online by ``deadline``: sign up again."""

    code = "enrolment_expired"

    def __init__(self, *, customer_id: str, deadline: dt.datetime) -> None:
        super().__init__("the internet-banking sign-up was not activated in time: sign up "
                         "again at a branch")
        self.customer_id = customer_id
        self.deadline = deadline


class WrongCardAnswerError(BankError):
    """A wrong security-card answer, compared and counted; ``attempts_left`` more before
    the card locks."""

    code = "wrong_card_answer"

    def __init__(self, *, card: str, attempts_left: int) -> None:
        super().__init__(f"wrong security card answer: {attempts_left} attempts left")
        self.card = card
        self.attempts_left = attempts_left


class CardLockedError(BankError):
    """The security card is locked after too many wrong answers; only a branch resets
    it (it never clears by itself)."""

    code = "card_locked"

    def __init__(self, *, card: str) -> None:
        super().__init__("the security card is locked: reset it at a branch")
        self.card = card


class ChallengeUsedError(BankError):
    """The security-card challenge was answered already (a challenge is answered once)."""

    code = "challenge_used"

    def __init__(self, *, challenge: str) -> None:
        super().__init__("this security card challenge was answered already: ask for a new "
                         "one")
        self.challenge = challenge


class ChallengeExpiredError(BankError):
    """The security-card challenge is older than its lifetime; nothing was counted."""

    code = "challenge_expired"

    def __init__(self, *, challenge: str) -> None:
        super().__init__("this security card challenge has expired: ask for a new one")
        self.challenge = challenge


class SignatureRefusedError(BankError):
    """A customer's signature (over a transfer or a login challenge) was refused; ``code``
    says why: ``signature_invalid``, ``certificate_untrusted``, ``certificate_expired``,
    ``certificate_revoked``, ``certificate_not_accepted``, ``vid_mismatch``,
    ``signed_text_mismatch``, ``signature_stale``, ``signature_replayed``,
    ``simple_auth_not_in_session``, ``session_expired``, ``simple_auth_wrong_device``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class LoginRefusedError(BankError):
    """A login was refused (nothing counted, except a wrong account password, which
    :class:`WrongAccountPasswordError` reports): ``code`` is ``login_challenge_used``,
    ``login_challenge_expired``, ``simple_auth_key_removed`` or ``account_not_owned``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class NoMediumError(BankError):
    """The customer has no usable security medium (none issued, or all lost or locked),
    so no transfer limit applies but zero."""

    code = "no_medium"

    def __init__(self, *, customer_id: str) -> None:
        super().__init__("the customer has no usable security medium")
        self.customer_id = customer_id


class LimitExceededError(BankError):
    """A transfer of ``amount`` KRW would cross a limit: ``code`` is
    ``over_transfer_limit`` (``limit`` per transfer) or ``over_day_limit`` (``limit`` per
    KST day, ``used`` of it spent already that day). Nothing was charged."""

    def __init__(self, *, amount: int, limit: int, used: int, per_day: bool) -> None:
        which = "daily" if per_day else "per-transfer"
        super().__init__(f"{amount} KRW is over the {which} limit of {limit} KRW"
                         + (f" ({used} KRW used today)" if per_day else ""))
        self.amount = amount
        self.limit = limit
        self.used = used
        self.per_day = per_day
        self.code = "over_day_limit" if per_day else "over_transfer_limit"


class WrongOtpError(BankError):
    """A verified wrong OTP code, counted on the token (one count over every institution
    it is registered with); ``attempts_left`` more before it locks everywhere."""

    code = "wrong_otp"

    def __init__(self, *, serial: str, attempts_left: int) -> None:
        super().__init__(f"wrong OTP code: {attempts_left} attempts left")
        self.serial = serial
        self.attempts_left = attempts_left


class OtpLockedError(BankError):
    """The OTP token is locked at every institution after ``failures`` wrong codes in a
    row; only a branch clears it."""

    code = "otp_locked"

    def __init__(self, *, serial: str, failures: int) -> None:
        super().__init__("the OTP is locked after too many wrong codes: have it reset at a "
                         "branch")
        self.serial = serial
        self.failures = failures


class OtpReplayError(BankError):
    """The OTP code was used already (or is older than one used); nothing was counted."""

    code = "otp_replayed"

    def __init__(self, *, serial: str) -> None:
        super().__init__("this OTP code was used already: wait for the next one")
        self.serial = serial


class OtpLostError(BankError):
    """The OTP token was reported lost; it works nowhere any more."""

    code = "otp_lost"

    def __init__(self, *, serial: str) -> None:
        super().__init__("this OTP was reported lost: get a new one")
        self.serial = serial


class OtpDisabledError(BankError):
    """The OTP was replaced by a newer medium (a mobile OTP reissued, a digital OTP moved
    to another phone)."""

    code = "otp_disabled"

    def __init__(self, *, serial: str) -> None:
        super().__init__("this OTP was replaced by a newer one")
        self.serial = serial


class OtpNotActivatedError(BankError):
    """The mobile OTP is not activated yet; it can be until ``activate_by``."""

    code = "otp_not_activated"

    def __init__(self, *, serial: str, activate_by: dt.datetime) -> None:
        super().__init__("this mobile OTP is not activated yet")
        self.serial = serial
        self.activate_by = activate_by


class OtpActivationExpiredError(BankError):
    """The mobile OTP was not activated by ``deadline`` (3 days counting the issue day):
    reissue it."""

    code = "otp_activation_expired"

    def __init__(self, *, serial: str, deadline: dt.datetime) -> None:
        super().__init__("this mobile OTP was not activated in time: reissue it")
        self.serial = serial
        self.deadline = deadline


class OtpDeviceError(BankError):
    """The mobile or digital OTP is bound to another device than ``device``."""

    code = "otp_wrong_device"

    def __init__(self, *, serial: str, device: str | None) -> None:
        super().__init__("this OTP is bound to another device")
        self.serial = serial
        self.device = device


class OtpNotUsableHereError(BankError):
    """An OTP of this ``kind`` cannot be used at the asking institution: a mobile OTP
    belongs to its bank alone, a digital OTP to participating institutions."""

    code = "otp_not_usable_here"

    def __init__(self, *, kind: str) -> None:
        super().__init__(f"a {kind} OTP cannot be used at this institution")
        self.kind = kind


# -- refusals of phone verification (pki.bank.phone) -----------------------------------------


class PhoneVerificationError(BankError):
    """Phone verification (본인확인) refused a request. Nothing changed, except where a
    subclass says what was counted."""


class IdentityMismatchError(PhoneVerificationError):
    """The name, the first 7 RRN digits or the carrier do not match the line of the phone
    (or the number has no line). Which one is not said: a stranger must not learn who
    holds a number."""

    code = "identity_mismatch"

    def __init__(self) -> None:
        super().__init__("the name, birth date and sex digit, or carrier do not match this "
                         "phone number's line")


class LineIneligibleError(PhoneVerificationError):
    """The line cannot be verified: ``line`` is ``prepaid``, ``corporate``, ``suspended``
    or ``lost``, or ``reassigned`` (at a confirm: the number has another holder than the
    one matched at the request), and ``code`` is ``line_`` followed by it. Told only to
    someone who matched the line's holder."""

    def __init__(self, *, line: str) -> None:
        why = {"prepaid": "a prepaid line", "corporate": "a corporate line",
               "suspended": "a suspended line", "lost": "a line reported lost",
               "reassigned": "a number given to another holder since the request"}[line]
        super().__init__(f"phone verification is not available on {why}")
        self.line = line
        self.code = f"line_{line}"


class PushIneligibleError(PhoneVerificationError):
    """Push protection is refused to this line: ``reason`` is ``minor`` (the holder is
    under age) or ``other_name`` (the line is in another person's name); ``code`` is
    ``push_`` followed by it."""

    def __init__(self, *, reason: str) -> None:
        why = {"minor": "the line's holder is a minor",
               "other_name": "the line is in another person's name"}[reason]
        super().__init__(f"push protection is not available: {why}")
        self.reason = reason
        self.code = f"push_{reason}"


class PushNotEnrolledError(PhoneVerificationError):
    """The phone has no carrier app with push protection (a push verification, or the
    app's history, asked for)."""

    code = "push_not_enrolled"

    def __init__(self) -> None:
        super().__init__("push protection is not set up on this phone: enrol the carrier "
                         "app first, or verify by SMS")


class ArsBlockedError(PhoneVerificationError):
    """The ARS call could not reach the phone: the phone blocks ``number``. Nothing was
    counted."""

    code = "ars_blocked"

    def __init__(self, *, number: str) -> None:
        super().__init__(f"the phone blocks calls from {number}: remove {number} from the "
                         "phone's blocked numbers (and from any spam-blocking app), then "
                         "ask for the call again")
        self.number = number


class WrongPhoneCodeError(PhoneVerificationError):
    """A wrong code (or ARS key press), compared and counted; ``tries_left`` more of this
    code may be compared."""

    code = "wrong_code"

    def __init__(self, *, verification: str, tries_left: int) -> None:
        super().__init__(f"wrong verification code: {tries_left} tries left")
        self.verification = verification
        self.tries_left = tries_left


class CodeTriesExhaustedError(PhoneVerificationError):
    """The current code had all its tries; no more guesses of it are compared (a resend
    gives a new code, within the send limits)."""

    code = "code_tries_exhausted"

    def __init__(self, *, verification: str) -> None:
        super().__init__("too many wrong codes: ask for a new code")
        self.verification = verification


class PhoneCodeExpiredError(PhoneVerificationError):
    """The current code is older than its lifetime (``expired_at``); nothing counted."""

    code = "code_expired"

    def __init__(self, *, verification: str, expired_at: dt.datetime) -> None:
        super().__init__("the verification code has expired: ask for a new code")
        self.verification = verification
        self.expired_at = expired_at


class VerificationUsedError(PhoneVerificationError):
    """The verification succeeded already; a code is accepted once."""

    code = "verification_used"

    def __init__(self, *, verification: str) -> None:
        super().__init__("this verification is complete already: its code was used")
        self.verification = verification


class SendLimitError(PhoneVerificationError):
    """No code was sent: ``scope`` ``verification`` (its ``limit`` of sends is spent) or
    ``phone`` (the phone had ``limit`` codes this KST day, from every site)."""

    code = "send_limit"

    def __init__(self, *, scope: str, limit: int) -> None:
        where = ("this verification" if scope == "verification"
                 else "this phone today: try again tomorrow (KST)")
        super().__init__(f"{limit} codes were sent for {where}")
        self.scope = scope
        self.limit = limit


class MismatchLimitError(PhoneVerificationError):
    """Nothing was sent: the phone had ``limit`` identity mismatches this KST day, from
    every site, and takes no more requests until the day turns. Told the same whether the
    number has a line or not."""

    code = "mismatch_limit"

    def __init__(self, *, limit: int) -> None:
        super().__init__(f"{limit} requests for this phone did not match its line today: "
                         "try again tomorrow (KST)")
        self.limit = limit


class WrongAppPasswordError(PhoneVerificationError):
    """A wrong carrier-app password, compared and counted; ``attempts_left`` more before
    the app locks."""

    code = "wrong_app_password"

    def __init__(self, *, attempts_left: int) -> None:
        super().__init__(f"wrong app password: {attempts_left} attempts left")
        self.attempts_left = attempts_left


class AppLockedError(PhoneVerificationError):
    """The carrier app is locked after too many wrong passwords: enrol it again (the
    carrier resets it)."""

    code = "app_locked"

    def __init__(self) -> None:
        super().__init__("the carrier app is locked after too many wrong passwords: set it "
                         "up again")


class DeviceKeystoreError(PKIError):
    """A device keystore file (:mod:`pki.keys.devicekeystore`) is missing, unreadable or not
    one; ``path`` names it."""

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(message)
        self.path = path


class DeviceWrongPinError(DeviceKeystoreError, WrongPasswordError):
    """A wrong simple PIN at a device keystore, counted there; ``attempts_left`` more before
    the keystore locks."""

    def __init__(self, *, path: str, attempts_left: int) -> None:
        super().__init__(f"wrong PIN: {attempts_left} attempts left", path=path)
        self.attempts_left = attempts_left


class DeviceLockedError(DeviceKeystoreError):
    """The device keystore is locked after too many wrong PINs; no PIN opens it again: enrol
    the device again (a new private certificate). ``serial`` is its certificate's."""

    def __init__(self, *, path: str, serial: int) -> None:
        super().__init__("the device keystore is locked after too many wrong PINs: enrol "
                         "the device again", path=path)
        self.serial = serial


class BiometricDeclinedError(DeviceKeystoreError):
    """The biometric stand-in declined (tests only); nothing was counted."""


# -- the registration authority's issuance flows (pki.ra) -----------------------------------


class StepRefusedError(BankError):
    """A step of an issuance flow was refused before anything of it was done: ``code``
    says why (``session_expired``, ``step_out_of_order``, ``step_repeated``,
    ``session_finished``, ``session_failed``); ``expected`` names the step the session
    waits for (None once it has ended)."""

    def __init__(self, message: str, *, code: str, session_id: str, step: str,
                 expected: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.session_id = session_id
        self.step = step
        self.expected = expected


# -- simple authentication (pki.simpleauth) ---------------------------------------------------


class SimpleAuthError(RequestRefusedError):
    """Simple authentication (:mod:`pki.simpleauth`) refused a request. Nothing changed,
    except where a subclass says what was recorded."""


class SimpleAuthRequestError(SimpleAuthError, ValueError):
    """A simple-authentication request's ``field`` is unusable (a provider code, a name, a
    phone, an RRN, a birth date, a nonce ...)."""

    code = "bad_request"

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class SimpleAuthNotFoundError(SimpleAuthError, NotFoundError):
    """No such ``what`` (``request``) for the asker: it does not exist, or belongs to another
    relying party or another person's app (the two are answered the same)."""

    code = "not_found"

    def __init__(self, what: str) -> None:
        super().__init__(f"no such {what}")
        self.what = what


class SimpleAuthAppError(SimpleAuthError):
    """No app credential, or one the provider does not know (a device token that is not
    an app's, or an app registered again since)."""

    code = "app_unauthorized"

    def __init__(self) -> None:
        super().__init__("no such app: register it at the provider first")


class SimpleAuthStateError(SimpleAuthError):
    """The request's ``state`` forbids this: ``request_answered`` (approved, declined or
    failed already: one answer wins), ``not_approved`` (no result to collect: ``state``
    says what the request is), ``result_collected`` (handed over once already)."""

    def __init__(self, message: str, *, code: str, request: str, state: str) -> None:
        super().__init__(message)
        self.code = code
        self.request = request
        self.state = state


class SimpleAuthExpiredError(SimpleAuthError):
    """The request expired before it was answered (``request_expired``)."""

    code = "request_expired"

    def __init__(self, *, request: str, expired_at: dt.datetime) -> None:
        super().__init__(f"the request {request} expired unanswered")
        self.request = request
        self.expired_at = expired_at


class SimpleAuthSignatureError(SimpleAuthError):
    """An approval's signature was refused: ``reason`` (also the ``code``) says why:
    ``signature_invalid`` (not a CMS signature over its content, or not intact),
    ``content_mismatch`` (it does not approve this request: another id, nonce, CI or
    decision, or a time outside the request's life), ``certificate_not_registered`` (not
    the app's registered certificate) — nothing recorded for those —, or
    ``certificate_revoked`` and ``certificate_invalid`` (the registered certificate is
    revoked, expired or no longer chains to a trusted root): then the request is recorded
    as failed with that reason."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.code = reason
        self.reason = reason


class SimpleAuthRegistrationError(SimpleAuthError):
    """An app registration was refused: ``reason`` (also the ``code``) is
    ``certificate_not_private``, ``certificate_invalid``, ``certificate_revoked``,
    ``name_mismatch``, ``identity_mismatch`` (the RRN given is not the certificate's: its
    VID under the device's R) or ``proof_invalid`` (the registration proof is not a
    signature by that key over that registration)."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.code = reason
        self.reason = reason


class FlowRefusedError(BankError):
    """A step of a joint-certificate flow (:mod:`pki.ra.joint`) or a financial one
    (:mod:`pki.ra.financial`: its codes are in its module doc) was refused by the flow's
    own rules; ``code`` says why (``terms_not_agreed``, ``identity_not_matched``,
    ``phone_not_found``, ``phone_used``, ``phone_other_person``, ``phone_expired``
    (:mod:`pki.ra.proofs` has them all), ``step_up_method``, ``medium_not_found``,
    ``insufficient_balance``, ``certificate_not_replaceable``, ``renewal_window`` ...).
    ``step`` names the step."""

    def __init__(self, code: str, message: str, *, step: str) -> None:
        super().__init__(message)
        self.code = code
        self.step = step


class AgentError(RequestRefusedError):
    """The local signing agent (:mod:`pki.agent`) refused a request; ``code`` says why, and
    a page's ``KpkiAgent.sign()`` rejects with the same code (docs/agent.md lists them).
    Nothing was signed."""


class AgentRequestError(AgentError, ValueError):
    """A sign request's ``field`` is unusable: ``code`` is ``bad_request``,
    ``unsupported_encoding`` (a text encoding the agent does not know) or ``too_large``
    (content over ``limit`` bytes)."""

    def __init__(self, message: str, *, field: str, code: str = "bad_request",
                 limit: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.field = field
        self.limit = limit


class AgentOriginError(AgentError):
    """A request came from an origin not on the agent's allow-list (or with none where one
    is needed): ``origin_not_allowed``."""

    code = "origin_not_allowed"

    def __init__(self, origin: str | None) -> None:
        super().__init__("this page's origin may not use the signing agent")
        self.origin = origin


class AgentBusyError(AgentError):
    """A sign request is open already (the agent shows one dialog at a time): ``busy``."""

    code = "busy"

    def __init__(self) -> None:
        super().__init__("a signature request is already open: finish or cancel it first")


class AgentNotFoundError(AgentError, NotFoundError):
    """No such request, or a token that is not its own (answered alike):
    ``unknown_request``."""

    code = "unknown_request"

    def __init__(self) -> None:
        super().__init__("no such signature request")


class AgentStateError(AgentError):
    """The request's ``state`` forbids this: ``already_answered`` (signed, cancelled or
    expired already: one answer wins) or ``in_progress`` (its signature is being made)."""

    def __init__(self, message: str, *, code: str, state: str) -> None:
        super().__init__(message)
        self.code = code
        self.state = state


class AgentExpiredError(AgentError):
    """The request expired before the user answered it: ``expired``."""

    code = "expired"

    def __init__(self, *, expired_at: dt.datetime) -> None:
        super().__init__("the signature request expired unanswered")
        self.expired_at = expired_at


class AgentPasswordError(AgentError):
    """The password does not open the chosen key file: ``wrong_password``. ``attempts`` is
    the number of wrong passwords for this certificate in this request. ``counted_by_file``
    says whether the key file itself counts them (an NPKI ``signPri.key`` does not: it
    holds no counter, so nothing locks it)."""

    code = "wrong_password"

    def __init__(self, *, attempts: int, counted_by_file: bool) -> None:
        super().__init__("the certificate password is wrong")
        self.attempts = attempts
        self.counted_by_file = counted_by_file


class AgentKeyError(AgentError):
    """The chosen certificate cannot sign this request: ``code`` is ``key_unreadable`` (its
    files are missing, damaged or do not belong together), ``no_r`` (R was asked for and
    the key file holds none) or ``certificate_unusable`` (expired, not yet valid, or not
    one the dialog offered)."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code


class AgentSettingsError(PKIError, ValueError):
    """The agent's settings are unusable: ``field`` names the one (``allowed_origins``: an
    origin that is none, a wildcard or ``null``; ``request_ttl``, ``max_content_bytes``)."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


# -- the browser SDK (pki.cloud.sdk, pki.web.sdk) ----------------------------------------------


class SdkError(CloudError):
    """The browser SDK's server side refused a request (:mod:`pki.cloud.sdk`)."""


class OriginNotAllowedError(UnauthorizedError):
    """The page's ``origin`` is not on the institution's list (or a request to the SDK's
    routes came from a page of another origin than kpki's own)."""

    code = "origin_not_allowed"

    def __init__(self, message: str, *, origin: str) -> None:
        super().__init__(message)
        self.origin = origin


class SdkSessionError(UnauthorizedError):
    """No such iframe session, or one that has ended or expired, or one bound to another
    origin or device than the request says (answered the same)."""

    code = "session_invalid"

    def __init__(self) -> None:
        super().__init__("no such SDK session (or it has ended): initialise the SDK again")


class UnknownEncodingError(CloudRequestError):
    """``content.plainText.encoding`` is not one the SDK knows (UTF-8, EUC-KR)."""

    code = "unknown_encoding"

    def __init__(self, encoding: str) -> None:
        super().__init__(f"unknown encoding {encoding[:32]!r}: UTF-8 or EUC-KR",
                         field="encoding")
        self.encoding = encoding


class UnencodableContentError(CloudRequestError):
    """A plain text holds a character its ``encoding`` cannot write (EUC-KR has no
    emoji)."""

    code = "unencodable"

    def __init__(self, encoding: str) -> None:
        super().__init__(f"a plain text holds a character {encoding} cannot write",
                         field="plainTexts")


class PadError(SdkError):
    """A PIN pad answer was refused before any PIN was tried (nothing charged):
    ``reason`` (also the ``code``) is ``pad_used`` (answered already: a replay),
    ``pad_expired`` or ``pad_unknown`` (no such pad for this session)."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.code = reason
        self.reason = reason


class NotConnectedError(SdkError):
    """The iframe session has no cloud user connected (the connection flow first)."""

    code = "not_connected"

    def __init__(self) -> None:
        super().__init__("this browser is not connected to the cloud: connect first")


class RenewalNotDueError(SdkError):
    """The certificate is not within its renewal window yet."""

    code = "renewal_not_due"

    def __init__(self, *, serial: int) -> None:
        super().__init__("this certificate cannot be renewed yet (a month before expiry)")
        self.serial = serial


class SsnMismatchError(SdkError):
    """The ``ssn`` a page gave is not the certificate holder's (its VID under R): refused
    once the key is open, before anything is signed (the refusal is in the history)."""

    code = "ssn_mismatch"

    def __init__(self) -> None:
        super().__init__("the resident number given is not this certificate's holder's")


# -- verification (pki.signing.verify) ---------------------------------------------------------


class CannotEvaluateError(PKIError):
    """There is nothing to verify: not SignedData, no signer, detached without content, or
    too damaged to read. ``needs`` is ``"content"`` when the signature is detached and no
    content was given; ``None`` when the signature itself is the problem."""

    def __init__(self, message: str, *, needs: str | None = None) -> None:
        super().__init__(message)
        self.needs = needs


# -- the e-government portal demo (pki.portal, pki.usecases.webdemo) --------------------------


class PortalRequestError(RequestRefusedError, ValueError):
    """What a citizen sent cannot be a petition: ``field`` names what to fix."""

    code = "bad_request"

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class PetitionNotFoundError(NotFoundError):
    """No petition has this id."""

    def __init__(self, petition: str) -> None:
        super().__init__("no such petition")
        self.petition = petition


class PetitionFiledError(RequestRefusedError):
    """This signature was filed already, as another petition (another text, encoding,
    RRN or R): one signature is one filing."""

    code = "already_filed"

    def __init__(self) -> None:
        super().__init__("this signature has been filed already, with another petition")


class OperatorLoginError(RequestRefusedError):
    """The portal's operator actions need the operator's login: ``wrong_secret`` when
    the secret given was wrong, else no live operator session came with the request."""

    def __init__(self, *, wrong_secret: bool) -> None:
        super().__init__("the operator's secret is wrong" if wrong_secret else
                         "log in as the operator first (the secret kpki demo web printed)")
        self.wrong_secret = wrong_secret
        self.code = "wrong_secret" if wrong_secret else "operator_login_required"


class UpstreamError(PKIError):
    """The portal's call of kpki serve: it could not be asked, or answered with something
    that is not its API's."""

    def __init__(self, message: str, *, url: str) -> None:
        super().__init__(message)
        self.url = url


class UpstreamRefusal(PKIError):
    """The portal's call of kpki serve was refused: ``status`` (HTTP) and ``code`` as its
    API stated them."""

    def __init__(self, message: str, *, status: int, code: str,
                 extra: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.extra = extra or {}
        """The refusal's other fields (``attempts_left``, ``field`` ...)."""


class DemoWebError(PKIError):
    """The demo cannot start: ``path`` is not a demo home, or ``port`` is taken (``kpki``:
    kpki serve's, which a demo home keeps; else the portal's)."""

    def __init__(self, message: str, *, path: str | None = None, port: int | None = None,
                 kpki: bool = False) -> None:
        super().__init__(message)
        self.path = path
        self.port = port
        self.kpki = kpki
