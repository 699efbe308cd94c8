"""Product analytics: Google Analytics 4 through its Measurement Protocol (:mod:`.ga4`)."""
