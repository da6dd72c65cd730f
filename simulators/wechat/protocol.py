"""WeChat's wire formats, written from the protocol documents: XML bodies, the Pay v2 MD5 /
HMAC-SHA256 signature, the callback SHA1 signature and the two AES schemes (refund
notifications, safe-mode events). Pure functions, no Flask, no state."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import string
import struct
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")
_ALNUM = string.ascii_letters + string.digits


def nonce(length: int = 32) -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(length))


def beijing_time(ts: float, fmt: str = "%Y%m%d%H%M%S") -> str:
    """WeChat Pay writes times in Beijing time: ``20240101120000`` (``time_end``)."""
    return datetime.fromtimestamp(ts, UTC).astimezone(BEIJING).strftime(fmt)


def parse_beijing_time(text: str) -> float:
    return datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=BEIJING).timestamp()


def yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    return f"{sign}￥{fen // 100}.{fen % 100:02d}"


# --- XML ---------------------------------------------------------------------------------


def to_xml(values: Mapping[str, object], root: str = "xml") -> str:
    """``<xml><k><![CDATA[v]]></k>…</xml>``; numbers go bare, as WeChat writes them."""
    parts = [f"<{root}>"]
    for key, value in values.items():
        if value is None:
            continue
        text = str(value)
        if isinstance(value, int) or (text.isascii() and text.isdigit()):
            parts.append(f"<{key}>{text}</{key}>")
        else:
            parts.append(f"<{key}><![CDATA[{text.replace(']]>', ']]]]><![CDATA[>')}]]></{key}>")
    parts.append(f"</{root}>")
    return "".join(parts)


def parse_xml(body: bytes | str, root: str = "xml") -> dict[str, str]:
    """The flat ``<xml>`` documents WeChat exchanges, as a dict of strings."""
    if isinstance(body, str):
        body = body.encode("utf-8")
    if not body.strip():
        raise ValueError("empty body")
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise ValueError("DTDs are not accepted")
    try:
        element = ET.fromstring(body)
    except ET.ParseError as exc:
        raise ValueError(f"not XML: {exc}") from exc
    if element.tag != root:
        raise ValueError(f"root element must be <{root}>")
    return {child.tag: (child.text or "") if len(child) == 0 else "" for child in element}


# --- signatures ---------------------------------------------------------------------------


def pay_sign(params: Mapping[str, object], api_key: str, sign_type: str = "MD5") -> str:
    """Pay v2: ``k1=v1&k2=v2…&key=API_KEY`` over the non-empty parameters sorted by name
    (``sign`` left out), MD5 or HMAC-SHA256, upper-case hex."""
    pairs = [f"{k}={params[k]}" for k in sorted(params) if k != "sign" and params[k] not in (None, "")]
    text = "&".join([*pairs, f"key={api_key}"]).encode("utf-8")
    if sign_type == "HMAC-SHA256":
        return hmac.new(api_key.encode("utf-8"), text, hashlib.sha256).hexdigest().upper()
    return hashlib.md5(text).hexdigest().upper()


def pay_sign_ok(params: Mapping[str, str], api_key: str) -> bool:
    sign_type = params.get("sign_type") or "MD5"
    if sign_type not in ("MD5", "HMAC-SHA256"):
        return False
    given = params.get("sign") or ""
    return hmac.compare_digest(given.upper(), pay_sign(params, api_key, sign_type))


def callback_signature(token: str, *values: str) -> str:
    """Official-account callbacks: SHA1 of the sorted, concatenated token, timestamp, nonce
    (and, in safe mode, the encrypted message for ``msg_signature``)."""
    return hashlib.sha1("".join(sorted([token, *values])).encode("utf-8")).hexdigest()


# --- AES -----------------------------------------------------------------------------------


def _pkcs7_pad(data: bytes, block: int) -> bytes:
    n = block - len(data) % block
    return data + bytes([n]) * n


def _pkcs7_unpad(data: bytes, block: int) -> bytes:
    n = data[-1] if data else 0
    if not 1 <= n <= block or data[-n:] != bytes([n]) * n:
        raise ValueError("bad padding")
    return data[:-n]


def encrypt_refund_info(xml_text: str, api_key: str) -> str:
    """``req_info`` of a refund notification: AES-256-ECB, PKCS#7, key = md5(API key) in
    lower-case hex, base64."""
    key = hashlib.md5(api_key.encode("utf-8")).hexdigest().encode("ascii")
    encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    data = encryptor.update(_pkcs7_pad(xml_text.encode("utf-8"), 16)) + encryptor.finalize()
    return base64.b64encode(data).decode("ascii")


def _event_key(encoding_aes_key: str) -> bytes:
    return base64.b64decode(encoding_aes_key + "=")


def encrypt_event(xml_text: str, encoding_aes_key: str, appid: str) -> str:
    """Safe mode: AES-256-CBC (iv = first 16 key bytes) over 16 random bytes + the message
    length (4 bytes, network order) + message + appid, PKCS#7 to 32-byte blocks, base64."""
    key = _event_key(encoding_aes_key)
    message = xml_text.encode("utf-8")
    plain = os.urandom(16) + struct.pack(">I", len(message)) + message + appid.encode("utf-8")
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    data = encryptor.update(_pkcs7_pad(plain, 32)) + encryptor.finalize()
    return base64.b64encode(data).decode("ascii")


def decrypt_event(encrypted: str, encoding_aes_key: str) -> tuple[str, str]:
    """The reverse of :func:`encrypt_event`: ``(xml, appid)``."""
    key = _event_key(encoding_aes_key)
    decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    plain = decryptor.update(base64.b64decode(encrypted)) + decryptor.finalize()
    plain = _pkcs7_unpad(plain, 32)
    if len(plain) < 20:
        raise ValueError("too short")
    (length,) = struct.unpack(">I", plain[16:20])
    return plain[20 : 20 + length].decode("utf-8"), plain[20 + length :].decode("utf-8")
