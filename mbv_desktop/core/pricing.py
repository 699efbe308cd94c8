"""What AI work costs, from the seed's price table.

Prices are US dollars. Text models are priced per million input and output tokens; DALL-E 3 per
image by size and quality; Workers AI bills "neurons" ($0.011 per 1,000), and the neurons per
million tokens below are Cloudflare's published rates for those models at the time of writing
(approximate: marked so in the UI). Local models cost nothing. Unknown models cost nothing and
are reported as unpriced rather than guessed.
"""

from __future__ import annotations

from dataclasses import dataclass

# model -> (input $ per 1M tokens, output $ per 1M tokens)
TEXT_PRICES: dict[str, tuple[float, float]] = {
    "gpt-4-turbo": (10.00, 30.00),
    "gpt-4-turbo-preview": (10.00, 30.00),
    "gpt-3.5-turbo": (0.50, 1.50),
    "gpt-4o-mini": (0.15, 0.60),
    "text-embedding-3-small": (0.02, 0.0),
    "text-embedding-3-large": (0.13, 0.0),
}
# (size, quality) -> $ per image, DALL-E 3
IMAGE_PRICES: dict[tuple[str, str], float] = {
    ("1024x1024", "standard"): 0.040,
    ("1024x1792", "standard"): 0.080,
    ("1792x1024", "standard"): 0.080,
    ("1024x1024", "hd"): 0.080,
    ("1024x1792", "hd"): 0.120,
    ("1792x1024", "hd"): 0.120,
}
WORKERS_AI_USD_PER_1000_NEURONS = 0.011
# model -> (neurons per 1M input tokens, per 1M output tokens) or neurons per image/step
WORKERS_AI_NEURONS: dict[str, tuple[float, float]] = {
    "@cf/meta/llama-3.1-8b-instruct": (25_608, 75_147),
    "@cf/baai/bge-base-en-v1.5": (6_058, 0),
}
WORKERS_AI_IMAGE_NEURONS: dict[str, float] = {
    "@cf/runwayml/stable-diffusion-v1-5": 0.0,  # billed as free beta at the time of writing
}


@dataclass(frozen=True)
class Cost:
    usd: float
    priced: bool  # False: the model is not in the table (shown as "not priced")
    approximate: bool = False
    units: float = 0.0  # provider units, e.g. Workers AI neurons

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.usd + other.usd, self.priced and other.priced,
                    self.approximate or other.approximate, self.units + other.units)


FREE = Cost(0.0, True)


def text_cost(provider: str, model: str, tokens_in: int, tokens_out: int) -> Cost:
    if provider == "local":
        return FREE
    if provider == "workers_ai":
        rates = WORKERS_AI_NEURONS.get(model)
        if rates is None:
            return Cost(0.0, False)
        neurons = tokens_in / 1e6 * rates[0] + tokens_out / 1e6 * rates[1]
        return Cost(neurons / 1000 * WORKERS_AI_USD_PER_1000_NEURONS, True, True, neurons)
    prices = TEXT_PRICES.get(model)
    if prices is None:
        return Cost(0.0, False)
    return Cost(tokens_in / 1e6 * prices[0] + tokens_out / 1e6 * prices[1], True)


def image_cost(provider: str, model: str, size: str, quality: str, count: int = 1) -> Cost:
    if provider == "local":
        return FREE
    if provider == "workers_ai":
        neurons = WORKERS_AI_IMAGE_NEURONS.get(model)
        if neurons is None:
            return Cost(0.0, False)
        return Cost(neurons * count / 1000 * WORKERS_AI_USD_PER_1000_NEURONS, True, True,
                    neurons * count)
    price = IMAGE_PRICES.get((size, quality))
    if price is None or model != "dall-e-3":
        return Cost(0.0, False)
    return Cost(price * count, True)


def format_usd(usd: float) -> str:
    """"$0.0004" for tiny amounts, "$1.25" otherwise."""
    if usd == 0:
        return "$0.00"
    if usd < 0.01:
        return f"${usd:.4f}"
    return f"${usd:,.2f}"
