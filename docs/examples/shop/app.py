"""The composition root: importing the consumers registers their handlers.

The entry point (a web app's factory, a worker's main, a test's fixture) imports this module
before it dispatches anything; ``python -m eventbus catalog shop.app:bus`` does the same.
"""

from shop import billing, notifications
from shop.bus import bus

__all__ = ["billing", "bus", "notifications"]
