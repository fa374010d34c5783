"""`sharkapi batch` reads files as editors write them: BOM, CRLF, separators, many bad lines."""

from __future__ import annotations

import codecs
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from sharkapi_ext.cli import _batch_file, cli
from sharkapi_ext.cli._batch import BatchFileError, parse_batch_file
from sharkapi_ext.cli._batch_file import BatchRequest
from sharkapi_ext.sandbox import Sandbox

# Characters `str.splitlines()` (and text-mode reading, for \r) treat as line ends, but
# which a prompt may hold: only \n and \r\n end a line of a batch file.
INSIDE_A_LINE = ["\u2028", "\u2029", "\x85", "\x0c", "\x0b", "\x1c", "\x1d", "\x1e", "\r"]


@pytest.mark.parametrize(
    "bom",
    [codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE],
    ids=["utf-8", "utf-16-le", "utf-16-be"],
)
def test_a_byte_order_mark_is_not_part_of_the_first_line(bom: bytes, tmp_path: Path) -> None:
    """Notepad and PowerShell write a BOM: the first JSON line must still parse as JSON."""
    text = '{"prompt": "big", "mode": "2k"}\r\nsmall\r\n'
    encoding = {codecs.BOM_UTF8: "utf-8", codecs.BOM_UTF16_LE: "utf-16-le"}.get(bom, "utf-16-be")
    path = tmp_path / "b.jsonl"
    path.write_bytes(bom + text.encode(encoding))
    first, second = parse_batch_file(path, "1k")
    assert (first.prompt, first.mode) == ("big", "2k")
    assert (second.prompt, second.mode) == ("small", "1k")


