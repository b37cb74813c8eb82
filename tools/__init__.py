"""Build tools for the acp repository; not part of the installed package."""
