"""Who may run which operation: the default rules of spec section 8, plus ``limits:exempt``
(see :mod:`zaqar_tw.core.limits`).

Rules are ``""`` (everyone), ``"role:NAME"`` (callers holding that role), ``"!"`` (nobody), or
several of those joined by `` or ``.  Loading ``policy.json`` comes with the identity work.
"""

from zope.interface import implementer

from zaqar_tw.errors import Forbidden
from zaqar_tw.interfaces import IPolicy

ADMIN = "role:admin"

DEFAULT_RULES = {
    "health:get": ADMIN,
    "pools:get_all": ADMIN,
    "pools:create": ADMIN,
    "pools:get": ADMIN,
    "pools:delete": ADMIN,
    "pools:update": ADMIN,
    "flavors:create": ADMIN,
    "flavors:update": ADMIN,
    "flavors:delete": ADMIN,
    # Who is held to no [limits] rate or quota.  Nobody by default: without Keystone, roles
    # come from the X-Roles header, so "role:admin" would let any client lift every limit.
    "limits:exempt": "!",
}


@implementer(IPolicy)
class DefaultPolicy:
    """Enforces a rule table; rules it does not name allow everyone."""

    def __init__(self, rules=None):
        self.rules = dict(DEFAULT_RULES if rules is None else rules)

    def enforce(self, rule, context):
        """:raises Forbidden: the caller does not pass ``rule``."""
        text = self.rules.get(rule, "")
        if not any(_passes(alternative.strip(), context) for alternative in text.split(" or ")):
            raise Forbidden("You are not authorized to complete this action.")


def _passes(check, context):
    if check == "":
        return True
    if check.startswith("role:"):
        return check[len("role:"):] in context.roles
    return False
