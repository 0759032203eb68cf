"""Proactive expiry reminders (证照到期前主动提醒): which licences are due which stage, the messages, the outbox that
delivers them (e-mail, SMS gateway, signed webhooks) with leases, back-off and dead letters, and monthly digests.

It reads the licence read model and records `ExpiryReminderSent` through the licence service it is handed; the
licence lifecycle itself knows nothing of delivery.
"""
