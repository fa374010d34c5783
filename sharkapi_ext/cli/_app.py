"""The `sharkapi` click application: options, commands and error handling."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import shlex
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click
import sharkapi_spec as spec

from sharkapi_ext import (
    AsyncSharkAPI,
    DownloadError,
    InvalidRequestError,
    JobError,
    JobStatus,
    NotFoundError,
    SharkAPI,
    SharkAPIError,
    WaitTimeoutError,
    format_dollars,
    job_status_dict,
)
from sharkapi_ext._validation import job_id_of

from ._batch import (
    BatchError,
    BatchFileError,
    BatchOptions,
    BatchPlan,
    BatchResult,
    batch_stamp,
    plan_batch,
    run_batch,
)
from ._display import StatusLine, is_interactive
from ._errors import (
    EXIT_CODES_HELP,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_UNKNOWN,
    SEE_EXIT_CODES,
    cli_message,
    exit_code_for,
)
from ._fields import mode_option, pop_extra_fields, request_field_options
from ._interrupt import interrupt_lines, progress
from ._journal import Journal, JournalLockedError
from ._output import check_destination, check_directory
from ._sandbox_options import fault_options

__all__ = ["cli"]

F = TypeVar("F", bound=Callable[..., Any])

#: Demo timings of `--sandbox`: slow enough to watch the status change, fast enough to wait for.
SANDBOX_QUEUED_SECONDS = 0.5
SANDBOX_PROCESSING_SECONDS = 1.5
#: Polling the local sandbox every 2 s (the real API's rate) would only add waiting.
SANDBOX_POLL_INTERVAL = 0.25
# `generate`'s own options: a request field named like one is sent with --field only.
_GENERATE_OPTIONS = frozenset(
    {"--mode", "--image", "--strength", "--output", "--timeout", "--json", "--field"}
    | {"--base-url", "--token", "--sandbox", "--poll-interval", "--help"}
)


@dataclass
class Settings:
    """Where and how to connect; filled from the group's options, then the command's."""

    base_url: str | None = None
    token: str | None = field(default=None, repr=False)  # a secret: never in a repr
    sandbox: bool = False
    poll_interval: float | None = None


class _Group(click.Group):
    """Turns SDK errors into one stderr line and a per-class exit code (no traceback).

    A Ctrl-C anywhere in a command, its setup and teardown included, ends with exit 130
    and a message from the command's `Progress`, never click's bare ``Aborted!``.
    """

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except KeyboardInterrupt:
            # While the group's own options are read: no command has run.
            _echo_lines(["Interrupted; nothing was submitted."])
            raise click.exceptions.Exit(EXIT_INTERRUPTED) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            try:
                return super().invoke(ctx)
            except SharkAPIError as exc:
                settings = ctx.find_object(Settings) or Settings()
                base_url = None if settings.sandbox else settings.base_url
                _echo_lines(cli_message(exc, base_url=base_url))
                ctx.exit(exit_code_for(exc))
        except KeyboardInterrupt as exc:
            lines = interrupt_lines(
                progress(ctx), exc, lambda job_id: _how_to_resume(ctx, job_id, progress(ctx).output)
            )
            _echo_lines(lines)
            ctx.exit(EXIT_INTERRUPTED)


def _echo_lines(lines: list[str]) -> None:
    """Print lines on stderr; a second Ctrl-C meanwhile does not cut the message short."""
    for line in lines:
        for _ in range(3):
            try:
                click.echo(line, err=True)
                break
            except KeyboardInterrupt:
                continue  # the line may show twice; better than a lost job id


def _connection_options(func: F) -> F:
    """The options every command also accepts after its name (`generate --sandbox ...`)."""
    options = [
        click.option(
            "--base-url",
            envvar="SHARKAPI_BASE_URL",
            metavar="URL",
            help="API base URL (env SHARKAPI_BASE_URL; default https://api.sharkapi.dev).",
        ),
        click.option(
            "--token",
            envvar="SHARKAPI_TOKEN",
            metavar="TOKEN",
            help="API token (env SHARKAPI_TOKEN). Never printed.",
        ),
        click.option(
            "--sandbox",
            is_flag=True,
            default=None,
            help="Start a local sandbox in this process and use it (no account, no network); "
            "overrides --base-url and --token.",
        ),
        click.option(
            "--poll-interval",
            type=SECONDS,
            help=f"Seconds between polls (default {spec.POLL_INTERVAL_SECONDS:g}; "
            f"{SANDBOX_POLL_INTERVAL:g} with --sandbox).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


class _Seconds(click.ParamType[float]):
    """A finite, positive number of seconds (click's FloatRange lets NaN and inf through)."""

    name = "seconds"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        if not math.isfinite(seconds) or seconds <= 0:
            self.fail(f"{value!r} is not a positive, finite number of seconds", param, ctx)
        return seconds


SECONDS = _Seconds()


class _Rate(_Seconds):
    """A finite, positive rate (requests per second)."""

    name = "rate"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        try:
            return super().convert(value, param, ctx)
        except click.BadParameter:
            self.fail(f"{value!r} is not a positive, finite number per second", param, ctx)


RATE = _Rate()

_output_option = click.option(
    "-o",
    "--output",
    metavar="PATH",
    help="File, or directory (existing, or ending in /), for the image "
    "(default: ./<job_id>.png). An existing file is not replaced without --overwrite.",
)
_overwrite_option = click.option(
    "--overwrite", is_flag=True, help="Replace the -o file if it already exists."
)
_timeout_option = click.option(
    "--timeout", type=SECONDS, default=600.0, show_default=True, help="Seconds to wait for the job."
)
_json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON object instead of text."
)


