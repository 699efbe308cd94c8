"""Deterministic, plausible replies for the sandbox's text models, shaped by the prompt.

Nothing here is a language model: the prompt is read for a platform, an intent and a topic, and
the reply is assembled from templates so the app can be demonstrated offline. The choice of
templates is seeded by a hash of the prompt (and the variant index), so the same prompt always
gives the same text and ``n`` variants differ.

What is recognised:

- **Platform**: X/Twitter (``tweet``, ``twitter``, ``X post``…) → at most 280 characters; with
  ``thread`` a numbered thread (``1/5`` …) whose parts are separated by blank lines, each under
  280 characters. Instagram → a longer caption with emojis, line breaks and 5–15 hashtags at the
  end. TikTok → a script (hook, three beats, call to action, caption) or, when only a caption is
  asked for, a short caption with hashtags.
- **Hashtags**: a single line of 10–20 hashtags built from the prompt's keywords.
- **Rewrite** (``rewrite``, ``rephrase``, ``shorter``, ``translate``…) of the quoted text, the
  text after the first colon, or the text after the first line: *shorter* keeps about half the
  sentences and drops filler words; *tone* (casual, professional, playful, excited) swaps a few
  words and the punctuation; *language* (Spanish, French, German) substitutes a few dozen
  common words one by one — a visible change, not a translation.
- Anything else gets a short generic post about the topic.

The topic is the phrase after "about"/"on"/"for" in the last user message, or its keywords.
"""

from __future__ import annotations

import hashlib
import itertools
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Platform = Literal["x", "instagram", "tiktok", "generic"]
Intent = Literal["post", "thread", "caption", "script", "hashtags", "rewrite"]

X_LIMIT = 280
_X_TARGET = 270  # a margin for emoji weighting
_WORDS = re.compile(r"[A-Za-zÀ-ÿ0-9][A-Za-zÀ-ÿ0-9'’-]*")

_STOPWORDS = frozenset("""
a about above after again all also am an and any are as at be because been before being
below between both but by can could did do does doing down during each few for from further
had has have having he her here hers him his how i if in into is it its itself just let me
more most my no nor not now of off on once only or other our ours out over own same she
should so some such than that the their them then there these they this those through to too
under until up very was we were what when where which while who whom why will with would you
your yours please make give me write create generate draft need want some new get one two
three four five six seven eight nine ten using use help like really our us it's i'm
""".split())
_INSTRUCTION_WORDS = frozenset("""
tweet tweets twitter thread threads post posts caption captions instagram insta reel reels
tiktok tik tok script scripts hashtag hashtags hashtags rewrite rephrase shorter shorten
condense translate translation tone version versions variant variants short long longer
spanish french german english casual professional formal playful funny excited enthusiastic
friendly witty bold copy social media platform text following catchy engaging viral x
part parts words word characters chars line lines emoji emojis sentence sentences assistant
you're creator's photo photos picture pictures image images video videos
""".split())

_EMOJIS = ("✨", "🔥", "🚀", "💡", "📌", "🙌", "💬", "👀", "🎯", "☕", "🌱", "📈", "💪", "🎉")
_GENERIC_TAGS = ("contentcreator", "creatorlife", "socialmediatips", "growthmindset",
                 "smallbusiness", "marketing", "creativity", "inspiration", "community",
                 "behindthescenes", "tipsandtricks", "learnontiktok", "dailymotivation")
_PLATFORM_TAGS = {"instagram": ("instagood", "reels", "explorepage", "igdaily"),
                  "tiktok": ("fyp", "foryou", "tiktoktips", "learnontiktok"),
                  "x": ("buildinpublic", "creators"), "generic": ("creators", "content")}

