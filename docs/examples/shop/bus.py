"""The application's bus: one module that every package imports, and that imports none of them."""

import eventbus

# "warn": an event that reaches nobody (a consumer nobody imported, a typo) is logged once.
bus = eventbus.Bus(unhandled="warn")
