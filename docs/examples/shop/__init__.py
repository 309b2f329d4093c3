"""A small shop wired with eventbus: the example of docs/guide/application.md.

``users``, ``billing`` and ``notifications`` never import one another: they share the
events of ``contracts`` and the bus of ``bus``; ``app`` is the composition root that imports
the consumers, so that their handlers are registered before anything is dispatched.
"""
