"""The lesson's figures as functions that return a matplotlib ``Figure``:
plots of data and models (``plots``) and drawn diagrams (``diagrams``). The
site build calls them, and so can a learner."""
