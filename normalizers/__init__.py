"""Normalization: the canonical `TicketPayload`, drafts, rules, routing, fingerprints, and sealing a
draft through the redactor into a `SealedTicket`."""
