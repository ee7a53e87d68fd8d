"""Currency swaps through a Uniswap V2 router: quotes and swaps (see :mod:`engine.swaps.commands`)."""
