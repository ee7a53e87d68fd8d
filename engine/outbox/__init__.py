"""The transaction outbox: every chain write is a row committed with the business change that needs it,
then signed, sent, replaced when stuck, and confirmed by :class:`engine.outbox.sender.OutboxSender`.

Public surface: :func:`engine.outbox.services.enqueue`, :func:`get_by_key`, :func:`wait_confirmed`,
:class:`engine.outbox.models.OutboxTx`, :class:`OutboxStatus`, :class:`engine.outbox.sender.OutboxSender`,
and :func:`engine.outbox.admin.enqueue_admin_reconcile` (start-up admin changes: roles, contract config).
:mod:`engine.outbox.failures` turns a node's revert answer into the row's ``last_error`` text.
"""