_HOOKS = (
    "Most people overthink {topic}.",
    "Hot take: {topic} is easier than it looks.",
    "{Topic} in one sentence: start before you feel ready.",
    "I spent a week on {topic}. Here's what stuck.",
    "Quick reminder about {topic}:",
    "The simplest {topic} tip I know:",
    "Nobody talks about this part of {topic}.",
    "If {topic} feels hard right now, read this.",
)
_INSIGHTS = (
    "Start small, ship daily, and let the feedback steer.",
    "Consistency beats intensity every single time.",
    "Show the process, not just the result — people follow stories.",
    "Pick one thing, do it well, then tell everyone how you did it.",
    "The best time to start was yesterday; the second best is today.",
    "Your first version only has to exist. Version ten gets to be good.",
    "Clarity wins: say who it's for and why it matters in one line.",
)
_TIPS = (
    "Define who {topic} is for. A clear audience makes every other decision easier.",
    "Batch the work: plan a week of {topic} in one sitting.",
    "Lead with a hook. The first line decides whether anyone reads the rest.",
    "Repurpose: one idea about {topic} can become a thread, a reel and a carousel.",
    "Measure what matters. Saves and shares say more than likes.",
    "Keep a swipe file of {keyword} ideas that worked, and revisit it every Monday.",
    "Post when your audience is awake, not when you are.",
    "Reply to every comment in the first hour — it tells the algorithm people care.",
    "Share the behind-the-scenes of {topic}. Process builds trust.",
    "Collaborate with someone one step ahead of you on {keyword}.",
    "Cut the intro. Get to the useful part of {topic} in the first three seconds.",
    "End with one clear ask, not three.",
)
_CTAS = (
    "What would you add?",
    "Agree or disagree?",
    "Save this for later.",
    "Reply with your best tip 👇",
    "Follow for more like this.",
    "Tag someone who needs this.",
)
_PARAGRAPHS = (
    "We've been working on {topic} for a while, and the biggest lesson is simple: small "
    "steps, every day.",
    "Here's the thing about {topic}: nobody gets it right the first time, and that's the point.",
    "Behind every good {keyword} post is a messy draft folder. Ours is no exception.",
    "{Topic} doesn't need a big budget. It needs a clear idea and the patience to repeat it.",
    "This one is for everyone who has ever stared at a blank screen thinking about {topic}.",
)

_FILLERS = re.compile(r"\b(really|very|just|actually|basically|literally|totally|quite|"
                      r"simply|truly|honestly|definitely)\b ?", re.IGNORECASE)
_TONE_WORDS = {
    "casual": ("casual", "friendly", "relaxed", "informal", "chill", "conversational"),
    "professional": ("professional", "formal", "corporate", "polished", "business"),
    "playful": ("playful", "funny", "witty", "humorous", "cheeky", "fun"),
    "excited": ("excited", "enthusiastic", "energetic", "hype", "bold", "upbeat"),
}
_CASUAL = (("do not", "don't"), ("cannot", "can't"), ("will not", "won't"),
           ("going to", "gonna"), ("it is", "it's"), ("we are", "we're"), ("Hello", "Hey"),
           ("excellent", "awesome"), ("very", "super"))
_FORMAL = (("don't", "do not"), ("can't", "cannot"), ("won't", "will not"),
           ("gonna", "going to"), ("it's", "it is"), ("we're", "we are"), ("Hey", "Hello"),
           ("awesome", "excellent"), ("super", "very"), ("folks", "everyone"),
           ("stuff", "material"))
_LANGUAGES: dict[str, dict[str, str]] = {
    "es": {"the": "el", "and": "y", "is": "es", "are": "son", "you": "tú", "your": "tu",
           "this": "este", "for": "para", "with": "con", "new": "nuevo", "today": "hoy",
           "post": "publicación", "time": "tiempo", "follow": "sigue", "more": "más",
           "best": "mejor", "tips": "consejos", "tip": "consejo", "my": "mi", "we": "nosotros",
           "of": "de", "to": "a", "in": "en", "what": "qué", "how": "cómo", "now": "ahora",
           "day": "día", "week": "semana", "thanks": "gracias", "hello": "hola",
           "love": "amor", "work": "trabajo", "content": "contenido", "creator": "creador",
           "creators": "creadores", "coffee": "café", "video": "vídeo", "not": "no",
           "our": "nuestro", "share": "comparte", "save": "guarda", "start": "empieza", "us": "nos",
           "on": "sobre", "it": "lo", "at": "en", "see": "ver", "meet": "conocer"},
    "fr": {"the": "le", "and": "et", "is": "est", "are": "sont", "you": "vous",
           "your": "votre", "this": "ce", "for": "pour", "with": "avec", "new": "nouveau",
           "today": "aujourd'hui", "post": "publication", "time": "temps", "follow": "suivez",
           "more": "plus", "best": "meilleur", "tips": "conseils", "tip": "conseil",
           "my": "mon", "we": "nous", "of": "de", "to": "à", "in": "dans", "what": "quoi",
           "how": "comment", "now": "maintenant", "day": "jour", "week": "semaine",
           "thanks": "merci", "hello": "bonjour", "love": "amour", "work": "travail",
           "content": "contenu", "creator": "créateur", "creators": "créateurs",
           "coffee": "café", "not": "pas", "our": "notre", "share": "partagez",
           "save": "enregistrez", "start": "commencez", "us": "nous", "on": "sur",
           "at": "à", "see": "voir", "meet": "rencontrer"},
    "de": {"the": "die", "and": "und", "is": "ist", "are": "sind", "you": "du",
           "your": "dein", "this": "dies", "for": "für", "with": "mit", "new": "neu",
           "today": "heute", "post": "Beitrag", "time": "Zeit", "follow": "folge",
           "more": "mehr", "best": "beste", "tips": "Tipps", "tip": "Tipp", "my": "mein",
           "we": "wir", "of": "von", "to": "zu", "in": "in", "what": "was", "how": "wie",
           "now": "jetzt", "day": "Tag", "week": "Woche", "thanks": "danke", "hello": "hallo",
           "love": "Liebe", "work": "Arbeit", "content": "Inhalt", "creator": "Creator",
           "creators": "Creator", "coffee": "Kaffee", "not": "nicht", "our": "unser",
           "share": "teile", "save": "speichere", "start": "starte", "us": "uns",
           "on": "über", "at": "bei", "see": "sehen", "meet": "treffen"},
}
_LANGUAGE_NAMES = {"es": ("spanish", "español", "espanol"), "fr": ("french", "français",
                   "francais"), "de": ("german", "deutsch")}


