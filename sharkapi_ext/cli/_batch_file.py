r"""The batch file: read as a stream, one request per line, each checked as `submit` would.

A line is a prompt, or a JSON object with per-request options (any request field the
spec declares). Only ``\n`` and ``\r\n`` end a line; a byte-order mark is ignored; a
line that is not UTF-8 is reported alone. Nothing here holds the file.
"""

from __future__ import annotations

import codecs
import io
import json
from collections.abc import Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO, Final

from sharkapi_spec import GENERATE_REQUEST_FIELDS, MODE_PRICES

from sharkapi_ext import (
    KEYWORD_FIELDS,
    InvalidRequestError,
    check_generate_request,
)

from ._journal import request_key

__all__ = [
    "BatchError",
    "BatchFileError",
    "BatchRequest",
    "PlainLines",
    "iter_batch_file",
    "iter_batch_items",
    "parse_batch_file",
    "read_batch_file",
    "refusal",
    "validate_requests",
]


class BatchError(Exception):
    """A batch cannot start as asked (the command line shows it as a usage error).

    Attributes:
        message: What is wrong.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BatchRequest:
    """One line of the batch file.

    Attributes:
        line: Its 1-based line number.
        prompt: The prompt.
        mode: One of the spec's modes (checked by the client).
        image: A source image path, or None.
        image_strength: The source's weight, or None.
        extra_fields: The line's other request fields the spec declares.
    """

    # A plain class with slots, not a dataclass: one is made per line of the file, and
    # the key (a SHA-256) is worked out only when asked for: a first run's check pass
    # never needs it, which is a third of that pass's time.
    __slots__ = ("_key", "extra_fields", "image", "image_strength", "line", "mode", "prompt")

    def __init__(
        self,
        line: int,
        prompt: str,
        mode: str,
        image: str | None = None,
        image_strength: float | None = None,
        extra_fields: Mapping[str, Any] | None = None,
    ) -> None:
        self.line = line
        self.prompt = prompt
        self.mode = mode
        self.image = image
        self.image_strength = image_strength
        self.extra_fields: Mapping[str, Any] = extra_fields or {}
        self._key: str | None = None

    def __repr__(self) -> str:
        return f"BatchRequest(line={self.line}, mode={self.mode!r}, key={self.key!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BatchRequest):
            return NotImplemented
        return self.line == other.line and self.key == other.key

    __hash__ = None  # type: ignore[assignment]  # mutable, like the dataclass it was

    @property
    def key(self) -> str:
        """The journal key: the line number and a hash of what the line asks for."""
        key = self._key
        if key is None:
            fields: dict[str, Any] = {
                "prompt": self.prompt,
                "mode": self.mode,
                "image": self.image,
                "image_strength": self.image_strength,
            }
            if self.extra_fields:
                # Only lines with extra fields hash them: older journals keep their keys.
                fields["extra_fields"] = self.extra_fields
            key = self._key = request_key(self.line, fields)
        return key

    @property
    def file_name(self) -> str:
        """The image's file name: line number and request hash, stable across runs."""
        return f"{self.line:05d}-{self.key.rsplit('-', 1)[1][:8]}.png"

    @property
    def price(self) -> Decimal:
        """The list price of its mode (zero for a mode the spec does not price)."""
        return MODE_PRICES.get(self.mode, Decimal(0))


class BatchFileError(BatchError):
    """The batch file has lines that cannot be read as requests; nothing was submitted.

    Attributes:
        problems: Each bad line's number and reason, in file order (every bad line,
            not only the first).
    """

    def __init__(self, path: Path, problems: list[tuple[int, str]]) -> None:
        self.problems = problems
        self.message = "\n".join(f"{path}:{line}: {reason}" for line, reason in problems)
        super().__init__(self.message)


_UTF16_BOMS: Final = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


# Read in blocks: one decode and one split per block, not a loop turn per line; small
# enough that a block the journal knows part of is cheap to go through line by line.
_BLOCK_BYTES: Final = 1 << 16