def _merge(ctx: click.Context, **given: Any) -> Settings:
    # One Settings object for the group and its command (the group's error handler reads
    # it); a value given after the command name wins over the one given before it.
    settings: Settings = ctx.ensure_object(Settings)
    settings.base_url = given.get("base_url") or settings.base_url
    settings.token = given.get("token") or settings.token
    settings.sandbox = bool(given.get("sandbox") or settings.sandbox)
    settings.poll_interval = given.get("poll_interval") or settings.poll_interval
    return settings


def _check_settings(settings: Settings) -> None:
    """Say, in the command line's words, what is missing before any client is made."""
    if settings.sandbox:
        if settings.base_url:
            click.echo(
                f"Note: --sandbox overrides --base-url ({settings.base_url}); "
                "using an in-process sandbox.",
                err=True,
            )
        return
    if not settings.token:
        raise InvalidRequestError(
            "token",
            "no API token: pass --token TOKEN or set SHARKAPI_TOKEN "
            "(or try the local sandbox, no account needed: add --sandbox)",
        )


@contextlib.contextmanager
def _connection(settings: Settings) -> Iterator[tuple[str | None, str | None, float]]:
    """(base_url, token, poll_interval), starting the in-process sandbox when asked."""
    _check_settings(settings)
    with contextlib.ExitStack() as stack:
        base_url, token = settings.base_url, settings.token
        poll = settings.poll_interval
        if settings.sandbox:
            sandbox = stack.enter_context(_start_sandbox())
            base_url, token = sandbox.base_url, sandbox.token
            poll = poll or SANDBOX_POLL_INTERVAL
        yield base_url, token, poll or spec.POLL_INTERVAL_SECONDS


@contextlib.contextmanager
def _cli_construction_errors(base_url: str | None) -> Iterator[None]:
    """Reword the client's refusal of a plain-http URL, which names a Python-only option."""
    try:
        yield
    except InvalidRequestError as exc:
        url = base_url or ""
        if exc.field != "base_url" or not url.lower().startswith("http://"):
            raise
        raise InvalidRequestError(
            "base_url",
            f"plain http to {url} would send the token in clear: use an https:// --base-url "
            "(plain http is allowed only to loopback addresses, such as a local sandbox)",
        ) from None


@contextlib.contextmanager
def open_client(settings: Settings) -> Iterator[SharkAPI]:
    """A client for the settings, with its in-process sandbox when asked; both closed after.

    Args:
        settings: The merged connection settings.

    Yields:
        The client.
    """
    with _connection(settings) as (base_url, token, poll):
        with _cli_construction_errors(base_url):
            client = SharkAPI(token, base_url=base_url, poll_interval=poll)
        with client:
            yield client


