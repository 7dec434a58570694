"""A small recording reverse proxy, to see exactly what Python sends through ROOT_URL."""

import http.client
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


@contextmanager
def recording_proxy(upstream_url, prefix="", chunked=False, http_version="HTTP/1.1"):
    """Forward requests (minus ``prefix``) to ``upstream_url``; ``proxy.paths`` lists what came
    in, ``proxy.connections`` counts the connections it accepted.

    With ``chunked``, answers with Transfer-Encoding: chunked (in two chunks), as a proxy may.
    With ``http_version="HTTP/1.0"``, answers as HTTP/1.0 and closes each connection after its
    answer, as Python's http.server and several caches do.
    """
    upstream = urlsplit(upstream_url)
    paths = []
    connections = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = http_version

        def setup(self):
            connections.append(self.client_address)
            super().setup()

        def forward(self):
            paths.append(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            connection = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=30)
            try:
                headers = {"Content-Type": self.headers.get("Content-Type", "application/json")}
                connection.request(self.command, self.path.removeprefix(prefix), body, headers)
                answer = connection.getresponse()
                payload = answer.read()
            finally:
                connection.close()
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.getheader("Content-Type", ""))
            if chunked:
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                half = len(payload) // 2
                for chunk in (payload[:half], payload[half:], b""):
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            else:
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        do_GET = do_POST = forward

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    server.paths = paths
    server.connections = connections
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
