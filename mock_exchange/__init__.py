"""A faithful model of the BTCTurk venue: signed REST, matching, balances and rate limits.

It never imports ``bot``; its contract with the bot is the wire format alone.
"""
