"""gunicorn settings. gthread workers: a Server-Sent Events stream holds one thread, not a worker.

Environment: PORT (8000), WEB_CONCURRENCY (workers), GUNICORN_THREADS (threads per worker).
The embedded default runs one worker, because its doorbell for live streams is in-process;
with REDIS_URL set, run as many workers as cores allow.
"""

import os

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", "1" if not os.environ.get("REDIS_URL") else "4"))
threads = int(os.environ.get("GUNICORN_THREADS", "16"))
# Streams send a heartbeat every 15 s, well inside this.
timeout = 60
graceful_timeout = 10
keepalive = 5
accesslog = "-"
# Never preload: the app must not open database connections in the master.
preload_app = False
