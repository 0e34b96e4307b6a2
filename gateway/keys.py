"""The gateway's signing keys. The first key signs; every key is published in the
JWKS so that tokens signed by a previous key stay valid during rotation."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.config import GatewaySettings
from kernel.jwt import SigningKey, VerificationKey, ensure_key_file, load_signing_key
from kernel.settings import Profile


@dataclass(frozen=True)
class KeyRing:
    active: SigningKey
    published: list[VerificationKey]


def load_keyring(settings: GatewaySettings) -> KeyRing:
    paths = list(settings.signing_key_files)
    if not paths:
        if settings.profile is Profile.PRODUCTION:
            raise RuntimeError("production needs AUXPOL_GATEWAY_SIGNING_KEY_FILES")
        paths = [ensure_key_file(settings.keys_dir)]
        paths += sorted(p for p in settings.keys_dir.glob("jwt-*.pem") if p not in paths)
    keys = [load_signing_key(path.read_bytes()) for path in paths]
    return KeyRing(active=keys[0], published=[k.public for k in keys])