def _start_sandbox() -> Any:
    try:
        from sharkapi_ext.sandbox import Sandbox, SandboxConfig
    except ImportError as exc:  # pragma: no cover - only without the sandbox extra
        raise click.UsageError(
            f"--sandbox needs the sandbox extra: pip install 'sharkapi[sandbox]' ({exc})"
        ) from exc
    return Sandbox(
        SandboxConfig(
            queued_seconds=SANDBOX_QUEUED_SECONDS, processing_seconds=SANDBOX_PROCESSING_SECONDS
        )
    )


def _emit_json(data: dict[str, Any]) -> None:
    click.echo(json.dumps(data, ensure_ascii=False))


def _resume_command(ctx: click.Context, job_id: str, output: str | None) -> str:
    settings: Settings = ctx.find_object(Settings) or Settings()
    words = ["sharkapi", "wait", job_id]
    # Only the URL, never the token: the resume line is printed and may be pasted anywhere.
    if settings.base_url and not settings.sandbox:
        words += ["--base-url", settings.base_url]
    if output:
        words += ["-o", output]
    return shlex.join(words)


def _how_to_resume(ctx: click.Context, job_id: str, output: str | None) -> str:
    settings: Settings = ctx.find_object(Settings) or Settings()
    if settings.sandbox:
        return (
            f"Job {job_id} ran in this process's sandbox, which has stopped: the job is gone "
            "with it. To resume jobs, run `sharkapi sandbox` and point --base-url at it."
        )
    return f"Resume with: {_resume_command(ctx, job_id, output)}"


def _stopped(
    ctx: click.Context, exc: SharkAPIError, output: str | None, timeout: float | None = None
) -> NoReturn:
    """Report an error about a job that may still give its image, with the way back to it."""
    settings: Settings = ctx.find_object(Settings) or Settings()
    job_id = exc.job_id
    if job_id is None or isinstance(exc, JobError | NotFoundError | InvalidRequestError):
        # Nothing to resume: the job ended, the API does not know it (404), or the id is
        # not one. The group prints the error; a resume hint would only send the user back.
        raise exc
    if isinstance(exc, WaitTimeoutError):
        seen = exc.last_status.status if exc.last_status is not None else "no answer yet"
        within = f" within {timeout:g} s" if timeout is not None else ""
        lines = [
            f"WaitTimeoutError: job {job_id} did not finish{within} (last status: {seen}); "
            "it may still finish"
        ]
    else:
        lines = cli_message(exc, base_url=None if settings.sandbox else settings.base_url)
        if isinstance(exc, DownloadError):
            lines.append(f"Job {job_id} is complete and paid for; only the download failed.")
    for line in lines:
        click.echo(line, err=True)
    click.echo(_how_to_resume(ctx, job_id, output), err=True)
    ctx.exit(exit_code_for(exc))


def _finish(
    ctx: click.Context,
    client: SharkAPI,
    status: JobStatus,
    output: str | None,
    *,
    as_json: bool,
    started: float,
) -> None:
    try:
        path = client.download(status, output or ".")
    except SharkAPIError as exc:
        exc.job_id = exc.job_id or status.job_id
        _stopped(ctx, exc, output)
    progress(ctx).saved = str(path)
    if as_json:
        data: dict[str, Any] = job_status_dict(status)
        data["path"] = str(path)
        data["elapsed_seconds"] = round(time.monotonic() - started, 3)
        _emit_json(data)
    else:
        click.echo(
            f"Saved {path} (job {status.job_id}, cost {format_dollars(status.cost or Decimal(0))})"
        )


@click.group(
    cls=_Group, epilog=EXIT_CODES_HELP, context_settings={"help_option_names": ["-h", "--help"]}
)
@_connection_options
@click.version_option(package_name="sharkapi", prog_name="sharkapi")
@click.pass_context
def cli(ctx: click.Context, /, **options: Any) -> None:
    """SharkAPI from the command line: generate images, resume jobs, run batches.

    Try it with no account: sharkapi generate --sandbox "a great white shark" -o shark.png
    """
    ctx.obj = Settings()
    _merge(ctx, **options)


def _parse_strength(value: float | None, image: str | None) -> float | None:
    if value is not None and image is None:
        raise click.BadParameter("needs --image", param_hint="--strength")
    return value


