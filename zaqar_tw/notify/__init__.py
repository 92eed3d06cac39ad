"""Notifications: the dispatcher that fans posted messages out to the subscriptions of their
queue, and the built-in notifiers (one per subscriber URI scheme family)."""
