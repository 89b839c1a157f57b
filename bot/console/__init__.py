"""The staff side: the JSON API under ``/staff/api/`` (``api.py``, ``notices_api.py``), the
operations it and the ``gongkai inbox`` / ``gongkai stats`` commands share (``desk.py``), their
JSON (``views.py``), and the browser console under ``/console`` (``web.py`` with sign-in, sessions
and CSRF; ``notice_pages.py``; ``sessions.py`` and ``versions.py`` its tables; ``preview.py``)."""
