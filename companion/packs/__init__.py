"""Routine packs: a therapist's routine, recorded clips and music in one zip, and installing one.

``build`` makes a pack (``companion pack``); ``install`` validates a pack or folder completely and only
then renames it into the user data folder (``companion routines install``); ``installed`` lists and
removes installed routines; ``manifest`` is the pack's table of contents with SHA-256 hashes; ``limits``
states what a pack may hold. Sits beside ``narration``: it reads routines (``plan``), never sound.
"""
