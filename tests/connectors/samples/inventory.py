"""A tiny inventory model used as a connector sample.

It has module-level constants, a decorated dataclass, a nested class and an async function.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

DEFAULT_CURRENCY = "EUR"


def money(cents: int, currency: str = DEFAULT_CURRENCY) -> str:
    """Format an amount of cents as a price string."""
    return f"{cents / 100:.2f} {currency}"


@dataclass(frozen=True)
class Item:
    """One stock-keeping unit."""

    sku: str
    price_cents: int
    tags: list[str] = field(default_factory=list)

    @property
    def price(self) -> str:
        """The price, formatted."""
        return money(self.price_cents)

    class Meta:
        """Storage options for the item table."""

        table = "items"

        def describe(self) -> str:
            return f"table {self.table}"


class Inventory:
    """A collection of items keyed by SKU."""

    def __init__(self) -> None:
        self._items: dict[str, Item] = {}

    def add(self, item: Item) -> None:
        """Add or replace an item."""
        self._items[item.sku] = item

    @functools.lru_cache(maxsize=None)
    @staticmethod
    def total(prices: tuple[int, ...]) -> int:
        return sum(prices)

    MAX_ITEMS = 10_000


async def restock(inventory: Inventory, skus: list[str], *, batch: int = 10) -> int:
    """Restock the given SKUs in batches; return how many were restocked."""
    done = 0
    for start in range(0, len(skus), batch):
        done += len(skus[start : start + batch])
    return done


if __name__ == "__main__":
    print(money(1999))
