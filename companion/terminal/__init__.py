"""The terminal: raw single keys (``keys``), the one-line status view (``statusline``) and the lock that
keeps warning lines from interleaving with PortAudio's start-up (``console``); ``text.visible`` shows the
control characters of text from files instead of letting them drive the terminal. No audio here.
"""
