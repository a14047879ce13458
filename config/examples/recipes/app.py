"""An ordinary WSGI app, served by gunicorn binding its own port (gunicorn.yaml)."""
import os


def app(environ, start_response):
    body = f"hello from {os.getpid()}\n".encode()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body))),
                              ("X-Worker", str(os.getpid()))])
    return [body]