@cli.command(epilog=SEE_EXIT_CODES)
@click.argument("prompt")
@mode_option()
@click.option(
    "--image",
    metavar="PATH",
    type=click.Path(exists=True, dir_okay=False),
    help="Source image (PNG/JPEG).",
)
@click.option(
    "--strength",
    metavar=f"{spec.IMAGE_STRENGTH_MIN:g}..{spec.IMAGE_STRENGTH_MAX:g}",
    type=click.FloatRange(spec.IMAGE_STRENGTH_MIN, spec.IMAGE_STRENGTH_MAX),
    help=f"How much the source shapes the output (server default {spec.IMAGE_STRENGTH_DEFAULT}).",
)
@request_field_options(_GENERATE_OPTIONS)
@_output_option
@_overwrite_option
@_timeout_option
@_json_option
@_connection_options
@click.pass_context
def generate(
    ctx: click.Context,
    /,
    prompt: str,
    mode: str,
    image: str | None,
    strength: float | None,
    output: str | None,
    overwrite: bool,
    timeout: float,
    as_json: bool,
    **options: Any,
) -> None:
    """Generate one image from PROMPT, wait for it and save it.

    The destination is checked before the job is submitted, so a bad -o costs nothing.
    """
    extra_fields = pop_extra_fields(options)
    settings = _merge(ctx, **options)
    _parse_strength(strength, image)
    check_destination(output, overwrite=overwrite)
    started = time.monotonic()
    # What a Ctrl-C must report is recorded before each step (the group prints it).
    state = progress(ctx)
    state.output = output
    with open_client(settings) as client:
        try:
            with StatusLine(interactive=is_interactive()) as line:
                state.submitting = True  # set before the request exists: a job may, from now
                job = client.submit(
                    prompt,
                    mode=mode,
                    image=Path(image) if image else None,
                    image_strength=strength,
                    extra_fields=extra_fields,
                )
                state.job_id = job.job_id
                line.set_job(job.job_id, job.status)
                status = client.wait(job, timeout=timeout, on_update=line.update)
                state.complete = True
        except SharkAPIError as exc:
            _stopped(ctx, exc, output, timeout)
        _finish(ctx, client, status, output, as_json=as_json, started=started)


@cli.command(epilog=SEE_EXIT_CODES)
@click.argument("job_id")
@_json_option
@_connection_options
@click.pass_context
def status(ctx: click.Context, /, job_id: str, as_json: bool, **options: Any) -> None:
    """Show a job's current status (one poll; submits nothing)."""
    settings = _merge(ctx, **options)
    with open_client(settings) as client:
        current = client.get_job(job_id)
    if as_json:
        _emit_json(job_status_dict(current))
        return
    parts = [f"job {current.job_id}: {current.status}", f"mode {current.mode}"]
    if current.cost is not None:
        parts.append(f"cost {format_dollars(current.cost)}")
    else:
        parts.append(f"estimated {format_dollars(current.estimated_cost)}")
    if current.error_code or current.error_message:
        parts.append(f"error {current.error_code}: {current.error_message}")
    if current.image_url:
        parts.append(f"image {current.image_url}")
    click.echo(", ".join(parts))


@cli.command(epilog=SEE_EXIT_CODES)
@click.argument("job_id")
@_output_option
@_overwrite_option
@_timeout_option
@_json_option
@_connection_options
@click.pass_context
def wait(
    ctx: click.Context,
    /,
    job_id: str,
    output: str | None,
    overwrite: bool,
    timeout: float,
    as_json: bool,
    **options: Any,
) -> None:
    """Wait for an existing job and save its image (resumes by id; submits nothing)."""
    settings = _merge(ctx, **options)
    job_id = job_id_of(job_id)  # before any status line: "job a b: waiting" helps no one
    check_destination(output, overwrite=overwrite)
    started = time.monotonic()
    state = progress(ctx)
    state.job_id, state.output = job_id, output
    with open_client(settings) as client:
        try:
            with StatusLine(interactive=is_interactive()) as line:
                line.set_job(job_id, "waiting")
                final = client.wait(job_id, timeout=timeout, on_update=line.update)
                state.complete = True
        except SharkAPIError as exc:
            _stopped(ctx, exc, output, timeout)
        _finish(ctx, client, final, output, as_json=as_json, started=started)


