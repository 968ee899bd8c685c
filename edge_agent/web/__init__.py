"""What the two web faces share: the homeowner's page (``edge_agent.ui``) and the crime center's console
(``edge_agent.center.console``). Request guards (CSRF, same origin, Host allow-list), security headers and the
login limiter. Flask is imported here and in the two faces only (password hashes are
:mod:`edge_agent.core.passwords`, which needs no web stack)."""
