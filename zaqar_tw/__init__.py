"""zaqar-tw: a multi-tenant message service speaking the OpenStack Zaqar API v2, on Twisted."""
