"""CMRC2018 metrics (official rules) on hand-made predictions."""
import pytest

from uer.finetune.tasks.cmrc_metrics import (PUNCTUATION, evaluate, exact_match, f1_score,
                                             format_scores, longest_common_substring,
                                             mixed_segmentation, remove_punctuation)


def test_segmentation_mixes_cjk_characters_and_words():
    assert mixed_segmentation("IBM公司在2020年") == ["ibm", "公", "司", "在", "2020", "年"]
    assert mixed_segmentation("  The New York Times ") == ["the", "new", "york", "times"]
    # Punctuation of the official list is dropped and does not split a run; ASCII ',' and
    # '!' are not in the list, so Treebank keeps them as tokens.
    assert mixed_segmentation("a-b，北京。") == ["ab", "北", "京"]
    assert mixed_segmentation("Hello, World!") == ["hello", ",", "world", "!"]
    assert mixed_segmentation("") == []


def test_punctuation_list_keeps_the_official_two_character_entry():
    assert "……" in PUNCTUATION and "…" not in PUNCTUATION
    assert remove_punctuation("等等……") == "等等……"  # never removed, as in the official script
    assert remove_punctuation(" 《红楼梦》：") == "红楼梦"
    assert len(PUNCTUATION) == 33


def test_longest_common_substring_not_subsequence():
    assert longest_common_substring(list("甲乙丙丁"), list("甲丙丁")) == 2
    assert longest_common_substring([], list("甲")) == 0
    assert longest_common_substring(["new", "york"], ["the", "new", "york", "times"]) == 2


def test_exact_match_lowercases_strips_and_removes_punctuation():
    assert exact_match(["北京"], " 北京。") == 1
    assert exact_match(["NBA"], "nba") == 1
    assert exact_match(["北京"], "北京市") == 0
    assert exact_match(["上海", "北京"], "北京") == 1  # any gold answer


def test_f1_values():
    assert f1_score(["是"], "是") == 1.0  # one-character answer
    # 7 gold characters, 4 predicted, all inside: P = 1, R = 4/7.
    assert f1_score(["中华人民共和国"], "人民共和") == pytest.approx(8 / 11)
    # Substring, not subsequence: common 2 (丙丁): P = 2/3, R = 2/4.
    assert f1_score(["甲乙丙丁"], "甲丙丁") == pytest.approx(4 / 7)
    # English words are tokens; case does not matter (UER-py's F1 was case-sensitive).
    assert f1_score(["The New York Times"], "new york") == pytest.approx(2 / 3)
    assert f1_score(["1990年"], "1990") == pytest.approx(2 / 3)
    assert f1_score(["北京"], "") == 0.0
    assert f1_score(["。"], "北京") == 0.0  # a gold answer of punctuation only has no tokens
    # Several gold answers: the best one counts.
    assert f1_score(["中华人民共和国", "人民共和国"], "人民共和国") == 1.0


def test_evaluate_counts_missing_predictions_and_prints_uer_line():
    golds = [["北京"], ["中华人民共和国"], ["NBA", "美国职业篮球联赛"], ["上海"]]
    predictions = ["北京。", "人民共和", "nba", None]
    scores = evaluate(golds, predictions)
    f1 = 100 * (1 + 8 / 11 + 1 + 0) / 4
    em = 100 * (1 + 0 + 1 + 0) / 4
    assert scores.f1 == pytest.approx(f1) and scores.em == pytest.approx(em)
    assert scores.avg == pytest.approx((f1 + em) / 2)
    assert (scores.total, scores.skip) == (4, 1)
    assert format_scores(scores) == (f"Avg: {(f1 + em) / 2:.4f},F1:{f1:.4f},EM:{em:.4f},"
                                     "Total:4,Skip:1")
    assert format_scores(evaluate([], [])) == "Avg: 0.0000,F1:0.0000,EM:0.0000,Total:0,Skip:0"
    with pytest.raises(ValueError):
        evaluate([["a"]], [])
