"""The papers' experiments as functions that return tidy ``pandas.DataFrame`` results."""
