"""Reading upstream facts: an HTTP client with an on-disk conditional cache, and small fetchers.

``http`` knows about the network (retries, rate limits, ETags); ``sources`` knows about upstream
file formats. Every fetcher returns a ``Fact``: the value plus the URL it came from, so the matrix
can cite its source.
"""
