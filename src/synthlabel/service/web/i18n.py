"""The web UI's messages in English and Chinese, and how a request's language is chosen.

The catalog is a Python dict: ``key -> (English, 中文)``; a message may hold ``{name}``
placeholders filled by :meth:`Translator.__call__`. Language: ``?lang=en|zh`` (remembered in
the ``synthlabel_lang`` cookie), else that cookie, else the ``Accept-Language`` header (any
``zh`` first wins over a later ``en``), else English.

``tests/service/test_web.py`` checks that every key a template or page uses exists in both
languages and that every value of the models' enumerations has a label.
"""

from __future__ import annotations

import logging

from starlette.requests import Request

LANGS = ("en", "zh")
LANG_COOKIE = "synthlabel_lang"
log = logging.getLogger("synthlabel.service.web")

MESSAGES: dict[str, tuple[str, str]] = {
    # --- frame ---
    "app.name": ("synthlabel supervision", "synthlabel 标识监管"),
    "app.footer": (
        "AI-generated content labelling supervision (GB 45438-2025)",
        "人工智能生成合成内容标识监管（GB 45438-2025）",
    ),
    "nav.dashboard": ("Dashboard", "概览"),
    "nav.review": ("Review queue", "审核队列"),
    "nav.complaints": ("Complaints", "投诉举报"),
    "nav.providers": ("Providers & filings", "服务提供者与备案"),
    "nav.audit": ("Audit log", "审计日志"),
    "nav.file_complaint": ("File a complaint", "提交投诉"),
    "nav.track_complaint": ("Track a complaint", "查询投诉进度"),
    "nav.login": ("Log in", "登录"),
    "nav.logout": ("Log out", "退出"),
    "role.admin": ("admin", "管理员"),
    "role.reviewer": ("reviewer", "审核员"),
    "role.provider": ("provider", "服务提供者"),
    "role.public": ("public", "公众"),
    # --- common ---
    "common.any": ("Any", "全部"),
    "common.filter": ("Filter", "筛选"),
    "common.search": ("Search", "搜索"),
    "common.none_yet": ("Nothing here yet.", "暂无数据。"),
    "common.optional": ("(optional)", "（选填）"),
    "common.fix_errors": ("Please correct the fields marked below.", "请修改下方标出的内容。"),
    "common.too_long": ("At most {n} characters.", "最多 {n} 个字符。"),
    "common.control_chars": ("Contains control characters.", "包含控制字符。"),
    "common.newer": ("Newer", "较新"),
    "common.older": ("Older", "较早"),
    "common.previous": ("Previous", "上一页"),
    "common.next": ("Next", "下一页"),
    "common.showing": ("{start}–{end} of {n}", "第 {start}–{end} 条，共 {n} 条"),
    # --- login ---
    "login.title": ("Log in", "登录"),
    "login.intro": (
        "Reviewers and administrators of the supervision service.",
        "供监管服务的审核员和管理员使用。",
    ),
    "login.name": ("User name", "用户名"),
    "login.password": ("Password", "密码"),
    "login.submit": ("Log in", "登录"),
    "login.failed": ("Wrong user name or password.", "用户名或密码错误。"),
    "login.public_hint": ("Not staff?", "不是工作人员？"),
    # --- errors ---
    "error.title": ("Something went wrong", "出错了"),
    "error.title_400": ("Bad request", "请求有误"),
    "error.title_403": ("Not allowed", "无权访问"),
    "error.title_404": ("Not found", "未找到"),
    "error.title_405": ("Not allowed", "不支持的操作"),
    "error.title_409": ("Cannot do that now", "当前无法执行"),
    "error.title_413": ("Upload too large", "上传文件过大"),
    "error.title_422": ("Invalid input", "输入有误"),
    "error.title_429": ("Too many requests", "请求过于频繁"),
    "error.title_500": ("Server error", "服务器错误"),
    "error.home": ("Back to the start page", "返回首页"),
    "error.forbidden": (
        "Your role ({role}) may not open this page.",
        "您的角色（{role}）无权打开此页面。",
    ),
    "error.csrf": (
        "The form was stale or not sent from this site (CSRF check). Reload the page and try "
        "again.",
        "表单已过期或并非从本站提交（CSRF 校验未通过）。请刷新页面后重试。",
    ),
    "error.csrf_form": (
        "The form expired (CSRF check). Reload the page and send it again.",
        "表单已过期（CSRF 校验未通过）。请刷新页面后重新提交。",
    ),
    "error.rate": (
        "Too many requests from your address; wait a minute and try again.",
        "您的请求过于频繁，请稍候一分钟再试。",
    ),
    "error.not_found": ("There is no page at this address.", "此地址没有页面。"),
    "error.bad_input": ("The request had an invalid value: {where}.", "请求中的值无效：{where}。"),
    "error.too_large": (
        "The upload is larger than the service accepts.",
        "上传内容超出服务允许的大小。",
    ),
    "error.internal": (
        "The service could not complete the request. It has been logged.",
        "服务未能完成此请求，已记录日志。",
    ),
    "error.no_item": ("No item with id {id}.", "没有编号为 {id} 的内容。"),
    "error.no_provider": ("No provider with id {id}.", "没有编号为 {id} 的服务提供者。"),
    # --- flashes (after a redirect) ---
    "flash.claimed": ("Claimed. The item is yours for 30 minutes.", "已领取，30 分钟内由您处理。"),
    "flash.released": ("Released back to the queue.", "已退回队列。"),
    "flash.decided": ("Decision recorded.", "处理决定已记录。"),
    "flash.queue_empty": ("Nothing is waiting in this queue.", "该队列中没有待处理事项。"),
    # --- flows ---
    "flow.no_job": ("No review job #{id}.", "没有编号为 #{id} 的审核任务。"),
    "flow.not_claimable": (
        "Job #{id} is not waiting any more (someone claimed or decided it).",
        "任务 #{id} 已不在等待状态（已被他人领取或处理）。",
    ),
    "flow.not_yours": ("Job #{id} is not claimed by you.", "任务 #{id} 不是由您领取的。"),
    "flow.claim_first": (
        "Claim job #{id} before deciding it (your claim may have expired).",
        "请先领取任务 #{id} 再作决定（您的领取可能已过期）。",
    ),
    "flow.bad_outcome": ("Choose an outcome.", "请选择处理结果。"),
    "flow.need_reason": ("Give a reason (at least 3 characters).", "请填写理由（至少 3 个字符）。"),
    "flow.bad_category": ("Choose a category.", "请选择类别。"),
    "flow.missing": ("Not found: {detail}", "未找到：{detail}"),
    "flow.refused": ("Cannot do that: {detail}", "无法执行：{detail}"),
    "flow.need_source": (
        "A refutation needs the URL of its source.",
        "辟谣需要填写信息来源链接。",
    ),
    # --- dashboard ---
    "dash.window": ("Last {days} days, UTC", "最近 {days} 天（UTC）"),
    "dash.pending_review": ("Waiting for review", "待审核"),
    "dash.open_complaints": ("Open complaints", "未办结投诉"),
    "dash.items_window": ("Items, {days} days", "{days} 天内容数"),
    "dash.decisions_window": ("Decisions, {days} days", "{days} 天处理决定"),
    "dash.providers": ("Providers", "服务提供者"),
    "dash.items_per_day": ("Items per day by verdict", "每日内容数（按判定结果）"),
    "dash.queue_sizes": ("Open jobs per queue", "各队列待办任务"),
    "dash.complaints_by_status": ("Complaints by status", "投诉状态分布"),
    "dash.recent_items": ("Latest items", "最新内容"),
    "dash.no_data": ("No data yet", "暂无数据"),
    # --- review ---
    "review.claim_next": ("Claim next", "领取下一条"),
    "review.all_queues": ("All queues", "全部队列"),
    "review.status": ("Status", "状态"),
    "review.subject": ("Subject", "对象"),
    "review.queue": ("Queue", "队列"),
    "review.reason": ("Why queued", "入队原因"),
    "review.due": ("Due", "截止时间"),
    "review.claim": ("Claim", "领取"),
    "review.open": ("Open", "打开"),
    "review.release": ("Release", "退回"),
    "review.empty": ("No jobs match.", "没有符合条件的任务。"),
    "review.job": ("Job", "任务"),
    "queue.label-check": ("Label check", "标识核查"),
    "queue.complaint": ("Complaints", "投诉"),
    "queue.appeal": ("Appeals", "申诉"),
    "queue.rumour": ("Rumours", "谣言"),
    "jobstatus.open": ("Open", "未完成"),
    "jobstatus.pending": ("Waiting", "待领取"),
    "jobstatus.claimed": ("Claimed", "处理中"),
    "jobstatus.decided": ("Decided", "已处理"),
    "jobstatus.expired": ("Expired", "已过期"),
    "jobstatus.all": ("All", "全部"),
    # --- items ---
    "item.title": ("Item", "内容"),
    "item.id": ("Item", "内容"),
    "item.kind": ("Type", "类型"),
    "item.verdict": ("Verdict", "判定"),
    "item.source": ("Source", "来源"),
    "item.created": ("Created", "创建时间"),
    "item.size": ("Size", "大小"),
    "item.provider": ("Provider", "服务提供者"),
    "item.retain_until": ("Kept until", "保存至"),
    "item.preview": ("Preview", "预览"),
    "item.reveal": ("Reveal", "显示"),
    "item.hide": ("Hide", "隐藏"),
    "item.shielded": ("Blurred · greyscale · muted", "已模糊 · 灰度 · 静音"),
    "item.wellness": (
        "Media are blurred, greyscale and muted until you reveal them.",
        "为保护审核员，媒体默认模糊、灰度显示并静音，点击“显示”后查看。",
    ),
    "item.no_blob": ("No stored copy of this item.", "未保存该内容的副本。"),
    "item.aigc_record": ("AIGC record (implicit label)", "隐式标识（AIGC 元数据）"),
    "item.no_record": ("No AIGC record in the file.", "文件中没有 AIGC 元数据。"),
    "item.details": ("Details", "详细信息"),
    "item.evidence": ("Evidence", "证据"),
    "item.no_evidence": ("No findings.", "没有检出项。"),
    "item.decision": ("Decision", "处理决定"),
    "item.claim_first": ("Claim this job to decide it.", "领取该任务后才能作出处理决定。"),
    "item.claimed_by_other": ("{name} is working on this job.", "{name} 正在处理该任务。"),
    "item.job_closed": ("This job is closed.", "该任务已结束。"),
    "item.no_job": ("This item is not in a review queue.", "该内容不在审核队列中。"),
    "item.history": ("History", "处理记录"),
    "evidence.source": ("Source", "来源"),
    "evidence.strength": ("Strength", "强度"),
    "evidence.location": ("Location", "位置"),
    "evidence.summary": ("Finding", "检出内容"),
    "strength.conclusive": ("conclusive", "确证"),
    "strength.strong": ("strong", "强"),
    "strength.moderate": ("moderate", "中"),
    "strength.weak": ("weak", "弱"),
    "verdict.confirmed": ("Confirmed AI", "确认生成合成"),
    "verdict.possible": ("Possibly AI", "可能生成合成"),
    "verdict.suspected": ("Suspected AI", "疑似生成合成"),
    "verdict.no_trace": ("No trace", "未发现痕迹"),
    "verdict.pending": ("Not inspected", "未检测"),
    "media.image": ("Image", "图片"),
    "media.audio": ("Audio", "音频"),
    "media.video": ("Video", "视频"),
    "media.text": ("Text", "文本"),
    "media.document": ("Document", "文档"),
    "media.unknown": ("Unknown", "未知"),
    "origin.generated": ("generated", "生成"),
    "origin.uploaded": ("uploaded", "上传"),
    "rstate.visible": ("visible", "正常展示"),
    "rstate.labelled": ("labelled", "已加标识"),
    "rstate.noticed": ("with notice", "已加提示"),
    "rstate.taken_down": ("taken down", "已下架"),
    "rstate.refuted": ("refuted", "已辟谣"),
    # --- decisions ---
    "decide.outcome": ("Outcome", "处理结果"),
    "decide.preset": ("Common reasons", "常用理由"),
    "decide.reason": ("Reason", "理由"),
    "decide.reason_hint": (
        "Why (kept with the decision and shown in the audit log)",
        "理由（随决定保存，并记入审计日志）",
    ),
    "decide.submit": ("Record decision", "提交决定"),
    "decide.source_url": ("Source URL", "来源链接"),
    "decide.source_hint": ("(needed to refute)", "（辟谣时必填）"),
    "outcome.label": ("Add label", "添加标识"),
    "outcome.add_notice": ("Add notice", "添加提示"),
    "outcome.take_down": ("Take down", "下架"),
    "outcome.restore": ("Restore", "恢复"),
    "outcome.refute": ("Refute", "辟谣"),
    "outcome.no_action": ("No action", "无需处理"),
    "outcome_help.label": ("Mark it as AI-generated", "标注为人工智能生成"),
    "outcome_help.add_notice": ("Show a notice next to it", "在内容旁显示提示"),
    "outcome_help.take_down": ("Remove it from view", "停止展示"),
    "outcome_help.restore": ("Undo an earlier action", "撤销此前的处理"),
    "outcome_help.refute": ("Attach a refutation", "附加辟谣信息"),
    "outcome_help.no_action": ("Nothing to change", "无需变更"),
    "preset.ai_unlabelled": ("AI-generated content without a label", "生成合成内容未添加标识"),
    "preset.label_ok": ("The label is present and correct", "标识存在且正确"),
    "preset.label_wrong": ("The label is wrong or misleading", "标识错误或具有误导性"),
    "preset.notice_added": (
        "A notice tells viewers it may be generated",
        "已提示用户该内容可能为生成合成",
    ),
    "preset.rights": ("Infringes someone's rights", "侵犯他人合法权益"),
    "preset.rumour": ("Matches a refuted rumour", "与已辟谣的谣言一致"),
    "hist.decided": ("decided: {outcome}", "作出决定：{outcome}"),
    "hist.status": ("{what} → {status}", "{what} → {status}"),
    "hist.state": ("item state → {state}", "内容状态 → {state}"),
    "object.review_job": ("review job", "审核任务"),
    "object.complaint": ("complaint", "投诉"),
    "object.content_record": ("item", "内容"),
    "action.content_record.create": ("item recorded", "内容已登记"),
    "action.content_record.update": ("item updated", "内容已更新"),
    "action.review_job.create": ("queued for review", "进入审核队列"),
    "action.inspection.create": ("inspected", "已检测"),
    "action.routing.shadow_match": ("a background rule matched", "后台规则命中"),
    # --- complaints ---
    "complaint.new_title": ("File a complaint or report", "投诉举报"),
    "complaint.intro": (
        "Report AI-generated content that is not labelled, a wrong label, a rights "
        "infringement or a rumour. You get a ticket number to follow the case.",
        "举报未添加标识的生成合成内容、错误标识、侵权或谣言。提交后您将获得一个工单号，用于查询处理进度。",
    ),
    "complaint.category": ("Category", "类别"),
    "complaint.subject": ("What it is about", "举报对象"),
    "complaint.subject_hint": (
        "A link, an item id or the file's SHA-256",
        "链接、内容编号或文件的 SHA-256",
    ),
    "complaint.description": ("What is wrong", "问题描述"),
    "complaint.contact": ("How to reach you", "联系方式"),
    "complaint.contact_hint": ("E-mail or phone; only staff see it", "邮箱或电话，仅工作人员可见"),
    "complaint.submit": ("Send", "提交"),
    "complaint.err_category": ("Choose a category.", "请选择类别。"),
    "complaint.err_description": (
        "Describe the problem in at least 10 characters.",
        "请至少用 10 个字符描述问题。",
    ),
    "complaint.status_title": ("Complaint status", "投诉处理进度"),
    "complaint.ticket": ("Ticket", "工单号"),
    "complaint.lookup": ("Look up", "查询"),
    "complaint.not_found": ("No complaint with ticket {ticket}.", "没有工单号为 {ticket} 的投诉。"),
    "complaint.thanks": (
        "Thank you. Your complaint was received; keep the ticket number.",
        "感谢您的反馈，投诉已受理，请保存工单号。",
    ),
    "complaint.received": ("Received", "受理时间"),
    "complaint.due": ("Answer due", "答复期限"),
    "complaint.resolved": ("Closed", "办结时间"),
    "complaint.resolution": ("Outcome", "处理结果"),
    "complaint.bookmark": (
        "Bookmark this page or keep the ticket number to check again later.",
        "请收藏本页或保存工单号，以便日后查询。",
    ),
    "category.unlabelled_ai": ("AI content without a label", "生成合成内容未标识"),
    "category.wrong_label": ("Wrong or misleading label", "标识错误或误导"),
    "category.rights": ("Infringes my rights", "侵犯本人权益"),
    "category.rumour": ("Rumour / false information", "谣言 / 虚假信息"),
    "category.other": ("Something else", "其他"),
    "cstatus.received": ("Received", "已受理"),
    "cstatus.in_review": ("In review", "处理中"),
    "cstatus.resolved": ("Resolved", "已办结"),
    "cstatus.rejected": ("Rejected", "不予受理"),
    "cstatus.open": ("Open", "未办结"),
    "cstatus.all": ("All", "全部"),
    # --- providers and filings ---
    "providers.search": ("Name or credit code", "名称或统一社会信用代码"),
    "providers.name": ("Provider", "服务提供者"),
    "providers.credit_code": ("Credit code", "统一社会信用代码"),
    "providers.kind": ("Kind", "类型"),
    "providers.services": ("Services", "服务"),
    "providers.filings": ("Algorithm filings", "算法备案"),
    "providers.filing_state": ("Filing status", "备案状态"),
    "providers.details": ("Details", "基本信息"),
    "providers.provider_code": ("Provider code (in AIGC records)", "服务提供者编码（写入元数据）"),
    "providers.contact": ("Contact", "联系方式"),
    "providers.items": ("Latest items from this provider", "该服务提供者的最新内容"),
    "providers.import": ("Import from CSV", "从 CSV 导入"),
    "providers.import_help": (
        "UTF-8 CSV with a header row. All or nothing: any bad row and nothing is imported. "
        "Columns:",
        "UTF-8 编码、带表头的 CSV。全部成功才导入：任一行有误则不导入任何内容。列：",
    ),
    "providers.import_submit": ("Import", "导入"),
    "import.no_file": ("Choose a CSV file.", "请选择 CSV 文件。"),
    "import.row": ("Row", "行"),
    "import.column": ("Column", "列"),
    "import.problem": ("Problem", "问题"),
    "import.done": (
        "Imported {rows} rows: {providers_created} providers created, {providers_updated} "
        "updated, {services_created} services, {filings_created} filings created, "
        "{filings_updated} updated.",
        "已导入 {rows} 行：新建服务提供者 {providers_created} 个、更新 {providers_updated} 个，"
        "新建服务 {services_created} 个，新建备案 {filings_created} 条、"
        "更新 {filings_updated} 条。",
    ),
    "pkind.generation": ("generation service", "生成合成服务"),
    "pkind.platform": ("content platform", "内容传播平台"),
    "pkind.both": ("both", "两者皆是"),
    "filing.no": ("Filing number", "备案号"),
    "filing.algorithm": ("Algorithm", "算法名称"),
    "filing.kind": ("Kind", "类型"),
    "filing.status": ("Status", "状态"),
    "filing.assessment": ("Security assessment", "安全评估"),
    "filing.valid": ("Valid", "有效期"),
    "fstatus.pending": ("pending", "待审"),
    "fstatus.filed": ("filed", "已备案"),
    "fstatus.revoked": ("revoked", "已撤销"),
    "fstatus.cancelled": ("cancelled", "已注销"),
    "assess.not_required": ("not required", "无需评估"),
    "assess.pending": ("pending", "评估中"),
    "assess.passed": ("passed", "已通过"),
    "assess.failed": ("failed", "未通过"),
    # --- audit ---
    "audit.verify": ("Verify chain", "校验哈希链"),
    "audit.verify_ok": (
        "The chain is intact: {checked} events checked up to seq {seq}.",
        "哈希链完整：已校验 {checked} 条事件，至序号 {seq}。",
    ),
    "audit.head_signed": ("the signed head matches", "签名的链头一致"),
    "audit.verify_bad": (
        "The chain is broken at seq {seq}: {kind}",
        "哈希链在序号 {seq} 处断裂：{kind}",
    ),
    "auditproblem.edited": ("a row was edited", "记录被修改"),
    "auditproblem.inserted": ("rows were inserted", "记录被插入"),
    "auditproblem.deleted": ("rows were deleted", "记录被删除"),
    "auditproblem.broken_link": ("a link is broken", "链接断裂"),
    "auditproblem.head": ("the chain head does not match", "链头不一致"),
    "auditproblem.forged": ("a pending row's MAC does not match", "待入链记录的校验码不符"),
    "audit.pending": ("pending", "待入链"),
    "audit.pending_hint": (
        "appended, not linked into the chain yet (within about a second)",
        "已写入，尚未链入哈希链（约一秒内）",
    ),
    "audit.pending_count": ("{n} pending", "{n} 条待入链"),
    "audit.object_type": ("Object type", "对象类型"),
    "audit.action": ("Action", "操作"),
    "audit.actor": ("Actor", "操作者"),
    "audit.seq": ("Seq", "序号"),
    "audit.time": ("Time", "时间"),
    "audit.object": ("Object", "对象"),
    "audit.payload": ("Details", "详情"),
    "audit.hash": ("Hash", "哈希"),
    # --- appeals (item page, appeal queue) ---
    "flash.appealed": ("Appeal filed. It is in the appeal queue.", "申诉已提交，已进入申诉队列。"),
    "flash.appeal_resolved": ("Appeal resolved.", "申诉已处理。"),
    "flash.refuted": (
        "Refutation published. The item and its stored copies carry the notice.",
        "辟谣已发布，该内容及其已存副本均已附加辟谣提示。",
    ),
    "flash.withdrawn": ("Refutation withdrawn.", "辟谣已撤回。"),
    "flash.webhook_deleted": ("Subscription deleted.", "订阅已删除。"),
    "flash.replayed": ("Delivery queued again.", "已重新排队投递。"),
    "appeal.card": ("Decisions and appeals", "处理决定与申诉"),
    "appeal.title": ("Appeal", "申诉"),
    "appeal.label": ("Appeal #{id}", "申诉 #{id}"),
    "appeal.missing": ("No appeal #{id}.", "没有编号为 #{id} 的申诉。"),
    "appeal.err_statement": (
        "Say why the decision is wrong (at least 10 characters).",
        "请说明处理决定有误的理由（至少 10 个字符）。",
    ),
    "appeal.against": ("Decision appealed", "申诉的处理决定"),
    "appeal.statement": ("Statement", "申诉理由"),
    "appeal.statement_hint": (
        "For example: the rights holder sent the original photograph.",
        "例如：权利人提供了原始照片。",
    ),
    "appeal.submit": ("File an appeal", "提交申诉"),
    "appeal.no_decisions": ("No decision yet: nothing to appeal.", "尚无处理决定，无可申诉。"),
    "appeal.by": ("Filed by", "申诉人"),
    "appeal.filed": ("Filed", "提交时间"),
    "appeal.decision": ("Decision appealed", "被申诉的决定"),
    "appeal.open_subject": ("Open the item", "打开该内容"),
    "appeal.resolve": ("Resolve the appeal", "处理申诉"),
    "astatus.open": ("open", "待处理"),
    "astatus.in_review": ("in review", "处理中"),
    "astatus.closed": ("closed", "已结案"),
    "aoutcome.upheld": ("Upheld", "维持原决定"),
    "aoutcome.overturned": ("Overturned", "撤销原决定"),
    "aoutcome_help.upheld": ("The decision stands.", "原处理决定继续有效。"),
    "aoutcome_help.overturned": (
        "Undo what the decision did (state, label, notice, refutation).",
        "撤销原决定的全部操作（状态、标识、提示、辟谣）。",
    ),
    # --- refutations ---
    "refute.card": ("Refute as a rumour", "辟谣"),
    "refute.help": (
        "Publishes a refutation notice. This item and every stored copy (same file, or a "
        "perceptually similar picture) are flagged and show the notice; later uploads too.",
        "发布辟谣提示。该内容及所有已存副本（相同文件或感知哈希相近的图片）将被标记并显示提示，"
        "之后上传的副本同样如此。",
    ),
    "refute.text": ("Notice text", "辟谣提示内容"),
    "refute.text_hint": (
        "For example: this photo is not from the flood; it was taken in 2019.",
        "例如：此图并非本次洪灾现场，摄于 2019 年。",
    ),
    "refute.source_url": ("Source of the refutation", "辟谣来源链接"),
    "refute.submit": ("Publish the refutation", "发布辟谣"),
    "refute.no_hash": (
        "This item has no hash to match copies by.",
        "该内容没有可用于匹配副本的哈希值。",
    ),
    "refute.err_text": (
        "Write the notice (at least 3 characters).",
        "请填写辟谣提示（至少 3 个字符）。",
    ),
    "refute.err_source": (
        "Give the source as an http:// or https:// link (at most 500 characters).",
        "请填写以 http:// 或 https:// 开头的来源链接（最多 500 个字符）。",
    ),
    "refute.notice_title": ("Refuted rumour", "谣言已辟"),
    "refute.notice_source": ("Read the refutation", "查看辟谣原文"),
    "refute.notice_ref": ("Refutation #{id}", "辟谣 #{id}"),
    "item.notice": ("Notice", "提示"),
    "refutations.intro": (
        "Published refutations and how many stored items carry each notice.",
        "已发布的辟谣，以及附带各条辟谣提示的已存内容数。",
    ),
    "refutations.subject": ("Refuted item", "被辟谣内容"),
    "refutations.flagged": ("Items flagged", "标记内容数"),
    "refutations.published": ("Published", "发布时间"),
    "refutations.withdraw": ("Withdraw", "撤回"),
    "refutations.empty": ("No refutations.", "暂无辟谣。"),
    "rfstatus.all": ("All", "全部"),
    "rfstatus.published": ("published", "已发布"),
    "rfstatus.withdrawn": ("withdrawn", "已撤回"),
    "rfstatus.draft": ("draft", "草稿"),
    # --- reports ---
    "reports.intro": (
        "Counts per UTC day: items stored, by provider or verdict; review jobs created and "
        "decided, by queue. At most 366 days.",
        "按 UTC 日统计：按服务提供者或判定结果统计入库内容；按队列统计新建和已处理的审核任务。"
        "最长 366 天。",
    ),
    "reports.group": ("Group by", "分组"),
    "rgroup.provider": ("Provider", "服务提供者"),
    "rgroup.verdict": ("Verdict", "判定结果"),
    "rgroup.queue": ("Queue", "队列"),
    "reports.from": ("From", "开始"),
    "reports.to": ("To", "结束"),
    "reports.show": ("Show", "查看"),
    "reports.csv": ("Download CSV", "下载 CSV"),
    "reports.chart_title": ("Per day by {group}", "按{group}的每日数量"),
    "reports.empty": ("Nothing in this range.", "该时间段内没有数据。"),
    "reports.totals": ("Totals", "合计"),
    "reports.per_day": ("Per day", "每日明细"),
    "reports.day": ("Day", "日期"),
    "reports.count": ("Count", "数量"),
    "reports.decided": ("Decided", "已处理"),
    "reports.no_provider": ("(no provider)", "（无服务提供者）"),
    "reports.bad_range": ("Range not used: {detail}", "时间范围无效：{detail}"),
    "reports.bad_group": ("Unknown group {group}.", "未知的分组：{group}。"),
    # --- admin: generation log, webhooks, identity ---
    "nav.refutations": ("Refutations", "辟谣"),
    "nav.reports": ("Reports", "统计报表"),
    "nav.admin": ("Admin", "管理"),
    "nav.genlog": ("Generation log", "生成日志"),
    "nav.webhooks": ("Webhooks", "Webhook 订阅"),
    "nav.identity": ("Identity bindings", "实名核验记录"),
    "genlog.intro": (
        "Outputs the providers logged (ProduceID, hashes); a stripped copy found later is "
        "traced back through them.",
        "服务提供者登记的生成内容（内容制作编号、哈希）；之后发现的去标识副本可据此溯源。",
    ),
    "genlog.produce_id": ("ProduceID", "内容制作编号"),
    "genlog.hashes": ("Hashes", "哈希"),
    "genlog.label": ("Label", "标识"),
    "genlog.logged": ("Logged", "登记时间"),
    "genlog.item": ("item", "内容"),
    "genlog.empty": ("No generation log entries.", "暂无生成日志。"),
    "webhook.intro": (
        "Signed HTTP callbacks for item, appeal and complaint events. Failed deliveries are "
        "retried; after the last try they are dead letters, which you can replay.",
        "针对内容、申诉和投诉事件的签名 HTTP 回调。投递失败会重试，"
        "重试用尽后进入死信列表，可重新投递。",
    ),
    "webhook.subscriptions": ("Subscriptions", "订阅"),
    "webhook.name": ("Name", "名称"),
    "webhook.events": ("Events", "事件"),
    "webhook.events_hint": ("globs, blank: all", "通配符，留空表示全部"),
    "webhook.all_events": ("all events", "全部事件"),
    "webhook.dead": ("Dead letters", "死信"),
    "webhook.created_at": ("Created", "创建时间"),
    "webhook.inactive": ("inactive", "已停用"),
    "webhook.delete": ("Delete", "删除"),
    "webhook.confirm_delete": (
        "Delete this subscription and its deliveries?",
        "确定删除该订阅及其投递记录？",
    ),
    "webhook.none": ("No subscriptions.", "暂无订阅。"),
    "webhook.new": ("New subscription", "新建订阅"),
    "webhook.create": ("Create", "创建"),
    "webhook.created": ("Subscription created. Its signing secret:", "订阅已创建。签名密钥："),
    "webhook.secret_once": (
        "Copy it now: it is not shown again.",
        "请立即复制，之后不会再次显示。",
    ),
    "webhook.err_field": ("{field}: {detail}", "{field}：{detail}"),
    "webhook.dead_letters": ("Dead letters", "死信列表"),
    "webhook.dead_intro": (
        "Deliveries that failed every try. Replay sends one again from the first attempt.",
        "所有重试均失败的投递。重新投递将从第一次尝试重新开始。",
    ),
    "webhook.subscription": ("Subscription", "订阅"),
    "webhook.event": ("Event", "事件"),
    "webhook.attempts": ("Attempts", "尝试次数"),
    "webhook.last_error": ("Last error", "最后错误"),
    "webhook.replay": ("Replay", "重新投递"),
    "webhook.no_dead": ("No dead letters.", "没有死信。"),
    "identity.intro": (
        "Real-identity checks the providers recorded. The number itself is never stored: only "
        "a keyed hash (the pseudonym), its last 4 characters and the result.",
        "服务提供者提交的实名核验记录。证件号码本身从不存储，"
        "仅保存密钥哈希（假名）、后 4 位和核验结果。",
    ),
    "identity.pseudonym": ("Pseudonym", "假名"),
    "identity.pseudonym_help": (
        "HMAC-SHA256 of the number under the service secret (first 16 hex digits)",
        "号码在服务密钥下的 HMAC-SHA256（前 16 位十六进制）",
    ),
    "identity.last4": ("Last 4", "后 4 位"),
    "identity.kind": ("Kind", "类型"),
    "identity.result": ("Result", "结果"),
    "identity.verifier": ("Verifier", "核验方式"),
    "identity.at": ("Checked", "核验时间"),
    "identity.empty": ("No identity bindings.", "暂无实名核验记录。"),
    "idkind.resident_id": ("resident ID", "居民身份证"),
    "idkind.mobile": ("mobile number", "手机号码"),
    "idkind.credit_code": ("credit code", "统一社会信用代码"),
    "bstatus.all": ("All", "全部"),
    "bstatus.verified": ("verified", "已核验"),
    "bstatus.failed": ("failed", "未通过"),
    "bstatus.pending": ("pending", "待核验"),
}


