"""An ordinary Python HTTP server: it binds its own port (ThreadingHTTPServer(("", PORT), ...));
clusterd's socket adoption hands each worker the master's socket instead (docs/adoption.md).

Drain (docs/recipes.md#python-httpserver): Python's default for SIGTERM is to die at once, with
the requests in flight. Here SIGTERM stops the accept loop (shutdown() from another thread:
serve_forever() runs in the main one), then server_close() waits for the request threads.
http.server answers HTTP/1.0 and closes every connection after its answer: no keep-alive
connection has to be ended.
"""
import os
import signal
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Hello(BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"hello from {os.getpid()}\n".encode()
        self.send_response(200)
        self.send_header("X-Worker", str(os.getpid()))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_request(self, code="-", size="-"):  # a line per request is a lot: errors only
        pass


def main():
    server = ThreadingHTTPServer(("", int(os.environ.get("PORT", "8080"))), Hello)
    server.daemon_threads = False  # so that server_close() waits for the requests in flight
    signal.signal(signal.SIGTERM,
                  lambda *_: threading.Thread(target=server.shutdown, daemon=True).start())
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
