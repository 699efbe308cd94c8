"""The Billing panel (Ctrl+6): the creator's plan, subscription, cards, invoices and usage.

Split by what each part shows: :mod:`.panel` (the page and its flows), :mod:`.plans` (the plan
cards side by side), :mod:`.sections` (usage, cards, invoices), :mod:`.preview_dialog` (what a
plan change costs) and :mod:`.format` (money, dates and sentences, no Qt). None of them imports
the billing service at module level: it pulls in the Stripe client's stack, which the first
window must not wait for.
"""
