"""The gateway's signing keys. The first key signs; every key is published in the
JWKS so that tokens signed by a previous key stay valid during rotation.

Keys come from the files of AUXPOL_GATEWAY_SIGNING_KEY_FILES, then from the PEM text of
AUXPOL_GATEWAY_SIGNING_KEYS_PEM (one or more private keys, concatenated), in that order.
With neither (never in production) a key is generated into the keys directory."""

from __future__ import annotations

import re
from dataclasses import dataclass

from gateway.config import GatewaySettings
from kernel.jwt import SigningKey, VerificationKey, ensure_key_file, load_signing_key
from kernel.settings import Profile

_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----\s.*?-----END \1-----", re.DOTALL)


@dataclass(frozen=True)
class KeyRing:
    active: SigningKey
    published: list[VerificationKey]


def split_private_keys(text: str) -> list[str]:
    """The private-key blocks of concatenated PEM text, in order. Other blocks (an
    `EC PARAMETERS` block written by `openssl ecparam -genkey`) are skipped; a literal
    `\\n` (an environment that cannot hold line breaks) counts as a line break."""
    text = text.replace("\\n", "\n")
    blocks = [m.group(0) for m in _PEM_BLOCK.finditer(text) if m.group(1).endswith("PRIVATE KEY")]
    if text.strip() and not blocks:
        # never echo the text: it is a secret
        raise ValueError("AUXPOL_GATEWAY_SIGNING_KEYS_PEM holds no PEM private key")
    return blocks


def load_keyring(settings: GatewaySettings) -> KeyRing:
    paths = list(settings.signing_key_files)
    pems = (
        split_private_keys(settings.signing_keys_pem.get_secret_value())
        if settings.signing_keys_pem is not None
        else []
    )
    if not paths and not pems:
        if settings.profile is Profile.PRODUCTION:
            raise RuntimeError(
                "production needs AUXPOL_GATEWAY_SIGNING_KEY_FILES "
                "or AUXPOL_GATEWAY_SIGNING_KEYS_PEM"
            )
        paths = [ensure_key_file(settings.keys_dir)]
        paths += sorted(p for p in settings.keys_dir.glob("jwt-*.pem") if p not in paths)
    keys = [load_signing_key(path.read_bytes()) for path in paths]
    keys += [load_signing_key(pem) for pem in pems]
    published = {k.kid: k.public for k in keys}  # one entry per kid, first place kept
    return KeyRing(active=keys[0], published=list(published.values()))
