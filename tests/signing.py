"""Signing clips with C2PA for tests: a certificate chain (a root CA and an ES256 signer) made at test time with
``cryptography``, and a manifest carrying a training-and-data-mining assertion written by ``c2pa-python``."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["sign_clip"]


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, cn), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Test")]
    )


def _usage(*, sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=not sign,
        crl_sign=not sign,
        encipher_only=False,
        decipher_only=False,
    )


def _chain() -> tuple[bytes, bytes]:
    """``(certificate chain PEM, private key PEM)``: an ES256 signer certified by a self-made root."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("Provenance Test Root"))
        .issuer_name(_name("Provenance Test Root"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_usage(sign=False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name("Provenance Test Signer"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(sign=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    chain = leaf.public_bytes(serialization.Encoding.PEM) + ca.public_bytes(serialization.Encoding.PEM)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return chain, pem


def sign_clip(src: Path, dest: Path, entries: dict[str, str], label: str = "cawg.training-mining") -> Path:
    """``src`` (an MP4) signed into ``dest`` with a manifest whose ``label`` assertion gives each entry (``ai_training``
    ...) its ``use`` (``allowed``, ``notAllowed``, ``constrained``)."""
    import c2pa

    prefix = label.split(".", 1)[0]
    data: dict[str, Any] = {
        f"{prefix}.{name}": {"use": use, **({"constraint_info": "ask the holder"} if use == "constrained" else {})}
        for name, use in entries.items()
    }
    manifest = {
        "claim_generator_info": [{"name": "provenance-tests", "version": "1"}],
        "title": src.name,
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {
                    "actions": [
                        {
                            "action": "c2pa.created",
                            "digitalSourceType": ("http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"),
                        }
                    ]
                },
            },
            {"label": label, "data": {"entries": data}},
        ],
    }
    chain, key = _chain()
    signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(alg=b"es256", sign_cert=chain, private_key=key, ta_url=None))
    builder = c2pa.Builder(json.dumps(manifest))
    with open(src, "rb") as source, open(dest, "wb") as out:
        builder.sign(signer, "video/mp4", source, out)
    return dest
