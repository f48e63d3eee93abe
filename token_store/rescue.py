"""Rescue files: a token pair that was issued but could not be stored is never thrown away.

An auth code is single use and the refresh token it yields is the only way to keep syncing
without a new consent. When the exchange succeeded and the store then failed (database gone,
disk full, keyring locked), :func:`write_rescue` writes the pair Fernet-encrypted to an
owner-only file (0600 in a 0700 directory) and ``adsync tokens import --rescue-file PATH`` stores
it later. Encryption key: ``ADSYNC_TOKEN_ENCRYPTION_KEY`` when set; otherwise a fresh key written
next to the file (``<file>.key``, 0600), which is no weaker than the keyring file on that disk.

The file is a JSON envelope; only ``ciphertext`` carries secrets, sealed with the key name.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet
from pydantic import SecretStr

from integrations.private_files import write_private
from token_store.crypto import TokenCipher
from token_store.errors import TokenStoreError
from token_store.models import TokenKey, TokenSet, utcnow

FORMAT = "adsync-token-rescue"
VERSION = 1
ENV_KEY = "ADSYNC_TOKEN_ENCRYPTION_KEY"
KEY_FILE = "key-file"


class RescueFileError(TokenStoreError):
    """A rescue file that cannot be read or decrypted (message names the file, never secrets)."""


@dataclass(frozen=True)
class Rescue:
    path: Path
    key_path: Path | None  # set when the file is encrypted with its own key file


def rescue_dirs(data_dir: Path) -> list[Path]:
    """Where a rescue file may go, in order: the data dir, the home dir, the temp dir."""
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return [
        Path(data_dir) / "rescue",
        Path.home() / ".adsync-rescue",
        Path(tempfile.gettempdir()) / f"adsync-rescue-{uid}",
    ]


def write_rescue(
    dirs: list[Path], key: TokenKey, token_set: TokenSet, encryption_key: SecretStr | None
) -> Rescue:
    """Write the pair to the first directory that takes it; raise if none does."""
    own_key: bytes | None = None
    cipher: TokenCipher | None = None
    if encryption_key is not None and encryption_key.get_secret_value().strip():
        try:
            cipher = TokenCipher(encryption_key)
        except Exception:  # noqa: BLE001 - an unusable configured key: fall back to our own
            cipher = None
    if cipher is None:
        own_key = Fernet.generate_key()
        cipher = TokenCipher(SecretStr(own_key.decode()))
    stamp = utcnow().strftime("%Y%m%dT%H%M%S%fZ")
    name = f"tokens-{key.provider}-{key.app_id}-{_safe(key.principal)}-{stamp}.json"
    envelope = {
        "format": FORMAT,
        "version": VERSION,
        "key": str(key),
        "created_at": utcnow().isoformat(timespec="seconds"),
        "refresh_expires_at": token_set.refresh_expires_at.isoformat(timespec="seconds"),
        "encryption": KEY_FILE if own_key is not None else ENV_KEY,
        "ciphertext": cipher.encrypt(key, token_set).decode(),
    }
    errors: list[str] = []
    for d in dirs:
        path = d / name
        try:
            key_path = None
            if own_key is not None:
                key_path = write_private(path.with_name(path.name + ".key"), own_key)
            write_private(path, json.dumps(envelope, indent=2).encode())
            return Rescue(path, key_path)
        except OSError as e:
            errors.append(f"{d}: {e.strerror or type(e).__name__}")
    raise TokenStoreError("could not write a rescue file anywhere (" + "; ".join(errors) + ")")


def read_rescue(path: Path, encryption_key: SecretStr | None) -> tuple[TokenKey, TokenSet]:
    """Decrypt a rescue file; errors name the file and what is wrong, never a secret."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except OSError as e:
        raise RescueFileError(f"rescue file {path}: {e.strerror or type(e).__name__}") from None
    except ValueError:
        raise RescueFileError(f"rescue file {path}: not JSON") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise RescueFileError(f"rescue file {path}: not an adsync token rescue file")
    try:
        key = TokenKey.parse(str(doc["key"]))
        ciphertext = str(doc["ciphertext"]).encode()
    except (KeyError, ValueError):
        raise RescueFileError(f"rescue file {path}: lacks its key or ciphertext") from None
    if doc.get("encryption") == KEY_FILE:
        key_path = path.with_name(path.name + ".key")
        try:
            secret = SecretStr(key_path.read_text().strip())
        except OSError as e:
            raise RescueFileError(
                f"rescue file {path}: its key file {key_path.name} is unreadable "
                f"({e.strerror or type(e).__name__})"
            ) from None
    else:
        secret = encryption_key
    try:
        return key, TokenCipher(secret).decrypt(key, ciphertext)
    except Exception as e:  # noqa: BLE001 - ConfigError from the cipher names the setting
        raise RescueFileError(f"rescue file {path}: cannot decrypt ({e})") from None


def remove_rescue(path: Path) -> None:
    """Delete a rescue file (and its key file) once its pair is stored: it must not be reused."""
    path = Path(path)
    for p in (path, path.with_name(path.name + ".key")):
        p.unlink(missing_ok=True)


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in text)[:64]
