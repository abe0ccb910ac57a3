"""Command line for Bappeda operators: invite codes, officials, API tokens, the audit."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, TypeVar

import typer

from backend.errors import DomainError
from backend.services.officials import Actor, IssuedToken, Role, system_actor
from backend.services.wiring import Backend, Services
from backend.settings import Settings

T = TypeVar("T")

invite_app = typer.Typer(no_args_is_help=True, help="Single-use invite codes for officials.")
official_app = typer.Typer(no_args_is_help=True, help="Officials, their logins and API tokens.")
audit_app = typer.Typer(no_args_is_help=True, help="The tamper-evident history of every usulan.")


def _run(work: Callable[[Services, Actor], Awaitable[T]]) -> T:
    """Run `work` in one unit of work as the deployment's operator: an admin of the region."""

    async def main() -> T:
        settings = Settings()
        backend = Backend(settings)
        await backend.start()
        try:
            async with backend.unit() as services:
                return await work(services, system_actor(settings.region))
        finally:
            await backend.close()

    try:
        return asyncio.run(main())
    except DomainError as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(2) from None


@invite_app.command("create")
def invite_create(
    role: Annotated[Role, typer.Option(help="Role the invite grants")],
    wilayah: Annotated[
        str | None, typer.Option(help="Desa code (kepala/operator desa), kecamatan or kab/kota")
    ] = None,
    opd: Annotated[str | None, typer.Option(help="OPD code, for role opd")] = None,
    days: Annotated[int, typer.Option(help="Days until the code expires")] = 7,
) -> None:
    """Issue an invite code; the official sends `/daftar CODE` to the bot (or opens the link)."""

    async def work(services: Services, operator: Actor) -> None:
        created = await services.officials.create_invite(
            role, wilayah_code=wilayah, opd_code=opd, created_by=operator, ttl=timedelta(days=days)
        )
        typer.echo(f"invite {created.invite.id}: {created.code}")
        typer.echo(f"  role {role.value}, scope {wilayah or opd}, expires "
                   f"{created.invite.expires_at:%Y-%m-%d %H:%M} UTC")  # fmt: skip
        typer.echo(f"  in the bot: /daftar {created.code}")

    _run(work)


@invite_app.command("list")
def invite_list() -> None:
    async def work(services: Services, operator: Actor) -> None:
        for i in await services.officials.list_invites(operator):
            state = "revoked" if i.revoked else "claimed" if i.claimed else "open"
            typer.echo(f"{i.id:>5}  …{i.code_hint}  {i.role:<19} "
                       f"{i.wilayah_code or i.opd_code or '':<14} {state:<8} "
                       f"expires {i.expires_at:%Y-%m-%d}")  # fmt: skip

    _run(work)


@invite_app.command("revoke")
def invite_revoke(invite_id: int) -> None:
    async def work(services: Services, operator: Actor) -> None:
        await services.officials.revoke_invite(invite_id, operator)
        typer.echo(f"invite {invite_id} revoked")

    _run(work)


@official_app.command("create")
def official_create(
    name: Annotated[str, typer.Option(help="The official's name")],
    role: Annotated[Role, typer.Option()],
    username: Annotated[str, typer.Option(help="Login name for the API")],
    wilayah: Annotated[str | None, typer.Option()] = None,
    opd: Annotated[str | None, typer.Option()] = None,
    password: Annotated[
        str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)
    ] = "",
) -> None:
    """Create an official with a login, without a chat account (e.g. the first Bappeda admin)."""

    async def work(services: Services, operator: Actor) -> None:
        user_id = await services.officials.official_user(name)
        await services.officials.grant(
            user_id, role, wilayah_code=wilayah, opd_code=opd, granted_by=operator
        )
        await services.officials.set_password(user_id, username, password)
        typer.echo(f"official {username} ({role.value}) created")

    _run(work)


@official_app.command("token")
def official_token(
    username: str,
    name: Annotated[str, typer.Option(help="What the token is for")] = "api",
) -> None:
    """Create an API token for an official (MUSRENBOT_TOKEN_DAYS); it is shown once."""

    async def work(services: Services, operator: Actor) -> None:
        user_id = await services.officials.user_by_username(username)
        issued = await services.officials.issue_token(user_id, name)
        _print_issued(issued)

    _run(work)


def _print_issued(issued: IssuedToken) -> None:
    # The secret alone on stdout, so `$(musrenbot official token ...)` captures just it.
    typer.echo(issued.token)
    typer.echo(f"token {issued.id}, expires {_utc(issued.expires_at)}", err=True)