@dataclass(frozen=True)
class Brief:
    """What the prompt asks for, as far as the templates care."""

    platform: Platform
    intent: Intent
    topic: str
    keywords: tuple[str, ...]
    source_text: str = ""
    parts: int | None = None
    tone: str | None = None
    language: str | None = None
    shorter: bool = False


def _has(pattern: str, text: str) -> bool:
    return re.search(pattern, text, re.IGNORECASE) is not None


def detect_platform(text: str) -> Platform:
    if _has(r"\btik ?tok\b", text):
        return "tiktok"
    if _has(r"\b(instagram|insta|ig|reels?|carousel)\b", text):
        return "instagram"
    if _has(r"\b(twitter|tweets?|thread|x\.com)\b|\b(on|for) x\b|\bx (post|thread)\b", text):
        return "x"
    return "generic"


def keywords_of(text: str, limit: int = 6) -> tuple[str, ...]:
    """The content words of ``text``, in order, without duplicates."""
    seen: list[str] = []
    for word in _WORDS.findall(text):
        w = word.lower().strip("'’-")
        if (not 3 <= len(w) <= 30 or w in _STOPWORDS or w in _INSTRUCTION_WORDS
                or any(c.isdigit() for c in w) or w in seen):
            continue
        seen.append(w)
        if len(seen) == limit:
            break
    return tuple(seen)


def _topic_of(instruction: str, keywords: Sequence[str]) -> str:
    for preposition in ("about", "regarding", "promoting", "announcing", "on", "for"):
        match = re.search(rf"\b{preposition}:?\s+(.+?)(?:[.!?\n:]|$)", instruction,
                          re.IGNORECASE)
        if not match:
            continue
        phrase = re.sub(r"\s+(?:for|on|in)\s+(?:instagram|tiktok|twitter|x|linkedin)\b.*$", "",
                        match.group(1), flags=re.IGNORECASE).strip(" \"'“”")
        phrase = re.sub(r"^(?:(?:the|a|an|my|our|your|this|these|new|post|photo|picture|"
                        r"video|reel|of|about)\s+)+", "", phrase, flags=re.IGNORECASE)
        if phrase and detect_platform(phrase) == "generic" and len(phrase) <= 60:
            return phrase
    if keywords:
        return " ".join(keywords[:3])
    return "creative work"


def _source_text(instruction: str) -> str:
    quoted = re.search(r'"""(.+?)"""|"([^"]{12,})"|“([^”]{12,})”|\'([^\']{20,})\'',
                       instruction, re.DOTALL)
    if quoted:
        return next(g for g in quoted.groups() if g).strip()
    head, colon, tail = instruction.partition(":")
    if colon and len(tail.strip()) >= 10 and "\n" not in head:
        return tail.strip()
    _first, newline, rest = instruction.partition("\n")
    if newline and rest.strip():
        return rest.strip()
    return ""


