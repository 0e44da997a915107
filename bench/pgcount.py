"""A counting PostgreSQL proxy: the statements a server sends, exactly, without server config.

pg_stat_statements needs `shared_preload_libraries` (a server restart), so the benchmark
counts statements on the wire instead: the servers under test connect to this proxy's unix
socket, which relays every byte to the real server and records each statement executed —
a simple-protocol `Query` message, or an extended-protocol `Execute` of a portal (resolved
through `Bind` to the `Parse`d SQL). Used only in a short probe phase, never under load.
"""

import asyncio
import os
import threading

SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104


def _cstring(buf, start):
    end = buf.index(b"\0", start)
    return buf[start:end].decode("utf-8", "replace"), end + 1


class StatementCounter:
    """Listens on `<directory>/.s.PGSQL.<port>`; relays to the server socket `upstream`."""

    def __init__(self, directory, upstream, port=5432):
        self.directory = directory
        self.path = os.path.join(directory, f".s.PGSQL.{port}")
        self.upstream = upstream
        self.statements = []  # SQL text of every statement executed, in order
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._started = threading.Event()
        self._server = None

    def start(self):
        os.makedirs(self.directory, exist_ok=True)
        self._thread.start()
        self._started.wait(10)
        return self

    def stop(self):
        try:
            asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(5)
        except Exception:  # noqa: BLE001 - stopping anyway
            pass
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    async def _shutdown(self):
        if self._server is not None:
            self._server.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def mark(self):
        return len(self.statements)

    def since(self, mark):
        return self.statements[mark:]

    def _run(self):
        asyncio.set_event_loop(self._loop)

        async def serve():
            self._server = await asyncio.start_unix_server(self._client, path=self.path)

        self._loop.run_until_complete(serve())
        self._started.set()
        self._loop.run_forever()

    async def _client(self, reader, writer):
        try:
            up_reader, up_writer = await asyncio.open_unix_connection(self.upstream)
        except OSError:
            writer.close()
            return
        pump = asyncio.ensure_future(self._pump(up_reader, writer))
        try:
            # Startup: untyped messages; refuse SSL / GSS encryption (a unix socket needs none).
            while True:
                header = await reader.readexactly(4)
                body = await reader.readexactly(int.from_bytes(header, "big") - 4)
                if int.from_bytes(body[:4], "big") in (SSL_REQUEST, GSSENC_REQUEST):
                    writer.write(b"N")
                    await writer.drain()
                    continue
                up_writer.write(header + body)
                await up_writer.drain()
                break
            prepared, portals = {}, {}
            while True:
                kind = await reader.readexactly(1)
                header = await reader.readexactly(4)
                body = await reader.readexactly(int.from_bytes(header, "big") - 4)
                self._observe(kind, body, prepared, portals)
                up_writer.write(kind + header + body)
                await up_writer.drain()
                if kind == b"X":
                    break
        except (asyncio.IncompleteReadError, ConnectionError, OSError, asyncio.CancelledError):
            pass
        finally:
            up_writer.close()
            pump.cancel()
            writer.close()

    def _observe(self, kind, body, prepared, portals):
        if kind == b"Q":
            self.statements.append(_cstring(body, 0)[0])
        elif kind == b"P":
            name, at = _cstring(body, 0)
            prepared[name] = _cstring(body, at)[0]
        elif kind == b"B":
            portal, at = _cstring(body, 0)
            portals[portal] = _cstring(body, at)[0]
        elif kind == b"E":
            portal, _ = _cstring(body, 0)
            self.statements.append(prepared.get(portals.get(portal, ""), "<unknown statement>"))

    @staticmethod
    async def _pump(reader, writer):
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError, asyncio.CancelledError):
            pass
        finally:
            writer.close()