def _utc(moment: datetime | None) -> str:
    if moment is None:
        return "-"
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


@official_app.command("tokens")
def official_tokens(
    username: Annotated[str | None, typer.Argument(help="Only this official's tokens")] = None,
) -> None:
    """API tokens, Open311 keys and login sessions, newest first; never the token itself."""

    async def work(services: Services, operator: Actor) -> None:
        rows = await services.officials.list_tokens(operator, username=username)
        typer.echo(f"{'id':>6}  {'owner':<24} {'name':<24} {'created':<20} {'expires':<20} "
                   f"{'last used':<20} revoked")  # fmt: skip
        for t in rows:
            typer.echo(f"{t.id:>6}  {t.owner[:24]:<24} {t.name[:24]:<24} "
                       f"{_utc(t.created_at):<20} {_utc(t.expires_at):<20} "
                       f"{_utc(t.last_used_at):<20} {_utc(t.revoked_at)}")  # fmt: skip

    _run(work)


@official_app.command("revoke-token")
def official_revoke_token(token_id: int) -> None:
    """Revoke one API token, Open311 key or login session by its id (see `tokens`)."""

    async def work(services: Services, operator: Actor) -> None:
        revoked = await services.officials.revoke_token_id(token_id, operator)
        typer.echo(f"token {revoked.id} ({revoked.owner}, {revoked.name}) revoked")

    _run(work)


@audit_app.command("verify")
def audit_verify() -> None:
    """Check every usulan's hash chain; name the broken ones. Exit 1 when any is broken."""
    from backend.services.audit import verify

    async def work(services: Services, operator: Actor) -> bool:
        report = await verify(services.session)
        typer.echo(f"{report.usulan} usulan, {report.events} events checked")
        for broken in report.broken:
            typer.secho(f"BROKEN {broken.code} at event {broken.seq}: {broken.problem}",
                        fg="red")  # fmt: skip
        if report.ok:
            typer.echo("every chain verifies")
        return report.ok

    if not _run(work):
        raise typer.Exit(1)


outbox_app = typer.Typer(no_args_is_help=True, help="Notifications waiting to be delivered.")


@outbox_app.command("status")
def outbox_status() -> None:
    """Counts per state, the oldest due notification, and the latest dead letters."""

    async def work(services: Services, operator: Actor) -> None:
        status = await services.delivery.status(operator)
        for state, count in status.counts.items():
            typer.echo(f"{state:<8} {count}")
        oldest = f"{status.oldest_due:%Y-%m-%d %H:%M:%S} UTC" if status.oldest_due else "-"
        typer.echo(f"oldest due: {oldest}")
        for note_id, template, error in status.dead:
            typer.echo(f"dead {note_id}: {template}: {error or ''}")

    _run(work)


@outbox_app.command("retry")
def outbox_retry(
    ids: Annotated[
        list[int] | None, typer.Argument(help="Dead letters to retry (default all)")
    ] = None,
) -> None:
    """Send dead letters again (after fixing what made them fail)."""

    async def work(services: Services, operator: Actor) -> None:
        count = await services.delivery.retry_dead(operator, ids or None)
        typer.echo(f"{count} notification(s) queued again")

    _run(work)


@official_app.command("open311-key")
def open311_key(
    client: Annotated[str, typer.Argument(help="The client application's name")],
) -> None:
    """Create an API key with which an Open311 client may submit usulan; it is shown once."""

    async def work(services: Services, operator: Actor) -> None:
        _print_issued(await services.officials.issue_client_key(client))

    _run(work)


@official_app.command("list")
def official_list() -> None:
    """Every role granted, active or revoked, with its scope."""

    async def work(services: Services, operator: Actor) -> None:
        for o in await services.officials.list_officials(operator):
            state = "revoked" if o.revoked_at else "active"
            typer.echo(
                f"{o.id:>5}  {o.role:<19} {o.wilayah_code or o.opd_code or '':<14} "
                f"{o.name or '-':<30} {state}"
            )

    _run(work)


@official_app.command("revoke")
def official_revoke(official_id: int) -> None:
    """Take a role away (its holder can no longer act, log in or use API tokens with it)."""

    async def work(services: Services, operator: Actor) -> None:
        await services.officials.revoke_official(official_id, operator)
        typer.echo(f"official {official_id} revoked")

    _run(work)
