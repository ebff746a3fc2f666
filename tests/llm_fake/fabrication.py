"""The fabrication benchmark's runner (:mod:`rag.eval_fabrication`): each case's two replies (the substituted and
the correct sentence) go through the fake OpenAI-compatible server to the real service, over real HTTP and the
streaming verifier. Used by ``tests/test_fabrication.py`` and ``bench/fabrication_bench.py``."""

from __future__ import annotations

from collections.abc import Sequence

from rag.eval_fabrication import FabricationCase, FabricationReport, score
from rag.models import Answer
from rag.service import NewsQA

from .server import FakeLLM, RecordedRequest, Reply


def ask_with_reply(service: NewsQA, fake: FakeLLM, case: FabricationCase, substituted: bool) -> tuple[Answer, bool]:
    """The service's answer to the case's question when the LLM replies with the case's sentence, and whether
    the gold file was among the prompt's sources."""
    seen: dict[str, bool] = {}

    def reply(request: RecordedRequest) -> str:
        text, retrieved = case.reply([(n, src) for n, _title, src, _text in request.sources()], substituted)
        seen["retrieved"] = retrieved
        return text

    fake.reset()
    fake.script("answer", Reply.text(reply))
    answer = service.ask(case.question)
    fake.reset()  # nothing retrieved: the LLM was not asked, the reply must not serve the next question
    return answer, seen.get("retrieved", False)


def run_fabrication(
    service: NewsQA, fake: FakeLLM, cases: Sequence[FabricationCase], skipped: int = 0
) -> FabricationReport:
    """Run every case both ways and count (see :func:`rag.eval_fabrication.score`)."""
    substituted = [ask_with_reply(service, fake, case, True) for case in cases]
    correct = [ask_with_reply(service, fake, case, False) for case in cases]
    return score(cases, substituted, correct, skipped)
