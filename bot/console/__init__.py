"""The staff side: the JSON API under ``/staff/api/`` (``api.py``), the operations it and the
``gongkai inbox`` / ``gongkai stats`` commands share (``desk.py``), and their JSON (``views.py``).
A browser console will be one more client of the same API."""
