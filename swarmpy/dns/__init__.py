"""Docker's embedded DNS: 127.0.0.11:53 inside every container network namespace.

records    which names we own, from the manager's NetworkView (pure)
fastpath   hand-written wire format for the common plain query
responder  query bytes -> answer bytes (fast path, dnspython, forwarding, SERVFAIL)
upstream   forwarding to the node's resolvers
nsock      opening sockets inside another network namespace
fastloop   the resolver's own loop (a helper process): UDP answers for our names, away
           from the daemon's event loop
server     DnsServer: one socket pair per container; the rest (TCP, forwarding) on the
           daemon's event loop
"""
