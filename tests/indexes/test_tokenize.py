from __future__ import annotations

import pytest

from ragkit.indexes.tokenize import STOPWORDS_EN, Analyzer


def test_words_are_lowercased_stemmed_and_stopwords_dropped():
    assert Analyzer()("The Cats are RUNNING to the houses") == ["cat", "run", "hous"]


def test_identifiers_add_their_parts_as_extra_terms():
    terms = Analyzer(stemmer=None)("getUserName parse_http_header HTTPServer __init__")
    assert terms == [
        "getusername", "get", "user", "name",
        "parse_http_header", "parse", "http", "header",
        "httpserver", "http", "server",
        "__init__", "init",
    ]


def test_plain_words_and_numbers_are_not_split():
    assert Analyzer(stemmer=None)("Version 42 shipped IL6") == ["version", "42", "shipped", "il6"]


def test_unicode_words_are_kept_whole():
    assert Analyzer(stemmer=None, stopwords=None)("Größe café naïve") == ["größe", "café", "naïve"]


def test_settings_can_be_switched_off():
    analyzer = Analyzer(stemmer=None, stopwords=None, split_identifiers=False)
    assert analyzer("The getUserName") == ["the", "getusername"]
    assert analyzer.config() == {"stemmer": None, "stopwords": None, "split_identifiers": False}


def test_custom_stopwords_and_lucene_list():
    assert "the" in STOPWORDS_EN and len(STOPWORDS_EN) == 33
    assert Analyzer(stemmer=None, stopwords=["foo"])("foo the bar") == ["the", "bar"]


def test_unknown_settings_are_clear_errors():
    with pytest.raises(ValueError, match="unknown stemmer"):
        Analyzer(stemmer="klingon")
    with pytest.raises(ValueError, match="unknown stopword list"):
        Analyzer(stopwords="fr")
