"""GenQR: zero-shot LLM query reformulation with an ensemble of paraphrased instructions.

``N`` paraphrases of one instruction ("suggest expansion terms for the query") each make the LLM
write a keyword set for the query.

One class, ``genqr``, with two settings; the paper's four methods are registered aliases:

- ``genqr-ensemble`` (GenQREnsemble, ``fusion=False``): one query, the original followed by all
  ``N`` keyword sets.
- ``genqr-fusion`` (GenQRFusion, ``fusion=True``): ``N + 1`` queries (the original, and the
  original plus each keyword set), each retrieved on its own and fused with reciprocal rank fusion.
- ``genqr-ensemble-rf`` / ``genqr-fusion-rf`` (``fb_docs=3``): post-retrieval variants whose
  prompts also hold feedback documents, either the top ``fb_docs`` of a first retrieval pass
  (pseudo-relevance feedback, which the pipeline supplies) or documents a user marked relevant
  (pass them as ``feedback``).

The ten instructions are paraphrases written for ragkit in the spirit of the paper's
LLM-paraphrased instruction set, not a copy of it. A reply is parsed into keywords (comma, line
or list separated); with ``structured=True`` and a backend that constrains decoding
(``LLM.supports_json_schema``) the keywords are asked for as ``{"keywords": [...]}`` and decoded
under that schema, and a reply that still does not parse is read as free text (free-form stays
the default: the SciFact figures in the README were measured with it). A keyword set that
parses to nothing is skipped, and a query whose instructions all fail, or an LLM call that fails, falls back to the original query with a
``RewriteWarning``.

References: Dhole & Agichtein, ECIR 2024, "GenQREnsemble: Zero-Shot LLM Ensemble Prompting for
Generative Query Reformulation"; Dhole, Chandradevan & Agichtein 2024, "Generative Query
Reformulation Using Ensemble Prompting, Document Fusion, and Relevance Feedback" (GenQRFusion and
the feedback variants); Cormack et al. 2009 (reciprocal rank fusion).
"""

from __future__ import annotations

import warnings
from typing import Any

from ragkit.defaults import RRF_K
from ragkit.llm.structured import read_string_list, string_list_schema
from ragkit.registry import alias, register
from ragkit.rewriters.base import LLMRewriter, Rewrite, RewriteWarning, TextQueries, feedback_texts, parse_keywords
from ragkit.types import Hit

__all__ = ["GenQR", "INSTRUCTIONS"]

INSTRUCTIONS = (
    "Improve the search effectiveness by suggesting expansion terms for the query",
    "Recommend expansion terms for the query to improve the search results",
    "Suggest useful keywords that would help a search engine find documents for the query",
    "Propose related terms to add to the query so that it retrieves more relevant documents",
    "List keywords that a relevant document for the query would probably contain",
    "Enhance the query by suggesting additional related search terms",
    "Give synonyms and closely related concepts that broaden the query",
    "Provide helpful expansion keywords that enrich the query",
    "Improve search recall by suggesting alternative terms for the query",
    "Expand the query with the most informative related keywords",
)

PROMPT = "{instruction}. Answer with a comma-separated list of keywords only.\nQuery: {query}"
PROMPT_RF = (
    "{instruction}, using the documents below that are relevant to it. Answer with a "
    "comma-separated list of keywords only.\nDocuments:\n{context}\nQuery: {query}"
)
_AS_LIST = "Answer with a comma-separated list of keywords only."
_AS_JSON = 'Answer with JSON only: {{"keywords": ["..."]}}'


