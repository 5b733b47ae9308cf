"""``kpki demo web``: the whole e-government demo started in threads of this process
(the portal itself, a face, is :mod:`pki.portal`).

:func:`run_demo_web` makes (or reuses) a demo home, then runs, each on 127.0.0.1: ``kpki
serve`` over it (CRLs, OCSP, the TSA, the cloud, the financial-certificate SDK when this
kpki has it, the bank with its registration authority, simple authentication, and the
test channels, so the demo's phone codes are readable), the local signing agent
(:mod:`pki.agent`, allowing only the portal's origin, its hard disk the demo's NPKI base)
and the portal (:mod:`pki.portal.app`).
The block's end stops them all. The CLI (``cli/demo.py``) only prints and waits.

**The demo home** (:func:`prepare_demo_home`) is a kpki home (CA keys unencrypted: for
trying kpki out, nothing else) whose base URL is kpki serve's address, with a bank's own
CA of private certificates beside the licensed CA, and one citizen, 홍길동, holding:

* a joint certificate in an NPKI base folder (``demo-web/npki``, where the agent looks),
  under a known demo password;
* a financial certificate in the cloud under a known demo PIN, registered at the
  portal's institution (the SDK's organisation);
* a private certificate on a demo phone (``demo-web/phone``, a device keystore under a
  known 6-digit PIN) registered for simple authentication.

What the demo needs to start again is in ``demo-web/demo.json`` (0600): the demo
passwords and PINs, and the portal's API key at kpki serve. They protect test keys only.
A home made again reuses kpki serve's port, since every certificate names it.

**The operator's secret** (``demo-web/operator.secret``, 0600) is what the portal's
operator page asks before it lists petitions or revokes a certificate: made at the first
start (a home made before it had one gets one then), kept, and given to the CLI to print
(:attr:`RunningDemo.operator_secret`); never an option, so never on argv.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from secrets import token_urlsafe
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..clock import Clock, SystemClock
from ..errors import DemoWebError, PKIError
from ..faults import fault_point
from ..fsutil import atomic_write
from ..hierarchy import CASettings
from ..home import Home
from ..keys.folder import write_npki_folder
from ..profiles import PRIVATE_STYLE
from ..rrn import synthetic_rrn
from ..web.limits import LISTEN_BACKLOG

if TYPE_CHECKING:
    from starlette.routing import Route

    from ..keys.generate import KeyGenerator
    from ..store import Institution

__all__ = ["DemoSecrets", "DemoWebError", "RunningDemo", "prepare_demo_home", "run_demo_web"]

DEMO_FOLDER = "demo-web"
DEMO_FILE = "demo.json"
OPERATOR_FILE = "operator.secret"
_FORMAT = "kpki-demo-web-v1"
PRIVATE_CA = "kbprivate"
PORTAL_NAME = "정부24 데모 포털"
PROVIDER = 1
"""The simple-authentication provider the demo's phone and portal use (Kakao)."""
ORG_CODE = "D000000001"
"""The portal's test organisation code at the SDK."""
BANK_CODE = "081"
ACCOUNT_PASSWORD = "0420"
DEVICE = "demo-pc"
CARRIER = "SKT"


@dataclass(frozen=True)
class DemoSecrets:
    """What the demo's user is told, and what the demo needs to start again."""

    name: str
    rrn: str = field(repr=False)
    phone: str
    joint_password: str = field(repr=False)
    cloud_pin: str = field(repr=False)
    simple_pin: str = field(repr=False)
    portal_api_key: str = field(repr=False)
    bank: dict[str, str] = field(repr=False, default_factory=dict)
    """The demo bank: its code and API key (the portal calls the bank and its
    registration authority with it), the citizen's customer id, account and its
    password, the device the flows name, the carrier."""
    sdk_key: str | None = field(repr=False, default=None)
    """The portal's SDK key (public: it is in the page); None in a demo home made before
    kpki had the SDK."""

    def to_file(self) -> bytes:
        data = {"format": _FORMAT, "name": self.name, "rrn": self.rrn, "phone": self.phone,
                "joint_password": self.joint_password, "cloud_pin": self.cloud_pin,
                "simple_pin": self.simple_pin, "portal_api_key": self.portal_api_key,
                "bank": self.bank, "sdk_key": self.sdk_key}
        return json.dumps(data, ensure_ascii=False, indent=1).encode() + b"\n"

    @classmethod
    def read(cls, path: Path) -> DemoSecrets:
        try:
            data: dict[str, Any] = json.loads(path.read_bytes())
            if data.get("format") != _FORMAT:
                raise ValueError
            return cls(**{k: v for k, v in data.items() if k != "format"})
        except FileNotFoundError:
            raise DemoWebError(f"{path.parent.parent} is not a demo home made by 'kpki demo "
                               "web' (choose another --home)", path=str(path)) from None
        except (OSError, ValueError, TypeError):
            raise DemoWebError(f"{path} is damaged: make a new demo home (another --home)",
                               path=str(path)) from None


