"""Virtual serial card reader and scanner on pseudo-terminals."""

from .device import (
    VirtualCardReader,
    VirtualScanner,
    VirtualSerialDevice,
    rdm6300_checksum,
    rdm6300_frame,
)

__all__ = ["VirtualCardReader", "VirtualScanner", "VirtualSerialDevice", "rdm6300_checksum", "rdm6300_frame"]
