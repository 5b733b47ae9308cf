"""The e-government portal demo (``kpki demo web``): a petition signed in the browser with a
joint certificate (the agent), a financial certificate (the SDK) or simple authentication,
verified check by check (issue 17)."""
