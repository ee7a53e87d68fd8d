"""The chain event indexer: follows the registered contracts' events into the database.

Public surface: :class:`engine.indexer.indexer.EventIndexer` (``run_once``, ``run_forever``, ``on_events``,
``on_rollback``, ``on_finalized``), :class:`engine.indexer.decoding.ContractSpec`, the query helpers of
:mod:`engine.indexer.services` (``events_for_account``, ``events_by_ref``, ``get_cursor``) and the value
types of :mod:`engine.indexer.interfaces` (``IndexedEvent``, ``EventPage``, ``IndexProgress``), and for
subscribers that write rows :func:`engine.indexer.undo.track` (their changes are reverted by a reorg's
rollback).
"""
