"""gunicorn settings of the stream process: the live streams (Server-Sent Events) of diners'
phones, kitchen displays and agents, served by gevent workers behind the same URL paths (nginx
sends the stream paths here, everything else to the gthread web process; docs/deploy.md).

Why gevent here: a stream is an idle connection that wakes a few times a minute. In the gthread
web process each one holds a thread (16 per worker), so 300 phones at 50 tables would take every
thread and the API with them; a gevent worker holds thousands of them as greenlets, one
coroutine each, in one process.

Environment: TABLELOOP_STREAM_PORT (8001), HOST (127.0.0.1), STREAM_WORKERS (1),
STREAM_CONNECTIONS (2000 per worker). Without REDIS_URL run one worker: it hears the other
processes' doorbell as UDP datagrams at EVENT_DOORBELL_UDP (set EVENT_DOORBELL_LISTEN=1 here);
with REDIS_URL set, run as many as cores allow.
"""

import os

port = os.environ.get("TABLELOOP_STREAM_PORT", "8001")
bind = f"{os.environ.get('HOST', '127.0.0.1')}:{port}"
worker_class = "gevent"
workers = int(os.environ.get("STREAM_WORKERS", "1"))
worker_connections = int(os.environ.get("STREAM_CONNECTIONS", "2000"))
# Streams send a heartbeat every 15 s; gevent workers notify the arbiter on their own.
timeout = 60
graceful_timeout = 5
keepalive = 75
accesslog = None
control_socket_disable = True
preload_app = False  # the app (and its database connections) are made in the patched worker
