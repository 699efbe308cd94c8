"""Creator tasks for AI generation: what can be asked, the editable prompt templates, and the
results as the rest of the app sees them. Pure data and rules, no I/O."""

from __future__ import annotations

import enum
import string
from dataclasses import dataclass, field

from mbv_desktop.core.choices import parse_choice
from mbv_desktop.core.errors import InvalidInput
from mbv_desktop.core.platforms import Platform


class Provider(enum.StrEnum):
    OPENAI = "openai"
    WORKERS_AI = "workers_ai"
    LOCAL = "local"

    @property
    def label(self) -> str:
        return {"openai": "OpenAI", "workers_ai": "Cloudflare Workers AI",
                "local": "Local model"}[self.value]

    @classmethod
    def parse(cls, value: str) -> Provider:
        aliases = {"cloudflare": "workers_ai", "cf": "workers_ai", "workers": "workers_ai",
                   "ollama": "local", "llamacpp": "local", "lm_studio": "local",
                   "lmstudio": "local"}
        return parse_choice(cls, value, "an AI provider", aliases)


DEFAULT_MODELS: dict[Provider, dict[str, str]] = {
    Provider.OPENAI: {"text": "gpt-4-turbo", "image": "dall-e-3",
                      "embedding": "text-embedding-3-small"},
    Provider.WORKERS_AI: {"text": "@cf/meta/llama-3.1-8b-instruct",
                          "image": "@cf/runwayml/stable-diffusion-v1-5",
                          "embedding": "@cf/baai/bge-base-en-v1.5"},
    Provider.LOCAL: {"text": "llama3.1", "image": "", "embedding": "nomic-embed-text"},
}


class TaskKind(enum.StrEnum):
    X_POST = "x_post"
    X_THREAD = "x_thread"
    INSTAGRAM_CAPTION = "instagram_caption"
    TIKTOK_SCRIPT = "tiktok_script"
    HASHTAGS = "hashtags"
    REWRITE_SHORTER = "rewrite_shorter"
    REWRITE_TONE = "rewrite_tone"
    REWRITE_LANGUAGE = "rewrite_language"

    @classmethod
    def parse(cls, value: str) -> TaskKind:
        return parse_choice(cls, value, "a generation task")


@dataclass(frozen=True)
class PromptTemplate:
    kind: TaskKind
    label: str
    system: str
    user: str  # str.format fields: topic, text, tone, language
    platform: Platform | None = None

    def fields(self) -> set[str]:
        """The ``{names}`` the user prompt uses; empty when the template is malformed
        (``render`` reports that)."""
        try:
            return {name for _, name, _, _ in string.Formatter().parse(self.user) if name}
        except ValueError:
            return set()


_SYSTEM = ("You are a social media copywriter for an independent creator. Write in the "
           "creator's voice: concrete, warm, no clichés, no quotation marks around the post.")

DEFAULT_TEMPLATES: dict[TaskKind, PromptTemplate] = {t.kind: t for t in (
    PromptTemplate(TaskKind.X_POST, "Post for X", _SYSTEM,
                   "Write one post for X (Twitter) about: {topic}\n"
                   "Stay under 280 characters. At most two hashtags.", Platform.X),
    PromptTemplate(TaskKind.X_THREAD, "Thread for X", _SYSTEM,
                   "Write a thread for X (Twitter) about: {topic}\n"
                   "5 to 8 posts, each under 280 characters, separated by a blank line. "
                   "The first post is the hook.", Platform.X),
    PromptTemplate(TaskKind.INSTAGRAM_CAPTION, "Instagram caption", _SYSTEM,
                   "Write an Instagram caption about: {topic}\n"
                   "A strong first line, short paragraphs, a call to action, then 8 to 15 "
                   "relevant hashtags on the last line.", Platform.INSTAGRAM),
    PromptTemplate(TaskKind.TIKTOK_SCRIPT, "TikTok script and caption", _SYSTEM,
                   "Write a TikTok video script about: {topic}\n"
                   "Hook (first 2 seconds), 3 to 5 beats, a call to action; then a caption "
                   "under 150 characters with 3 to 5 hashtags.", Platform.TIKTOK),
    PromptTemplate(TaskKind.HASHTAGS, "Hashtags", _SYSTEM,
                   "Suggest 15 hashtags for this post, most specific first, on one line:\n"
                   "{text}"),
    PromptTemplate(TaskKind.REWRITE_SHORTER, "Rewrite shorter", _SYSTEM,
                   "Rewrite this post shorter, keeping its meaning and voice:\n{text}"),
    PromptTemplate(TaskKind.REWRITE_TONE, "Rewrite in another tone", _SYSTEM,
                   "Rewrite this post in a {tone} tone:\n{text}"),
    PromptTemplate(TaskKind.REWRITE_LANGUAGE, "Translate", _SYSTEM,
                   "Rewrite this post in {language}, as a native speaker would post it:\n{text}"),
)}


@dataclass(frozen=True)
class ChatMessage:
    role: str
    content: str


def render(template: PromptTemplate, *, topic: str = "", text: str = "", tone: str = "playful",
           language: str = "Spanish") -> list[ChatMessage]:
    """The chat messages for a task; says plainly what is missing."""
    values = {"topic": topic.strip(), "text": text.strip(), "tone": tone.strip(),
              "language": language.strip()}
    for name in template.fields():
        if not values.get(name):
            what = {"topic": "a topic", "text": "some draft text", "tone": "a tone",
                    "language": "a language"}.get(name, name)
            raise InvalidInput(f"{template.label} needs {what}.")
    try:
        user = template.user.format(**values)
    except (KeyError, IndexError, ValueError) as e:
        raise InvalidInput(f"The prompt template for {template.label} is broken: {e}.") from None
    return [ChatMessage("system", template.system), ChatMessage("user", user)]


@dataclass(frozen=True)
class TextVariant:
    index: int
    text: str
    finish_reason: str | None  # "stop", "length", None when the stream was cut
    partial: bool = False  # cut off (cancelled, network lost): kept, and marked as such


@dataclass(frozen=True)
class Usage:
    tokens_in: int = 0
    tokens_out: int = 0
    images: int = 0
    estimated: bool = False  # the provider sent no usage; counted from the text


@dataclass
class TextRun:
    """One generation run as it streams: variants grow as deltas arrive."""

    provider: Provider
    model: str
    kind: TaskKind
    texts: dict[int, str] = field(default_factory=dict)
    finish: dict[int, str | None] = field(default_factory=dict)
    usage: Usage | None = None

    def add_delta(self, index: int, delta: str) -> None:
        self.texts[index] = self.texts.get(index, "") + delta

    def variants(self, *, partial: bool = False) -> list[TextVariant]:
        return [TextVariant(i, self.texts[i], self.finish.get(i),
                            partial or self.finish.get(i) is None)
                for i in sorted(self.texts)]


def fit_thread(text: str) -> str:
    """A generated X thread with every post within the limit: posts are the paragraphs the
    model wrote, and one that is too long is split at sentence boundaries."""
    from mbv_desktop.core.platforms import split_thread, x_weighted_length

    posts: list[str] = []
    for paragraph in (p.strip() for p in text.split("\n\n")):
        if not paragraph:
            continue
        if x_weighted_length(paragraph) <= 280:
            posts.append(paragraph)
        else:
            posts.extend(split_thread(paragraph))
    return "\n\n".join(posts)


def estimate_tokens(text: str) -> int:
    """About four characters per token: only when a provider reports no usage."""
    return max(1, (len(text) + 3) // 4) if text else 0
