"""Provider alliances (issue 13): providers pool nodes and split their escrow earnings on chain
(``AllianceSplits``). ``models`` holds the indexed view, ``events`` applies the contract's events,
``commands`` builds the members' unsigned transactions and reads weights and revenue on chain."""
