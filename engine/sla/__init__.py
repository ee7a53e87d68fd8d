"""SLA monitoring and enforcement (issue 13): samples, uptime per period, breach records paid through the
outbox (provider collateral seized, tenant's lease credited). See :mod:`engine.sla.services`."""