def analyse(prompt: str, system: str = "") -> Brief:
    """Reads a prompt (the last user message) and the system text into a :class:`Brief`."""
    whole = f"{system}\n{prompt}"
    platform = detect_platform(whole)
    shorter = _has(r"\b(shorter|shorten|condense|trim|tighten|concise|briefer)\b", prompt)
    rewrite = shorter or _has(r"\b(rewrite|re-write|rephrase|reword|translate|paraphrase|"
                              r"make (it|this) (more|less|sound))\b", prompt)
    source = _source_text(prompt) if rewrite else ""
    instruction = prompt.replace(source, " ") if source else prompt
    tone = next((name for name, words in _TONE_WORDS.items()
                 if any(_has(rf"\b{w}\b", instruction) for w in words)), None)
    language = next((code for code, names in _LANGUAGE_NAMES.items()
                     if any(_has(rf"\b{n}\b", instruction) for n in names)), None)
    if language is None:
        code = re.search(r"\b(?:in|into|to)\s+(es|fr|de)\b", instruction)
        language = code.group(1) if code else None
    if rewrite and source:
        keywords = keywords_of(source)
        return Brief(platform, "rewrite", _topic_of(instruction, keywords), keywords,
                     source_text=source, tone=tone, language=language, shorter=shorter)
    keywords = keywords_of(prompt) or keywords_of(system)
    topic = _topic_of(prompt, keywords)
    if topic in prompt:  # a stated topic ("about: ..."), so its words are the keywords
        keywords = keywords_of(topic) or keywords
    body = prompt.strip().split("\n", 1)
    if len(body) == 2 and _has(r"\bhashtags?\b", body[0]):  # tags for the text that follows
        keywords = keywords_of(body[1]) or keywords
    parts_match = re.search(r"\b(\d{1,2})\s*[- ]?(?:part|tweet|post)s?\b", prompt, re.IGNORECASE)
    parts = max(2, min(12, int(parts_match.group(1)))) if parts_match else None
    intent: Intent
    # Asking for hashtags is what the request opens with; "at most two hashtags" further down
    # a request for a post is a constraint, not the task.
    ask = prompt.strip().split("\n", 1)[0]
    if _has(r"\bhashtags?\b", ask) and not _has(r"\b(write|caption|script|thread|tweet)\b",
                                                ask):
        intent = "hashtags"
    elif _has(r"\bthread\b", prompt) or (platform == "x" and parts):
        intent, platform = "thread", "x"
    elif _has(r"\bscript\b", prompt) or (platform == "tiktok" and not _has(r"\bcaption\b",
                                                                             prompt)):
        intent = "script"
    elif _has(r"\bcaption\b", prompt) or platform == "instagram":
        intent = "caption"
    else:
        intent = "post"
    return Brief(platform, intent, topic, keywords, parts=parts, tone=tone)


def _seed(*parts: object) -> random.Random:
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode("utf-8")).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def _fill(template: str, brief: Brief) -> str:
    topic = brief.topic
    keyword = brief.keywords[0] if brief.keywords else topic
    return template.format(topic=topic, Topic=topic[:1].upper() + topic[1:], keyword=keyword)


def _fit(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit - 1]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit // 2 else cut).rstrip(" ,;:—-") + "…"


def _tag(word: str) -> str:
    return "#" + re.sub(r"[^0-9A-Za-zÀ-ÿ_]", "", word)


def hashtags(brief: Brief, rng: random.Random, count: int) -> list[str]:
    """``count`` distinct hashtags: keywords first, then combinations and platform tags."""
    kws = [re.sub(r"[^0-9a-zà-ÿ]", "", k) for k in brief.keywords]
    kws = [k for k in kws if k]
    tags: list[str] = [_tag(k) for k in kws]
    tags += [_tag(a + b) for a, b in itertools.pairwise(kws)]
    suffixes = ["tips", "life", "community", "daily", "lovers", "ideas", "goals"]
    rng.shuffle(suffixes)
    tags += [_tag(k + s) for k in kws[:3] for s in suffixes[:3]]
    pool = list(_PLATFORM_TAGS[brief.platform]) + list(_GENERIC_TAGS)
    rng.shuffle(pool)
    tags += [_tag(t) for t in pool]
    unique: list[str] = []
    for tag in tags:
        if len(tag) > 2 and tag.lower() not in (u.lower() for u in unique):
            unique.append(tag)
    return unique[:count]