def test_bom_file_is_submitted_in_the_mode_it_names(
    runner: CliRunner, sandbox: Sandbox, api_args: list[str], tmp_path: Path
) -> None:
    batch = tmp_path / "b.jsonl"
    batch.write_bytes(codecs.BOM_UTF8 + b'{"prompt": "big", "mode": "2k"}\r\n')
    result = runner.invoke(cli, [*api_args, "batch", str(batch), "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    assert [(s.prompt, s.mode) for s in sandbox.submissions()] == [("big", "2k")]


def test_only_newline_and_crlf_end_a_line(tmp_path: Path) -> None:
    prompts = [f"before{char}after" for char in INSIDE_A_LINE]
    path = tmp_path / "b.txt"
    path.write_bytes("\r\n".join(prompts).encode() + b"\n# last\n")
    requests = parse_batch_file(path, "1k")
    assert [r.prompt for r in requests] == prompts
    assert [r.line for r in requests] == list(range(1, len(prompts) + 1))


def test_separators_inside_prompts_do_not_make_more_paid_jobs(
    runner: CliRunner, sandbox: Sandbox, api_args: list[str], tmp_path: Path
) -> None:
    prompts = ["a\u2028shark", "a\x85shark", json.dumps({"prompt": "a\u2028json\x0cshark"})]
    batch = tmp_path / "b.txt"
    batch.write_text("a\x0cshark\n" + "\n".join(prompts) + "\n", encoding="utf-8", newline="")
    result = runner.invoke(cli, [*api_args, "batch", str(batch), "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    submitted = sorted(s.prompt for s in sandbox.submissions())
    assert submitted == sorted(["a\x0cshark", "a\u2028shark", "a\x85shark", "a\u2028json\x0cshark"])


BAD_LINES = {
    2: "{not json",
    3: '{"prompt": "unterminated',
    5: "[1, 2]",  # a plain prompt: fine
    6: '["a", "list"]',  # also a plain prompt
    7: '{"prompt": 3}',
    8: '{"prompt": "x", "sead": 1}',
    9: "{}",
    11: '{"prompt": "x", "mode": "4k"}',
    12: json.dumps({"prompt": "x" * 5000}),
    13: '{"prompt": "trailing comma",}',
}


def _file_with_bad_lines(tmp_path: Path) -> Path:
    lines = ["ok one"] + [""] * 13
    for number, text in BAD_LINES.items():
        lines[number - 1] = text
    lines[3] = "ok four"
    lines[9] = "ok ten"
    path = tmp_path / "bad.jsonl"
    data = "\n".join(lines).encode() + b"\n\xff\xfe not utf-8\n"  # line 15
    path.write_bytes(data)
    return path


def test_every_unreadable_line_is_named_in_one_error(tmp_path: Path) -> None:
    path = _file_with_bad_lines(tmp_path)
    with pytest.raises(BatchFileError) as info:
        parse_batch_file(path, "1k")
    # The mode and length are the client's checks (below); the rest are the file's.
    assert [line for line, _ in info.value.problems] == [2, 3, 7, 8, 9, 13, 15]
    assert "sead" in info.value.message
    assert f"{path}:15: not UTF-8" in info.value.message


def test_batch_reports_every_bad_line_before_submitting(
    runner: CliRunner, sandbox: Sandbox, api_args: list[str], tmp_path: Path
) -> None:
    path = _file_with_bad_lines(tmp_path)
    out = tmp_path / "out"
    result = runner.invoke(cli, [*api_args, "batch", str(path), "--out", str(out)])
    assert result.exit_code == 2, result.output
    named = [line for line in result.stderr.splitlines() if line.startswith(f"{path}:")]
    assert [int(line.split(":")[1]) for line in named] == [2, 3, 7, 8, 9, 11, 12, 13, 15]
    assert "9 of 14 lines are invalid" in result.stderr
    assert sandbox.submissions() == []
    assert not out.exists()  # nothing journaled either


# -- the block reader: the same lines as reading line by line, whatever the block size -----

_BYTES = st.lists(
    st.sampled_from([b"\n", b"\r", b"\r\n", b"a", b"# ", b"{", b" ", b"\xc3\xa9", b"\xff"])
    | st.sampled_from([codecs.BOM_UTF8, "🦈".encode()]),
    max_size=40,
).map(b"".join)


def _line_by_line(data: bytes) -> list[tuple[int, str | None]]:
    """What the file's lines are: split at b"\\n" only, a UTF-8 BOM dropped, \\r\\n too."""
    pieces = data.removeprefix(codecs.BOM_UTF8).split(b"\n")
    if pieces[-1] == b"":
        pieces.pop()
    lines: list[tuple[int, str | None]] = []
    for number, piece in enumerate(pieces, start=1):
        try:
            lines.append((number, piece.removesuffix(b"\r").decode("utf-8")))
        except UnicodeDecodeError:
            lines.append((number, None))
    return lines


@settings(max_examples=300, deadline=None)
@given(data=_BYTES, block=st.integers(1, 12))
def test_blocks_read_the_lines_a_line_by_line_reading_would(
    data: bytes, block: int, tmp_path_factory: pytest.TempPathFactory
) -> None:
    path = tmp_path_factory.mktemp("blocks") / "b.txt"
    path.write_bytes(data)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_batch_file, "_BLOCK_BYTES", block)
        lines = [
            (number, text)
            for first, texts in _batch_file._line_blocks(path)
            for number, text in enumerate(texts, first)
        ]
        assert lines == _line_by_line(data)
        # The runs the check pass takes hold the same requests, in the same order.
        items = [
            item
            for run in _batch_file.iter_batch_items(path, "1k")
            for item in (
                [BatchRequest(n, p, "1k") for n, p in zip(run.lines, run.prompts, strict=True)]
                if isinstance(run, _batch_file.PlainLines)
                else [run]
            )
        ]
    single = list(_batch_file.iter_batch_file(path, "1k"))
    assert [(i.line, i.prompt) if isinstance(i, BatchRequest) else i for i in items] == [
        (i.line, i.prompt) if isinstance(i, BatchRequest) else i for i in single
    ]