class Translator:
    """``t(key, **values)``: the message in this language, placeholders filled."""

    def __init__(self, lang: str) -> None:
        self.lang = lang if lang in LANGS else "en"
        self._index = LANGS.index(self.lang)

    def has(self, key: str) -> bool:
        return key in MESSAGES

    def __call__(self, key: str, **values: object) -> str:
        pair = MESSAGES.get(key)
        if pair is None:
            log.warning("web UI: no message %r", key)
            return key.rsplit(".", 1)[-1].replace("_", " ")
        text = pair[self._index]
        if values:
            try:
                return text.format(**values)
            except (KeyError, IndexError, ValueError):
                return text
        return text


def pick_language(request: Request) -> str:
    """``?lang=``, else the language cookie, else Accept-Language, else English."""
    asked = request.query_params.get("lang")
    if asked in LANGS:
        return asked
    cookie = request.cookies.get(LANG_COOKIE)
    if cookie in LANGS:
        return cookie
    return from_accept_language(request.headers.get("accept-language", ""))


def from_accept_language(header: str) -> str:
    """The best of our languages for an ``Accept-Language`` header (English if none)."""
    best, best_q = "en", -1.0
    for part in header.split(",")[:20]:
        tag, _, params = part.strip().partition(";")
        tag = tag.strip().lower()
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        lang = "zh" if tag.startswith("zh") else "en" if tag.startswith("en") else None
        if lang is not None and q > 0 and q > best_q:  # higher q wins; ties: the earlier
            best, best_q = lang, q
    return best