def _x_post(brief: Brief, rng: random.Random) -> str:
    hook = _fill(rng.choice(_HOOKS), brief)
    text = f"{hook} {rng.choice(_INSIGHTS)} {rng.choice(_CTAS)}"
    tags = " ".join(hashtags(brief, rng, 2))
    if len(text) + 1 + len(tags) <= _X_TARGET:
        text = f"{text} {tags}"
    return _fit(text, _X_TARGET)


def _thread(brief: Brief, rng: random.Random) -> str:
    total = brief.parts or rng.randint(4, 6)
    tips = list(_TIPS)
    rng.shuffle(tips)
    posts = [f"1/{total} {_fill(rng.choice(_HOOKS), brief)} A thread 🧵"]
    for i in range(2, total):
        posts.append(f"{i}/{total} {_fill(tips[(i - 2) % len(tips)], brief)}")
    posts.append(f"{total}/{total} That's it. {rng.choice(_INSIGHTS)} {rng.choice(_CTAS)}")
    return "\n\n".join(_fit(p, _X_TARGET) for p in posts)


def _instagram_caption(brief: Brief, rng: random.Random) -> str:
    emojis = rng.sample(_EMOJIS, 4)
    paragraphs = rng.sample(_PARAGRAPHS, 2)
    tips = rng.sample(_TIPS, 3)
    lines = [
        f"{emojis[0]} {_fill(rng.choice(_HOOKS), brief)}",
        "",
        f"{_fill(paragraphs[0], brief)} {emojis[1]}",
        "",
        *(f"→ {_fill(t, brief)}" for t in tips),
        "",
        f"{_fill(paragraphs[1], brief)}",
        "",
        f"{rng.choice(_CTAS)} {emojis[2]}{emojis[3]}",
        "",
        " ".join(hashtags(brief, rng, rng.randint(8, 12))),
    ]
    return "\n".join(lines)


def _tiktok_script(brief: Brief, rng: random.Random) -> str:
    tips = rng.sample(_TIPS, 3)
    keyword = (brief.keywords[0] if brief.keywords else "tips").upper()
    caption = _fill(rng.choice(_HOOKS), brief)
    tags = " ".join(hashtags(brief, rng, 5))
    return "\n".join([
        f"HOOK (0–3s): {_fill(rng.choice(_HOOKS), brief)}",
        "",
        f"BEAT 1 (3–10s): {_fill(tips[0], brief)}",
        f"BEAT 2 (10–20s): {_fill(tips[1], brief)}",
        f"BEAT 3 (20–30s): {_fill(tips[2], brief)}",
        "",
        f"CTA (30–35s): Follow for part 2, and comment \"{keyword}\" if you want the checklist.",
        "",
        f"CAPTION: {caption} {rng.choice(_EMOJIS)} {tags}",
    ])


def _tiktok_caption(brief: Brief, rng: random.Random) -> str:
    hook = _fill(rng.choice(_HOOKS), brief)
    return f"{hook} {rng.choice(_EMOJIS)} {' '.join(hashtags(brief, rng, rng.randint(4, 6)))}"


def _generic(brief: Brief, rng: random.Random) -> str:
    return " ".join([_fill(rng.choice(_HOOKS), brief), _fill(rng.choice(_PARAGRAPHS), brief),
                     rng.choice(_INSIGHTS), rng.choice(_CTAS)])


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?…])\s+", text.strip()) if s]


def _replace_all(text: str, pairs: Sequence[tuple[str, str]]) -> str:
    """Replaces whole words, ignoring case and keeping a leading capital."""
    for old, new in pairs:
        def keep_case(match: re.Match[str], new: str = new) -> str:
            return new[:1].upper() + new[1:] if match.group(0)[:1].isupper() else new

        text = re.sub(rf"\b{re.escape(old)}\b", keep_case, text, flags=re.IGNORECASE)
    return text


