// The front desk's status page. Everything it shows comes from the daemon's API (with
// its token, under its rules); the change feed (/ui/events) says when to look again, so
// a fault shows within moments. Unknown is not OK: whatever the page cannot vouch for
// (the daemon silent, a stale status) is grey and says so, never green.
"use strict";

(() => {
  const WORDS = {
    en: {
      title: "Front desk status", staff: "Your name", devices: "Devices",
      attention: "Payments waiting for a decision", queue: "Receipts waiting to print",
      find: "Find a payment, reprint its receipt", incidents: "Today's incidents",
      last4: "Card's last 4 digits", amount: "Amount", day: "Day",
      receipt_no: "Receipt number", search: "Search", add_note: "Add a note to the fault record",
      what_happened: "What happened", what_done: "What was done", how_ended: "How it ended",
      device: "Device (if any)", save_note: "Save the note", cancel: "Cancel",
      confirm: "Confirm", why: "Why: what was checked, with whom", sign_in: "Sign in",
      token_needed: "This service needs its API token (ask IT).",
      ok: "OK", warning: "Warning", critical: "Fault", unknown: "Unknown",
      ready: "Service running", stopping: "Service stopping: finishing payments",
      unreachable: "Service not answering",
      stale_banner: "The posdriver service does not answer. What is shown is from {0} and may be out of date: nothing here can be trusted until it answers again.",
      updated: "updated {0}", since: "since {0}", printer: "Receipt printer",
      terminal: "Card terminal", check_link: "Connection", check_paper: "Paper",
      check_cover: "Cover", check_errors: "Printer errors", check_connectivity: "Bank (acquirer)",
      check_terminal_state: "Terminal", journal: "Journal (records)",
      paper_ok: "paper loaded", paper_near_end: "paper running out", paper_out: "paper out",
      cover_open: "cover open", cover_closed: "cover closed",
      acquirer_reachable: "bank reachable", acquirer_unreachable: "bank not reachable",
      stale_device: "no recent answer from this device: its state is not known",
      down: "not working", runbook: "What to do: runbook {0}",
      none_waiting: "Nothing is waiting.", no_incidents: "No incidents today.",
      in_doubt: "In doubt", needs_review: "Needs review",
      terminal_said: "What the terminal said", question: "Look at the terminal's own printout or its transaction list (runbook 4): was this card charged?",
      charged: "Yes, the card was charged", not_charged: "No, it was not charged",
      confirm_charged: "Record that {0} WAS charged? A receipt is then printed for the guest. This cannot be undone.",
      confirm_not_charged: "Record that {0} was NOT charged? Charge again only after this. This cannot be undone.",
      resolved: "Recorded: {0}.", need_name: "Write your name at the top first: every action is journaled with who did it.",
      need_note: "Write why (what was checked, with whom).",
      print_now: "Print now", cancel_job: "Cancel this receipt",
      confirm_cancel_job: "Cancel print job {0}? Its receipt stays in the journal and can be reprinted.",
      job_waiting: "job {0}, receipt of payment id:{1}, for printer {2}: {3}",
      job_tries: "tries: {0}", printing_done: "Printing: {0}",
      no_match: "No payment matches.", preview: "Show receipt", reprint: "Reprint",
      reprinted: "A copy marked DUPLICATE was sent to printer {0} (print job {1}).",
      original_waiting: "The original receipt has not printed yet: the guest gets that one (print job {0}).",
      note_saved: "The note is in the fault record.", close: "Close",
      approved: "approved", declined: "declined", aborted: "aborted", pending: "pending",
      sent: "sent", sale: "Sale", refund: "Refund", reversal: "Reversal",
      pre_auth: "Pre-authorisation", booking: "Booking", reason: "why",
      queued: "waiting", failed: "failed", printing: "printing",
      lifecycle_ready: "ready", lifecycle_busy: "busy", lifecycle_degraded: "working, with a warning",
      lifecycle_reconnecting: "reconnecting", lifecycle_connecting: "connecting",
      lifecycle_error: "cannot connect", lifecycle_starting: "starting", lifecycle_stopped: "stopped",
      error: "Not done: {0}",
    },
    zh: {
      title: "前台设备状态", staff: "您的姓名", devices: "设备",
      attention: "待决定的付款", queue: "等待打印的小票",
      find: "查找付款并补打小票", incidents: "今日故障记录",
      last4: "卡号后四位", amount: "金额", day: "日期",
      receipt_no: "小票号", search: "查找", add_note: "在故障记录中添加备注",
      what_happened: "发生了什么", what_done: "采取了什么措施", how_ended: "结果如何",
      device: "设备（如有）", save_note: "保存备注", cancel: "取消",
      confirm: "确认", why: "原因：查看了什么、与谁核实", sign_in: "登录",
      token_needed: "本服务需要 API 令牌（请联系 IT）。",
      ok: "正常", warning: "警告", critical: "故障", unknown: "未知",
      ready: "服务运行中", stopping: "服务正在停止：正在完成付款",
      unreachable: "服务无响应",
      stale_banner: "posdriver 服务没有响应。以下内容来自 {0}，可能已过时：在服务恢复响应之前，这里的任何信息都不可信。",
      updated: "更新于 {0}", since: "自 {0} 起", printer: "小票打印机",
      terminal: "刷卡机", check_link: "连接", check_paper: "纸张",
      check_cover: "机盖", check_errors: "打印机错误", check_connectivity: "银行（收单机构）",
      check_terminal_state: "刷卡机状态", journal: "交易记录（日志）",
      paper_ok: "纸张正常", paper_near_end: "纸快用完了", paper_out: "缺纸",
      cover_open: "机盖打开", cover_closed: "机盖已关闭",
      acquirer_reachable: "银行可连接", acquirer_unreachable: "连不上银行",
      stale_device: "该设备近期没有响应：状态未知",
      down: "无法工作", runbook: "处理方法：手册 {0}",
      none_waiting: "没有等待中的项目。", no_incidents: "今天没有故障记录。",
      in_doubt: "结果不明", needs_review: "需人工核查",
      terminal_said: "刷卡机的回复", question: "请查看刷卡机自己打印的凭条或交易列表（手册 4）：这张卡是否已扣款？",
      charged: "是，已扣款", not_charged: "否，未扣款",
      confirm_charged: "记录 {0} 已扣款？随后会为客人打印小票。此操作无法撤销。",
      confirm_not_charged: "记录 {0} 未扣款？确认之后才能重新收款。此操作无法撤销。",
      resolved: "已记录：{0}。", need_name: "请先在顶部填写您的姓名：每项操作都会连同操作人一起记入日志。",
      need_note: "请写明原因（查看了什么、与谁核实）。",
      print_now: "立即打印", cancel_job: "取消此小票",
      confirm_cancel_job: "取消打印任务 {0}？小票仍保存在日志中，可以补打。",
      job_waiting: "任务 {0}，付款 id:{1} 的小票，打印机 {2}：{3}",
      job_tries: "尝试次数：{0}", printing_done: "打印：{0}",
      no_match: "没有匹配的付款。", preview: "查看小票", reprint: "补打",
      reprinted: "已将标有 DUPLICATE（副本）的小票发送到打印机 {0}（打印任务 {1}）。",
      original_waiting: "原小票尚未打印：客人将拿到原小票（打印任务 {0}）。",
      note_saved: "备注已记入故障记录。", close: "关闭",
      approved: "已批准", declined: "已拒绝", aborted: "已中止", pending: "处理中",
      sent: "已发送", sale: "收款", refund: "退款", reversal: "撤销",
      pre_auth: "预授权", booking: "预授权完成", reason: "原因",
      queued: "等待中", failed: "失败", printing: "打印中",
      lifecycle_ready: "就绪", lifecycle_busy: "忙碌", lifecycle_degraded: "可工作，有警告",
      lifecycle_reconnecting: "正在重新连接", lifecycle_connecting: "正在连接",
      lifecycle_error: "无法连接", lifecycle_starting: "正在启动", lifecycle_stopped: "已停止",
      error: "未完成：{0}",
    },
  };
  // which runbook a fault of a device kind is, and the page's languages' files of it
  const RUNBOOKS = {
    terminal: ["01", "01-terminal-received-nothing"],
    printer: ["05", "05-charged-no-receipt"],
    doubt: ["04", "04-terminal-froze-money-taken"],
    receipt: ["03", "03-receipt-lost"],
  };
  const CHECKS = { printer: ["link", "paper", "cover", "errors"], terminal: ["link", "connectivity", "terminal_state"] };
  const ORDER = { ok: 0, warning: 1, critical: 2, unknown: 3 };
  const STALE_AFTER = 6000; // ms without a word from the feed (it ticks every 2 s)

  const $ = (id) => document.getElementById(id);
  let lang = pickLanguage();
  let token = sessionStorage.getItem("posdriver.token") || "";
  const page = {
    health: null, pending: null, jobs: null, incidents: null, heard: 0, fetched: 0,
    live: false, stopping: false, everHeard: false,
  };

  function pickLanguage() {
    const chosen = localStorage.getItem("posdriver.lang");
    if (chosen === "en" || chosen === "zh") return chosen;
    return (navigator.languages || [navigator.language || "en"])
      .some((l) => l.toLowerCase().startsWith("zh")) ? "zh" : "en";
  }

  function t(key, ...args) {
    let text = WORDS[lang][key] ?? WORDS.en[key] ?? key;
    args.forEach((a, i) => { text = text.replace(`{${i}}`, String(a)); });
    return text;
  }

  function el(tag, props = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(props)) {
      if (v === undefined || v === null) continue;
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v);
    }
    for (const child of children.flat()) {
      if (child !== null && child !== undefined) node.append(child);
    }
    return node;
  }

  const clock = (unix) => new Date(unix * 1000).toLocaleTimeString(lang === "zh" ? "zh-CN" : "en-GB");
  const when = (iso) => new Date(iso).toLocaleString(lang === "zh" ? "zh-CN" : "en-GB");

  // -- the API --------------------------------------------------------------------------
  class Failure extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }

  function headers(json) {
    const h = { Accept: "application/json" };
    if (token) h.Authorization = `Bearer ${token}`;
    if (json) h["Content-Type"] = "application/json";
    return h;
  }

  // ``also``: statuses that are answers too (/v1/health is a 503 when something is critical)
  async function call(method, path, body, also = []) {
    let answer;
    try {
      answer = await fetch(path, {
        method, headers: headers(body !== undefined), cache: "no-store",
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      throw new Failure(0, t("unreachable"));
    }
    if (answer.status === 401) askForToken();
    const text = await answer.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
    if (!answer.ok && !also.includes(answer.status)) throw new Failure(answer.status, (data && data.error) || `HTTP ${answer.status}`);
    return data;
  }

  function askForToken() {
    $("login").hidden = false;
  }

  // -- the change feed -------------------------------------------------------------------
  async function follow() {
    for (;;) {
      try {
        const answer = await fetch("/ui/events", { headers: headers(false), cache: "no-store" });
        if (answer.status === 401) {
          askForToken();
        } else if (answer.ok && answer.body) {
          await read(answer.body.getReader());
        }
      } catch (e) {
        // the daemon went away: the page shows it as unreachable, and tries again
      }
      page.live = false;
      render();
      await new Promise((done) => setTimeout(done, 1000));
    }
  }

  async function read(reader) {
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        heard(buffer.slice(0, cut));
        buffer = buffer.slice(cut + 2);
      }
    }
  }

  function heard(raw) {
    let name = "message";
    let data = {};
    for (const line of raw.split("\n")) {
      if (line.startsWith("event: ")) name = line.slice(7);
      else if (line.startsWith("data: ")) data = JSON.parse(line.slice(6));
    }
    page.heard = Date.now();
    page.everHeard = true;
    page.live = true;
    if (typeof data.stopping === "boolean") page.stopping = data.stopping;
    if (name === "hello") refresh(["journal", "devices"]);
    else if (name === "change") refresh(data.topics || []);
    else refresh(["devices"]); // a tick: a device's status may have gone stale meanwhile
  }

  // fetches again what may have changed; a burst of changes becomes one more fetch
  let fetching = null;
  const wanted = new Set();
  function refresh(topics) {
    topics.forEach((topic) => wanted.add(topic));
    if (fetching) return;
    fetching = (async () => {
      while (wanted.size) {
        const now = new Set(wanted);
        wanted.clear();
        await load(now);
      }
      fetching = null;
    })();
  }

  async function load(topics) {
    const today = new Date();
    today.setHours(0, 0, 0, 0);
    const jobs = [];
    jobs.push(call("GET", "/v1/health", undefined, [503]).then((d) => { page.health = d; }, () => {}));
    if (topics.has("journal") || page.pending === null) {
      jobs.push(call("GET", "/v1/pending").then((d) => { page.pending = d; }, () => {}));
      jobs.push(call("GET", "/v1/print-jobs").then((d) => { page.jobs = d; }, () => {}));
      const since = encodeURIComponent(localIso(today));
      jobs.push(call("GET", `/v1/incidents?since=${since}`).then((d) => { page.incidents = d; }, () => {}));
    }
    await Promise.all(jobs);
    page.fetched = Date.now();
    render();
  }

  function localIso(date) {
    const pad = (n) => String(n).padStart(2, "0");
    return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
  }

  // -- what is shown ---------------------------------------------------------------------
  function pageStale() {
    return !page.live || Date.now() - page.heard > STALE_AFTER;
  }

  function render() {
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
    document.querySelectorAll("[data-t]").forEach((node) => { node.textContent = t(node.dataset.t); });
    document.querySelectorAll("[data-lang]").forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.lang === lang)));
    const stale = pageStale();
    const daemon = $("daemon");
    const state = stale ? "unreachable" : page.stopping ? "stopping" : "ready";
    daemon.textContent = t(state);
    daemon.className = `badge ${stale ? "critical" : page.stopping ? "warning" : "ok"}`;
    daemon.dataset.state = state;
    $("updated").textContent = page.fetched ? t("updated", clock(page.fetched / 1000)) : "";
    const banner = $("banner");
    banner.hidden = !stale || !page.everHeard;
    banner.textContent = t("stale_banner", page.fetched ? clock(page.fetched / 1000) : "?");
    // a section is drawn again only when what it shows changed (the clock ticks every
    // second; redrawing would take away a person's focus or selection)
    section("devices", [shownDevices(), stale], () => renderDevices(stale));
    section("attention", [page.pending], renderAttention);
    section("queue", [page.jobs], renderQueue);
    section("incidents", [page.incidents], renderIncidents);
  }

  function shownDevices() {
    const health = page.health;
    if (!health) return null;
    const checks = (d) => Object.entries(d.checks || {}).map(([n, c]) => [n, c.status, c.text, c.since]);
    const devices = health.devices.map((d) => [d.name, d.lifecycle, d.up, d.stale, d.detail, d.paper, d.cover, d.acquirer, checks(d)]);
    const journal = health.journal ? [health.journal.status, health.journal.text, health.journal.since] : null;
    return [devices, journal];
  }

  const drawn = {};
  function section(name, shown, draw) {
    // the "since" of every check is in the data: ages are not, so this key is stable
    const key = JSON.stringify([lang, shown]);
    if (drawn[name] === key) return;
    drawn[name] = key;
    draw();
  }

  function checkStatus(device, stale) {
    if (stale || device.stale) return "unknown";
    const statuses = Object.values(device.checks || {}).map((c) => c.status);
    if (!statuses.length) return "unknown";
    let worst = statuses.reduce((a, b) => (ORDER[b] > ORDER[a] ? b : a), "ok");
    if (!device.up && ORDER[worst] < ORDER.critical) worst = "critical";
    return worst;
  }

  function renderDevices(stale) {
    const box = $("devices");
    const health = page.health;
    box.replaceChildren();
    if (!health) return;
    for (const device of health.devices) box.append(deviceCard(device, stale));
    box.append(journalCard(health.journal, stale));
  }

  function deviceCard(device, stale) {
    const status = checkStatus(device, stale);
    const rows = [];
    for (const name of CHECKS[device.kind] || []) {
      const check = (device.checks || {})[name];
      if (!check) continue;
      const shown = stale || device.stale ? "unknown" : check.status;
      rows.push(el("div", { class: "check", "data-check": name, "data-status": shown },
        el("span", {}, el("span", { class: `badge ${shown}`, text: t(shown) })),
        el("span", {},
          el("strong", { text: `${t(`check_${name}`)}: ` }),
          el("span", { text: factWords(device, name) || check.text }),
          lang !== "en" && factWords(device, name) ? el("span", { class: "since", text: ` (${check.text})` }) : null,
          shown !== "ok" && check.since ? el("span", { class: "since", text: ` · ${t("since", clock(check.since))}` }) : null)));
    }
    if (stale || device.stale) rows.push(el("div", { class: "check" }, el("span"), el("span", { text: t("stale_device") })));
    const [number, file] = RUNBOOKS[device.kind] || [];
    return el("div", { class: `card ${status}`, "data-device": device.name, "data-status": status },
      el("h3", {}, el("span", { text: device.name }), el("span", { class: `badge ${status}`, text: t(status) }),
        el("span", { class: "since", text: `${t(device.kind)} · ${t(`lifecycle_${device.lifecycle}`)}` })),
      device.detail ? el("div", { class: "since", text: device.detail }) : null,
      rows,
      status !== "ok" && file ? runbookLink(number, file) : null);
  }

  function factWords(device, check) {
    if (check === "paper" && device.paper && device.paper !== "unknown") return t(`paper_${device.paper}`);
    if (check === "cover" && device.cover && device.cover !== "unknown") return t(`cover_${device.cover}`);
    if (check === "connectivity" && device.acquirer && device.acquirer !== "unknown") return t(`acquirer_${device.acquirer}`);
    return "";
  }

  function journalCard(journal, stale) {
    const status = stale || !journal ? "unknown" : journal.status;
    return el("div", { class: `card ${status}`, "data-device": "journal", "data-status": status },
      el("h3", {}, el("span", { text: t("journal") }), el("span", { class: `badge ${status}`, text: t(status) })),
      journal ? el("div", { class: "check" }, el("span"), el("span", { text: journal.text },
        status !== "ok" && journal.since ? el("span", { class: "since", text: ` · ${t("since", clock(journal.since))}` }) : null)) : null);
  }

  function runbookLink(number, file) {
    return el("div", { class: "result" },
      el("a", { href: `/ui/runbooks/${file}.${lang}.md`, target: "_blank", rel: "noopener", text: t("runbook", number) }));
  }

  function opTitle(op) {
    const amount = op.amount ? `${op.amount} ${op.currency}` : "";
    const card = op.card_last4 ? `**** ${op.card_last4}` : "";
    return [t(op.kind), amount, card, op.terminal ? `· ${op.terminal}` : "", `· ${when(op.created_at)}`, `· id:${op.id}`]
      .filter(Boolean).join(" ");
  }

  function renderAttention() {
    const box = $("attention");
    box.replaceChildren();
    const ops = (page.pending && page.pending.operations) || [];
    if (!ops.length) { box.append(el("p", { class: "empty", text: t("none_waiting") })); return; }
    for (const op of ops) {
      const said = [op.reason, op.doubt_stage && `(${op.doubt_stage.replaceAll("_", " ")})`].filter(Boolean).join(" ");
      box.append(el("div", { class: "item critical", "data-operation": op.id, "data-state": op.state },
        el("div", {}, el("span", { class: "badge critical", text: t(op.state) }), " ", el("strong", { text: opTitle(op) })),
        said ? el("div", {}, el("span", { class: "since", text: `${t("terminal_said")}: ` }), el("span", { text: said })) : null,
        el("div", { class: "question", text: t("question") }),
        el("div", { class: "row" },
          el("button", { type: "button", "data-action": "charged", text: t("charged"), onclick: () => decide(op, "approved") }),
          el("button", { type: "button", "data-action": "not-charged", text: t("not_charged"), onclick: () => decide(op, "declined") })),
        runbookLink(...RUNBOOKS.doubt)));
    }
  }

  function renderQueue() {
    const box = $("queue");
    box.replaceChildren();
    const jobs = page.jobs || [];
    if (!jobs.length) { box.append(el("p", { class: "empty", text: t("none_waiting") })); return; }
    for (const job of jobs) {
      const why = job.last_error || t(job.state);
      box.append(el("div", { class: `item ${job.state === "failed" ? "critical" : "warning"}`, "data-job": job.id },
        el("div", { text: t("job_waiting", job.id, job.operation_id, job.printer, why) }),
        el("div", { class: "since", text: t("job_tries", job.attempts) }),
        el("div", { class: "row" },
          el("button", { type: "button", "data-action": "print-now", text: t("print_now"), onclick: () => printNow(job) }),
          el("button", { type: "button", class: "danger", "data-action": "cancel-job", text: t("cancel_job"), onclick: () => cancelJob(job) })),
        runbookLink(...RUNBOOKS.printer)));
    }
  }

  function renderIncidents() {
    const box = $("incidents");
    box.replaceChildren();
    const incidents = page.incidents || [];
    if (!incidents.length) { box.append(el("p", { class: "empty", text: t("no_incidents") })); return; }
    const rows = incidents.map((i) => el("tr", { "data-incident": i.id },
      el("td", { text: when(i.at) }), el("td", { text: i.device || "" }), el("td", { text: i.fault }),
      el("td", { text: i.action }), el("td", { text: i.result }), el("td", { text: i.actor || "" })));
    box.append(el("table", {}, el("tbody", {}, rows)));
  }

  // -- actions ---------------------------------------------------------------------------
  function staff() {
    const name = $("staff").value.trim();
    localStorage.setItem("posdriver.staff", name);
    if (!name) { say(t("need_name"), true); $("staff").focus(); }
    return name;
  }

  function say(text, isError = false) {
    const toast = $("toast");
    toast.textContent = text;
    toast.className = `toast${isError ? " error" : ""}`;
    toast.hidden = false;
    clearTimeout(say.timer);
    say.timer = setTimeout(() => { toast.hidden = true; }, isError ? 15000 : 8000);
  }

  function ask(text, withNote) {
    const dialog = $("confirm");
    $("confirm-text").textContent = text;
    $("confirm-note-label").hidden = !withNote;
    $("confirm-note").value = "";
    return new Promise((done) => {
      dialog.addEventListener("close", () => done(dialog.returnValue === "ok" ? $("confirm-note").value.trim() : null), { once: true });
      dialog.showModal();
    });
  }

  async function act(work, success) {
    try {
      const answer = await work();
      say(success(answer));
    } catch (e) {
      say(t("error", e.message), true);
    }
    refresh(["journal", "devices"]);
  }

  async function decide(op, state) {
    const who = staff();
    if (!who) return;
    const note = await ask(t(state === "approved" ? "confirm_charged" : "confirm_not_charged", opTitle(op)), true);
    if (note === null) return;
    if (!note) { say(t("need_note"), true); return; }
    await act(() => call("POST", `/v1/operations/${op.id}/resolve`, { state, note, operator: who }),
      () => t("resolved", `${opTitle(op)}: ${t(state)}`));
  }

  async function printNow(job) {
    await act(() => call("POST", "/v1/print-jobs/run", { printer: job.printer }),
      (report) => t("printing_done", summary(report)));
  }

  function summary(report) {
    const done = ((report && report.jobs) || []).map((j) => `${j.id}: ${j.printed ? "ok" : j.reason || t(j.state)}`);
    return done.join("; ") || t("none_waiting");
  }

  async function cancelJob(job) {
    const who = staff();
    if (!who) return;
    if ((await ask(t("confirm_cancel_job", job.id), false)) === null) return;
    await act(() => call("POST", `/v1/print-jobs/${job.id}/cancel`, { operator: who }), () => t("resolved", t("cancel_job")));
  }

  async function find(event) {
    event.preventDefault();
    const form = new FormData(event.target);
    const box = $("found");
    box.replaceChildren();
    $("preview").hidden = true;
    try {
      let ops;
      const receipt = String(form.get("receipt") || "").trim();
      if (receipt) {
        ops = [(await call("GET", `/v1/transactions/receipt:${encodeURIComponent(receipt)}`)).operation];
      } else {
        const query = new URLSearchParams({ limit: "20" });
        for (const [field, param] of [["last4", "last4"], ["amount", "amount"]]) {
          const value = String(form.get(field) || "").trim();
          if (value) query.set(param, value);
        }
        const day = String(form.get("day") || "");
        if (day) { query.set("since", day); query.set("until", day); }
        ops = await call("GET", `/v1/transactions?${query}`);
      }
      if (!ops.length) { box.append(el("p", { class: "empty", text: t("no_match") })); return; }
      const rows = ops.map((op) => el("tr", { "data-operation": op.id },
        el("td", { text: when(op.created_at) }), el("td", { text: t(op.kind) }),
        el("td", { text: op.amount ? `${op.amount} ${op.currency}` : "" }),
        el("td", { text: op.card_last4 ? `**** ${op.card_last4}` : "" }),
        el("td", { text: t(op.state) }), el("td", { text: op.receipt_no ?? "" }),
        el("td", {}, op.state === "approved" ? [
          el("button", { type: "button", "data-action": "preview", text: t("preview"), onclick: () => preview(op) }), " ",
          el("button", { type: "button", "data-action": "reprint", text: t("reprint"), onclick: () => reprint(op) }),
        ] : null)));
      box.append(el("table", {}, el("tbody", {}, rows)));
    } catch (e) {
      box.append(el("p", { class: "error", text: t("error", e.message) }));
    }
  }

  async function preview(op, reprint = false) {
    const box = $("preview");
    try {
      const answer = await fetch(`/ui/preview/${op.id}?copy=customer&reprint=${reprint ? 1 : 0}`, { headers: headers(false), cache: "no-store" });
      if (!answer.ok) throw new Failure(answer.status, ((await answer.json().catch(() => ({}))).error) || `HTTP ${answer.status}`);
      // the daemon's own rendering: every text in it is escaped there
      box.innerHTML = await answer.text();
      box.append(el("div", {}, el("button", { type: "button", text: t("close"), onclick: () => { box.hidden = true; } })));
      box.hidden = false;
    } catch (e) {
      say(t("error", e.message), true);
    }
  }

  async function reprint(op) {
    const who = staff();
    if (!who) return;
    await act(() => call("POST", `/v1/operations/${op.id}/reprint`, { copy: "customer", operator: who }), (answer) => {
      const job = answer.job || {};
      return answer.reprint ? t("reprinted", job.printer, job.id) : t("original_waiting", job.id);
    });
  }

  async function addNote(event) {
    event.preventDefault();
    const who = staff();
    if (!who) return;
    const form = new FormData(event.target);
    const body = { operator: who };
    for (const field of ["fault", "action", "result", "device"]) {
      const value = String(form.get(field) || "").trim();
      if (value) body[field] = value;
    }
    await act(() => call("POST", "/v1/incidents", body), () => t("note_saved"));
    event.target.reset();
  }

  // -- start -------------------------------------------------------------------------------
  function start() {
    $("staff").value = localStorage.getItem("posdriver.staff") || "";
    $("staff").addEventListener("change", () => localStorage.setItem("posdriver.staff", $("staff").value.trim()));
    document.querySelectorAll("[data-lang]").forEach((button) => button.addEventListener("click", () => {
      lang = button.dataset.lang;
      localStorage.setItem("posdriver.lang", lang);
      render();
    }));
    $("login-form").addEventListener("submit", (event) => {
      event.preventDefault();
      token = $("token").value.trim();
      sessionStorage.setItem("posdriver.token", token);
      $("login").hidden = true;
      refresh(["journal", "devices"]);
    });
    $("find").addEventListener("submit", find);
    $("note-form").addEventListener("submit", addNote);
    setInterval(render, 1000); // the page's own clock: staleness shows without any event
    render();
    follow();
  }

  document.addEventListener("DOMContentLoaded", start);
})();
