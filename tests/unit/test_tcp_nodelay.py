"""Answers leave at once on keep-alive connections: every HTTP server of observ writes a response's headers and
body separately, and with Nagle's algorithm on, the body waited for the client's delayed ACK (~40 ms a request
for Grafana or an OTLP exporter reusing its connection). Checked on the accepted sockets themselves."""

from __future__ import annotations

import asyncio
import socket

from collectors.log_adapter.sources.otlp.http import _handler
from observ.cli.datadir import listen


def _nodelay(sock: socket.socket) -> bool:
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


def test_connections_accepted_by_asyncio_on_the_services_listening_socket_have_nodelay() -> None:
    """`observ serve` and `observ up` hand `listen()`'s socket to uvicorn, whose asyncio transports set
    TCP_NODELAY only on sockets of protocol IPPROTO_TCP (a plain `socket.socket()` has protocol 0)."""
    seen: list[bool] = []

    async def main() -> None:
        sock = listen("127.0.0.1", 0)
        accepted = asyncio.Event()

        class Protocol(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                seen.append(_nodelay(transport.get_extra_info("socket")))
                accepted.set()

        server = await asyncio.get_running_loop().create_server(Protocol, sock=sock)
        _, writer = await asyncio.open_connection(*sock.getsockname()[:2])
        await asyncio.wait_for(accepted.wait(), 10)
        writer.close()
        server.close()
        await server.wait_closed()

    asyncio.run(main())
    assert seen == [True]


def test_the_otlp_ambassadors_http_connections_have_nodelay() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server, socket.create_connection(server.getsockname()):
        conn, _ = server.accept()
        with conn:
            handler = _handler(_Ambassador(), None)  # type: ignore[arg-type]
            request = handler.__new__(handler)  # set up on the accepted socket, as the server does per connection
            request.request = conn
            request.setup()
            assert _nodelay(conn)


class _Ambassador:
    """What `_handler` reads of an ambassador when it builds the class."""

    config = None