def _adopt(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[int, str]:
    adopted: dict[int, str] = {}
    for value in values:
        line, sep, job_id = value.partition(":")
        if not sep or not line.isdigit() or not job_id:
            raise click.BadParameter(f"expected LINE:JOB_ID, got {value!r}")
        try:
            # The client's own check (the spec's JobId pattern): a mistyped id is refused
            # here, before it is journaled in place of the paid job it was meant to name.
            job_id = job_id_of(job_id)
        except InvalidRequestError as exc:
            raise click.BadParameter(f"{value!r}: {exc}") from None
        if int(line) in adopted:
            raise click.BadParameter(f"line {int(line)} is adopted twice")
        adopted[int(line)] = job_id
    return adopted


@cli.command(epilog=SEE_EXIT_CODES)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--out",
    required=True,
    metavar="DIR",
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for the images and the journal (.sharkapi-journal.jsonl).",
)
@click.option(
    "--concurrency",
    metavar="N",
    type=click.IntRange(min=1),
    default=8,
    show_default=True,
    help="Requests in flight at once.",
)
@mode_option(" Lines that name a mode keep theirs.")
@click.option(
    "--timeout",
    type=SECONDS,
    default=600.0,
    show_default=True,
    help="Seconds to wait for each job.",
)
@click.option(
    "--resubmit-unknown",
    is_flag=True,
    help="Submit again the requests whose submission outcome is unknown (may pay twice).",
)
@click.option(
    "--adopt",
    multiple=True,
    callback=_adopt,
    metavar="LINE:JOB_ID",
    help="Record the job you found for an outcome-unknown line, and wait for it.",
)
@click.option(
    "--retry-failed",
    is_flag=True,
    help="Submit again the lines that failed, were moderated or were refused (only those).",
)
@click.option(
    "--rate-limit",
    type=RATE,
    metavar="N",
    help="Your API rate limit, in requests per second (default: learned from the API's 429s).",
)
@click.option(
    "--max-cost",
    callback=lambda ctx, param, value: _decimal(ctx, param, value),
    metavar="DOLLARS",
    help="Spend cap over every run into --out: nothing past it is submitted (e.g. 5.00).",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Check every line as a real run would and print the list-price total; send nothing.",
)
@_connection_options
@click.pass_context
def batch(
    ctx: click.Context,
    /,
    file: Path,
    out: Path,
    concurrency: int,
    mode: str,
    timeout: float,
    resubmit_unknown: bool,
    adopt: dict[int, str],
    retry_failed: bool,
    rate_limit: float | None,
    max_cost: Decimal | None,
    dry_run: bool,
    **options: Any,
) -> None:
    r"""Generate an image for every line of FILE into --out; safe to kill and run again.

    FILE holds one prompt per line, or JSON objects such as
    {"prompt": "...", "mode": "2k", "image": "src.png", "image_strength": 0.4},
    which may hold any other request field the API declares too.
    A journal in --out records every step, so running the same command again resumes
    submitted jobs, submits only what was never submitted, and downloads each image
    once. A request whose submission outcome is unknown (the process died during its
    submit, or the connection broke) is reported and not resubmitted: find its job and
    pass --adopt LINE:JOB_ID, or pass --resubmit-unknown. Lines that failed or were
    moderated are reported; --retry-failed submits them again.

    Every line is checked first, as submit would check it (prompt length, mode, image
    file, strength, JSON syntax): if any line is invalid, each one's reason is printed
    and nothing is submitted. --dry-run stops there and prints the list-price total.
    --max-cost bounds the spend over every run into --out (each submit counted at its
    list price before it is sent); a rerun with a higher cap carries on. FILE is UTF-8
    (a BOM is ignored); only \n and \r\n end a line.

    Exit status: 0 when every request has its image, 2 when a line is invalid (nothing
    was submitted), 9 when some outcome is unknown, 7 when some failed or the spend cap
    stopped the batch, 3 or 4 when the account stopped the batch.
    """
    progress(ctx).batch = True  # a Ctrl-C from here on: the journal resumes it
    settings = _merge(ctx, **options)
    run_options = BatchOptions(
        concurrency=concurrency,
        timeout=timeout,
        resubmit_unknown=resubmit_unknown,
        retry_failed=retry_failed,
        adopt=adopt,
        max_cost=max_cost,
        sandbox=settings.sandbox,
        interactive=is_interactive(),
    )
    # The first streaming pass, before any connection: every line checked, nothing sent.
    stamp = batch_stamp(file, out)
    try:
        plan, earlier = plan_batch(file, mode, Journal(out, read_only=True), run_options)
    except BatchError as exc:
        raise click.UsageError(str(exc)) from None
    if plan.invalid:
        # Every bad line at once: fixing one must not merely reveal the next on a rerun.
        for line, reason in sorted(plan.invalid):
            click.echo(f"{file}:{line}: {reason}", err=True)
        raise click.UsageError(
            f"{len(plan.invalid)} of {plan.requests + len(plan.invalid)} lines are invalid "
            "(listed above); nothing was submitted. Fix them and run the command again."
        )
    if dry_run:
        click.echo(f"{plan.requests} requests, ${plan.list_price:.2f} at list price")
        if earlier.finished_before or plan.todo != plan.requests:
            click.echo(
                f"Left to do: {plan.todo} ({earlier.finished_before} finished by earlier "
                f"runs), ${plan.todo_price:.2f} at list price to submit"
            )
        if max_cost is not None:
            click.echo(f"Spend cap ${max_cost:.2f}: ${plan.counted:.2f} counted by earlier runs")
        click.echo("Dry run: nothing was sent.")
        return
    check_directory(out, "--out")
    with _connection(settings) as (base_url, token, poll):
        try:
            result = asyncio.run(
                _run_batch(
                    base_url,
                    token,
                    poll,
                    rate_limit,
                    file,
                    out,
                    mode,
                    run_options,
                    (plan, earlier, stamp),
                )
            )
        except JournalLockedError as exc:
            raise click.UsageError(str(exc)) from None
        except BatchFileError as exc:  # the file changed between the two passes
            raise click.UsageError(str(exc)) from None
        except BatchError as exc:
            raise click.UsageError(str(exc)) from None
    _print_summary(result, out)
    if result.fatal is not None:
        raise result.fatal
    if result.unknown:
        ctx.exit(EXIT_UNKNOWN)
    if result.failures or result.pending or result.cap is not None:
        ctx.exit(EXIT_FAILED)


