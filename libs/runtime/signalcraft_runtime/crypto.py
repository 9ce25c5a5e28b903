"""Secrets at rest: Fernet (AES-128-CBC + HMAC) with a key from SIGNALCRAFT_SECRET_KEY."""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken


class SecretBox:
    def __init__(self, key: str) -> None:
        if not key:
            raise ValueError("SIGNALCRAFT_SECRET_KEY is not set (generate one with `signalcraft keygen`)")
        self._fernet = Fernet(key.encode())

    @staticmethod
    def generate_key() -> str:
        return Fernet.generate_key().decode()

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        try:
            return self._fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken:
            raise ValueError("secret cannot be decrypted with this SIGNALCRAFT_SECRET_KEY") from None
