"""Provider nodes: resources and prices (``services``), the chain link and maintenance windows from
indexed registry events (``linking``), and the placement view of nodes (``candidates``)."""
