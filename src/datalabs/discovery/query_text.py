"""The search box's language, read by us and written out for the database's full-text engine, so that no
input can reach FTS5's or PostgreSQL's own parser raw (where a stray quote or a lone operator is an error
or, worse, a different query).

    words            every word must match (stemmed: "craters" finds "crater")
    "a phrase"       the words next to each other, in order
    prefix*          words starting with "prefix" (two letters at least)
    a OR b           either (binds tighter than the implicit AND: x a OR b = x AND (a OR b))
    -word, -"a b"    must not match

Bad input is an :class:`~datalabs.errors.InvalidInput` naming the position: an unclosed quote, OR with
nothing on one side, a lone '-', a query over 500 characters or 32 terms.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from datalabs.errors import InvalidInput

MAX_LENGTH = 500
MAX_TERMS = 32
_WORD_CHARS = re.compile(r"\w", re.UNICODE)


@dataclass(frozen=True)
class Term:
    text: str  # the words as typed (a phrase when several)
    prefix: bool = False


@dataclass
class TextQuery:
    groups: list[list[Term]] = field(default_factory=list)  # AND of ORs
    excluded: list[Term] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.groups and not self.excluded

    def words(self) -> list[str]:
        return [t.text for group in self.groups for t in group]

    # -- SQLite FTS5 ------------------------------------------------------------------------------

    def fts5(self) -> str | None:
        """The FTS5 MATCH expression of the positive part (None: nothing to match, only exclusions)."""
        if not self.groups:
            return None
        return " AND ".join("(" + " OR ".join(_fts5_term(t) for t in group) + ")" for group in self.groups)

    def fts5_excluded(self) -> str | None:
        if not self.excluded:
            return None
        return " OR ".join(_fts5_term(t) for t in self.excluded)


def _fts5_term(term: Term) -> str:
    quoted = '"' + term.text.replace('"', '""') + '"'
    return quoted + "*" if term.prefix else quoted


def parse(q: str | None) -> TextQuery:
    """Read the search box. Whitespace-only or missing: the empty query (everything, by the sort asked)."""
    text = (q or "").strip()
    if len(text) > MAX_LENGTH:
        raise InvalidInput(f"the search is {len(text)} characters long; at most {MAX_LENGTH} are read",
                           field="q")
    query = TextQuery()
    tokens = _tokens(text)
    i, pending_or = 0, False
    while i < len(tokens):
        kind, value, position = tokens[i]
        if kind == "or":
            if not query.groups or pending_or or i == len(tokens) - 1:
                raise InvalidInput(f"OR at position {position + 1} needs a word or phrase on each side", field="q")
            pending_or = True
        elif kind == "not":
            if i == len(tokens) - 1 or tokens[i + 1][0] not in ("word", "phrase"):
                raise InvalidInput(f"'-' at position {position + 1} must be followed by the word or phrase to "
                                   "leave out", field="q")
            if pending_or:
                raise InvalidInput(f"OR before position {position + 1} cannot join an excluded term", field="q")
            term = _term(*tokens[i + 1])
            if term is not None:
                query.excluded.append(term)
            i += 1
        else:
            term = _term(kind, value, position)
            if term is not None:
                if pending_or:
                    query.groups[-1].append(term)
                else:
                    query.groups.append([term])
            elif pending_or:
                raise InvalidInput(f"OR before position {position + 1} needs a word after it", field="q")
            pending_or = False
        i += 1
    count = sum(len(g) for g in query.groups) + len(query.excluded)
    if count > MAX_TERMS:
        raise InvalidInput(f"the search has {count} terms; at most {MAX_TERMS} are read", field="q")
    return query


def _term(kind: str, value: str, position: int) -> Term | None:
    """A word or phrase as a term; None when it has nothing searchable (punctuation only)."""
    prefix = kind == "word" and value.endswith("*")
    core = value.rstrip("*") if kind == "word" else value
    if kind == "word" and "*" in core:
        raise InvalidInput(f"'*' at position {position + 1 + core.index('*')} may only end a word (prefix*)",
                           field="q")
    if not _WORD_CHARS.search(core):
        if prefix:
            raise InvalidInput(f"'*' at position {position + 1} must follow the start of a word", field="q")
        return None
    if prefix and len(_WORD_CHARS.findall(core)) < 2:
        raise InvalidInput(f"a prefix needs two letters at least: {value!r} at position {position + 1}", field="q")
    return Term(" ".join(core.split()), prefix)


def _tokens(text: str) -> list[tuple[str, str, int]]:
    tokens, i = [], 0
    while i < len(text):
        char = text[i]
        if char.isspace():
            i += 1
        elif char == '"':
            end = text.find('"', i + 1)
            if end < 0:
                raise InvalidInput(f"the quote at position {i + 1} is never closed: close the phrase with '\"'",
                                   field="q")
            tokens.append(("phrase", text[i + 1:end], i))
            i = end + 1
        elif char == "-" and (i == 0 or text[i - 1].isspace()):
            tokens.append(("not", "-", i))
            i += 1
        else:
            end = i
            while end < len(text) and not text[end].isspace() and text[end] != '"':
                end += 1
            word = text[i:end]
            tokens.append(("or" if word == "OR" else "word", word, i))
            i = end
    return tokens