def _line_blocks(path: Path) -> Iterator[tuple[int, list[str | None]]]:
    r"""The file's lines in blocks: the first one's 1-based number and each one's text.

    A text is None for a line that is not UTF-8. Read as a stream: the file is never
    held whole. Only ``\n`` and ``\r\n`` end a line. `str.splitlines` and text-mode
    reading would also split at ``\r``, U+2028, U+0085, form feeds and other separators
    that may sit inside a prompt, turning one paid request into two. A byte-order mark
    (Notepad, PowerShell's ``Out-File -Encoding utf8``) is not part of the first line.
    """
    with open(path, "rb") as file:
        head = file.read(3)
        if head[:2] in _UTF16_BOMS:
            file.seek(0)
            yield from _utf16_blocks(file)
            return
        file.seek(3 if head == codecs.BOM_UTF8 else 0)
        number = 1
        pending: list[bytes] = []  # the start of a line longer than a block
        while data := file.read(_BLOCK_BYTES):
            cut = data.rfind(b"\n")
            if cut < 0:
                pending.append(data)
                continue
            block = data[:cut]
            if pending:
                block = b"".join([*pending, block])
                pending.clear()
            texts = _decoded(block)
            yield number, texts
            number += len(texts)
            pending.append(data[cut + 1 :])
        rest = b"".join(pending)
        if rest:
            yield number, _decoded(rest)


def _decoded(block: bytes) -> list[str | None]:
    """The lines of a block (no final newline), decoded; None for a line not UTF-8."""
    # UTF-8 never has the byte 0x0A inside a character, so a block decodes as its lines
    # would one by one, and a line that is not UTF-8 is reported alone.
    try:
        text = block.decode("utf-8")
    except UnicodeDecodeError:
        return [_decoded_line(chunk) for chunk in block.split(b"\n")]
    lines = text.split("\n")
    if "\r" in text:
        lines = [line.removesuffix("\r") for line in lines]
    return lines  # type: ignore[return-value]  # list is invariant; these are all str


def _decoded_line(chunk: bytes) -> str | None:
    try:
        return chunk.removesuffix(b"\r").decode("utf-8")
    except UnicodeDecodeError:
        return None


def _utf16_blocks(file: BinaryIO) -> Iterator[tuple[int, list[str | None]]]:
    # PowerShell 5's ``>`` and ``Out-File`` write UTF-16 with a BOM.
    with io.TextIOWrapper(file, encoding="utf-16", newline="\n") as text:
        number = 0
        try:
            for number, line in enumerate(text, start=1):
                yield number, [line.removesuffix("\n").removesuffix("\r")]
        except UnicodeDecodeError:
            yield number + 1, [None]  # a damaged file: said once, not once per line


