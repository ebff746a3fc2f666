"""Search normalisation: traditional/simplified and full-width forms must meet; display text is untouched."""

from rag.text.normalize import STOPWORDS, keywords, normalize, tokenize


def test_traditional_county_name_matches_simplified() -> None:
    assert normalize("郟县") == normalize("郏县") == "郏县"
    assert "郏县" in tokenize("郟縣工信局")


def test_full_width_digits_and_letters_fold_to_ascii_lower_case() -> None:
    assert normalize("５Ｇ基站１２０座") == "5g基站120座"


def test_normalize_keeps_line_structure() -> None:
    text = "第一行\n第二行\n\n第四行"
    assert normalize(text).count("\n") == text.count("\n")


def test_tokenize_drops_punctuation_and_stopwords_but_keeps_content() -> None:
    tokens = tokenize("郏县建成了多少座5G基站？")
    assert "基站" in tokens and "5g" in tokens
    assert not any(t in STOPWORDS for t in tokens)
    assert "？" not in tokens and "了" not in tokens


def test_keywords_are_distinct_in_order() -> None:
    words = keywords("基站基站，郏县基站")
    assert words == list(dict.fromkeys(words))
    assert words[0] == "基站"
