"""Persistence in SQLite: one database file in the data root, migrated forward on open."""

from snakepit.store.database import Database, StoreError, StoreFull

__all__ = ["Database", "StoreError", "StoreFull"]
