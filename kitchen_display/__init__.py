"""The kitchen display: a page per station fed by the store's event log over SSE.

Kitchen staff log in once on the screen (session cookie); the page reads the open tickets, then
follows the live stream from the store's newest event, and bumps or recalls tickets with
CSRF-protected POSTs. A reconnect resumes from the last event seen (EventSource sends
Last-Event-ID), so nothing is lost or shown twice.
"""

from kitchen_display.views import bp

__all__ = ["bp"]
