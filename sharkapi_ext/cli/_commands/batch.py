"""`sharkapi batch`: the command line of a batch run (the plan and the runner are in `.._batch`).

This module reads the options, prints the plan's invalid lines or its dry-run total,
opens the async client (on aiohttp when installed) and prints the run's summary; the
exit status says how the batch ended.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import click

from sharkapi_ext import InvalidRequestError, check_job_id
from sharkapi_ext.cli._batch_file import BatchError, BatchFileError
from sharkapi_ext.cli._batch_plan import (
    BatchOptions,
    BatchPlan,
    BatchResult,
    batch_stamp,
    plan_batch,
)
from sharkapi_ext.cli._connection import cli_construction_errors, connection
from sharkapi_ext.cli._errors import EXIT_FAILED, EXIT_UNKNOWN, SEE_EXIT_CODES
from sharkapi_ext.cli._fields import mode_option
from sharkapi_ext.cli._interrupt import progress
from sharkapi_ext.cli._journal import Journal, JournalLockedError
from sharkapi_ext.cli._output import check_directory, is_interactive
from sharkapi_ext.cli._params import RATE, SECONDS, decimal_amount
from sharkapi_ext.cli._settings import connection_options, merge_settings

__all__ = ["batch"]


def _adopt(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[int, str]:
    adopted: dict[int, str] = {}
    for value in values:
        line, sep, job_id = value.partition(":")
        if not sep or not line.isdigit() or not job_id:
            raise click.BadParameter(f"expected LINE:JOB_ID, got {value!r}")
        try:
            # The client's own check (the spec's JobId pattern): a mistyped id is refused
            # here, before it is journaled in place of the paid job it was meant to name.
            job_id = check_job_id(job_id)
        except InvalidRequestError as exc:
            raise click.BadParameter(f"{value!r}: {exc}") from None
        if int(line) in adopted:
            raise click.BadParameter(f"line {int(line)} is adopted twice")
        adopted[int(line)] = job_id
    return adopted


@click.command(epilog=SEE_EXIT_CODES)
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
    callback=decimal_amount,
    metavar="DOLLARS",
    help="Spend cap over every run into --out: nothing past it is submitted (e.g. 5.00).",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Check every line as a real run would and print the list-price total; send nothing.",
)
@connection_options
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
    settings = merge_settings(ctx, **options)
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
    if plan.finished:
        # A rerun of a finished batch: no connection, no sandbox, no client to load.
        _print_summary(earlier, out)
        return
    check_directory(out, "--out")
    import asyncio  # here: a rerun of a finished batch needs no event loop

    with connection(settings) as (base_url, token, poll):
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
    # Loaded here: a dry run, a refused file and a finished batch need none of it.
    from sharkapi_ext import AsyncSharkAPI
    from sharkapi_ext.cli._batch_run import run_batch

    http = _batch_http_client()
    try:
        with cli_construction_errors(base_url):
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