@dataclass(frozen=True)
class RunningDemo:
    """The demo while it runs."""

    home: Path
    portal_url: str
    kpki_url: str
    agent_url: str
    sdk: bool
    """Whether the portal signs through the financial-certificate SDK."""
    secrets: DemoSecrets
    npki_base: Path
    device_folder: Path
    republish: Any = field(repr=False, default=None)
    """Publishes at once (after a revocation): what the operator page calls."""
    operator_secret: str = field(repr=False, default="")
    """What the operator page asks (kept in ``demo-web/operator.secret``)."""


def _bind(port: int, *, host: str = "127.0.0.1", kpki: bool = False) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise DemoWebError(f"cannot listen on {host}:{port}: {exc.strerror}", port=port,
                           kpki=kpki) from None
    sock.listen(LISTEN_BACKLOG)
    return sock


def _folder(home: Path) -> Path:
    return home / DEMO_FOLDER


def prepare_demo_home(target: Path, *, base_url: str, clock: Clock | None = None,
                      key_generator: KeyGenerator | None = None) -> DemoSecrets:
    """Make the demo home of the module doc at ``target`` (which must not exist), served
    at ``base_url``; its secrets. It is made in a hidden folder beside ``target`` and
    renamed into place once whole, so that ``target`` is a whole demo home or nothing:
    a failure removes what was made; a process killed meanwhile leaves only the hidden
    ``.<name>.making-<pid>`` folder, never a half-made home where ``target`` is."""
    target = Path(target)
    if target.exists():
        raise DemoWebError(f"{target} exists already", path=str(target))
    target.parent.mkdir(parents=True, exist_ok=True)
    making = target.parent / f".{target.name}.making-{os.getpid()}"
    shutil.rmtree(making, ignore_errors=True)  # left by an earlier process of this pid
    try:
        made = _prepare(making, base_url=base_url, clock=clock, key_generator=key_generator)
        fault_point("demo-web.made")
        making.rename(target)
    except BaseException:
        shutil.rmtree(making, ignore_errors=True)
        raise
    return made


def _prepare(target: Path, *, base_url: str, clock: Clock | None,
             key_generator: KeyGenerator | None) -> DemoSecrets:
    from ..cloud.service import add_institution
    from ..keys.devicekeystore import DeviceKeystore
    from .simpleauth import register_app, simple_auth_of_home

    time = clock or SystemClock()
    with Home.create(target, passphrase=None, base_url=base_url, clock=time,
                     key_generator=key_generator) as home:
        home.add_ca(CASettings(label=PRIVATE_CA, style=PRIVATE_STYLE), passphrase=None)
        folder = _folder(home.path)
        folder.mkdir(mode=0o700)
        name, phone = "홍길동", "01012345678"
        rrn = synthetic_rrn(dt.date(1990, 3, 1), serial=12345)
        secrets = DemoSecrets(name=name, rrn=rrn.digits, phone=phone,
                              joint_password="Demo-pass-1!", cloud_pin="802417",
                              simple_pin="135790",
                              portal_api_key=add_institution(home.store, PORTAL_NAME,
                                                             at=time.now()))
        joint = home.authority().issue_joint(name=name, rrn=rrn)
        write_npki_folder(joint, folder / "npki", password=secrets.joint_password)

        cloud = home.cloud_factory(passphrase=None)()
        portal = cloud.authenticate(secrets.portal_api_key)
        user = cloud.register_user(portal, name=name, phone=phone,
                                   birth_date=rrn.birth_date.isoformat())
        cloud.confirm(portal, user, _sent_code(cloud.messages(portal, phone)[-1].text))
        cloud.issue(portal, user, rrn=rrn.digits, pin=secrets.cloud_pin,
                    pin_confirm=secrets.cloud_pin)
        sdk_key = _set_up_sdk(home, portal, time)

        register_app(simple_auth_of_home(home), DeviceKeystore(folder / "phone"), PROVIDER,
                     name=name, rrn=rrn, phone=phone, pin=secrets.simple_pin,
                     authority=home.authority(PRIVATE_CA), device="demo-phone")
        secrets = DemoSecrets(**{**secrets.__dict__, "sdk_key": sdk_key,
                                 "bank": _set_up_bank(home, name=name, rrn=rrn.digits,
                                                      phone=phone)})
        # The TSA, OCSP signers and first CRLs now, with the keys this home was made with.
        home.tsa(passphrase=None)
        home.publisher().round()
        atomic_write(folder / DEMO_FILE, secrets.to_file(), mode=0o600)
        return secrets


