"""``DelayProxy``, between the server under callgrind and SecantusDB (``bench/instructions.py``): it
makes the count repeat from run to run."""

from __future__ import annotations

import socket
import threading
import time


class DelayProxy:
    """A TCP proxy between the server and SecantusDB. Commands pass at once; each reply, one whole
    MongoDB wire message, is handed over in one piece ``delay`` seconds after it is complete.

    Why: under Valgrind our process runs ~50 times slower than natively, so without it SecantusDB
    often answers before the server has finished what it does after sending a command, and the
    event loop then takes a different number of iterations (about 15,000 instructions each) from
    run to run, with the machine's load. In production the server is idle long before MongoDB
    answers; the delay restores that order and makes it the same every time. Replies in one piece:
    the server never sees a message split across reads by timing."""

    def __init__(self, upstream: tuple[str, int], delay: float) -> None:
        self.upstream = upstream
        self.delay = delay
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
                server = socket.create_connection(self.upstream)
            except OSError:
                return
            for sock in (client, server):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self.sockets.append(sock)
            threading.Thread(target=self._commands, args=(client, server), daemon=True).start()
            threading.Thread(target=self._replies, args=(server, client), daemon=True).start()

    @staticmethod
    def _commands(source: socket.socket, target: socket.socket) -> None:
        try:
            while chunk := source.recv(1 << 16):
                target.sendall(chunk)
        except OSError:
            pass
        finally:
            target.close()

    def _replies(self, source: socket.socket, target: socket.socket) -> None:
        buffer = b""
        try:
            while True:
                while len(buffer) < 4 or len(buffer) < int.from_bytes(buffer[:4], "little"):
                    chunk = source.recv(1 << 16)
                    if not chunk:
                        return
                    buffer += chunk
                size = int.from_bytes(buffer[:4], "little")
                message, buffer = buffer[:size], buffer[size:]
                time.sleep(self.delay)
                target.sendall(message)
        except OSError:
            pass
        finally:
            target.close()

    def close(self) -> None:
        self.listener.close()
        for sock in self.sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
