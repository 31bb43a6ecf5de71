"""Searching the index as one caller: text (ranked), facet filters, facet counts, sort, pages, snippets,
suggestions. Only what the caller may see is ever counted or returned.

Facets are *multi-select*: values chosen in one facet are alternatives (mission = Rosetta or Mars Express),
facets are combined with AND, and each facet's counts are taken with every filter but its own, so a facet
shows what choosing one more of its values would add while the others narrow it.
"""

from __future__ import annotations

import html
import json
import re
import threading
from collections import OrderedDict
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import ARRAY, Float, Integer, and_, exists, func, literal, literal_column, or_, select, text, true
from sqlalchemy.orm import Session

from datalabs.accounts.actor import Actor
from datalabs.discovery.documents import FACETS, principals_of
from datalabs.discovery.indexer import ENGLISH, SQLITE_WEIGHTS
from datalabs.discovery.models import DiscoveryAsset, DiscoveryFacetValue, DiscoveryReader, DiscoveryState
from datalabs.discovery.query_text import Term, TextQuery, parse
from datalabs.errors import InvalidInput, NotFound
from datalabs.storage.datasets import today_utc

SORTS = {"relevance": "best match first", "title": "by title, A to Z", "newest": "newest first",
         "modified": "most recently changed first"}
MAX_PER_PAGE = 100
MAX_PAGE = 10_000  # deeper paging is not a search any more: harvest the DCAT feed
MAX_VALUES_PER_FACET = 50
MAX_DRIVEN = 50_000  # more matches than this: counted in SQL instead
_WORDS = re.compile(r"\w")
SELECTIVE_FIRST = ("target", "instrument", "mission", "thematic_area", "domain", "asset_type")  # many values first
START, STOP = "\x02", "\x03"  # snippet highlight markers, never in indexed text as such


@dataclass
class SearchRequest:
    q: str = ""
    filters: dict[str, list[str]] = field(default_factory=dict)
    sort: str = ""  # default: relevance with text, title without
    page: int = 1
    per_page: int = 20
    facet_limit: int = 20


@dataclass
class FacetCount:
    value: str
    count: int
    selected: bool


@dataclass
class Hit:
    asset: DiscoveryAsset
    snippet: str  # HTML: escaped text with <mark> around matched words
    score: float | None


@dataclass
class SearchResult:
    total: int
    page: int
    per_page: int
    sort: str
    hits: list[Hit]
    facets: dict[str, list[FacetCount]]
    query: TextQuery


def parse_filters(values: list[str]) -> dict[str, list[str]]:
    """``facet=mission:Rosetta`` parameters as {facet: [values]}; an unknown facet is an error naming them."""
    filters: dict[str, list[str]] = defaultdict(list)
    for item in values:
        name, sep, value = item.partition(":")
        name = name.strip()
        if not sep or not value.strip():
            raise InvalidInput(f"facet filter {item[:80]!r} is not FACET:VALUE (for example mission:Rosetta)",
                               field="facet")
        if name not in FACETS:
            raise InvalidInput(f"unknown facet {name[:40]!r}: facets are {', '.join(FACETS)}", field="facet")
        if value.strip() not in filters[name]:
            filters[name].append(value.strip())
        if len(filters[name]) > MAX_VALUES_PER_FACET:
            raise InvalidInput(f"at most {MAX_VALUES_PER_FACET} values of one facet", field="facet")
    return dict(filters)


