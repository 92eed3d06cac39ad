"""twistd plugin: ``twistd -n zaqar`` runs zaqar-tw.

Kept tiny on purpose: twistd imports every plugin file to list them, so this one only names
the module that builds the service (``zaqar_tw.tap``), which is imported when it is used.
"""

from twisted.application.service import ServiceMaker

zaqar = ServiceMaker(
    "zaqar-tw",
    "zaqar_tw.tap",
    "A multi-tenant message service speaking the OpenStack Zaqar API v2",
    "zaqar",
)
