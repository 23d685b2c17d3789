"""Between sessions: the practice journal (SQLite), the check-in, the therapist's report and reminders.

Sits above ``plan/`` (reads routines, never sound); the CLI hands it the facts of a session's start and end.
"""
