"""QR codes as SVG (qrcode's path image: no Pillow needed)."""

from __future__ import annotations

import qrcode
import qrcode.image.svg


def _code(content: str) -> qrcode.QRCode:
    code = qrcode.QRCode(image_factory=qrcode.image.svg.SvgPathImage, border=2)
    code.add_data(content)
    code.make(fit=True)
    return code


def qr_svg(content: str) -> str:
    return _code(content).make_image().to_string(encoding="unicode")


def qr_matrix(content: str) -> list[list[bool]]:
    """The modules of the code :func:`qr_svg` draws (compare these, not SVG text)."""
    return _code(content).get_matrix()
