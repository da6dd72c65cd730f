"""gunicorn settings. gthread workers: a Server-Sent Events stream holds one thread, not a worker.

Environment: TABLELOOP_PORT or PORT (8000), HOST (127.0.0.1), WEB_CONCURRENCY (workers),
GUNICORN_THREADS (threads per worker).
The embedded default runs one worker, because its doorbell for live streams is in-process;
with REDIS_URL set, run as many workers as cores allow.
"""

import os

port = os.environ.get("TABLELOOP_PORT") or os.environ.get("PORT") or "8000"
bind = f"{os.environ.get('HOST', '127.0.0.1')}:{port}"
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", "1" if not os.environ.get("REDIS_URL") else "4"))
threads = int(os.environ.get("GUNICORN_THREADS", "16"))
# Streams send a heartbeat every 15 s, well inside this.
timeout = 60
graceful_timeout = 10
keepalive = 5
accesslog = "-"
# The control socket is a gunicorn 23+ feature for `gunicornc`; nothing here uses it.
control_socket_disable = True
# Never preload: the app must not open database connections in the master.
preload_app = False
