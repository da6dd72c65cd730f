"""The kitchen display: a page per station fed by the store's event log over SSE.

Kitchen staff log in once on the screen (session cookie) and land on it; the page reads the open
tickets, the recallable (bumped) ones, the all-day counts and the unacknowledged waiter calls,
then follows the live stream from the store's newest event. It bumps or recalls a dish or a whole
ticket and acknowledges waiter calls with CSRF-protected POSTs. A reconnect resumes from the last
event seen (EventSource sends Last-Event-ID), so nothing is lost or shown twice. See
docs/kitchen.md.
"""

from kitchen_display.views import bp

__all__ = ["bp"]