def _batch_http_client() -> Any:
    """The aiohttp transport when it is installed (cheaper per request), else None."""
    from sharkapi_ext import aiohttp_http_client

    try:
        return aiohttp_http_client()  # aiohttp is imported on its first request only
    except ImportError:
        return None


async def _run_batch(
    base_url: str | None,
    token: str | None,
    poll: float,
    rate_limit: float | None,
    file: Path,
    out: Path,
    mode: str,
    options: BatchOptions,
    plan: tuple[BatchPlan, BatchResult, object],
) -> BatchResult:
    http = _batch_http_client()
    try:
        with _cli_construction_errors(base_url):
            client = AsyncSharkAPI(
                token,
                base_url=base_url,
                poll_interval=poll,
                rate_limit=rate_limit,
                http_client=http,
            )
        async with client:
            return await run_batch(client, file, out, mode, options, plan=plan)
    finally:
        if http is not None:
            await http.aclose()


def _print_summary(result: BatchResult, out: Path) -> None:
    here = [f"submitted {result.submitted}", f"finished {result.finished_here}"]
    if result.failed_here:
        here.append(f"failed {result.failed_here}")
    click.echo(f"This run: {', '.join(here)}, cost ${result.cost_here:.2f}")
    if result.finished_before:
        click.echo(f"Earlier runs: {result.finished_before} finished (not redone)")
    click.echo(
        f"Images: {result.images}/{result.total} in {out} "
        f"({result.downloaded} downloaded by this run)"
    )
    if result.failures:
        reasons = ", ".join(f"{name} {count}" for name, count in sorted(result.failures.items()))
        click.echo(f"Failures: {sum(result.failures.values())} ({reasons})")
        for line, reason in sorted(result.failed_lines.items()):
            click.echo(f"  line {line}: {reason}")
        missing = [n for n, reason in result.failed_lines.items() if reason.startswith("NotFound")]
        if missing:
            # A mistyped --adopt ends here: say how to correct it (the paid job is still out there).
            click.echo(
                f"Job not found: lines {', '.join(str(n) for n in sorted(missing))}. If a job id "
                f"was mistyped, pass the right one: --adopt {min(missing)}:JOB_ID."
            )
    if result.unknown:
        lines = ", ".join(str(line) for line in sorted(result.unknown))
        click.echo(
            f"Outcome unknown: {len(result.unknown)} (lines {lines}); not resubmitted. A job may "
            "exist: find it and pass --adopt LINE:JOB_ID, or pass --resubmit-unknown."
        )
    if result.changed:
        lines = ", ".join(str(line) for line in result.changed)
        click.echo(f"Changed since the last run: lines {lines} (submitted as new requests)")
    if result.retryable:
        lines = ", ".join(str(line) for line in sorted(result.retryable))
        click.echo(
            f"Failed for good: lines {lines}. To submit them again (and only them), add "
            "--retry-failed."
        )
    if result.sandbox_gone:
        lines = ", ".join(str(line) for line in sorted(result.sandbox_gone))
        click.echo(
            f"Jobs of an earlier run's --sandbox (gone with it): lines {lines}; submitted again."
        )
    if result.cap is not None:
        counted = result.counted if result.counted is not None else Decimal(0)
        click.echo(
            f"Spend cap reached: ${counted:.2f} of the ${result.cap:.2f} cap counted (all "
            f"runs); {result.pending} not submitted. Run again with a higher --max-cost to "
            "carry on."
        )
    elif result.pending:
        click.echo(f"Not submitted: {result.pending} (stopped early); run the command again.")
    click.echo(f"Total cost: ${result.cost:.2f} (all runs)")


