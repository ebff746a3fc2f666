"""Paraphrases between a question's words and a report's: the same fact asked and written in other words.

Question writers paraphrase (``林永康有几个孩子`` against ``育有3名子女``, ``魏玩的著作`` against ``魏氏著有…``,
``取消了哪个等级`` against ``不再设置三等奖``). Each group below holds words that stand for one another in a
question and its answer sentence; a sentence holding another word of a question term's group matches the term at
:data:`SYNONYM_CREDIT`. The groups are our own, written from the verbs and nouns of questions that their answer
sentences paraphrase, and kept to words of two or more characters, whose sense does not depend on the sentence
(single characters such as 卒 for 逝世 or 娶 for 结婚 also occur inside unrelated words). Measured on the dev sets
(docs/evaluation.md).
"""

from __future__ import annotations

#: Match credit of a paraphrase (a word of the term's group other than the term itself).
SYNONYM_CREDIT = 0.8

_GROUPS = (
    # life and family
    "逝世 去世 病逝 过世 辞世 病故 身故 离世 卒于", "享年 终年", "出生 生于 诞生", "孩子 子女 儿女",
    "儿子 之子 一子 长子 次子 独子 幼子", "女儿 之女 长女 次女 独女 幼女", "妻子 夫人 配偶", "结婚 成婚 迎娶 嫁给",
    # names
    "别名 别称 又名 俗称 又称", "外号 绰号 昵称", "命名 得名 取名", "改名 更名",
    # works and prizes
    "获得 荣获 获颁 赢得 夺得", "著作 著有 著述", "创作 创作者 作者", "出版 发行", "播出 播放 首播 放送",
    "上映 公映 首映", "饰演 扮演 出演", "导演 执导", "演唱 主唱", "作曲 谱曲", "作词 填词",
    # organisations and events
    "成立 创立 创建 创办 组建 建立", "隶属 隶属于 归属", "举办 举行 召开", "参加 参与", "宣布 宣告",
    "发布 公布", "签署 签订", "担任 出任 就任", "首次 首度",
    # building, making, trade
    "兴建 修建 建造", "建成 落成 竣工", "开通 通车 启用", "位于 坐落 地处", "分布 产于", "研发 研制",
    "生产 制造", "销售 出售 售卖", "购买 采购 购置", "价格 售价",
    # change. Not the words of an incident (袭击/攻击, 死亡/遇难): a report repeats them in most of its sentences,
    # so a paraphrase there favours the sentences that retell the incident over the one with the fact asked for
    # (on crud_dev and CMRC each such group moved one answer to another sentence of the same report).
    "取消 废除 撤销 不再设置", "增长 增加", "上升 上涨 攀升", "下降 减少 下滑", "引起 引致 导致 造成 引发",
)


def _table() -> dict[str, tuple[str, ...]]:
    table: dict[str, tuple[str, ...]] = {}
    for group in _GROUPS:
        words = group.split()
        for word in words:
            table[word] = tuple(w for w in words if w != word)
    return table


#: Word -> the other words of its group.
PARAPHRASES: dict[str, tuple[str, ...]] = _table()


def paraphrased(term: str, text: str) -> bool:
    """Whether normalised ``text`` holds a paraphrase of ``term`` (another word of its group)."""
    return any(word in text for word in PARAPHRASES.get(term, ()))
