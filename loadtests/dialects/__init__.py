"""Blue and green behind one interface (see ``base``). ``dialect_for`` picks one by color."""

from __future__ import annotations

from loadtests.dialects.base import Dialect, Outcome
from loadtests.dialects.blue import BlueDialect
from loadtests.dialects.green import GreenDialect
from loadtests.dialects.options import DialectOptions

DIALECTS: dict[str, type[BlueDialect] | type[GreenDialect]] = {"blue": BlueDialect, "green": GreenDialect}


def dialect_for(color: str, options: DialectOptions | None = None) -> Dialect:
    """The dialect a target of this color speaks."""
    try:
        return DIALECTS[color](options)
    except KeyError:
        raise ValueError(f"unknown dialect {color!r}; expected one of {sorted(DIALECTS)}") from None


__all__ = ["DIALECTS", "BlueDialect", "Dialect", "DialectOptions", "GreenDialect", "Outcome", "dialect_for"]
