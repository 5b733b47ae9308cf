"""``kpki init`` and ``kpki ca add|list|show|set``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from cryptography.hazmat.primitives import serialization

from pki.entropy import DEFAULT_SERIAL_BITS
from pki.errors import PKCS11URIError, ProfileError
from pki.home import CASettings, Home, RootSettings, check_store_url
from pki.keys.pkcs11 import check_store_uri
from pki.keys.pkcs11uri import parse_uri
from pki.profiles import STYLES, KeyType
from pki.revocation.shards import MAX_CRL_SHARDS
from pki.store import CARecord

from .context import Context
from .issue import serial_bits_option
from .output import (
    common_name,
    emit_json,
    emit_list,
    fields,
    fingerprint,
    iso,
    json_option,
    list_options,
    serial_hex,
    shown,
    table,
)
from .secrets import ca_passphrase, passphrase_file_option, pin_file_option, token_pin

STORE_ENV = "KPKI_STORE"
KEY_TYPES = {"rsa2048": KeyType.RSA2048, "rsa3072": KeyType.RSA3072}


def _check_ca_keys(ctx: click.Context, param: click.Parameter, value: str | None
                   ) -> str | None:
    if value is None:
        return None
    try:
        return str(check_store_uri(parse_uri(value)))
    except PKCS11URIError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None


def _ca_keys_option(f: Any) -> Any:
    f = pin_file_option(f)
    return click.option(
        "--ca-keys", metavar="PKCS11-URI", callback=_check_ca_keys,
        help="Make the CA keys in an HSM: the PKCS #11 URI of its token and module, "
             "pkcs11:token=LABEL?module-path=FILE (docs/hsm.md). The user PIN comes from "
             "--pin-file, $KPKI_CA_PIN or a prompt, never from the URI.")(f)


def _key_type_option(f: Any) -> Any:
    return click.option("--key-type", type=click.Choice(sorted(KEY_TYPES)), default="rsa2048",
                        show_default=True, help="CA key type.")(f)


def ca_json(record: CARecord, home: Home) -> dict[str, Any]:
    cert = record.certificate
    return {
        "label": record.label,
        "parent": record.parent,
        "style": record.style,
        "subject": cert.subject.rfc4514_string(),
        "serial": serial_hex(cert.serial_number),
        "not_before": iso(cert.not_valid_before_utc),
        "not_after": iso(cert.not_valid_after_utc),
        "key_size": cert.public_key().key_size,  # type: ignore[union-attr]
        "crl_url": record.crl_url,
        "crl_shards": record.crl_shards,
        "ocsp_url": record.ocsp_url,
        "cps_url": record.cps_url,
        "certificate": str(home.ca_dir(record.label) / "cert.pem"),
        "sha256": fingerprint(cert),
    }


@click.command()
@click.option("--root-cn", default=RootSettings.common_name, show_default=True,
              help="Common name of the KISA-style root.")
@click.option("--ca-label", default="yessign", show_default=True,
              help="Label of the licensed CA (used with --ca later).")
@click.option("--ca-style", type=click.Choice(sorted(STYLES)), default="yessign",
              show_default=True, help="Naming and policy style of the licensed CA.")
@click.option("--ca-cn", default="", help="Common name of the licensed CA [style default].")
@_key_type_option
@serial_bits_option("the CA certificates' serial numbers")
@click.option("--base-url", default="http://127.0.0.1:8880", show_default=True,
              help="Where 'kpki serve' will publish CRLs and OCSP (goes into certificates).")
@passphrase_file_option
@click.option("--no-passphrase", is_flag=True,
              help="Store CA keys unencrypted (throwaway homes only).")
@_ca_keys_option
@click.option("--delta-crls", is_flag=True,
              help="Full CRLs announce the delta CRLs (freshestCRL); clients that fetch no "
                   "deltas (pyHanko, Java) then fail. See 'kpki crl deltas'.")
@click.option("--time-travel", is_flag=True,
              help="A test home whose clock may go back (kpki --at): times are recorded as "
                   "the clock gives them and a CRL may be dated before the last one. "
                   "Without it, running in the future and then in the present is refused "
                   "once a CRL was published in the future.")
@click.option("--store", "store_url", metavar="URL", envvar=STORE_ENV,
              help="Keep the store in this PostgreSQL database (postgresql://user@host/db; "
                   "the password from PGPASSWORD, ~/.pgpass or a service file, never in the "
                   f"URL) instead of kpki.db in the home [${STORE_ENV}].")
@json_option
@click.pass_obj
def init(obj: Context, root_cn: str, ca_label: str, ca_style: str, ca_cn: str, key_type: str,
         serial_bits: int | None, base_url: str, passphrase_file: Path | None,
         no_passphrase: bool, ca_keys: str | None, pin_file: Path | None, delta_crls: bool,
         time_travel: bool, store_url: str | None, as_json: bool) -> None:
    """Create a home with a KISA-style root and one licensed CA."""
    if no_passphrase and passphrase_file:
        raise click.UsageError("--no-passphrase and --passphrase-file exclude each other")
    if store_url:
        check_store_url(store_url)  # before asking for the passphrase
    if ca_keys and (no_passphrase or passphrase_file):
        raise click.UsageError("--ca-keys keeps the CA keys in a token, guarded by its PIN: "
                               "drop --passphrase-file/--no-passphrase")
    passphrase = None if no_passphrase or ca_keys else ca_passphrase(passphrase_file,
                                                                     confirm=True)
    kt = KEY_TYPES[key_type]
    home = Home.create(
        obj.home, passphrase=passphrase,
        root=RootSettings(common_name=root_cn, key_type=kt,
                          serial_bits=serial_bits or DEFAULT_SERIAL_BITS),
        ca=CASettings(label=ca_label, style=ca_style, common_name=ca_cn, key_type=kt,
                      serial_bits=serial_bits),
        base_url=base_url,
        tsa=True,
        delta_crls=delta_crls,
        clock=obj.clock,
        time_travel=time_travel,
        store_url=store_url or None,
        ca_keys=ca_keys,
        pin=token_pin(pin_file or obj.pin_file),
    )
    if no_passphrase:
        click.echo(f"kpki: warning: the CA keys in {home.path} are stored unencrypted "
                   "(--no-passphrase)", err=True)
    with home:
        records = home.list_cas()
        if as_json:
            emit_json({"home": str(home.path), "keys_encrypted": home.keys_encrypted,
                       "ca_keys": home.ca_keys,
                       "time_travel": home.time_travel,
                       "cas": [ca_json(r, home) for r in records]})
            return
        click.echo(f"Created kpki home {home.path}"
                   + (f" (CA keys in {home.keys.description})" if ca_keys else ""))
        for r in records:
            kind = "root" if r.is_root else "licensed CA"
            click.echo(f"  {r.label:<10} {kind:<12} {r.certificate.subject.rfc4514_string()}")


@click.group()
def ca() -> None:
    """Manage the CAs of the home."""


def _crl_shards_option(default: int | None) -> Callable[[Any], Any]:
    return click.option(
        "--crl-shards", type=click.IntRange(1, MAX_CRL_SHARDS), default=default,
        show_default=default is not None,
        help=f"Spread new certificates over this many CRLs (1-{MAX_CRL_SHARDS}): each names "
             "the CRL of its shard, serial mod N, at <crl-url without .crl>/<shard>.crl "
             "(docs/lifecycle.md).")


@ca.command("add")
@click.argument("label")
@click.option("--style", type=click.Choice(sorted(STYLES)), default="signkorea",
              show_default=True, help="Naming and policy style.")
@click.option("--cn", "common_name_", default="", help="Common name [style default].")
@_key_type_option
@serial_bits_option("the CA certificates' serial numbers")
@click.option("--crl-url", default="", help="CRL URL in issued certificates.")
@click.option("--ocsp-url", default="", help="OCSP URL in issued certificates.")
@click.option("--cps-url", default="", help="CPS URL in issued certificates.")
@_crl_shards_option(1)
@passphrase_file_option
@_ca_keys_option
@json_option
@click.pass_obj
def ca_add(obj: Context, label: str, style: str, common_name_: str, key_type: str,
           serial_bits: int | None, crl_url: str, ocsp_url: str, cps_url: str,
           crl_shards: int, passphrase_file: Path | None, ca_keys: str | None,
           pin_file: Path | None, as_json: bool) -> None:
    """Add a licensed CA LABEL under the root (with --ca-keys, its keys in an HSM)."""
    obj.pin_file = pin_file or obj.pin_file
    with obj.open_home() as home:
        passphrase = ca_passphrase(passphrase_file, encrypted=home.keys_encrypted)
        record = home.add_ca(
            CASettings(label=label, style=style, common_name=common_name_,
                       key_type=KEY_TYPES[key_type], crl_url=crl_url, ocsp_url=ocsp_url,
                       cps_url=cps_url, serial_bits=serial_bits, crl_shards=crl_shards),
            passphrase=passphrase, ca_keys=ca_keys)
        if as_json:
            emit_json(ca_json(record, home))
        else:
            click.echo(f"Added CA {label}: {record.certificate.subject.rfc4514_string()}")


@ca.command("list")
@list_options
@click.pass_obj
def ca_list(obj: Context, as_json: bool, as_jsonl: bool) -> None:
    """List the CAs of the home."""
    with obj.open_home() as home:
        records = home.list_cas()
        if emit_list([ca_json(r, home) for r in records], as_json=as_json,
                     as_jsonl=as_jsonl):
            return
        table(["LABEL", "PARENT", "STYLE", "NOT AFTER", "COMMON NAME"],
              [[r.label, r.parent or "-", r.style, shown(r.certificate.not_valid_after_utc),
                common_name(r.certificate.subject)] for r in records])


@ca.command("show")
@click.argument("label")
@click.option("--pem", is_flag=True, help="Print the certificate as PEM only.")
@json_option
@click.pass_obj
def ca_show(obj: Context, label: str, pem: bool, as_json: bool) -> None:
    """Show the CA LABEL."""
    with obj.open_home() as home:
        record = home.store.get_ca(label)
        if pem:
            click.echo(record.certificate.public_bytes(serialization.Encoding.PEM).decode(),
                       nl=False)
            return
        info = ca_json(record, home)
        if as_json:
            emit_json(info)
            return
        fields({k.replace("_", " "): "-" if v is None else str(v) for k, v in info.items()})


@ca.command("set")
@click.argument("label")
@_crl_shards_option(None)
@json_option
@click.pass_obj
def ca_set(obj: Context, label: str, crl_shards: int | None, as_json: bool) -> None:
    """Change a setting of the CA LABEL for the certificates it issues from now on.

    --crl-shards only grows: certificates issued before keep the CRL they name, and it
    stays published.
    """
    if crl_shards is None:
        raise click.UsageError("nothing to change: give --crl-shards")
    with obj.open_home() as home:
        try:
            record = home.set_crl_shards(label, crl_shards)
        except ProfileError as exc:  # the root's, or fewer than before: kpki's rules
            raise click.BadParameter(str(exc), param_hint="--crl-shards") from None
        if as_json:
            emit_json(ca_json(record, home))
        else:
            click.echo(f"CA {label}: new certificates are spread over {record.crl_shards} "
                       "CRL" + ("s" if record.crl_shards > 1 else ""))