def _decimal(ctx: click.Context, param: click.Parameter, value: str | None) -> Decimal | None:
    if value is None:
        return None
    try:
        amount = Decimal(value.removeprefix("$"))
    except InvalidOperation:
        raise click.BadParameter(f"not an amount: {value!r}") from None
    if not amount.is_finite() or amount < 0:
        raise click.BadParameter(f"must be >= 0: {value!r}")
    return amount


@cli.command(epilog=SEE_EXIT_CODES)
@click.option("--host", metavar="HOST", default="127.0.0.1", show_default=True)
@click.option(
    "--port",
    metavar="PORT",
    type=click.IntRange(0, 65535),
    default=8000,
    show_default=True,
    help="0 picks a free port (the banner shows which).",
)
@click.option(
    "--job-seconds",
    metavar="SECONDS",
    type=click.FloatRange(min=0),
    default=2.0,
    show_default=True,
    help="How long a job takes (a quarter queued, the rest processing).",
)
@click.option(
    "--balance",
    metavar="AMOUNT",
    callback=_decimal,
    help="Balance of the ready token, e.g. 5.00 (default 100.00).",
)
@click.option("--seed", metavar="N", type=int, help="Seed of the fault generator.")
@fault_options(RATE)
def sandbox(
    host: str,
    port: int,
    job_seconds: float,
    balance: Decimal | None,
    seed: int | None,
    **faults: Any,
) -> None:
    """Run a local SharkAPI sandbox in the foreground until Ctrl-C.

    Faults can also be forced per request with the X-Sandbox-Fault header; see
    `sharkapi_ext.sandbox` for the marker words ([fail], [moderate], [blocked]).
    """
    from sharkapi_ext.sandbox import DEFAULT_TOKEN, SandboxConfig, serve

    settings: dict[str, Any] = {
        "queued_seconds": job_seconds / 4,
        "processing_seconds": job_seconds * 3 / 4,
        "seed": seed,
        **faults,
    }
    if balance is not None:
        settings["default_balance"] = balance
    config = SandboxConfig(**settings)

    def banner(base_url: str) -> None:
        # Printed only once the port is bound, with the real port (also for --port 0).
        click.echo(f"SharkAPI sandbox on {base_url}")
        click.echo(f"Ready token: {DEFAULT_TOKEN}")
        click.echo(
            f"Try: SHARKAPI_BASE_URL={base_url} SHARKAPI_TOKEN={DEFAULT_TOKEN} "
            'sharkapi generate "a great white shark"'
        )
        sys.stdout.flush()

    try:
        with contextlib.suppress(KeyboardInterrupt):
            serve(config, host=host, port=port, log_level="warning", on_listening=banner)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise click.ClickException(
            f"cannot listen on {host}:{port}: {reason} "
            "(choose another --port, or --port 0 for a free one)"
        ) from None


def _register_mcp() -> None:
    # `sharkapi mcp` (the `mcp` extra): its command module needs only click; the MCP SDK
    # is imported when the command runs, so other commands never pay for it.
    from sharkapi_ext.mcp import mcp_command

    cli.add_command(mcp_command)


_register_mcp()
