"""QR codes as SVG (qrcode's path image: no Pillow needed), for the API and the printable sheet."""

from __future__ import annotations

import qrcode
from qrcode.image.svg import SvgPathImage


def make_qr(data: str) -> qrcode.QRCode:
    # Level M survives a scratched or greasy sticker; border 4 is the quiet zone scanners expect.
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4, image_factory=SvgPathImage)
    qr.add_data(data)
    qr.make(fit=True)
    return qr


def qr_svg(data: str) -> str:
    """A standalone SVG document (no XML declaration, so it can also be inlined in HTML)."""
    return make_qr(data).make_image().to_string(encoding="unicode")
