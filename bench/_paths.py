"""Imported first by each benchmark. bench/select.py shadows the standard
library's `select` (which asyncio, socket, smtplib, subprocess and
multiprocessing reach through selectors) for any script run from bench/: the
project root goes first and bench/ last, behind the standard library. It stays
on the path so that worker processes, which get this path, find this module."""

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
_rest = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path[:] = [str(_HERE.parent), *_rest, str(_HERE)]
