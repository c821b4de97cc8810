"""How JavaScript's ``JSON.stringify`` (and Go's ``encoding/json``) write a number.

The ``compact`` signed form is what they write (``_compact``): a float spelled otherwise
in the body (``3.0``, ``1e-07``, ``1.50``) is spelled their way in it.
"""

from __future__ import annotations

__all__ = ["js_float_pattern", "js_number", "js_spelling"]


def js_number(value: float) -> str:
    """Format a float as ``JSON.stringify`` and Go's ``encoding/json`` do.

    Both print the shortest round-tripping digits, in plain notation from 1e-6 up to
    1e21 and in exponent notation outside it; Python's ``repr`` switches at other
    bounds and writes ``1.0`` where they write ``1``.
    """
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    mantissa, _, exponent = repr(abs(value)).partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = whole + fraction
    point = len(whole) + int(exponent or 0)
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    digits = stripped.rstrip("0") or "0"
    count = len(digits)
    if count <= point <= 21:
        text = digits + "0" * (point - count)
    elif 0 < point <= 21:
        text = f"{digits[:point]}.{digits[point:]}"
    elif -6 < point <= 0:
        text = "0." + "0" * -point + digits
    else:
        exp = point - 1
        head = digits if count == 1 else f"{digits[0]}.{digits[1:]}"
        text = f"{head}e{'+' if exp >= 0 else '-'}{abs(exp)}"
    return sign + text


def js_spelling(token: bytes | str) -> str:
    """The JavaScript spelling of a number token JavaScript would write otherwise (3.0, 1e-07, -0)."""
    value = float(token)
    if value - value != 0:
        raise ValueError("out of range")  # 1e400: JSON.parse gives Infinity; parse_json refuses it
    return js_number(value)


def js_float_pattern(end: str) -> str:
    """A float JavaScript writes exactly as it is spelled, followed by ``end``.

    Provided the spelling has the fewest digits that round to the same double (what JSON
    writers print: JavaScript, Go, Python, Java, Rust; a spelling of 15 significant
    digits or fewer always has): plain notation from 1e-6 up to 1e15, exponent notation
    (1.5e-7, 1e+21) below 1e-6 and from 1e21 up to 1e308, no needless zero, sign or capital.
    """
    exponent = r"(?:\+(?:2[1-9]|[3-9][0-9]|[12][0-9]{2}|30[0-7])|-(?:[7-9]|[1-9][0-9]|[12][0-9]{2}|30[0-7]))"
    return (
        r"-?(?:"
        rf"(?=[0-9.]{{3,18}}{end})[1-9][0-9]{{0,14}}\.[0-9]*[1-9]"
        r"|0\.0{0,5}[1-9](?:[0-9]{0,15}[1-9])?"
        rf"|[1-9](?:\.[0-9]{{0,15}}[1-9])?e{exponent}"
        rf"){end}"
    )
