"""Authentication and authorization: bearer JWT access tokens with scopes (OAuth 2.0 resource
server), and the embedded dev issuer used in the out-of-the-box mode."""