def _operator_secret(folder: Path, *, entropy: Callable[[int], str]) -> str:
    """The operator's secret kept in ``folder`` (0600), made now when there is none."""
    path = folder / OPERATOR_FILE
    try:
        kept = path.read_text().strip()
    except FileNotFoundError:
        kept = ""
    if not kept:
        kept = entropy(24)
        atomic_write(path, kept.encode() + b"\n", mode=0o600)
    return kept


def _sent_code(text: str) -> str:
    """The 2-digit confirmation code in a test-channel message."""
    import re

    found = re.search(r"\b(\d{2})\b", text)
    if found is None:
        raise DemoWebError("the cloud's confirmation message has no code")
    return found.group(1)


def _set_up_sdk(home: Home, portal: Institution, clock: Clock) -> str:
    """The portal as an organisation of the financial-certificate SDK; its SDK key. The
    portal's origin is allowed when the demo starts (its port may change)."""
    from ..cloud.sdk import add_sdk_institution

    return add_sdk_institution(home.store, portal, ORG_CODE, origins=(), at=clock.now())


def _set_up_bank(home: Home, *, name: str, rrn: str, phone: str) -> dict[str, str]:
    """The demo bank (Hana, 081) with the citizen as its internet-banking customer: an
    account, a security card, the demo PC designated, the phone line known to the
    carrier (for the flows' phone verification)."""
    from .banking import Banking

    banking = Banking.of_home(home)
    bank, api_key = banking.add_bank(BANK_CODE)
    customer = banking.customers.add(bank, name=name, rrn=rrn, phone=phone, carrier=CARRIER)
    banking.customers.sign_up(bank, customer.id)
    banking.customers.activate(bank, customer.id)
    account = banking.customers.open_account(bank, customer.id, password=ACCOUNT_PASSWORD,
                                             balance=1_000_000)
    banking.devices.designate(bank, customer.id, DEVICE)
    banking.cards.issue(bank, customer.id)
    banking.lines.add(phone, name=name, rrn=rrn, carrier=CARRIER)
    return {"code": BANK_CODE, "api_key": api_key, "customer_id": customer.id,
            "account": account.number, "account_password": ACCOUNT_PASSWORD,
            "device": DEVICE, "carrier": CARRIER}


def _routes(home: Home) -> list[Route]:
    """kpki serve's API route groups for the demo: the cloud with the SDK, the bank with
    its registration authority, simple authentication, with the test channels."""
    from .serving import bank_api, cloud_api, simpleauth_api

    cloud = cloud_api(home, passphrase=None, test_channel=True)
    return [*(cloud.routes if cloud is not None else ()), *bank_api(home, test_channel=True),
            *simpleauth_api(home)]


