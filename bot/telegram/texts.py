"""Every fixed, user-facing Chinese text of the Telegram bot, in one place.

Texts are Telegram HTML (parse mode HTML): anything that is not one of our own tags is already escaped here, and
the placeholders filled in by callers are escaped by them (see :mod:`bot.telegram.format`).
"""

from __future__ import annotations

#: Default example question shown by /start and /help (it is answered by the sample corpus).
EXAMPLE_QUESTION = "郏县建成了多少座5G基站？"

APOLOGY = "抱歉，处理时出了点问题，暂时无法回答。请稍后再试。"
REFUSAL = "抱歉，这个机器人只对授权的聊天开放，无法在这里回答问题。"
RATE_LIMITED = "提问太频繁了，请 {seconds} 秒后再试。"
EXPIRED_BUTTON = "这条回答已过期（可能已执行 /reset 或机器人已重启），请重新提问。"
UNKNOWN_BUTTON = "这个按钮已失效。"
SOURCE_NOT_FOUND = "找不到这条来源。"
ARTICLE_NOT_FOUND = "找不到这篇报道（可能已被删除或重新导入）。"
FEEDBACK_THANKS = "感谢反馈！"
FEEDBACK_ALREADY = "已经记录过了，谢谢！"
ONLY_TEXT = "目前只能回答文字问题，请直接输入你的问题。"
QUESTION_TOO_LONG = "问题太长了，请控制在 {limit} 个字以内。"
BAD_QUESTION = "无法处理这个问题：{reason}"
EMPTY_MENTION = "请在 @{username} 后面写上你的问题，例如：{example}"
UNKNOWN_COMMAND = "不认识这个命令。发送 /help 查看用法。"
RESET_DONE = "好的，已清空本聊天的对话记录，我们重新开始。"
NO_LAST_ANSWER = "还没有回答过问题。先问我一个问题吧，例如：{example}"
LAST_ANSWER_NOT_FOUND = "上一个问题没有在已收录的报道中找到答案，因此没有来源。"
NOTHING_INGESTED = "尚未导入"
#: A question before anything was ingested (the store is empty): what the bot's administrator has to do.
EMPTY_ARCHIVE = (
    "资料库里还没有任何报道，暂时无法回答。请管理员先导入报道：在服务器上运行 <code>newsqa ingest</code>"
    "（或通过 REST 接口 POST /v1/ingest），导入完成后再来提问。"
)

FILTER_NONE = "目前不限日期和报刊。可用 /since 2021-01-01、/until 2021-12-31、/publication 报刊名 限定范围。"
FILTER_CURRENT = "之后的问题只查：{limits}。用 /since off（/until off、/publication off）取消。"
FILTER_SINCE = "{day} 及以后刊发的报道"
FILTER_UNTIL = "{day} 及以前刊发的报道"
FILTER_PUBLICATION = "《{name}》"
FILTER_BAD = "无法设置：{reason}。示例：/{command} 2021-01-01"

SOURCES_HEADER = "来源"
#: Before the other printings of a cited story (reprints by other outlets or pages).
ALSO_LABEL = "另见："
#: Above the other reports that answer the question with other values.
UNTITLED = "（无标题）"
ARTICLE_BUTTON = "📄 阅读全文"

START = (
    "你好！我是报纸问答机器人：向我提问，我会在已收录的报道中查找答案，并附上编号的出处。\n\n"
    "📚 已收录 <b>{articles}</b> 篇报道（{chunks} 个段落），最近一次导入：{last_ingest}。\n\n"
    "试着问我：<code>{example}</code>\n\n"
    "发送 /help 查看更多用法。"
)

HELP = (
    "<b>怎么用</b>\n"
    "直接发送问题，例如：<code>{example}</code>\n"
    "回答后面列出编号的来源（报道标题和来源文件）。\n\n"
    "<b>按钮</b>\n"
    "• 点来源按钮查看被引用的段落，再点「阅读全文」查看整篇报道。\n"
    "• 👍 / 👎 告诉我们回答好不好。\n\n"
    "<b>群聊</b>\n"
    "在群里请 @{username} 提问，或直接回复我的消息；其他消息我不会打扰。\n\n"
    "<b>命令</b>\n"
    "/start 介绍与收录情况\n"
    "/help 本帮助\n"
    "/sources 上一个回答的完整来源\n"
    "/reset 清空本聊天的对话记录\n"
    "/since 2021-01-01、/until 2021-12-31、/publication 报刊名 限定报道的日期和报刊（off 取消）\n"
    "问题里写年份（如“2021年”“去年”）也会按时间查找。\n\n"
    "每人每分钟最多提问 {rate_limit} 次。"
)

#: Descriptions of the bot's commands for the Telegram command menu (setMyCommands).
COMMANDS: list[tuple[str, str]] = [
    ("start", "介绍与收录情况"),
    ("help", "使用帮助"),
    ("sources", "上一个回答的完整来源"),
    ("reset", "清空本聊天的对话记录"),
    ("since", "只查此日期以后的报道"),
    ("until", "只查此日期以前的报道"),
    ("publication", "只查某家报刊的报道"),
]
