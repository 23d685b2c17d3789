"""The terminal: raw single keys (``keys``), the one-line status view (``statusline``) and the lock that
keeps warning lines from interleaving with PortAudio's start-up (``console``). No audio here.
"""
