"""Schemathesis hooks for .ci/schemathesis.sh (loaded through SCHEMATHESIS_HOOKS)."""

import schemathesis

# POST /api/v1/inbox/messages takes one raw RFC 5322 message as its body (message/rfc822):
# it goes on the wire as the bytes it is, like application/octet-stream.
schemathesis.serializer.alias("message/rfc822", "application/octet-stream")