def make_shorter(text: str, variant: int = 0) -> str:
    """About half the sentences, without filler words; always shorter than ``text``."""
    sentences = _sentences(_FILLERS.sub("", text))
    keep = max(1, (len(sentences) + 1) // 2)
    if variant % 2 and len(sentences) > 2:
        chosen = [*sentences[:keep - 1], sentences[-1]]
    else:
        chosen = sentences[:keep]
    short = " ".join(chosen).strip()
    if len(short) >= len(text.strip()):
        words = short.split()
        short = " ".join(words[:max(1, (len(words) * 2) // 3)]).rstrip(",;:") + "…"
    return short


def change_tone(text: str, tone: str, variant: int = 0) -> str:
    """Adjusts wording and punctuation towards ``tone``."""
    if tone == "professional":
        text = _replace_all(text, _FORMAL)
        text = re.sub(r"[\U0001F300-\U0001FAFF\u2600-\u27BF]\ufe0f?\s?", "", text)
        text = re.sub(r"!+", ".", text).strip()
        if text and text[-1] not in ".?…":
            text += "."
        opener = ("", "Please note: ", "We are pleased to share: ")[variant % 3]
        return opener + (text[:1].lower() + text[1:] if opener else text)
    if tone == "casual":
        text = _replace_all(text, _CASUAL)
        opener = ("Honestly, ", "Okay so, ", "Real talk: ")[variant % 3]
        return opener + text[:1].lower() + text[1:] + " 🙌"
    if tone == "playful":
        sentences = _sentences(text)
        aside = ("(yes, really)", "(trust me on this one)", "(no, we're not kidding)")
        sentences[0] = sentences[0] + " " + aside[variant % 3]
        return " ".join(sentences) + " 😄"
    if tone == "excited":
        sentences = [re.sub(r"[.…]$", "!", s) for s in _sentences(text)]
        return " ".join(sentences) + (" 🔥", " 🚀", " 🎉")[variant % 3]
    return text


def translate_words(text: str, language: str) -> str:
    """Substitutes the common words this module knows in ``language`` (es, fr, de)."""
    table = _LANGUAGES.get(language, {})

    def swap(match: re.Match[str]) -> str:
        word = match.group(0)
        new = table.get(word.lower())
        if new is None:
            return word
        return new[:1].upper() + new[1:] if word[:1].isupper() else new

    return re.sub(r"[A-Za-z]+", swap, text)


def _rewrite(brief: Brief, variant: int) -> str:
    text = _rewrite_once(brief, variant)
    if variant and text == _rewrite_once(brief, 0):
        text += ("", " ✨", " 👇", " 💬", " 📌")[variant % 5]
    return text


def _rewrite_once(brief: Brief, variant: int) -> str:
    text = brief.source_text
    if brief.tone:
        text = change_tone(text, brief.tone, variant)
    if brief.shorter:
        text = make_shorter(text, variant)
    if brief.language:
        text = translate_words(text, brief.language)
    if not (brief.tone or brief.shorter or brief.language):
        sentences = _sentences(text)
        rng = _seed("rephrase", text, variant)
        opener = rng.choice(("In short: ", "Put simply, ", "Here's the idea: ", "Bottom line: "))
        text = opener + " ".join(sentences)
    if brief.platform == "x":
        text = _fit(text, _X_TARGET)
    return text


def generate(prompt: str, *, system: str = "", variant: int = 0) -> str:
    """The reply to ``prompt`` (with an optional system text) for variant ``variant``."""
    brief = analyse(prompt, system)
    if brief.intent == "rewrite":
        return _rewrite(brief, variant)
    rng = _seed(system, prompt, variant)
    if brief.intent == "hashtags":
        return " ".join(hashtags(brief, rng, rng.randint(12, 18)))
    if brief.intent == "thread":
        return _thread(brief, rng)
    if brief.platform == "x":
        return _x_post(brief, rng)
    if brief.platform == "instagram":
        return _instagram_caption(brief, rng)
    if brief.platform == "tiktok":
        return _tiktok_script(brief, rng) if brief.intent == "script" else _tiktok_caption(
            brief, rng)
    return _generic(brief, rng)


def reply(messages: Sequence[tuple[str, str]], *, variant: int = 0) -> str:
    """The reply to a chat: system and developer messages steer, the last user message asks."""
    system = "\n".join(c for r, c in messages if r in ("system", "developer"))
    users = [c for r, c in messages if r == "user"]
    prompt = users[-1] if users else (messages[-1][1] if messages else "")
    return generate(prompt, system=system, variant=variant)


def word_chunks(text: str) -> list[str]:
    """``text`` split into word-sized pieces (each word keeps its following whitespace), the
    way the emulators stream it; joining them gives ``text`` back."""
    return re.findall(r"\s+|\S+\s*", text) if text else []
