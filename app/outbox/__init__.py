"""Side effects written in the business transaction and delivered after commit, with retries."""
