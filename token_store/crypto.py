"""Fernet encryption of token sets at rest (database backend).

``ADSYNC_TOKEN_ENCRYPTION_KEY`` holds one Fernet key, or several separated by commas for key
rotation: the first encrypts, all are tried to decrypt. The key string of the token set is sealed
inside the ciphertext, so a ciphertext copied onto another row is rejected.
"""

from __future__ import annotations

import json

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import SecretStr

from integrations.settings import ConfigError
from token_store.models import TokenKey, TokenSet

SETTING = "ADSYNC_TOKEN_ENCRYPTION_KEY"
HOW_TO_GENERATE = (
    'generate one with: python -c "from cryptography.fernet import Fernet; '
    'print(Fernet.generate_key().decode())"'
)


class TokenCipher:
    def __init__(self, key: SecretStr | None) -> None:
        raw = key.get_secret_value().strip() if key is not None else ""
        if not raw:
            raise ConfigError(
                f"{SETTING}: required for the database token backend; {HOW_TO_GENERATE}"
            )
        try:
            self._fernet = MultiFernet([Fernet(k.strip()) for k in raw.split(",") if k.strip()])
        except (ValueError, TypeError):
            # Never echo the value: it is the key itself.
            raise ConfigError(
                f"{SETTING}: not a Fernet key (32 url-safe base64-encoded bytes); {HOW_TO_GENERATE}"
            ) from None

    def __repr__(self) -> str:
        return "TokenCipher(***)"

    def encrypt(self, key: TokenKey, token_set: TokenSet) -> bytes:
        doc = {"key": str(key), "token_set": json.loads(token_set.to_secret_json())}
        return self._fernet.encrypt(json.dumps(doc).encode())

    def decrypt(self, key: TokenKey, ciphertext: bytes) -> TokenSet:
        try:
            doc = json.loads(self._fernet.decrypt(bytes(ciphertext)))
        except InvalidToken:
            raise ConfigError(
                f"{SETTING}: cannot decrypt the stored tokens of key {key} with this key "
                "(was the key changed? list the old key after the new one, comma-separated)"
            ) from None
        if doc.get("key") != str(key):
            raise ConfigError(f"stored tokens of key {key} belong to another key; refusing them")
        return TokenSet.model_validate(doc["token_set"])
