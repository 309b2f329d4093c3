# The compiled codec engine (eventbus._fastcodec); see eventbus._engine.
from collections.abc import Callable
from typing import Any

def make_encode_params(reference: Callable[..., bytes | None]) -> Callable[..., bytes | None]: ...
def make_decode(
    reference: Callable[..., Any],
    describe: Callable[[Any], object],
    refused: Callable[[Any, Any, Exception], BaseException],
    missing: object,
    data_types: list[type],
) -> Callable[..., Any]: ...
def encoded_here(params: object) -> bytes | None: ...
def parsed_here(raw: bytes) -> tuple[bool, Any]: ...
