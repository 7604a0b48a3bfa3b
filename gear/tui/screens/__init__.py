"""The dashboard's screens: the main one and its modals, one per module."""
