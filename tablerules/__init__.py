"""TableLoop's rules core, shared by the server (`app`) and the on-site agent (`pos_agent`).

Pure Python, standard library only: no Flask, no SQLAlchemy, nothing from `app`. It holds the
rules both ends must compute alike — money (`money`), bill pricing (`pricing`), the tender plan
(`tenders`), tiers, points, stored value, member codes and coupons, dish options (`menu`) — and
the one document contract for everything the server hands the agent (`documents`).
A test walks its imports and fails on anything outside the standard library.
"""
