"""The e-government portal demo (``kpki demo web``), a face of kpki: a petition signed in
the browser with a joint certificate (the agent), a financial certificate (the SDK) or
simple authentication, verified check by check (issue 17).

:mod:`.petitions` receives, time-stamps, keeps and judges petitions; :mod:`.app` is the
Starlette portal (pages in ``static/``, a JSON API); :mod:`.remote` its client of kpki
serve. :mod:`pki.usecases.webdemo` starts the whole demo in threads."""
