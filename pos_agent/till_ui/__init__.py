"""The cashier's till: a page served by the agent on localhost (``/till``) that talks only to the
agent's local API. `desk` holds the till's own calls; `page` renders the page and its files."""
