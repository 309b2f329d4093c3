"""The codec: payloads to compact UTF-8 JSON and back, one stage per module.

- ``types``: reading target types (names in messages, whose library, field types).
- ``encode``: a payload into JSON bytes (the reference encoder; a pydantic model or msgspec
  Struct through its library's own writer).
- ``decode``: JSON bytes into a target type (the reference decoder; a library model through its
  library's own reader).
- ``plans``: what the compiled engine asks of the reference decoder.
- ``engine``: which engine runs (the ``EVENTBUS_NO_FAST_CODEC`` switch).
- ``_fastcodec`` (with ``_fastcodec.h``): the compiled engine, for the common payloads; the
  reference does the rest.

What the cores use, and nothing else (stable names and signatures):
``encode.encode_params(params, domain=None, action=None)``, ``decode.decode(data, cls=...)``,
``engine.active()`` (the compiled engine or None; its ``make_encode_params(encode_params)``) and
``engine.decode_on(engine_name)``.  Nothing here imports the cores; importing this package
imports nothing else.
"""
