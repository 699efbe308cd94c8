"""The Analytics panel and its tabs: performance, hashtags and trends, campaigns, AI spend and
integration health."""
