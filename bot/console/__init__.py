"""The staff side: the JSON API under ``/staff/api/`` (``api.py``, ``notices_api.py``), the
operations it and the ``gongkai inbox`` / ``gongkai stats`` commands share (``desk.py``), their
JSON (``views.py``), and the browser console under ``/console``: ``web.py`` (sign-in, sessions,
CSRF, roles), the notices pages (``notice_pages.py``, ``notice_forms.py``, ``notice_steps.py``,
``preview.py``) and its sessions table (``sessions.py``)."""
