"""The connection phase: handshake, optional TLS upgrade, authentication, session opening.

Steps (sequence ids run on from 0 across the whole phase):
1. Send Initial Handshake v10 with a fresh scramble and the default plugin.
2. Read the client's reply; an SSLRequest switches the stream to TLS and the real reply follows.
3. Authenticate with the account's plugin (:func:`_authenticate`), switching the client to it if needed.
4. Open a backend session and answer OK, or answer ERR 1045 / the backend's error and close.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import TYPE_CHECKING, Any

from . import handshake as hs
from .auth import (
    CACHING_SHA2_PASSWORD,
    NATIVE_PASSWORD,
    PLUGINS,
    Credential,
    check_native,
    check_sha2_scramble,
    new_scramble,
    rsa_decrypt_password,
    sha2_stage2,
)
from .backend import ConnectInfo, is_loopback
from .constants import UTF8MB4_GENERAL_CI, Capability, ServerStatus
from .errors import ErrorCode, MalformedPacket, MySQLError, ProtocolViolation
from .resultset import ok_packet

if TYPE_CHECKING:
    from .connection import MySQLConnection

log = logging.getLogger("p2pdb.sql.protocol")


def _bad_handshake(reason: str) -> ProtocolViolation:
    return ProtocolViolation(MySQLError(ErrorCode.HANDSHAKE_ERROR, f"Bad handshake: {reason}"))


async def login(conn: MySQLConnection) -> None:
    """Run the connection phase; on success the connection enters the command phase."""
    try:
        await _login(conn)
    except ProtocolViolation as exc:
        conn.fail(exc.error, exc.seq)
    except MySQLError as exc:
        conn.fail(exc)
    except ConnectionError:
        conn.close()
    except Exception:
        log.exception("connection %d: login failed unexpectedly", conn.connection_id)
        conn.fail(MySQLError(ErrorCode.UNKNOWN_ERROR, "Internal error during login"))


async def _login(conn: MySQLConnection) -> None:
    ctx = conn.ctx
    scramble = new_scramble()
    conn.send(
        hs.build_handshake(
            server_version=ctx.options.server_version,
            connection_id=conn.connection_id,
            scramble=scramble,
            capabilities=ctx.capabilities,
            collation=UTF8MB4_GENERAL_CI,
            status=ServerStatus.AUTOCOMMIT,
            plugin=ctx.options.default_plugin,
        )
    )
    try:
        resp = hs.parse_handshake_response(await conn.read_packet())
        if resp.ssl_request:
            if ctx.ssl_context is None:
                raise _bad_handshake("TLS is not enabled on this server")
            conn.start_tls()
            resp = hs.parse_handshake_response(await conn.read_packet())
            if resp.ssl_request:
                raise _bad_handshake("second SSLRequest")
    except MalformedPacket as exc:
        raise _bad_handshake(str(exc)) from None
    await _finish(conn, scramble, resp)


async def take_over(conn: MySQLConnection, state: dict[str, Any]) -> None:
    """Serve a logged-in connection another process handed over (a reader to the main process, or
    back): the same session (database, variables, warnings, a transaction that has only read) and
    prepared statements, then the commands it had not run."""
    ctx = conn.ctx
    if ctx.before_command is not None:
        ctx.before_command()  # a reader process: catalogs as the main process has them
    saved = state["session"]
    conn.peer_host = str(state["peer_host"])  # a relayed TLS connection arrives on a socket pair
    conn.relayed = bool(state["tls"])
    info = ConnectInfo(
        connection_id=conn.connection_id,
        user=saved["user"],
        database=None,
        peer_host=conn.peer_host,
        tls=bool(state["tls"]),
        found_rows=bool(saved["found_rows_flag"]),
        collation=int(saved["collation"]),
        attributes=dict(saved["attributes"]),
        closer=conn.close,
    )
    try:
        session = conn.session = await ctx.backend.open_session(info)
        importer = getattr(session, "import_state", None)
        if importer is None:
            raise TypeError("this backend's sessions cannot take over a connection")
        importer(saved)
        if ctx.hand_back is not None and hasattr(session, "reads_in_a_row"):
            session.reads_in_a_row = 0  # the main process took it from a reader: see may_leave
        await conn.statements.restore(session, state["statements"], ctx.left.pop(conn.connection_id, None))
    except Exception:
        log.exception("connection %d: taking over from a reader process failed", conn.connection_id)
        conn.close()
        return
    if conn.closing:
        return
    conn.enter_command_phase(int(state["capabilities"]))
    conn.feed(state["pending"])


async def _finish(conn: MySQLConnection, scramble: bytes, resp: hs.HandshakeResponse) -> None:
    ctx = conn.ctx
    if ctx.before_command is not None:
        ctx.before_command()  # a reader process: accounts and databases as the main process has them
    caps = resp.capabilities & ctx.capabilities
    account = ctx.backend.lookup_account(resp.user, conn.peer_host)
    allowed = account is not None and account.host_allowed
    credential = account.credential if account is not None and allowed else _decoy_credential()
    if credential.empty and not is_loopback(conn.peer_host):
        allowed = False  # an empty password is only good on loopback
    ok = await _authenticate(conn, caps, resp.user, credential, resp.plugin, resp.auth_response, scramble)
    if not (ok and allowed):
        using = "YES" if resp.auth_response else "NO"
        raise MySQLError(
            ErrorCode.ACCESS_DENIED_ERROR,
            f"Access denied for user '{resp.user}'@'{conn.peer_host}' (using password: {using})",
        )
    info = ConnectInfo(
        connection_id=conn.connection_id,
        user=resp.user,
        database=resp.database,
        peer_host=conn.peer_host,
        tls=conn.tls is not None,
        found_rows=bool(caps & Capability.FOUND_ROWS),
        collation=resp.collation,
        attributes=resp.attributes,
        closer=conn.close,
    )
    conn.session = await ctx.backend.open_session(info)
    if conn.closing:
        return
    conn.send(ok_packet(0, 0, conn.status(), 0, ""))
    conn.enter_command_phase(caps)


def _decoy_credential() -> Credential:
    """Unknown users go through the same exchange as real ones and fail at its end."""
    return Credential(CACHING_SHA2_PASSWORD, False, os.urandom(32), os.urandom(16), 1)


async def _authenticate(
    conn: MySQLConnection,
    caps: int,
    user: str,
    credential: Credential,
    plugin: str | None,
    response: bytes,
    scramble: bytes,
) -> bool:
    if plugin is None:
        plugin = NATIVE_PASSWORD if caps & Capability.SECURE_CONNECTION else ""
    if credential.empty and plugin in PLUGINS:
        return response == b""
    if plugin != credential.plugin:
        if not caps & Capability.PLUGIN_AUTH:
            raise MySQLError(
                ErrorCode.NOT_SUPPORTED_AUTH_MODE,
                "Client does not support authentication protocol requested by server; "
                "consider upgrading MySQL client",
            )
        conn.send(hs.auth_switch_request(credential.plugin, scramble + b"\x00"))
        response = await conn.read_packet()
    if credential.empty:
        return response == b""
    if credential.plugin == NATIVE_PASSWORD:
        return check_native(credential, scramble, response)
    return await _caching_sha2(conn, user, credential, response, scramble)


async def _caching_sha2(
    conn: MySQLConnection, user: str, credential: Credential, response: bytes, scramble: bytes
) -> bool:
    ctx = conn.ctx
    # 1. Fast path: the server saw this password since start and cached SHA256(SHA256(password)).
    stage2 = ctx.sha2_cache.get(user, credential)
    if stage2 is not None:
        if not check_sha2_scramble(stage2, scramble, response):
            return False  # as MySQL: a cached account with a wrong scramble fails at once
        conn.send(hs.auth_more_data(hs.SHA2_FAST_AUTH_OK))
        return True
    if response == b"":
        return False
    # 2. Full authentication: the password itself, over TLS or RSA-encrypted with our public key.
    conn.send(hs.auth_more_data(hs.SHA2_PERFORM_FULL_AUTH))
    data = await conn.read_packet()
    password: bytes | None
    if conn.tls is not None:
        password = data[:-1] if data.endswith(b"\x00") else data
    elif ctx.rsa_key is not None and ctx.public_key_pem is not None:
        if data == hs.SHA2_REQUEST_PUBLIC_KEY:
            conn.send(hs.auth_more_data(ctx.public_key_pem))
            data = await conn.read_packet()
        password = rsa_decrypt_password(ctx.rsa_key, data, scramble)
    else:
        raise MySQLError(
            ErrorCode.ACCESS_DENIED_ERROR,
            f"Access denied for user '{user}'@'{conn.peer_host}': caching_sha2_password needs the password "
            "once after a server start, and this server has neither TLS nor an RSA key to receive it "
            "securely; connect with TLS or use mysql_native_password",
        )
    if password is None:
        return False
    # PBKDF2 takes milliseconds: keep it off the event loop.
    if not await asyncio.to_thread(credential.check_password, password):
        return False
    ctx.sha2_cache.put(user, credential, sha2_stage2(password))
    return True
