"""The header shapes frameworks hand over, besides a plain dict."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

__all__ = ["MultiItems", "ReadOnlyHeaders"]


class ReadOnlyHeaders(Mapping[str, str]):
    """A case-insensitive Mapping like Django's HttpHeaders."""

    def __init__(self, data: dict[str, str]) -> None:
        self._data = {k.lower(): v for k, v in data.items()}

    def __getitem__(self, key: str) -> str:
        return self._data[key.lower()]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)


class MultiItems:
    """Not a Mapping, but has items() yielding every value (Werkzeug's EnvironHeaders shape)."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._pairs = pairs

    def items(self) -> Iterator[tuple[str, str]]:
        return iter(self._pairs)
