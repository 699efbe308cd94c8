"""Must Be Viral Desktop: an offline-first studio for social-media creators."""

__version__ = "0.1.0"
APP_NAME = "mbv-desktop"