@contextlib.contextmanager
def run_demo_web(target: Path, *, port: int = 0, clock: Clock | None = None,
                 key_generator: KeyGenerator | None = None,
                 publish_every: float | None = 60.0,
                 entropy: Callable[[int], str] = token_urlsafe
                 ) -> Iterator[RunningDemo]:
    """Run the demo of the module doc over the home at ``target`` (made first when it does
    not exist), the portal on ``port`` of 127.0.0.1 (0: a free one), until the block ends.
    ``publish_every``: seconds between publisher rounds (None: only after a revocation).
    ``entropy`` makes the operator's secret when the home has none (``n`` random bytes as
    text). Raises :class:`DemoWebError` for a folder that is not a demo home, or a port
    taken."""
    from ..portal.app import DemoPerson, PortalSettings, SdkSettings, portal_app
    from ..web import serve_in_thread
    from .serving import serve_home_in_thread

    time = clock or SystemClock()
    target = Path(target)
    portal_sock = _bind(port)
    with contextlib.ExitStack() as stack:
        stack.callback(portal_sock.close)
        made = not target.exists()
        if made:
            kpki_sock = _bind(0)
            stack.callback(kpki_sock.close)
            prepare_demo_home(target, base_url=_url(kpki_sock), clock=time,
                              key_generator=key_generator)
        secrets = DemoSecrets.read(_folder(target) / DEMO_FILE)
        operator_secret = _operator_secret(_folder(target), entropy=entropy)
        home = stack.enter_context(Home.open(target, clock=time, key_generator=key_generator))
        if not made:  # the port every certificate of this home names
            kpki_sock = _bind(urlsplit(home.base_url).port or 80, kpki=True)
            stack.callback(kpki_sock.close)
        home_path = home.path
        served = stack.enter_context(serve_home_in_thread(home, sock=kpki_sock,
                                                          routes=_routes(home)))
        portal_url = _url(portal_sock)
        has_sdk = secrets.sdk_key is not None
        if has_sdk:
            from ..cloud.sdk import allow_origin

            for origin in _origins(portal_url):
                allow_origin(home.store, ORG_CODE, origin, at=time.now())
        publishing = threading.Lock()

        def republish() -> None:
            with publishing:
                served.republish()

        stop = threading.Event()
        if publish_every is not None:
            watcher = threading.Thread(target=_watch, args=(stop, republish, publish_every),
                                       daemon=True, name="kpki-demo-publisher")
            watcher.start()
            stack.callback(watcher.join, 10)
        stack.callback(stop.set)
        folder = _folder(home_path)
        agent_url = _start_agent(stack, origins=_origins(portal_url),
                                 npki_base=folder / "npki",
                                 clock=time)
        settings = PortalSettings(
            kpki_url=served.url, api_key=secrets.portal_api_key,
            petitions=folder / "petitions", provider=PROVIDER,
            device_folder=folder / "phone", agent_url=agent_url,
            sdk=None if secrets.sdk_key is None else SdkSettings(ORG_CODE, secrets.sdk_key),
            person=DemoPerson(secrets.name, _shown_rrn(secrets.rrn), secrets.phone),
            bank=secrets.bank, operator_secret=operator_secret,
            credentials=(("공동인증서 암호", secrets.joint_password),
                         ("금융인증서 PIN", secrets.cloud_pin),
                         ("간편인증 PIN", secrets.simple_pin)))

        def open_home() -> Home:
            return Home.open(home_path, clock=time, key_generator=key_generator)

        app = portal_app(settings, home=open_home, republish=republish, clock=time)
        stack.enter_context(serve_in_thread(app, sock=portal_sock))
        yield RunningDemo(home_path, portal_url, served.url, agent_url, has_sdk, secrets,
                          folder / "npki", folder / "phone", republish, operator_secret)


def _origins(portal_url: str) -> tuple[str, str]:
    """The portal's origin as the browser sends it, whether the address typed was
    127.0.0.1 or localhost."""
    return portal_url, portal_url.replace("://127.0.0.1:", "://localhost:")


def _start_agent(stack: contextlib.ExitStack, *, origins: tuple[str, ...], npki_base: Path,
                 clock: Clock) -> str:
    """The local signing agent in a thread until ``stack`` closes, allowing the portal's
    ``origins`` only, its hard disk the demo's NPKI base; its base URL."""
    from ..agent import AgentSettings, Location, LocationKind, SigningAgent, create_app
    from ..web import serve_in_thread

    sock = _bind(0)
    stack.callback(sock.close)
    agent = SigningAgent(AgentSettings.of(
        list(origins), locations=(Location(LocationKind.HARD_DISK, npki_base),)),
        clock=clock)
    port = sock.getsockname()[1]
    stack.enter_context(serve_in_thread(create_app(agent, port=port), sock=sock))
    stack.callback(agent.close)  # first: a request waiting for the dialog ends at once
    return _url(sock)


def _watch(stop: threading.Event, republish: Any, every: float) -> None:
    while not stop.wait(every):
        try:
            republish()
        except PKIError:
            continue  # the next round tries again


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{host}:{port}"


def _shown_rrn(digits: str) -> str:
    return f"{digits[:6]}-{digits[6:]}"
