"""Virtual ESC/POS network printer and an ESC/POS decoder, for the demo and the tests."""

from .decoder import DecodedJob, Mark, PrintedLine, decode, split_commands
from .server import PrintJob, VirtualPrinter

__all__ = ["DecodedJob", "Mark", "PrintJob", "PrintedLine", "VirtualPrinter", "decode", "split_commands"]