class DiscoverySearch:
    def __init__(self, db: Session, today=today_utc) -> None:
        self.db = db
        self.today = today
        self.postgres = db.get_bind().dialect.name == "postgresql"

    # -- who sees what ----------------------------------------------------------------------------------

    def visible(self, actor: Actor | None):
        """The condition on ``DiscoveryAsset`` of what ``actor`` may see."""
        principals = principals_of(actor)
        if principals is None:
            return true()
        is_open = DiscoveryAsset.open_from <= self._today()
        if not principals:
            return is_open
        readable = select(DiscoveryReader.asset_id).where(DiscoveryReader.principal.in_(sorted(principals)))
        return or_(is_open, DiscoveryAsset.id.in_(readable))

    def _today(self) -> date:
        return self.today()

    def asset(self, actor: Actor | None, key: str) -> DiscoveryAsset:
        found = self.db.scalar(select(DiscoveryAsset).where(DiscoveryAsset.key == key, self.visible(actor)))
        if found is None:
            raise NotFound(f"no asset {key[:200]!r}", field="asset")
        return found

    def public_page(self, page: int, per_page: int) -> tuple[list[DiscoveryAsset], int]:
        """One page of the assets open to everyone (whoever asks), in a stable order: the DCAT feed."""
        if not 1 <= per_page <= 500:
            raise InvalidInput("per_page must be between 1 and 500", field="per_page")
        if not 1 <= page <= 1_000_000:
            raise InvalidInput("page must be between 1 and 1000000", field="page")
        is_open = DiscoveryAsset.open_from <= self._today()
        total = self.db.scalar(select(func.count()).select_from(DiscoveryAsset).where(is_open))
        assets = list(self.db.scalars(select(DiscoveryAsset).where(is_open).order_by(DiscoveryAsset.id)
                                      .limit(per_page).offset((page - 1) * per_page)))
        return assets, total

    # -- search -----------------------------------------------------------------------------------------

    def search(self, actor: Actor | None, request: SearchRequest) -> SearchResult:
        query = parse(request.q)
        sort = request.sort or ("relevance" if query.groups else "title")
        if sort not in SORTS:
            raise InvalidInput(f"unknown sort {sort[:40]!r}: sorts are {', '.join(SORTS)}", field="sort")
        if not 1 <= request.per_page <= MAX_PER_PAGE:
            raise InvalidInput(f"per_page must be between 1 and {MAX_PER_PAGE}", field="per_page")
        if not 1 <= request.page <= MAX_PAGE:
            raise InvalidInput(f"page must be between 1 and {MAX_PAGE} (harvest everything with the DCAT feed, "
                               "/api/v1/discover/catalog)", field="page")
        for name in request.filters:
            if name not in FACETS:
                raise InvalidInput(f"unknown facet {name[:40]!r}: facets are {', '.join(FACETS)}", field="facet")
        filters = {name: values for name, values in request.filters.items() if values}
        if query.groups:
            candidates = self._matched_ids(query, filters)
        elif len(filters) >= 2:  # whatever fails at most one filter has a value of one of the two most selective
            candidates = self._posting_union([name for name in SELECTIVE_FIRST if name in filters][:2], filters)
            if query.excluded and candidates:
                excluded = set(self.db.scalars(self._excluded(query)))
                candidates = [a for a in candidates if a not in excluded]
        else:
            candidates = None
        if candidates is not None and len(candidates) <= MAX_DRIVEN:
            return self._search_matched(actor, query, candidates, filters, sort, request)
        return self._search_in_sql(actor, query, filters, sort, request)

    # Searches with words, or with two filters or more. The candidates come from the text index alone (no
    # ranking, no table read), or from the two most selective filters' posting lists; each facet filter is
    # then one lookup per candidate still in the running, in the (facet, value, asset_id) index. Only
    # candidates that fail at most one filter stay in the running: they are all the facet counts need.
    # Visibility is checked, and the ranking computed, for those few only.

    def _matched_ids(self, query: TextQuery, filters: dict[str, list[str]]) -> list[int]:
        """The ids matching the words (and not the excluded ones), narrowed by the facet filters as far as the
        text index can: by the filter values found in the ``context`` column (:func:`_narrowing`)."""
        narrowing = _narrowing(filters)
        if self.postgres:
            tsq = _tsquery_all(query.groups)
            if narrowing:
                tsq = tsq.op("&&")(_any_of([_all_of([_tsquery_any([Term(v) for v in values]) for values in group])
                                            for group in narrowing]))
            if query.excluded:
                tsq = tsq.op("&&")(func.tsquery_not(_tsquery_any(query.excluded)))  # the !! operator
            statement = select(DiscoveryAsset.id).where(DiscoveryAsset.search_vector.op("@@")(tsq))
        else:
            expression = query.fts5()
            if narrowing:
                expression = f"({expression}) AND (" + " OR ".join(
                    "(" + " AND ".join("(" + " OR ".join(f"context : {_fts5_phrase(v)}" for v in values) + ")"
                                       for values in group) + ")" for group in narrowing) + ")"
            if query.excluded:
                expression = f"({expression}) NOT ({query.fts5_excluded()})"
            statement = select(text("rowid")).select_from(text("discovery_fts")).where(
                text("discovery_fts MATCH :fts_match").bindparams(fts_match=expression))
        return self.db.execute(statement.limit(MAX_DRIVEN + 1)).scalars().all()

    def _posting_union(self, names: list[str], filters: dict[str, list[str]]) -> list[int]:
        fv = DiscoveryFacetValue
        found: set[int] = set()
        for name in names:
            found.update(self.db.execute(select(fv.asset_id).where(fv.facet == name, fv.value.in_(filters[name]))
                                         .limit(MAX_DRIVEN + 1)).scalars().all())
        return sorted(found)

    def _search_matched(self, actor: Actor | None, query: TextQuery, matched: list[int],
                        filters: dict[str, list[str]], sort: str, request: SearchRequest) -> SearchResult:
        fv = DiscoveryFacetValue
        failed: dict[int, str | None] = dict.fromkeys(matched)  # in the running: None, or the one filter failed
        for name in sorted(filters, key=SELECTIVE_FIRST.index):  # the running set shrinks after two filters
            running = list(failed)
            passed = set(self.db.execute(select(fv.asset_id).where(
                fv.facet == name, fv.value.in_(filters[name]), fv.asset_id.in_(self._id_list(running)))).scalars().all())
            for asset_id in running:
                if asset_id not in passed:
                    if failed[asset_id] is None:
                        failed[asset_id] = name
                    else:
                        del failed[asset_id]  # a second failure: counted nowhere
        if failed:
            visible = set(self.db.scalars(select(DiscoveryAsset.id).where(
                DiscoveryAsset.id.in_(self._id_list(list(failed))), self.visible(actor))))
            failed = {a: f for a, f in failed.items() if a in visible}
        final = [a for a, f in failed.items() if f is None]
        counts: dict[str, dict[str, int]] = {name: {} for name in FACETS}
        groups = [([name for name in FACETS if name not in filters], final)]
        groups += [([name], [a for a, f in failed.items() if f in (None, name)]) for name in filters]
        for names, ids in groups:
            if not names or not ids:
                continue
            for name, value, count in self.db.execute(
                    select(fv.facet, fv.value, func.count()).where(fv.asset_id.in_(self._id_list(ids)),
                                                                    fv.facet.in_(names))
                    .group_by(fv.facet, fv.value)):
                counts[name][value] = count
        total = len(final)
        offset = (request.page - 1) * request.per_page
        hits: list[Hit] = []
        if offset < total:
            ranks = self._ranks(query, final) if query.groups else {}
            if sort == "relevance" and query.groups:
                page_ids = sorted(final, key=lambda a: (-ranks.get(a, 0.0), a))[offset:offset + request.per_page]
            else:
                page_ids = list(self.db.scalars(select(DiscoveryAsset.id).where(
                    DiscoveryAsset.id.in_(self._id_list(final))).order_by(*self._order(sort))
                    .limit(request.per_page).offset(offset)))
            assets = {a.id: a for a in self.db.scalars(select(DiscoveryAsset).where(DiscoveryAsset.id.in_(page_ids)))}
            snippets = self._snippets(query, page_ids)
            hits = [Hit(assets[a], snippets.get(a) or _plain_snippet(assets[a]), ranks.get(a))
                    for a in page_ids if a in assets]
        return SearchResult(total=total, page=request.page, per_page=request.per_page, sort=sort, hits=hits,
                            facets=self._listed(counts, request), query=query)

    def _ranks(self, query: TextQuery, ids: list[int]) -> dict[int, float]:
        """Relevance (higher is better) of the given matching assets only."""
        if self.postgres:
            tsq = _tsquery_all(query.groups)
            rows = self.db.execute(select(DiscoveryAsset.id, func.ts_rank_cd(DiscoveryAsset.search_vector, tsq, 32))
                                   .where(DiscoveryAsset.id.in_(self._id_list(ids))))
        else:
            weights = ", ".join(f"{w:g}" for w in SQLITE_WEIGHTS)
            rows = self.db.execute(text(
                f"SELECT rowid, bm25(discovery_fts, {weights}) FROM discovery_fts WHERE discovery_fts MATCH :fts_match "
                # "+rowid": the id list filters the one pass over the matches; as an FTS5 constraint it would
                # run the full-text query again for every id (100 times slower for 700 ids)
                "AND +rowid IN (SELECT value FROM json_each(:ids))"), {"fts_match": query.fts5(), "ids": json.dumps(ids)})
        return {asset_id: _score(rank, self.postgres) for asset_id, rank in rows}

    def _id_list(self, ids: list[int]):
        """A list of ids as one bound parameter (no limit on how many): json_each on SQLite, unnest on PostgreSQL."""
        if self.postgres:
            return select(func.unnest(literal(list(ids), type_=ARRAY(Integer))))
        return select(literal_column("value")).select_from(func.json_each(literal(json.dumps(list(ids)))))

    # Searches without words (browsing, facets only) over everything visible: counted in SQL, and cached under
    # the index's state token, since the same few (the portal's landing page) are asked again and again.

    def _search_in_sql(self, actor: Actor | None, query: TextQuery, filters: dict[str, list[str]], sort: str,
                       request: SearchRequest) -> SearchResult:
        key = self._cache_key(actor, query, filters, sort, request)
        cached = _CACHE.get(key) if key is not None else None
        if cached is None:
            base = [self.visible(actor)]
            matched = None
            if query.groups:
                matched = self._matching(query)
                base.append(DiscoveryAsset.id.in_(select(matched.c.id)))
            if query.excluded:
                base.append(DiscoveryAsset.id.not_in(self._excluded(query)))
            conditions = {name: _facet_filter(name, values) for name, values in filters.items()}
            where = and_(*base, *conditions.values())
            total = self.db.scalar(select(func.count()).select_from(DiscoveryAsset).where(where))
            offset = (request.page - 1) * request.per_page
            ranked: list[tuple[int, float | None]] = []
            if offset < total:
                statement = select(DiscoveryAsset.id, literal(None))
                if matched is not None:
                    statement = select(DiscoveryAsset.id, matched.c.rank).join(matched, matched.c.id == DiscoveryAsset.id)
                statement = statement.where(where).order_by(*self._order(sort, matched))
                ranked = [(a, r) for a, r in self.db.execute(statement.limit(request.per_page).offset(offset))]
            cached = (total, ranked, self._facet_counts(base, conditions))
            if key is not None:
                _CACHE.put(key, cached)
        total, ranked, counts = cached
        page_ids = [a for a, _ in ranked]
        assets = {a.id: a for a in self.db.scalars(select(DiscoveryAsset).where(DiscoveryAsset.id.in_(page_ids)))}
        snippets = self._snippets(query, page_ids)
        hits = [Hit(assets[a], snippets.get(a) or _plain_snippet(assets[a]), _score(r, self.postgres))
                for a, r in ranked if a in assets]
        return SearchResult(total=total, page=request.page, per_page=request.per_page, sort=sort, hits=hits,
                            facets=self._listed(counts, request), query=query)

    def _cache_key(self, actor, query: TextQuery, filters, sort: str, request: SearchRequest):
        token = self.db.scalar(select(DiscoveryState.token).where(DiscoveryState.id == 1))
        if token is None:
            return None
        principals = principals_of(actor)
        return (str(self.db.get_bind().url), token, self._today(),
                None if principals is None else tuple(sorted(principals)), request.q,
                tuple(sorted((k, tuple(v)) for k, v in filters.items())), sort, request.page, request.per_page)

    def _order(self, sort: str, matched=None):
        """ORDER BY of a sort; relevance needs the ``matched`` subquery (id, rank)."""
        tie = DiscoveryAsset.id
        if sort == "relevance" and matched is not None:
            return [matched.c.rank.desc() if self.postgres else matched.c.rank.asc(), tie]
        if sort in ("newest", "modified"):
            column = DiscoveryAsset.date_created if sort == "newest" else DiscoveryAsset.date_modified
            return [column.desc().nulls_last() if self.postgres else column.desc(), tie]  # SQLite: NULLs last already
        return [DiscoveryAsset.sort_title, tie]

    def _matching(self, query: TextQuery):
        """A subquery (id, rank) of the assets matching the positive terms."""
        if self.postgres:
            tsq = _tsquery_all(query.groups)
            return (select(DiscoveryAsset.id.label("id"),
                           func.ts_rank_cd(DiscoveryAsset.search_vector, tsq, 32).label("rank"))
                    .where(DiscoveryAsset.search_vector.op("@@")(tsq)).subquery("matched"))
        weights = ", ".join(f"{w:g}" for w in SQLITE_WEIGHTS)
        matched = (text(f"SELECT rowid AS id, bm25(discovery_fts, {weights}) AS rank FROM discovery_fts "
                        "WHERE discovery_fts MATCH :fts_match")
                   .bindparams(fts_match=query.fts5()).columns(id=Integer, rank=Float).subquery("matched"))
        return matched

    def _excluded(self, query: TextQuery):
        if self.postgres:
            tsq = _tsquery_any(query.excluded)
            return select(DiscoveryAsset.id).where(DiscoveryAsset.search_vector.op("@@")(tsq))
        return select(text("rowid")).select_from(text("discovery_fts")).where(
            text("discovery_fts MATCH :fts_excluded").bindparams(fts_excluded=query.fts5_excluded()))

    def _facet_counts(self, base: list, conditions: dict) -> dict[str, dict[str, int]]:
        """Each facet counted under every filter but its own (one query for all the unfiltered facets)."""
        counts: dict[str, dict[str, int]] = {name: {} for name in FACETS}
        groups = [(tuple(name for name in FACETS if name not in conditions), list(conditions.values()))]
        groups += [((name,), [f for other, f in conditions.items() if other != name]) for name in conditions]
        fv = DiscoveryFacetValue
        for names, others in groups:
            if not names:
                continue
            assets = select(DiscoveryAsset.id).where(and_(*base, *others))
            for name, value, count in self.db.execute(select(fv.facet, fv.value, func.count())
                                                      .where(fv.facet.in_(names), fv.asset_id.in_(assets))
                                                      .group_by(fv.facet, fv.value)):
                counts[name][value] = count
        return counts

    @staticmethod
    def _listed(counts: dict[str, dict[str, int]], request: SearchRequest) -> dict[str, list[FacetCount]]:
        """The most frequent values of each facet, then the chosen ones not among them (count 0 or not)."""
        result = {}
        for name in FACETS:
            chosen = request.filters.get(name, [])
            ordered = sorted(counts[name].items(), key=lambda item: (-item[1], item[0].lower()))
            top = ordered[: request.facet_limit]
            shown = {value for value, _ in top}
            top += [(value, counts[name].get(value, 0)) for value in chosen if value not in shown]
            result[name] = [FacetCount(value, count, value in chosen) for value, count in top]
        return result

    def _snippets(self, query: TextQuery, ids: list[int]) -> dict[int, str]:
        if not query.groups or not ids:
            return {}
        if self.postgres:
            tsq = _tsquery_all(query.groups)
            document = func.concat_ws(" ", DiscoveryAsset.title, DiscoveryAsset.abstract,
                                      func.left(DiscoveryAsset.description, 4000))
            rows = self.db.execute(select(DiscoveryAsset.id, func.ts_headline(
                ENGLISH, document, tsq,
                literal(f"StartSel={START}, StopSel={STOP}, MaxWords=30, MinWords=12, MaxFragments=2"))
            ).where(DiscoveryAsset.id.in_(ids)))
        else:
            rows = self.db.execute(text(
                "SELECT rowid, snippet(discovery_fts, -1, char(2), char(3), '…', 24) FROM discovery_fts "
                "WHERE discovery_fts MATCH :fts_match AND +rowid IN (SELECT value FROM json_each(:ids))"),
                {"fts_match": query.fts5(), "ids": "[" + ",".join(map(str, ids)) + "]"})
        return {asset_id: _marked(snippet) for asset_id, snippet in rows if snippet and START in snippet}

    # -- suggestions --------------------------------------------------------------------------------

    def suggest(self, actor: Actor | None, prefix: str, limit: int = 8) -> list[dict]:
        """Completions for what is being typed: facet values (with counts) and asset titles, all visible."""
        words = re.findall(r"\w+", prefix or "")
        if not words or len(prefix) > 100 or len(words[-1]) < 2:
            return []
        typed = " ".join(prefix.split()).lower()
        visible = select(DiscoveryAsset.id).where(self.visible(actor))
        fv = DiscoveryFacetValue
        suggestions = [{"text": value, "facet": facet, "count": count}
                       for facet, value, count in self.db.execute(
                           select(fv.facet, fv.value, func.count()).where(
                               fv.folded >= typed, fv.folded < typed + "\uffff",
                               fv.facet.in_(("mission", "instrument", "target", "thematic_area", "domain")),
                               fv.asset_id.in_(visible))
                           .group_by(fv.facet, fv.value).order_by(func.count().desc(), fv.value).limit(limit // 2))]
        words_query = TextQuery(groups=[[Term(w)] for w in words[:-1]] + [[Term(words[-1], prefix=True)]])
        matched = self._matching(words_query)
        order = matched.c.rank.desc() if self.postgres else matched.c.rank.asc()
        for asset in self.db.scalars(select(DiscoveryAsset).join(matched, matched.c.id == DiscoveryAsset.id)
                                     .where(self.visible(actor)).order_by(order, DiscoveryAsset.id)
                                     .limit(limit - len(suggestions))):
            suggestions.append({"text": asset.title, "asset": asset.key, "asset_type": asset.asset_type,
                                "url": asset.url})
        return suggestions


class _Lru:
    """A small least-recently-used cache of search answers (per process; keys carry the index's state token)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.items: OrderedDict = OrderedDict()
        self.lock = threading.Lock()  # routes run in a thread pool

    def get(self, key):
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
            return None

    def put(self, key, value) -> None:
        with self.lock:
            self.items[key] = value
            self.items.move_to_end(key)
            while len(self.items) > self.size:
                self.items.popitem(last=False)


_CACHE = _Lru(256)


def _facet_filter(name: str, values: list[str]):
    """Correlated (EXISTS): checked per candidate by primary key, never a whole posting list built first."""
    fv = DiscoveryFacetValue
    return exists().where(fv.asset_id == DiscoveryAsset.id, fv.facet == name, fv.value.in_(values))


def _tsquery(term: Term):
    if term.prefix:
        words = re.findall(r"\w+", term.text)
        expression = " & ".join(f"'{w}'" for w in words[:-1]) + (" & " if len(words) > 1 else "") + \
            f"'{words[-1]}':*"
        return func.to_tsquery(ENGLISH, expression)
    return func.phraseto_tsquery(ENGLISH, term.text)


def _narrowing(filters: dict[str, list[str]]) -> list[list[list[str]]]:
    """What the text index can do for the facet filters: an asset counted anywhere fails at most one filter,
    so it has, in its ``context`` column (mission, instrument, target, thematic area, domain), the values of
    all filters but one. As a text query: OR over each filter left out of (AND of the others' values). Only
    filters whose values all have words can be used (asset_type is not in ``context``), and at least two
    are needed (with one, the assets failing it are needed for its counts). [] when nothing narrows."""
    usable = [values for name, values in filters.items()
              if name != "asset_type" and values and all(_WORDS.search(v) for v in values)]
    if len(usable) < 2:
        return []
    return [[values for j, values in enumerate(usable) if j != left_out] for left_out in range(len(usable))]


def _fts5_phrase(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def _all_of(queries: list):
    combined = queries[0]
    for q in queries[1:]:
        combined = combined.op("&&")(q)
    return combined


def _any_of(queries: list):
    combined = queries[0]
    for q in queries[1:]:
        combined = combined.op("||")(q)
    return combined


def _tsquery_any(terms: list[Term]):
    combined = _tsquery(terms[0])
    for term in terms[1:]:
        combined = combined.op("||")(_tsquery(term))
    return combined


def _tsquery_all(groups: list[list[Term]]):
    combined = _tsquery_any(groups[0])
    for group in groups[1:]:
        combined = combined.op("&&")(_tsquery_any(group))
    return combined


def _marked(snippet: str) -> str:
    return html.escape(snippet).replace(START, "<mark>").replace(STOP, "</mark>")


def _plain_snippet(asset: DiscoveryAsset) -> str:
    text_ = " ".join((asset.abstract or asset.description or "").split())
    return html.escape(text_[:300] + ("…" if len(text_) > 300 else ""))


def _score(rank, postgres: bool) -> float | None:
    if rank is None:
        return None
    return round(float(rank) if postgres else -float(rank), 4)
