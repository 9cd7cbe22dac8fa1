"""A TCP proxy of the test's own (asyncio) between clients and a server on this machine.

It listens on 127.0.0.1 on a port the kernel chose, so tests keep one address while the server
behind it restarts on another port (``point_to``), and it can lose answers on purpose: with
``drop_answers=0.2`` about one answer in five is thrown away when it starts to arrive and both
connections are cut. The request had reached the server and been processed (the server only
answers once its write is acknowledged), so the client sees what a phone sees when the network
fails on the way back: no answer, although the infraction was recorded.

An answer is recognised as the first bytes the server sends after the client last sent some:
right for HTTP/1.1 clients that wait for each answer before the next request (httpx does not
pipeline)."""

from __future__ import annotations

import asyncio
import dataclasses
import random


@dataclasses.dataclass
class ProxyStats:
    connections: int = 0
    refused: int = 0  # the server was not listening: the client's connection was closed at once
    answers_forwarded: int = 0
    answers_dropped: int = 0


class Proxy:
    def __init__(self, upstream_port: int, *, drop_answers: float = 0.0, seed: int = 18) -> None:
        self.upstream_port = upstream_port
        self.drop_answers = drop_answers
        self.stats = ProxyStats()
        self.port = 0
        self._rng = random.Random(seed)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> Proxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def point_to(self, upstream_port: int) -> None:
        """New connections go to ``upstream_port`` (the server restarted on another port)."""
        self.upstream_port = upstream_port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        if self._server is not None:
            await self._server.wait_closed()

    async def __aenter__(self) -> Proxy:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self.stats.connections += 1
        try:
            server_reader, server_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            self.stats.refused += 1
            client_writer.transport.abort()
            return
        self._writers |= {client_writer, server_writer}
        awaiting_answer = False

        async def requests() -> None:
            nonlocal awaiting_answer
            while data := await client_reader.read(65536):
                awaiting_answer = True
                server_writer.write(data)
                await server_writer.drain()

        async def answers() -> None:
            nonlocal awaiting_answer
            while data := await server_reader.read(65536):
                if awaiting_answer:  # the first bytes of an answer: forward it, or lose it whole
                    awaiting_answer = False
                    if self._rng.random() < self.drop_answers:
                        self.stats.answers_dropped += 1
                        return
                    self.stats.answers_forwarded += 1
                client_writer.write(data)
                await client_writer.drain()

        pumps = [asyncio.create_task(requests()), asyncio.create_task(answers())]
        try:
            # Either side closing (or an answer being dropped) ends the pair: both connections are cut.
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pump in pumps:
                pump.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)
            for writer in (client_writer, server_writer):
                writer.transport.abort()
                self._writers.discard(writer)
