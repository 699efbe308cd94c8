"""Publishing clients for X, Instagram and TikTok (:mod:`.base` is the contract they share)."""
