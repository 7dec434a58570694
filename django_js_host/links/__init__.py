"""How Python reaches a host: one link per kind of host, chosen once by ``JSHost``.

* ``direct.DirectLink``: a host you run (a supervisor in production), found from its config
  file (a Unix socket or an address and port) or behind ROOT_URL.
* ``managed.ManagedLink``: a host that the development manager runs for us
  (``manager.JSHostManager``), over Unix sockets in our private directory.
"""