@register("rewriter", "genqr")
class GenQR(LLMRewriter):
    """Keyword sets from ``n_instructions`` paraphrased instructions: one expanded query, or fused queries.

    Args:
        llm: LLM config (default: the bundled SmolLM2-135M-Instruct via transformers).
        fusion: ``False`` (GenQREnsemble): the original query followed by every keyword set;
            ``True`` (GenQRFusion): the original and the original plus each keyword set,
            retrieved on their own and fused with RRF.
        n_instructions: how many instructions of ``instructions`` to use (the paper: 10).
        instructions: the instruction paraphrases (default ``INSTRUCTIONS``).
        max_new_tokens: generation budget per keyword set.
        max_keywords: keywords kept per set.
        rrf_k: the reciprocal rank fusion constant (``fusion=True``).
        fb_docs: feedback documents put into each prompt (the ``-rf`` variants); 0: none.
        fb_chars: characters kept of each feedback document.
        structured: ask for ``{"keywords": [...]}`` under a JSON schema where the LLM backend can
            constrain decoding (transformers, llama.cpp, OpenAI-compatible); free-form otherwise.

    Raises:
        ValueError: ``n_instructions`` outside ``1..len(instructions)``, or ``fb_docs < 0``.
    """

    def __init__(
        self,
        llm: str | dict[str, Any] = "transformers",
        fusion: bool = False,
        n_instructions: int = 10,
        instructions: list[str] | None = None,
        max_new_tokens: int = 48,
        max_keywords: int = 10,
        rrf_k: int = RRF_K,
        fb_docs: int = 0,
        fb_chars: int = 400,
        structured: bool = False,
    ):
        pool = instructions if instructions is not None else INSTRUCTIONS
        if not 1 <= n_instructions <= len(pool):
            raise ValueError(f"n_instructions must be in 1..{len(pool)} (the instructions given), got {n_instructions}")
        if fb_docs < 0:
            raise ValueError(f"fb_docs must be >= 0, got {fb_docs}")
        self.llm = llm
        self.fusion = fusion
        self.n_instructions = n_instructions
        self.instructions = instructions
        self.max_new_tokens = max_new_tokens
        self.max_keywords = max_keywords
        self.rrf_k = rrf_k
        self.fb_docs = fb_docs
        self.fb_chars = fb_chars
        self.structured = structured

    @property
    def needs_feedback(self) -> bool:  # type: ignore[override]
        """The ``-rf`` variants read the top ``fb_docs`` documents of a first retrieval pass."""
        return self.fb_docs > 0

    def _instructions(self) -> list[str]:
        pool = self.instructions if self.instructions is not None else INSTRUCTIONS
        return list(pool[: self.n_instructions])

    def _template(self, with_docs: bool) -> str:
        template = PROMPT_RF if with_docs else PROMPT
        return template.replace(_AS_LIST, _AS_JSON) if self._json() else template

    def _json(self) -> bool:
        """Ask for JSON under a schema: ``structured`` and a backend that can constrain decoding."""
        return self.structured and bool(getattr(self._model(), "supports_json_schema", False))

    def _schema(self) -> dict[str, Any]:
        return string_list_schema("keywords", self.max_keywords, max_length=60, min_length=2)

    def _prompt(self, instruction: str, query: str, docs: list[str]) -> list[dict[str, str]]:
        if docs:
            context = "\n".join(f"[{n}] {d}" for n, d in enumerate(docs, start=1))
            text = self._template(True).format(instruction=instruction, query=query, context=context)
        else:
            text = self._template(False).format(instruction=instruction, query=query)
        return [{"role": "user", "content": text}]

    def rewrite(
        self, queries: list[str], feedback: list[list[Hit]] | None = None, searcher: Any = None
    ) -> list[Rewrite]:
        """Reformulate each query from ``n_instructions`` keyword sets.

        Args:
            queries: the questions.
            feedback: used by the ``-rf`` variants only: per query, relevant documents (with
                chunk text), best first; the first ``fb_docs`` go into the prompt.

        Returns:
            One ``Rewrite`` per query; ``metadata["keywords"]`` holds the parsed keyword sets.

        Raises:
            ValueError: a ``-rf`` variant got feedback of the wrong length or without text.
        """
        fb_docs = self.fb_docs
        if fb_docs and feedback is not None and len(feedback) != len(queries):
            raise ValueError(f"feedback has {len(feedback)} lists for {len(queries)} queries")
        instructions = self._instructions()
        conversations = []
        for i, query in enumerate(queries):
            docs = feedback_texts(feedback[i], fb_docs, self.fb_chars) if fb_docs and feedback else []
            conversations.extend(self._prompt(ins, query, docs) for ins in instructions)
        replies = self._chat(conversations, self.max_new_tokens, self._schema() if self._json() else None)
        if replies is None:
            return [Rewrite.keep(q, f"{self.registered_name}: the LLM failed", warn=False) for q in queries]
        out = []
        n = len(instructions)
        for i, query in enumerate(queries):
            own = replies[i * n : (i + 1) * n]
            template = self._template(bool(fb_docs and feedback))
            sets = [
                [k for k in parse_keywords(_keyword_text(r), self.max_keywords,
                                           echo=template.format(instruction=ins, query="", context=""))
                 if k.lower() != query.lower()]
                for r, ins in zip(own, instructions)
            ]
            sets = [s for s in sets if s]
            if not sets:
                warnings.warn(
                    f"{self.registered_name}: the LLM returned no usable keywords for {query!r}; "
                    "searching with the original query",
                    RewriteWarning,
                    stacklevel=2,
                )
                out.append(Rewrite.keep(query, "no usable keywords", warn=False))
                continue
            meta = {"keywords": sets, "replies": own}
            if self.fusion:
                queries_ = [query] + [f"{query} {' '.join(s)}" for s in sets]
                out.append(TextQueries(query, queries_, rrf_k=self.rrf_k, metadata=meta))
            else:
                expanded = f"{query} {' '.join(k for s in sets for k in s)}"
                out.append(TextQueries(query, [expanded], metadata=meta))
        return out


alias("rewriter", "genqr-ensemble", "genqr", fusion=False)
alias("rewriter", "genqr-fusion", "genqr", fusion=True)
alias("rewriter", "genqr-ensemble-rf", "genqr", fusion=False, fb_docs=3)
alias("rewriter", "genqr-fusion-rf", "genqr", fusion=True, fb_docs=3)


def _keyword_text(reply: str) -> str:
    """A reply as ``parse_keywords`` reads it: a JSON ``{"keywords": [...]}`` as one comma list, else as it is."""
    items = read_string_list(reply, "keywords")
    if items is None:
        return reply
    return ", ".join(" ".join(k.replace(",", " ").split()) for k in items)
