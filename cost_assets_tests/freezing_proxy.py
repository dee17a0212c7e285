"""A loopback TCP proxy that can stop forwarding while keeping both connections open:
a frozen network path (stuck NAT, paused VM, proxy) that TCP keepalives cannot see."""

from __future__ import annotations

import socket
import threading
import time


class FreezingProxy:
    def __init__(self, upstream: tuple[str, int] = ("127.0.0.1", 5432)):
        self.upstream = upstream
        self.frozen = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            self._sockets += [client, server]
            for source, target in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        while True:
            while self.frozen.is_set():
                time.sleep(0.05)  # hold the bytes; the kernel keeps acknowledging
            try:
                data = source.recv(65536)
                if not data:
                    break
                while self.frozen.is_set():
                    time.sleep(0.05)
                target.sendall(data)
            except OSError:
                break

    def url(self, postgres_url: str) -> str:
        return postgres_url.replace("127.0.0.1:5432", f"127.0.0.1:{self.port}")

    def close(self) -> None:
        self.frozen.clear()
        self.listener.close()
        for sock in self._sockets:
            try:
                sock.close()
            except OSError:
                pass