def _parse_json_line(text: str, default_mode: str) -> dict[str, Any]:
    """The request fields of a JSON line; ValueError names what is wrong."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    unknown = set(data) - set(GENERATE_REQUEST_FIELDS)
    if unknown:
        raise ValueError(
            f"unknown fields {sorted(unknown)}; the API's request fields are "
            f"{list(GENERATE_REQUEST_FIELDS)}"
        )
    if not isinstance(data.get("prompt"), str):
        raise ValueError("'prompt' must be a string")
    fields: dict[str, Any] = {
        "prompt": data["prompt"],
        "mode": data.get("mode", default_mode),
        "image": data.get("image"),
        "image_strength": data.get("image_strength"),
    }
    extra = {k: v for k, v in data.items() if k not in KEYWORD_FIELDS}
    if extra:
        fields["extra_fields"] = extra
    return fields


class PlainLines:
    """A run of plain-prompt lines (a line that is only a prompt, of the default mode).

    Attributes:
        lines: Their 1-based line numbers, in file order.
        prompts: Their prompts, stripped.
    """

    __slots__ = ("lines", "prompts")

    def __init__(self, lines: list[int], prompts: list[str]) -> None:
        self.lines = lines
        self.prompts = prompts


def iter_batch_items(
    path: Path, default_mode: str
) -> Iterator[PlainLines | BatchRequest | tuple[int, str]]:
    """Stream a batch file in runs: plain-prompt lines together, any other line alone.

    The form a pass over every line takes when it can handle plain prompts in bulk
    (the check pass, `check_prompts`); `iter_batch_file` gives one request per line.
    Blank lines and lines starting with ``#`` are skipped (line numbers still count).

    Args:
        path: The file.
        default_mode: The mode of requests that do not name one.

    Yields:
        `PlainLines` (never empty), a `BatchRequest` for a JSON line, or ``(line,
        reason)`` for a line that is not a request, in file order.
    """
    for first, texts in _line_blocks(path):
        lines: list[int] = []
        prompts: list[str] = []
        for number, raw in enumerate(texts, first):
            if raw is None:
                if lines:
                    yield PlainLines(lines, prompts)
                    lines, prompts = [], []
                yield number, "not UTF-8 text (save the file as UTF-8)"
                continue
            stripped = raw.strip()
            if not stripped or stripped[0] == "#":
                continue
            if stripped[0] != "{":
                # A plain prompt, the common case in big batches: no dict, no parse.
                lines.append(number)
                prompts.append(stripped)
                continue
            if lines:
                yield PlainLines(lines, prompts)
                lines, prompts = [], []
            try:
                fields = _parse_json_line(stripped, default_mode)
            except ValueError as exc:
                yield number, str(exc)
                continue
            yield BatchRequest(number, **fields)
        if lines:
            yield PlainLines(lines, prompts)


def iter_batch_file(path: Path, default_mode: str) -> Iterator[BatchRequest | tuple[int, str]]:
    """Stream a batch file: each request, or ``(line, reason)`` for a line that is not one.

    Blank lines and lines starting with ``#`` are skipped (line numbers still count).

    Args:
        path: The file.
        default_mode: The mode of requests that do not name one.

    Yields:
        A `BatchRequest` per request line, in file order, or a problem.
    """
    for item in iter_batch_items(path, default_mode):
        if isinstance(item, PlainLines):
            for line, prompt in zip(item.lines, item.prompts, strict=True):
                yield BatchRequest(line, prompt, default_mode)
        else:
            yield item


def read_batch_file(
    path: Path, default_mode: str
) -> tuple[list[BatchRequest], list[tuple[int, str]]]:
    """Read a whole batch file into a list (small files, tests); `plan_batch` streams.

    Args:
        path: The file.
        default_mode: The mode of requests that do not name one.

    Returns:
        The requests in file order, and each unreadable line's number and reason.

    Raises:
        BatchError: The file holds no request line at all.
    """
    requests: list[BatchRequest] = []
    problems: list[tuple[int, str]] = []
    for item in iter_batch_file(path, default_mode):
        if isinstance(item, BatchRequest):
            requests.append(item)
        else:
            problems.append(item)
    if not requests and not problems:
        raise BatchError(_no_prompts(path))
    return requests, problems


def _no_prompts(path: Path) -> str:
    return f"{path} holds no prompts (blank lines and lines starting with # are skipped)"


def parse_batch_file(path: Path, default_mode: str) -> list[BatchRequest]:
    r"""Read a batch file: one prompt per line, or JSON objects with per-request options.

    Blank lines and lines starting with ``#`` are skipped (line numbers still count).
    Only ``\n`` and ``\r\n`` end a line, and a leading byte-order mark is ignored.

    Args:
        path: The file.
        default_mode: The mode of requests that do not name one.

    Returns:
        The requests, in file order.

    Raises:
        BatchFileError: Lines are malformed (every one of them is named).
        BatchError: The file holds no request. Nothing is submitted then.
    """
    requests, problems = read_batch_file(path, default_mode)
    if problems:
        raise BatchFileError(path, problems)
    return requests


def _check(request: BatchRequest) -> str | None:
    """Why `submit` would refuse the request (``InvalidRequestError: ...``), or None."""
    # The client's own checks (spec-driven), so the CLI cannot drift from what submit
    # accepts. Image files are checked (size, PNG/JPEG) but not kept in memory.
    image = request.image
    try:
        check_generate_request(
            request.prompt,
            mode=request.mode,
            image=Path(image) if isinstance(image, str) else image,
            image_strength=request.image_strength,
            extra_fields=request.extra_fields or None,
        )
    except InvalidRequestError as exc:
        return refusal(exc)
    return None


def refusal(exc: InvalidRequestError) -> str:
    """How a line the client would refuse is reported (``InvalidRequestError: ...``)."""
    return f"{type(exc).__name__}: {exc}"


def validate_requests(requests: list[BatchRequest]) -> list[tuple[BatchRequest, str]]:
    """Check every request as `submit` would, before anything is journaled or sent.

    Args:
        requests: The parsed batch file.

    Returns:
        Each invalid request with its reason (``InvalidRequestError: field: limit``);
        empty when every line may be submitted.
    """
    return [(r, reason) for r in requests if (reason := _check(r)) is not None]
