"""The learned answer selector: its model file, properties of its choices on synthetic reports, and a retrain on a
slice of the training sets (rag.answering.train, bot.train)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from llama_index.core.schema import NodeWithScore, TextNode

from rag.answering.extractive import ExtractiveAnswerer
from rag.answering.features import FEATURES, candidates
from rag.answering.selector import load_model, model_path, parse_model
from rag.answering.verifier import Similarity
from rag.retrieval.embedding import packaged_e5
from rag.text.question import Question

SIMILARITY = Similarity(packaged_e5)  # the packaged e5, loaded once for the module's tests

TRAIN = Path(__file__).resolve().parents[2] / "shared" / "train"


def _idf(term: str) -> float:
    return 6.0 if term == "\uffff" else 2.0 + 0.2 * len(term)


def _hit(text: str, source: str, title: str, score: float = 1.0, published: str = "") -> NodeWithScore:
    meta = {"title": title, "source": source, "article_id": source, "story_id": source, "chunk_index": 0,
            **({"published": published} if published else {})}
    return NodeWithScore(node=TextNode(text=text, id_=source, metadata=meta), score=score)


BUS = _hit("青川县交通运输局介绍，全县今年新开通城乡公交线路23条。线路覆盖全部乡镇，日均客流约1.2万人次。"
           "该局表示，下一步将继续优化线路。", "bus.txt", "青川县新开通城乡公交线路")
TEA = _hit("青川县近日举办茶叶文化节，吸引各地游客参观。文化节期间，当地还举行了茶艺表演和品茶活动。",
           "tea.txt", "青川县举办茶叶文化节", 0.9)
RAIN = _hit("气象部门预计，本周全省多地将迎来降雨，局地雨量较大。请市民注意出行安全。", "rain.txt", "本周多地有雨", 0.8)
QUESTION = "青川县今年新开通了多少条城乡公交线路？"


def test_the_shipped_model_file_is_json_of_this_codes_features() -> None:
    data = json.loads(model_path().read_text(encoding="utf-8"))
    assert data["features"] == list(FEATURES) and data["model"]["kind"] == "listwise+logistic"
    model = load_model()
    assert 0.0 < model.threshold < 1.0 and model.calibration[2][0] > 0  # a higher logit, a higher probability
    with pytest.raises(ValueError, match="calibration"):
        parse_model({**data, "calibration": {**data["calibration"], "inputs": ["logit"]}}, "bad.json")
    with pytest.raises(ValueError, match="features"):
        parse_model({**data, "features": list(FEATURES)[:-1]}, "bad.json")
    with pytest.raises(ValueError, match="bad.json"):
        parse_model({**data, "format": "pickle"}, "bad.json")


@pytest.mark.parametrize("variant", [
    QUESTION, QUESTION.rstrip("？"), QUESTION.replace("？", "?"), "青川縣今年新開通了多少條城鄉公交線路？",
    "青川县 今年新开通了多少条城乡公交线路 ？",
])
def test_the_same_answer_under_punctuation_full_width_and_traditional_variants(variant: str) -> None:
    reference = ExtractiveAnswerer(_idf, SIMILARITY).answer(QUESTION, [BUS, TEA, RAIN])
    answer = ExtractiveAnswerer(_idf, SIMILARITY).answer(variant, [BUS, TEA, RAIN])
    assert reference.found and "23条" in reference.answer
    assert answer.answer == reference.answer and answer.confidence == pytest.approx(reference.confidence, abs=0.05)


def test_full_width_digits_in_a_question_match_the_report() -> None:
    dated = _hit("2024年，青川县新开通城乡公交线路23条。", "d.txt", "青川县公交")
    answer = ExtractiveAnswerer(_idf, SIMILARITY).answer("２０２４年青川县新开通了多少条城乡公交线路？", [dated, TEA])
    assert answer.found and "23条" in answer.answer


def test_removing_the_source_report_turns_the_answer_into_a_refusal() -> None:
    answerer = ExtractiveAnswerer(_idf, SIMILARITY)
    present = answerer.answer(QUESTION, [BUS, TEA, RAIN])
    removed = answerer.answer(QUESTION, [TEA, RAIN])
    assert present.found and present.confidence is not None and present.confidence >= answerer.min_confidence
    assert not removed.found and removed.citations == [] and removed.confidence is not None
    assert removed.confidence < answerer.min_confidence < present.confidence


def test_a_sentence_holding_the_asked_for_type_beats_one_that_does_not_other_features_equal() -> None:
    model = load_model()
    question = Question("文化节期间签约了多少个项目？", _idf)
    [with_number] = [c for c in candidates(question, [_hit("文化节期间签约项目12个。", "a.txt", "")])]
    without = with_number.x.copy()
    without[FEATURES.index("type_pattern")] = 0.0
    assert with_number.x[FEATURES.index("type_pattern")] == 1.0
    assert model.logits(with_number.x[None])[0] > model.logits(without[None])[0]
    # End to end: two sentences of one report with the same question words, one with the count.
    report = _hit("文化节期间签约项目受到各方关注。文化节期间签约项目共12个。", "b.txt", "文化节")
    answer = ExtractiveAnswerer(_idf, SIMILARITY, min_confidence=0.0).answer("文化节期间签约了多少个项目？", [report])
    assert "12个" in answer.answer


def test_the_verifier_puts_the_question_nearer_its_answer_than_a_near_topic_sentence() -> None:
    from rag.answering.verifier import DIGITS

    sims = SIMILARITY(QUESTION, [("全县今年新开通城乡公交线路23条。", "青川县新开通城乡公交线路"),
                              ("当地还举行了茶艺表演和品茶活动。", "青川县举办茶叶文化节")])
    assert sims.shape == (2, 2) and (sims[0] > sims[1]).all()
    assert np.array_equal(sims, np.round(sims, DIGITS))  # training and serving read the same rounded values


def test_the_best_candidate_is_verified_and_the_others_read_their_logit_alone() -> None:
    answerer = ExtractiveAnswerer(_idf, SIMILARITY)
    question, ranked, confidence = answerer.rank(QUESTION, [BUS, TEA, RAIN])
    best = ranked[0]
    sims = SIMILARITY(QUESTION, [(best.sentence, "青川县新开通城乡公交线路")])[0]
    logits = answerer.model.logits(np.vstack([c.x for c in ranked]))
    assert confidence == best.score == answerer.model.probability(logits[0], sims)
    means = answerer.model.calibration[0][1:]
    assert [c.score for c in ranked[1:]] == [answerer.model.probability(v, means) for v in logits[1:]]


def test_without_the_packaged_e5_the_logit_alone_decides_and_that_is_logged_once(caplog) -> None:  # noqa: ANN001
    from rag.answering.verifier import TextEmbedder
    from rag.errors import EmbeddingModelError

    calls = []

    def broken() -> TextEmbedder:
        calls.append(1)
        raise EmbeddingModelError("cannot load the packaged model (test)")

    answerer = ExtractiveAnswerer(_idf, Similarity(broken))
    with caplog.at_level("WARNING", logger="rag.answering.verifier"):
        answers = [answerer.answer(QUESTION, [BUS, TEA, RAIN]) for _ in range(3)]
    _, ranked, _ = ExtractiveAnswerer(_idf, SIMILARITY).rank(QUESTION, [BUS, TEA, RAIN])
    logit = answerer.model.logits(ranked[0].x[None, :])[0]
    assert answers[0].found and "23条" in answers[0].answer
    assert answers[0].confidence == round(answerer.model.probability(logit, answerer.model.calibration[0][1:]), 4)
    assert len(calls) == 1 and sum("logit alone" in r.getMessage() for r in caplog.records) == 1
    assert not Similarity(broken).warm()  # warm-up reports it and goes on


def test_every_answer_and_refusal_carries_a_probability() -> None:
    answerer = ExtractiveAnswerer(_idf, SIMILARITY)
    for nodes in ([BUS, TEA], [RAIN], []):
        answer = answerer.answer(QUESTION, nodes)
        assert answer.confidence is not None and 0.0 <= answer.confidence <= 1.0
        assert answer.found == (answer.confidence >= answerer.min_confidence)


@pytest.mark.skipif(not TRAIN.is_dir(), reason="../shared/train is not beside the project")
def test_retraining_on_a_slice_writes_a_model_that_beats_coverage_alone(tmp_path: Path) -> None:
    from bot.train import run
    from rag.answering import train as fit
    from rag.train_data import TrainingSet

    rows = [json.loads(line) for line in (TRAIN / "crud_train" / "qa.jsonl").read_text("utf-8").splitlines()]
    items = sorted({r["item"] for r in rows if r["a"]})[:30]
    chosen = [r for r in rows if r["item"] in items]
    articles = tmp_path / "articles"
    articles.mkdir()
    sources = {f for r in chosen for f in r["src"]}
    distractors = sorted(p.name for p in (TRAIN / "crud_train" / "articles").iterdir())[:40]
    for name in sorted(sources | set(distractors)):
        shutil.copy(TRAIN / "crud_train" / "articles" / name, articles / name)
    qa = tmp_path / "qa.jsonl"
    qa.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in chosen), encoding="utf-8")
    out = tmp_path / "model" / "answer_selector.json"
    data = run(TRAIN, tmp_path / "cache", out, sets=[TrainingSet("crud", qa, (articles,), "item")])
    model = parse_model(json.loads(out.read_text(encoding="utf-8")))  # the format round-trips
    assert (out.parent / "MODEL_CARD.md").read_text(encoding="utf-8").startswith("# Answer selector")
    assert 0.0 <= model.threshold <= 1.0
    cv = data["training"]["cv"]["crud"]  # type: ignore[index]
    # Held out by item, the learned selector picks the right sentence more often than coverage alone, by the
    # issue's margin (the full sets' figures and intervals: the model card).
    assert cv["selector"]["selection"] >= cv["coverage"]["selection"] + 0.03
    folder = tmp_path / "cache" / "features" / "crud"
    loaded = fit.load_rows([folder])
    rank, answer = fit.scores(fit.fit_selector(loaded), loaded.x)
    best, correct = fit.best_per_question(loaded, rank, answer)
    kinds = np.array([m["kind"] for m in loaded.meta])
    assert best[kinds == "removed"].mean() < best[(kinds == "answerable") & correct].mean()

    # A cache of rows retrieved otherwise (no marker: HNSW-searched, before exact search) is recomputed, not reused.
    (folder / "retrieval.txt").unlink()
    np.savez_compressed(folder / "features.npz", x=np.zeros((0, len(FEATURES))), y=np.zeros(0),
                        question=np.zeros(0, dtype=int), features=np.array(FEATURES))
    assert run(TRAIN, tmp_path / "cache", out, sets=[TrainingSet("crud", qa, (articles,), "item")]) == data
    assert (folder / "retrieval.txt").read_text(encoding="utf-8").strip() == "exact-dense-search+texts"


def test_the_listwise_ranker_learns_which_feature_picks_the_right_candidate() -> None:
    from rag.answering import train as fit

    rng = np.random.default_rng(0)
    question = np.repeat(np.arange(60), 5)
    x = rng.normal(size=(300, 3))
    y = np.zeros(300)
    for q in range(60):  # the right candidate of each question is the one with the largest first feature
        rows = np.flatnonzero(question == q)
        y[rows[np.argmax(x[rows, 0])]] = 1.0
    w = fit.fit_listwise(x, y, question)
    assert w[0] > 1.0 and abs(w[0]) > 3 * max(abs(w[1]), abs(w[2]))

    # A question-level column (one value per question, as `typed`) cannot move the softmax: exactly 0, so the
    # model file does not carry floating-point noise that differs between machines.
    level = rng.normal(size=60)[question]
    w = fit.fit_listwise(np.column_stack([x, level]), y, question)
    assert w[3] == 0.0 and w[0] > 1.0


def test_cached_rows_are_read_by_feature_name(tmp_path: Path) -> None:
    from rag.answering import train as fit

    names = ("older_feature", *FEATURES)
    x = np.arange(2 * len(names), dtype=float).reshape(2, len(names))
    np.savez_compressed(tmp_path / "features.npz", x=x, y=np.array([1.0, 0.0]), question=np.array([0, 0]),
                        features=np.array(names))
    (tmp_path / "questions.jsonl").write_text('{"set": "s", "group": "g", "kind": "answerable"}\n', "utf-8")
    rows = fit.load_rows([tmp_path])
    assert rows.features == FEATURES and np.array_equal(rows.x, x[:, 1:])
    with pytest.raises(ValueError, match="rebuild"):
        fit.load_rows([tmp_path], ("a_feature_the_cache_lacks",))
